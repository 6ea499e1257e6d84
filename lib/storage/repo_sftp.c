/* The sftp repository driver (contract in repo.h; the session in ssh.h).
 *
 * One SSH connection, opened with the repository and reused for every
 * object. Objects are files under the remote `path`; a writer streams into
 * "<key>.tmp-<random>" next to its final name and commit fsyncs
 * (fsync@openssh.com), closes and renames it, so the key shows a complete
 * object or nothing. Leftover temporaries are listed with tmp=1. */
#include "repo_driver.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "randhex.h"
#include "ssh.h"
#include "xalloc.h"

struct repo_sftp {
	struct ssh_session *s;
	char *root;          /* remote directory, no trailing '/' ("" for "/") */
};

struct sftp_writer {
	const struct repo_ops *ops;
	struct repo *r;
	struct ssh_file *f;
	char *path, *tmp, *key;
};

struct sftp_reader {
	const struct repo_ops *ops;
	struct repo *r;
	struct ssh_file *f;
	char *key;
};

static const struct repo_ops sftp_ops;

static struct repo_sftp *st(struct repo *r)
{
	return r->state;
}

static void remote_path(struct repo *r, const char *key, struct strbuf *out)
{
	strbuf_reset(out);
	strbuf_addf(out, "%s/%s", st(r)->root, key);
}

/* Messages name the repository and the key, with the session's own
 * message (which names user@host:port) after them. */
static int fail_key(struct repo *r, const char *key, struct errbuf *e)
{
	errbuf_prefix(e, "repo %s: %s: ", r->describe, key);
	return e->code ? e->code : BL_EFAIL;
}

/* ---- writer ---- */

static void writer_free(struct sftp_writer *w)
{
	free(w->path);
	free(w->tmp);
	free(w->key);
	free(w);
}

static int sw_open(struct repo *r, const char *key, long long size_hint,
		   struct repo_writer **out, struct errbuf *e)
{
	struct sftp_writer *w = xcalloc(1, sizeof(*w));
	struct strbuf p = STRBUF_INIT;
	char rnd[17] = "";
	char *slash;
	int rc;

	w->ops = &sftp_ops;
	w->r = r;
	w->key = xstrdup(key);
	remote_path(r, key, &p);
	w->path = strbuf_detach(&p, NULL);
	randhex(rnd, (sizeof(rnd) - 1) / 2);
	strbuf_addf(&p, "%s.tmp-%s", w->path, rnd);
	w->tmp = strbuf_detach(&p, NULL);
	slash = strrchr(w->path, '/');
	if (slash && slash != w->path) {
		strbuf_add(&p, w->path, (size_t)(slash - w->path));
		rc = ssh_sftp_mkdir_p(st(r)->s, p.buf, 0700, e);
		strbuf_release(&p);
		if (rc)
			goto fail;
	}
	rc = ssh_sftp_open_write(st(r)->s, w->tmp, 0600, &w->f, e);
	if (rc)
		goto fail;
	*out = (struct repo_writer *)w;
	return 0;
fail:
	fail_key(r, key, e);
	writer_free(w);
	return rc;
}

static int sw_write(struct repo_writer *wr, const void *buf, size_t len, struct errbuf *e)
{
	struct sftp_writer *w = (struct sftp_writer *)wr;
	int rc = ssh_sftp_write(w->f, buf, len, e);

	return rc ? fail_key(w->r, w->key, e) : 0;
}

static int sw_commit(struct repo_writer *wr, struct errbuf *e)
{
	struct sftp_writer *w = (struct sftp_writer *)wr;
	struct errbuf ignored = ERRBUF_INIT;
	struct ssh_session *s = st(w->r)->s;
	int rc;

	rc = ssh_sftp_close(w->f, e);
	w->f = NULL;
	if (!rc)
		rc = ssh_sftp_rename(s, w->tmp, w->path, e);
	if (rc) {
		fail_key(w->r, w->key, e);
		ssh_sftp_unlink(s, w->tmp, &ignored);
	}
	writer_free(w);
	return rc;
}

