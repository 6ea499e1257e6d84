/*
 * The local repository driver: a directory tree, one file per key.
 *
 * Writes go to "<key>.tmp-<random>" (0600, O_EXCL) in the key's directory,
 * are fsynced, renamed over the key and the directory is fsynced, so after a
 * crash a key holds either nothing or the complete object. Directories are
 * created 0700: backups hold whole databases.
 */
#include "repo_driver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fsutil.h"
#include "xalloc.h"

struct local_state {
	char *root;
};

struct repo_writer {
	const struct repo_ops *ops;
	struct repo *r;
	int fd;
	char *tmp;
	char *final;
};

struct repo_reader {
	const struct repo_ops *ops;
	struct repo *r;
	int fd;
	char *key;
};

static const struct repo_ops local_ops;

static const char *root_of(struct repo *r)
{
	return ((struct local_state *)r->state)->root;
}

static void key_path(struct repo *r, const char *key, struct strbuf *out)
{
	strbuf_reset(out);
	strbuf_addf(out, "%s/%s", root_of(r), key);
}

/* mkdir -p for the directories above path (not path itself). */
static int make_parents(struct repo *r, const char *path, struct errbuf *e)
{
	struct strbuf dir = STRBUF_INIT, failed = STRBUF_INIT;
	const char *slash = strrchr(path, '/');
	int rc = 0;

	if (!slash || slash == path)
		return 0;
	strbuf_add(&dir, path, (size_t)(slash - path));
	if (fs_mkdir_p(dir.buf, 0700, &failed))
		rc = errbuf_errno(e, BL_EFAIL, errno, "repo %s: cannot create directory %s",
				  repo_describe(r), failed.buf);
	strbuf_release(&dir);
	strbuf_release(&failed);
	return rc;
}

static int local_writer_open(struct repo *r, const char *key, long long size_hint,
			     struct repo_writer **out, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;
	struct repo_writer *w = NULL;
	int rc;

	key_path(r, key, &path);
	rc = make_parents(r, path.buf, e);
	if (rc)
		goto out;
	w = xcalloc(1, sizeof(*w));
	w->ops = &local_ops;
	w->r = r;
	w->final = xstrdup(path.buf);
	strbuf_addstr(&path, ".tmp-XXXXXX");
	w->tmp = strbuf_detach(&path, NULL);
	w->fd = mkostemp(w->tmp, O_CLOEXEC);
	if (w->fd < 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "repo %s: cannot create %s.tmp",
				  repo_describe(r), key);
		goto out;
	}
	fchmod(w->fd, 0600);
	*out = w;
	w = NULL;
out:
	if (w) {
		free(w->tmp);
		free(w->final);
		free(w);
	}
	strbuf_release(&path);
	return rc;
}

static int local_writer_write(struct repo_writer *w, const void *buf, size_t len,
			      struct errbuf *e)
{
	if (fs_write_all(w->fd, buf, len))
		return errbuf_errno(e, BL_EFAIL, errno, "repo %s: cannot write %s",
				    repo_describe(w->r), w->tmp);
	return 0;
}

static void writer_free(struct repo_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->tmp);
	free(w->final);
	free(w);
}

static void local_writer_abort(struct repo_writer *w)
{
	unlink(w->tmp);
	writer_free(w);
}

static int local_writer_commit(struct repo_writer *w, struct errbuf *e)
{
	int rc = 0;

	if (fsync(w->fd)) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "repo %s: cannot fsync %s",
				  repo_describe(w->r), w->tmp);
		goto fail;
	}
	if (close(w->fd)) {
		w->fd = -1;
		rc = errbuf_errno(e, BL_EFAIL, errno, "repo %s: cannot close %s",
				  repo_describe(w->r), w->tmp);
		goto fail;
	}
	w->fd = -1;
	if (rename(w->tmp, w->final)) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "repo %s: cannot rename %s to %s",
				  repo_describe(w->r), w->tmp, w->final);
		goto fail;
	}
	if (fs_fsync_parent(w->final)) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "repo %s: cannot fsync the directory of %s",
				  repo_describe(w->r), w->final);
		writer_free(w);
		return rc;
	}
	writer_free(w);
	return 0;
fail:
	local_writer_abort(w);
	return rc;
}

static int local_reader_open(struct repo *r, const char *key, struct repo_reader **out,
			     struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;
	struct repo_reader *rd;
	int fd, rc = 0;

	key_path(r, key, &path);
	fd = open(path.buf, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "repo %s: cannot open %s", repo_describe(r),
				  key);
		goto out;
	}
	rd = xcalloc(1, sizeof(*rd));
	rd->ops = &local_ops;
	rd->r = r;
	rd->fd = fd;
	rd->key = xstrdup(key);
	*out = rd;
out:
	strbuf_release(&path);
	return rc;
}

static int local_reader_read(struct repo_reader *rd, void *buf, size_t cap, size_t *got,
			     struct errbuf *e)
{
	ssize_t n;

	do
		n = read(rd->fd, buf, cap);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		*got = 0;
		return errbuf_errno(e, BL_EFAIL, errno, "repo %s: cannot read %s",
				    repo_describe(rd->r), rd->key);
	}
	*got = (size_t)n;
	return 0;
}

static void local_reader_close(struct repo_reader *rd)
{
	close(rd->fd);
	free(rd->key);
	free(rd);
}

static int is_tmp_name(const char *name)
{
	const char *t = strstr(name, ".tmp-");

	return t && strlen(t) == strlen(".tmp-XXXXXX");
}

