#include "tfault.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backupset.h"
#include "config.h"
#include "repo.h"

/* the generator's state: one sequence per process, as each suite is one */
static unsigned long long ft_state;

unsigned long long ft_seed(const char *suite)
{
	const char *s = getenv("BALLAST_FAULT_SEED");
	unsigned long long seed = s && *s ? strtoull(s, NULL, 10) :
				  (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 16);

	ft_state = seed ? seed : 1;
	fprintf(stderr, "%s: seed %llu (replay with BALLAST_FAULT_SEED=%llu)\n", suite, seed, seed);
	return seed;
}

void ft_reseed(unsigned long long seed)
{
	ft_state = seed ? seed : 1;
}

/* xorshift64*: the same sequence for the same seed on every machine. */
unsigned long long ft_rand(void)
{
	ft_state ^= ft_state >> 12;
	ft_state ^= ft_state << 25;
	ft_state ^= ft_state >> 27;
	return ft_state * 2685821657736338717ULL;
}

long long ft_below(long long n)
{
	return (long long)(ft_rand() % (unsigned long long)n);
}

int ft_count(const char *var, int dflt)
{
	const char *s = getenv(var);
	int n = s && *s ? atoi(s) : dflt;

	return n > 0 ? n : dflt;
}

void ft_proj(struct proj *p, const char *tag, json_t *spec, const char *dbs,
		   const char *vols)
{
	char *s, text[16384];

	p->dir = ttmp_dir(tag);
	ck_assert_ptr_nonnull(p->dir);
	if (!spec) {
		snprintf(text, sizeof(text), "%s/repo", p->dir);
		spec = json_pack("{s:s, s:s}", "type", "local", "path", text);
	}
	s = json_dumps(spec, JSON_COMPACT);
	snprintf(p->cfg, sizeof(p->cfg), "%s/ballast.json", p->dir);
	snprintf(p->repo, sizeof(p->repo), "%s",
		 json_string_value(json_object_get(spec, "path")) ?
		 json_string_value(json_object_get(spec, "path")) : "");
	snprintf(text, sizeof(text),
		 "{ \"project\": \"shop\", \"state_dir\": \"%s/state\",\n"
		 "  \"repository\": %s,\n"
		 "  \"compression\": { \"level\": 3, \"threads\": 2 },\n"
		 "  \"retention\": { \"keep_last\": 2, \"incomplete_grace\": \"0s\" },\n"
		 "  \"databases\": %s%s%s }\n", p->dir, s, dbs, vols ? ",\n  \"volumes\": " : "",
		 vols ? vols : "");
	ck_assert_int_eq(twrite_file(p->cfg, text), 0);
	free(s);
	json_decref(spec);
	tinit_repo(p->cfg);
}

static char ft_ak[256], ft_sk[256];
const char *ft_env[] = { ft_ak, ft_sk, NULL };

json_t *ft_spec_s3(const char *tag)
{
	char *ep = tsvc_read("s3", "endpoint"), *bucket = tsvc_read("s3", "bucket");
	char *ak = tsvc_read("s3", "access_key"), *sk = tsvc_read("s3", "secret_key");
	char prefix[128];
	json_t *j;

	ck_assert_ptr_nonnull(ep);
	ck_assert_ptr_nonnull(sk);
	snprintf(ft_ak, sizeof(ft_ak), "FT_S3_ACCESS=%s", ak);
	snprintf(ft_sk, sizeof(ft_sk), "FT_S3_SECRET=%s", sk);
	setenv("FT_S3_ACCESS", ak, 1);
	setenv("FT_S3_SECRET", sk, 1);
	snprintf(prefix, sizeof(prefix), "%s-%d-%lld/", tag, (int)getpid(), (long long)time(NULL));
	j = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:s}", "type", "s3", "endpoint", ep,
		      "bucket", bucket, "prefix", prefix, "path_style", 1, "region", "us-east-1",
		      "access_key_env", "FT_S3_ACCESS", "secret_key_env", "FT_S3_SECRET");
	free(ep);
	free(bucket);
	free(ak);
	free(sk);
	return j;
}

struct repo *ft_repo(const struct proj *p)
{
	struct config *cfg = NULL;
	struct errbuf e = ERRBUF_INIT;
	struct repo *r = NULL;

	ck_assert_msg(config_load(p->cfg, &cfg, &e) == 0, "%s", e.msg);
	ck_assert_msg(repo_open(cfg, &r, &e) == 0, "%s", e.msg);
	config_free(cfg);
	return r;
}

struct ft_scan {
	int tmp;
	int objects;
};

static int ft_scan_fn(void *ctx, const struct repo_entry *ent, struct errbuf *e)
{
	struct ft_scan *s = ctx;

	(void)e;
	if (ent->tmp)
		s->tmp++;
	else
		s->objects++;
	return 0;
}

int ft_tmp_objects(const struct proj *p)
{
	struct repo *r = ft_repo(p);
	struct errbuf e = ERRBUF_INIT;
	struct ft_scan s = { 0, 0 };

	ck_assert_msg(repo_list(r, "shop/", ft_scan_fn, &s, &e) == 0, "%s", e.msg);
	repo_close(r);
	return s.tmp;
}

char *ft_volume(const char *dir, int n, long big)
{
	char path[2048], *json = malloc(4096);
	int fd;

	snprintf(path, sizeof(path), "%s/vol", dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	for (int i = 0; i < n; i++) {
		char body[256];

		snprintf(path, sizeof(path), "%s/vol/d%d", dir, i % 10);
		mkdir(path, 0755);
		snprintf(path, sizeof(path), "%s/vol/d%d/f%d.txt", dir, i % 10, i);
		snprintf(body, sizeof(body), "file %d of the volume\n", i);
		ck_assert_int_eq(twrite_file(path, body), 0);
	}
	snprintf(path, sizeof(path), "%s/vol/link", dir);
	ck_assert_int_eq(symlink("d0/f0.txt", path), 0);
	snprintf(path, sizeof(path), "%s/vol/big.bin", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	for (long off = 0; off < big;) {
		unsigned char buf[65536];

		for (size_t k = 0; k < sizeof(buf); k++)
			buf[k] = (unsigned char)(ft_rand() >> 32);
		ck_assert_int_eq(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
		off += (long)sizeof(buf);
	}
	close(fd);
	snprintf(json, 4096, "[ { \"name\": \"files\", \"path\": \"%s/vol\" } ]", dir);
	return json;
}