static void sw_abort(struct repo_writer *wr)
{
	struct sftp_writer *w = (struct sftp_writer *)wr;
	struct errbuf ignored = ERRBUF_INIT;

	if (w->f)
		ssh_sftp_close(w->f, &ignored);
	ssh_sftp_unlink(st(w->r)->s, w->tmp, &ignored);
	writer_free(w);
}

/* ---- reader ---- */

static int sr_open(struct repo *r, const char *key, struct repo_reader **out,
		   struct errbuf *e)
{
	struct sftp_reader *rd = xcalloc(1, sizeof(*rd));
	struct strbuf p = STRBUF_INIT;
	int rc;

	rd->ops = &sftp_ops;
	rd->r = r;
	rd->key = xstrdup(key);
	remote_path(r, key, &p);
	rc = ssh_sftp_open_read(st(r)->s, p.buf, &rd->f, e);
	strbuf_release(&p);
	if (rc) {
		fail_key(r, key, e);
		free(rd->key);
		free(rd);
		return rc;
	}
	*out = (struct repo_reader *)rd;
	return 0;
}

static int sr_read(struct repo_reader *rr, void *buf, size_t cap, size_t *got,
		   struct errbuf *e)
{
	struct sftp_reader *rd = (struct sftp_reader *)rr;
	int rc = ssh_sftp_read(rd->f, buf, cap, got, e);

	return rc ? fail_key(rd->r, rd->key, e) : 0;
}

static void sr_close(struct repo_reader *rr)
{
	struct sftp_reader *rd = (struct sftp_reader *)rr;
	struct errbuf ignored = ERRBUF_INIT;

	ssh_sftp_close(rd->f, &ignored);
	free(rd->key);
	free(rd);
}

/* ---- list ---- */

struct walk {
	struct repo *r;
	const char *prefix;
	repo_list_fn fn;
	void *ctx;
	const char *rel;         /* directory being read, relative to root ("" at root) */
	struct strbuf subdirs;   /* NUL-separated names to descend into */
	size_t nsub;
};

/* Whether a directory (relative path rel, no trailing '/') may hold keys
 * that start with prefix. */
static int dir_may_match(const char *rel, const char *prefix)
{
	size_t rl = strlen(rel), pl = strlen(prefix);

	if (pl <= rl)  /* the prefix ends at or inside this directory's path */
		return !strncmp(rel, prefix, pl);
	return !strncmp(rel, prefix, rl) && prefix[rl] == '/';
}

static int is_tmp_name(const char *name)
{
	const char *t = strstr(name, ".tmp-");

	return t && t != name && strspn(t + 5, "0123456789abcdef") == strlen(t + 5) && t[5];
}

static int walk_entry(void *ctx, const char *name, const struct ssh_stat *sst,
		      struct errbuf *e)
{
	struct walk *w = ctx;
	struct strbuf key = STRBUF_INIT;
	struct repo_entry ent;
	int rc = 0;

	if (*w->rel)
		strbuf_addf(&key, "%s/", w->rel);
	strbuf_addstr(&key, name);
	if (sst->is_dir) {
		if (dir_may_match(key.buf, w->prefix)) {
			strbuf_add(&w->subdirs, key.buf, key.len + 1);
			w->nsub++;
		}
	} else if (!strncmp(key.buf, w->prefix, strlen(w->prefix))) {
		ent.key = key.buf;
		ent.size = sst->size;
		ent.mtime = sst->mtime;
		ent.tmp = is_tmp_name(name);
		rc = w->fn(w->ctx, &ent, e);
	}
	strbuf_release(&key);
	return rc;
}

