#include "tsupport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backupset.h"
#include "config.h"
#include "proc.h"
#include "repomark.h"
#include "xalloc.h"

char *tsvc_read(const char *svc, const char *fact)
{
	const char *root = getenv("BALLAST_TEST_SVC");
	struct strbuf path = STRBUF_INIT, sb = STRBUF_INIT;
	char *res = NULL;

	if (!root)
		return NULL;
	strbuf_addf(&path, "%s/%s/%s", root, svc, fact);
	if (tread_file(path.buf, &sb) == 0) {
		strbuf_rtrim(&sb);
		res = strbuf_detach(&sb, NULL);
	}
	strbuf_release(&path);
	strbuf_release(&sb);
	return res;
}

char *ttmp_dir(const char *tag)
{
	const char *t = getenv("TMPDIR");
	char *p;

	if (asprintf(&p, "%s/ballast-test-%s-XXXXXX", t && *t ? t : "/tmp", tag) < 0)
		return NULL;
	if (!mkdtemp(p)) {
		free(p);
		return NULL;
	}
	return p;
}

void ttmp_rm(const char *path)
{
	const char *argv[] = { "rm", "-rf", "--", path, NULL };
	struct errbuf e = ERRBUF_INIT;

	if (path && *path && strcmp(path, "/"))
		proc_run(argv, NULL, NULL, NULL, 60000, &e);
}

struct both {
	struct strbuf *out;
};

static int sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct strbuf *out = ctx;

	if (out)
		strbuf_add(out, buf, len);
	return 0;
}

int trun(const char *const *argv, const char *const *env, struct strbuf *out, struct strbuf *err)
{
	struct child c = CHILD_INIT;
	struct errbuf e = ERRBUF_INIT;
	int st;

	c.argv = argv;
	c.env = env;
	c.in_mode = PROC_NULL;
	c.out_mode = PROC_PIPE;
	c.err_mode = PROC_PIPE;
	if (proc_start(&c, &e)) {
		if (err)
			strbuf_addstr(err, e.msg);
		return 127;
	}
	proc_stream(&c, sink, out, &e);
	if (err)
		strbuf_add(err, c.err_tail.buf, c.err_tail.len);
	st = c.status;
	proc_release(&c);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 255;
}

const char *tbin(const char *name, struct strbuf *out)
{
	strbuf_reset(out);
	strbuf_addf(out, "%s/%s", BALLAST_BINARY_DIR, name);
	return out->buf;
}

int twrite_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int rc = 0;

	if (!f)
		return -1;
	if (fputs(text, f) < 0)
		rc = -1;
	if (fclose(f))
		rc = -1;
	return rc;
}

int tread_file(const char *path, struct strbuf *sb)
{
	char buf[8192];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return -1;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_add(sb, buf, n);
	fclose(f);
	return 0;
}

int trun_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

void tflip_byte(const char *path, long off)
{
	FILE *f = fopen(path, "r+b");
	struct stat st;
	int ch;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fstat(fileno(f), &st), 0);
	if (off < 0)
		off = (long)st.st_size / 2;
	ck_assert_int_lt(off, st.st_size);
	ck_assert_int_eq(fseek(f, off, SEEK_SET), 0);
	ch = fgetc(f);
	ck_assert_int_ne(ch, EOF);
	ck_assert_int_eq(fseek(f, off, SEEK_SET), 0);
	fputc(ch ^ 0x10, f);
	ck_assert_int_eq(fclose(f), 0);
}

void tinit_repo(const char *cfg_path)
{
	struct errbuf e = ERRBUF_INIT;
	struct config *cfg = NULL;
	struct repo *r = NULL;
	const char *project;
	char id[REPOMARK_ID_LEN + 1];
	int existed, adopted, rc;

	rc = config_load(cfg_path, &cfg, &e);
	if (!rc)
		rc = backupset_open_unchecked(cfg, &r, &project, &e);
	if (!rc)
		rc = repomark_init(r, project, id, &existed, &adopted, &e);
	repo_close(r);
	config_free(cfg);
	ck_assert_msg(rc == 0, "init %s: %s", cfg_path, e.msg);
}

json_t *tjson_result(const struct strbuf *out)
{
	char *copy = xstrdup(out->buf), *line, *save = NULL;
	json_t *res = NULL;

	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *o = json_loads(line, 0, NULL);
		const char *ev = json_string_value(json_object_get(o, "event"));

		if (ev && !strcmp(ev, "result")) {
			json_decref(res);
			res = json_incref(o);
		} else if (ev && !strcmp(ev, "error") && json_object_get(o, "result")) {
			json_decref(res);
			res = json_incref(json_object_get(o, "result"));
		}
		json_decref(o);
	}
	free(copy);
	ck_assert_msg(res != NULL, "no result in: %s", out->buf);
	return res;
}