/* Walk dir (a key prefix ending at a directory, "" for the root). */
static int walk(struct repo *r, struct strbuf *rel, const char *prefix, repo_list_fn fn,
		void *ctx, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	strbuf_addf(&path, "%s/%s", root_of(r), rel->buf);
	d = opendir(path.buf);
	if (!d) {
		if (errno == ENOENT || errno == ENOTDIR)
			goto out;
		rc = errbuf_errno(e, BL_EFAIL, errno, "repo %s: cannot list %s", repo_describe(r),
				  rel->len ? rel->buf : "/");
		goto out;
	}
	while ((de = readdir(d))) {
		size_t keep = rel->len;
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		strbuf_addstr(rel, de->d_name);
		strbuf_reset(&path);
		strbuf_addf(&path, "%s/%s", root_of(r), rel->buf);
		if (lstat(path.buf, &st) == 0) {
			if (S_ISDIR(st.st_mode)) {
				strbuf_addch(rel, '/');
				/* descend only where the prefix can still match */
				if (!strncmp(rel->buf, prefix, rel->len < strlen(prefix) ?
					     rel->len : strlen(prefix)))
					rc = walk(r, rel, prefix, fn, ctx, e);
			} else if (S_ISREG(st.st_mode) &&
				   !strncmp(rel->buf, prefix, strlen(prefix))) {
				struct repo_entry ent = { rel->buf, (long long)st.st_size,
							  st.st_mtime, is_tmp_name(de->d_name) };

				rc = fn(ctx, &ent, e);
			}
		}
		strbuf_setlen(rel, keep);
		if (rc)
			break;
	}
	closedir(d);
out:
	strbuf_release(&path);
	return rc;
}

static int local_list(struct repo *r, const char *prefix, repo_list_fn fn, void *ctx,
		      struct errbuf *e)
{
	struct strbuf rel = STRBUF_INIT;
	const char *slash = strrchr(prefix, '/');
	int rc;

	/* start at the deepest directory the prefix names */
	if (slash)
		strbuf_add(&rel, prefix, (size_t)(slash - prefix + 1));
	rc = walk(r, &rel, prefix, fn, ctx, e);
	strbuf_release(&rel);
	return rc;
}

static int local_exists(struct repo *r, const char *key, int *exists, long long *size,
			struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;
	struct stat st;
	int rc = 0;

	key_path(r, key, &path);
	*exists = 0;
	if (stat(path.buf, &st) == 0) {
		*exists = S_ISREG(st.st_mode);
		if (size && *exists)
			*size = (long long)st.st_size;
	} else if (errno != ENOENT && errno != ENOTDIR) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "repo %s: cannot stat %s", repo_describe(r),
				  key);
	}
	strbuf_release(&path);
	return rc;
}

static int local_del(struct repo *r, const char *key, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;
	int rc = 0;

	key_path(r, key, &path);
	if (unlink(path.buf) && errno != ENOENT) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "repo %s: cannot delete %s",
				  repo_describe(r), key);
		goto out;
	}
	/* Remove directories the deletion emptied, up to the root, so deleted
	 * backups leave no empty <id>/ behind. rmdir fails on a non-empty one. */
	for (;;) {
		char *slash = strrchr(path.buf, '/');

		if (!slash)
			break;
		strbuf_setlen(&path, (size_t)(slash - path.buf));
		if (path.len <= strlen(root_of(r)) || rmdir(path.buf))
			break;
	}
out:
	strbuf_release(&path);
	return rc;
}

static void local_close(struct repo *r)
{
	struct local_state *s = r->state;

	if (s)
		free(s->root);
	free(s);
	free(r);
}

static const struct repo_ops local_ops = {
	"local",
	local_writer_open,
	local_writer_write,
	local_writer_commit,
	local_writer_abort,
	local_reader_open,
	local_reader_read,
	local_reader_close,
	local_list,
	local_exists,
	local_del,
	local_close,
	0,
};

int repo_local_open(json_t *spec, const char *cfgdir, struct repo **out, struct errbuf *e)
{
	const char *p = json_string_value(json_object_get(spec, "path"));
	struct strbuf root = STRBUF_INIT;
	struct local_state *s;
	struct repo *r;
	struct stat st;
	int rc = 0;

	*out = NULL;
	if (!p || !*p)
		return errbuf_set(e, BL_EUSAGE, "repository.path: expected a directory for a "
				  "local repository");
	if (p[0] == '~' && p[1] == '/' && getenv("HOME"))
		strbuf_addf(&root, "%s%s", getenv("HOME"), p + 1);
	else if (p[0] != '/' && cfgdir && *cfgdir)
		strbuf_addf(&root, "%s/%s", cfgdir, p);
	else
		strbuf_addstr(&root, p);
	while (root.len > 1 && root.buf[root.len - 1] == '/')
		strbuf_setlen(&root, root.len - 1);
	/* Never created here: a missing path is a disk that is not mounted or
	 * a typo until `ballast-backup init` says otherwise (repomark.h); the
	 * first write creates it. */
	if (!stat(root.buf, &st) && !S_ISDIR(st.st_mode)) {
		rc = errbuf_set(e, BL_EUSAGE, "repository.path: %s is not a directory", root.buf);
		goto out;
	}
	r = xcalloc(1, sizeof(*r));
	s = xcalloc(1, sizeof(*s));
	r->ops = &local_ops;
	r->state = s;
	s->root = strbuf_detach(&root, NULL);
	snprintf(r->describe, sizeof(r->describe), "%s", s->root);
	*out = r;
out:
	strbuf_release(&root);
	return rc;
}