static int walk_dir(struct repo *r, const char *rel, const char *prefix, repo_list_fn fn,
		    void *ctx, struct errbuf *e)
{
	struct walk w = { r, prefix, fn, ctx, rel, STRBUF_INIT, 0 };
	struct strbuf p = STRBUF_INIT;
	struct ssh_stat sst;
	const char *sub;
	size_t i;
	int rc;

	strbuf_addf(&p, "%s/%s", st(r)->root, rel);
	rc = ssh_sftp_stat(st(r)->s, p.buf, &sst, e);
	if (rc || !sst.exists || !sst.is_dir)
		goto out;  /* nothing stored under it yet is not an error */
	rc = ssh_sftp_readdir(st(r)->s, p.buf, walk_entry, &w, e);
	if (rc)
		goto out;
	/* Descend after the handle is closed: one open directory at a time. */
	for (i = 0, sub = w.subdirs.buf; i < w.nsub; i++, sub += strlen(sub) + 1) {
		rc = walk_dir(r, sub, prefix, fn, ctx, e);
		if (rc)
			break;
	}
out:
	strbuf_release(&w.subdirs);
	strbuf_release(&p);
	return rc;
}

static int sftp_list(struct repo *r, const char *prefix, repo_list_fn fn, void *ctx,
		     struct errbuf *e)
{
	struct strbuf start = STRBUF_INIT;
	const char *slash = strrchr(prefix, '/');
	int rc;

	/* Start at the deepest directory the prefix names, not at the root. */
	if (slash)
		strbuf_add(&start, prefix, (size_t)(slash - prefix));
	rc = walk_dir(r, start.buf, prefix, fn, ctx, e);
	if (rc && !strstr(e->msg, r->describe))
		errbuf_prefix(e, "repo %s: list %s: ", r->describe, prefix);
	strbuf_release(&start);
	return rc;
}

static int sftp_exists(struct repo *r, const char *key, int *exists, long long *size,
		       struct errbuf *e)
{
	struct strbuf p = STRBUF_INIT;
	struct ssh_stat sst;
	int rc;

	remote_path(r, key, &p);
	rc = ssh_sftp_stat(st(r)->s, p.buf, &sst, e);
	strbuf_release(&p);
	if (rc)
		return fail_key(r, key, e);
	*exists = sst.exists && !sst.is_dir;
	if (size)
		*size = *exists ? sst.size : -1;
	return 0;
}

static int sftp_del(struct repo *r, const char *key, struct errbuf *e)
{
	struct strbuf p = STRBUF_INIT;
	struct errbuf ignored = ERRBUF_INIT;
	char *slash;
	int rc;

	remote_path(r, key, &p);
	rc = ssh_sftp_unlink(st(r)->s, p.buf, e);
	if (rc) {
		fail_key(r, key, e);
		goto out;
	}
	/* Drop directories the delete left empty (a pruned backup's), up to
	 * the root; the first one that is not empty stops it. */
	while ((slash = strrchr(p.buf, '/')) && (size_t)(slash - p.buf) > strlen(st(r)->root)) {
		strbuf_setlen(&p, (size_t)(slash - p.buf));
		if (ssh_sftp_rmdir(st(r)->s, p.buf, &ignored))
			break;
	}
out:
	strbuf_release(&p);
	return rc;
}

static void sftp_close(struct repo *r)
{
	if (r->state) {
		ssh_close(st(r)->s);
		free(st(r)->root);
		free(r->state);
	}
	free(r);
}

static const struct repo_ops sftp_ops = {
	"sftp",
	sw_open, sw_write, sw_commit, sw_abort,
	sr_open, sr_read, sr_close,
	sftp_list, sftp_exists, sftp_del, sftp_close,
	0,
};

/* A local path from the config: "~/" from $HOME, relative from cfgdir. */
static void local_path(const char *p, const char *cfgdir, struct strbuf *out)
{
	const char *home = getenv("HOME");

	strbuf_reset(out);
	if (p[0] == '~' && (p[1] == '/' || !p[1]) && home)
		strbuf_addf(out, "%s%s", home, p + 1);
	else if (p[0] != '/' && cfgdir && *cfgdir)
		strbuf_addf(out, "%s/%s", cfgdir, p);
	else
		strbuf_addstr(out, p);
}

int repo_sftp_open(json_t *spec, const char *cfgdir, struct repo **out, struct errbuf *e)
{
	struct ssh_opts o;
	struct repo *r = NULL;
	struct repo_sftp *s = NULL;
	struct strbuf key = STRBUF_INIT, kh = STRBUF_INIT, root = STRBUF_INIT;
	const char *path, *v;
	json_t *j;
	long long n;
	int rc = 0;

	*out = NULL;
	memset(&o, 0, sizeof(o));
	o.host = json_string_value(json_object_get(spec, "host"));
	path = json_string_value(json_object_get(spec, "path"));
	if (!o.host || !*o.host)
		return errbuf_set(e, BL_EUSAGE, "repository.host: missing (an sftp repository "
				  "needs a host)");
	if (!path || !*path)
		return errbuf_set(e, BL_EUSAGE, "repository.path: missing (the directory on "
				  "%s that holds the backups)", o.host);
	if ((j = json_object_get(spec, "port"))) {
		if (config_json_int(j, &n) || n < 1 || n > 65535)
			return errbuf_set(e, BL_EUSAGE, "repository.port: expected 1 to 65535");
		o.port = (int)n;
	}
	o.user = json_string_value(json_object_get(spec, "user"));
	if ((v = json_string_value(json_object_get(spec, "key"))) && *v) {
		local_path(v, cfgdir, &key);
		o.key_path = key.buf;
	}
	if ((v = json_string_value(json_object_get(spec, "known_hosts"))) && *v) {
		local_path(v, cfgdir, &kh);
		o.known_hosts = kh.buf;
	}
	if ((v = json_string_value(json_object_get(spec, "passphrase_env"))) && *v) {
		o.passphrase = getenv(v);
		if (!o.passphrase) {
			rc = errbuf_set(e, BL_EUSAGE, "repository.passphrase_env: environment "
					"variable %s is not set", v);
			goto out;
		}
		log_add_secret(o.passphrase);
	}
	if (json_object_get(spec, "retries")) {
		/* one SSH connection per run; a lost one fails the run (see
		 * docs/repositories.md), so a retry count would be ignored */
		rc = errbuf_set(e, BL_EUSAGE, "repository.retries: only the s3 driver retries "
				"requests; remove it from an sftp repository");
		goto out;
	}
	v = json_string_value(json_object_get(spec, "host_key_policy"));
	if (v && strcmp(v, "strict") && strcmp(v, "accept-new")) {
		rc = errbuf_set(e, BL_EUSAGE, "repository.host_key_policy: expected \"strict\" "
				"or \"accept-new\", got \"%s\"", v);
		goto out;
	}
	o.accept_new = v && !strcmp(v, "accept-new");
	rc = config_duration_opt(spec, "timeout", 0, 1, "repository", &n, e);
	if (rc)
		goto out;
	o.timeout_ms = (long)n;
	strbuf_addstr(&root, path);
	while (root.len && root.buf[root.len - 1] == '/')
		strbuf_setlen(&root, root.len - 1);
	s = xcalloc(1, sizeof(*s));
	r = xcalloc(1, sizeof(*r));
	rc = ssh_connect(&o, &s->s, e);
	if (rc) {
		errbuf_prefix(e, "repository: ");
		goto out;
	}
	s->root = strbuf_detach(&root, NULL);
	r->ops = &sftp_ops;
	r->state = s;
	snprintf(r->describe, sizeof(r->describe), "sftp://%s%s%s", ssh_describe(s->s),
		 s->root[0] == '/' ? "" : "/~/", s->root[0] ? s->root : "/");
	*out = r;
	r = NULL;
	s = NULL;
out:
	if (s) {
		ssh_close(s->s);
		free(s->root);
		free(s);
	}
	free(r);
	strbuf_release(&key);
	strbuf_release(&kh);
	strbuf_release(&root);
	return rc;
}
