#include "volume.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strbuf.h"
#include "fsutil.h"
#include "interrupt.h"
#include "timeutil.h"
#include "xalloc.h"

void volume_stats_release(struct volume_stats *st)
{
	if (!st)
		return;
	json_decref(st->warnings);
	st->warnings = NULL;
}

static void warn_add(struct volume_stats *st, const char *rel, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void warn_add(struct volume_stats *st, const char *rel, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	if (!st->warnings)
		st->warnings = json_array();
	json_array_append_new(st->warnings, json_pack("{s:s, s:s}", "path", rel, "warning", sb.buf));
	strbuf_release(&sb);
}

int volume_excluded(const char *const *exclude, const char *rel)
{
	const char *base = strrchr(rel, '/');

	base = base ? base + 1 : rel;
	for (; exclude && *exclude; exclude++) {
		const char *p = *exclude;

		if (strchr(p, '/')) {
			while (*p == '/')
				p++;
			if (fnmatch(p, rel, FNM_PATHNAME | FNM_PERIOD) == 0)
				return 1;
		} else if (fnmatch(p, base, 0) == 0) {
			return 1;
		}
	}
	return 0;
}

/* ---- archiving ---- */

struct wctx {
	proc_sink_fn sink;
	void *ctx;
	struct errbuf *e;
	int failed;
	long long bytes;
};

static la_ssize_t write_cb(struct archive *a, void *cd, const void *buf, size_t len)
{
	struct wctx *w = cd;
	const char *p = buf;
	size_t left = len;

	if (w->failed)
		return -1;
	while (left) {
		size_t n = left > VOLUME_CHUNK ? VOLUME_CHUNK : left;

		if (w->sink(w->ctx, p, n, w->e)) {
			w->failed = 1;
			archive_set_error(a, EIO, "%s", w->e->msg);
			return -1;
		}
		p += n;
		left -= n;
	}
	w->bytes += (long long)len;
	return (la_ssize_t)len;
}

/* The error of a failed libarchive write: the sink's own message when the
 * sink failed, libarchive's otherwise. */
static int write_error(struct wctx *w, struct archive *a, const char *root, struct errbuf *e)
{
	if (w->failed)
		return e->code ? e->code : BL_EFAIL;
	return errbuf_set(e, BL_EFAIL, "volume: cannot archive %s: %s", root,
			  archive_error_string(a) ? archive_error_string(a) : "unknown error");
}

static const char zeros[64 * 1024];

/* Holes of a sparse file arrive as gaps between blocks; the pax writer
 * knows the file's sparse map and drops the zeros we feed it for them. */
static int write_zeros(struct archive *w, long long n)
{
	while (n > 0) {
		size_t k = n > (long long)sizeof(zeros) ? sizeof(zeros) : (size_t)n;
		la_ssize_t r = archive_write_data(w, zeros, k);

		if (r < 0)
			return -1;
		if (r == 0)
			return 1;
		n -= r;
	}
	return 0;
}

struct saved_stat {
	long long size;
	struct timespec mtime, ctime;
};

/* Copy the current file's content; warnings for unreadable data and for
 * files that change or vanish meanwhile. Returns non-zero only for errors
 * that make the archive itself unusable. */
static int copy_data(struct archive *disk, struct archive *w, struct wctx *wc,
		     const char *full, const char *rel, const struct saved_stat *before,
		     const char *root, struct volume_stats *st, struct errbuf *e)
{
	const void *buf;
	size_t size;
	la_int64_t off;
	long long progress = 0;
	int r, grew = 0;
	struct stat after;

	while ((r = archive_read_data_block(disk, &buf, &size, &off)) == ARCHIVE_OK) {
		la_ssize_t n;

		if (interrupt_signal)
			return interrupt_check_what(e, "volume: archiving %s", root);
		if (off > progress) {
			int z = write_zeros(w, off - progress);

			if (z < 0)
				return write_error(wc, w, root, e);
			if (z > 0) {
				grew = 1;
				break;
			}
		}
		n = size ? archive_write_data(w, buf, size) : 0;
		if (n < 0)
			return write_error(wc, w, root, e);
		if ((size_t)n < size) {
			grew = 1;
			break;
		}
		progress = off + (long long)size;
	}
	if (r != ARCHIVE_OK && r != ARCHIVE_EOF) {
		if (r == ARCHIVE_FATAL && wc->failed)
			return write_error(wc, w, root, e);
		if (lstat(full, &after) < 0 && errno == ENOENT)
			warn_add(st, rel, "vanished while being read; stored as %lld zero bytes",
				 before->size);
		else
			warn_add(st, rel, "cannot read: %s; stored padded with zeros",
				 archive_error_string(disk) ? archive_error_string(disk) : "read error");
		return 0;
	}
	st->bytes += progress;
	if (lstat(full, &after) < 0) {
		warn_add(st, rel, "vanished while being read");
		return 0;
	}
	if (grew || after.st_size != before->size ||
	    after.st_mtim.tv_sec != before->mtime.tv_sec ||
	    after.st_mtim.tv_nsec != before->mtime.tv_nsec ||
	    after.st_ctim.tv_sec != before->ctime.tv_sec ||
	    after.st_ctim.tv_nsec != before->ctime.tv_nsec)
		warn_add(st, rel, "changed while being read (size %lld, now %lld); the stored copy may be inconsistent",
			 before->size, (long long)after.st_size);
	return 0;
}

static int write_one(struct archive *disk, struct archive *w, struct wctx *wc,
		     struct archive_entry *ent, const char *full, const struct saved_stat *ss,
		     const char *root, struct volume_stats *st, struct errbuf *e)
{
	const char *rel = archive_entry_pathname(ent);
	int r = archive_write_header(w, ent);

	if (r == ARCHIVE_FATAL || wc->failed)
		return write_error(wc, w, root, e);
	if (r == ARCHIVE_FAILED) {
		warn_add(st, rel, "not archived: %s", archive_error_string(w));
		return 0;
	}
	if (r == ARCHIVE_WARN)
		warn_add(st, rel, "%s", archive_error_string(w));
	if (archive_entry_hardlink(ent)) {
		st->hardlinks++;
		return 0;
	}
	switch (archive_entry_filetype(ent)) {
	case AE_IFREG:
		st->files++;
		if (archive_entry_size(ent) > 0 || archive_entry_sparse_count(ent) > 0)
			return copy_data(disk, w, wc, full, rel, ss, root, st, e);
		break;
	case AE_IFDIR:
		st->dirs++;
		break;
	case AE_IFLNK:
		st->symlinks++;
		break;
	default:
		st->others++;
		break;
	}
	return 0;
}

int volume_archive(const char *root_in, const struct volume_archive_opts *o,
		   proc_sink_fn sink, void *sink_ctx, struct volume_stats *st,
		   struct errbuf *e)
{
	static const struct volume_archive_opts none = { NULL, NULL, NULL };
	struct archive *disk = NULL, *w = NULL;
	struct archive_entry_linkresolver *lr = NULL;
	struct archive_entry *ent = NULL, *spare = NULL;
	struct strbuf root = STRBUF_INIT, full = STRBUF_INIT;
	struct wctx wc = { sink, sink_ctx, e, 0, 0 };
	struct stat sb;
	DIR *d;
	int rc = BL_EFAIL, r;

	if (!o)
		o = &none;
	if (!st->warnings)
		st->warnings = json_array();
	strbuf_addstr(&root, root_in);
	while (root.len > 1 && root.buf[root.len - 1] == '/')
		strbuf_setlen(&root, root.len - 1);
	if (stat(root.buf, &sb) < 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "volume: cannot read %s", root.buf);
		goto out;
	}
	if (!S_ISDIR(sb.st_mode)) {
		rc = errbuf_set(e, BL_EFAIL, "volume: %s is not a directory", root.buf);
		goto out;
	}
	d = opendir(root.buf);
	if (!d) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "volume: cannot read directory %s", root.buf);
		goto out;
	}
	closedir(d);

	disk = archive_read_disk_new();
	w = archive_write_new();
	lr = archive_entry_linkresolver_new();
	if (!disk || !w || !lr) {
		rc = errbuf_set(e, BL_EFAIL, "volume: out of memory");
		goto out;
	}
	archive_read_disk_set_symlink_physical(disk);
	/* fflags (immutable, append-only) would make the restored tree
	 * impossible to swap or prune; they are not part of a volume's data. */
	archive_read_disk_set_behavior(disk, ARCHIVE_READDISK_NO_FFLAGS);
	if (archive_write_set_format_pax(w) != ARCHIVE_OK ||
	    archive_write_add_filter_none(w) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(w, 64 * 1024) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w, 1) != ARCHIVE_OK ||
	    /* Linux names are bytes: store them as they are, whatever the
	     * locale, instead of failing to translate them to UTF-8. */
	    archive_write_set_format_option(w, "pax", "hdrcharset", "BINARY") != ARCHIVE_OK) {
		rc = errbuf_set(e, BL_EFAIL, "volume: libarchive: %s", archive_error_string(w));
		goto out;
	}
	archive_entry_linkresolver_set_strategy(lr, archive_format(w));
	if (archive_write_open(w, &wc, NULL, write_cb, NULL) != ARCHIVE_OK) {
		rc = write_error(&wc, w, root.buf, e);
		goto out;
	}
	if (archive_read_disk_open(disk, root.buf) != ARCHIVE_OK) {
		rc = errbuf_set(e, BL_EFAIL, "volume: cannot read %s: %s", root.buf,
				archive_error_string(disk));
		goto out;
	}

	for (;;) {
		const char *path, *rel;
		struct saved_stat ss;
		int type;

		if (interrupt_signal) {
			rc = interrupt_check_what(e, "volume: archiving %s", root.buf);
			goto out;
		}
		archive_entry_free(ent);
		ent = archive_entry_new();
		r = archive_read_next_header2(disk, ent);
		if (r == ARCHIVE_EOF)
			break;
		path = archive_entry_pathname(ent);
		if (!path)
			path = root.buf;
		strbuf_reset(&full);
		strbuf_addstr(&full, path);
		rel = full.buf + (strncmp(full.buf, root.buf, root.len) == 0 ? root.len : 0);
		while (*rel == '/')
			rel++;
		if (!*rel)
			rel = ".";
		if (r == ARCHIVE_FATAL) {
			if (strcmp(rel, ".") == 0) {
				rc = errbuf_set(e, BL_EFAIL, "volume: cannot read %s: %s", root.buf,
						archive_error_string(disk));
				goto out;
			}
			rc = errbuf_set(e, BL_EFAIL, "volume: cannot walk %s at %s: %s", root.buf,
					rel, archive_error_string(disk));
			goto out;
		}
		if (r < ARCHIVE_WARN) {
			warn_add(st, rel, "not archived: %s", archive_error_string(disk));
			continue;
		}
		if (r == ARCHIVE_WARN)
			warn_add(st, rel, "%s", archive_error_string(disk));
		if (strcmp(rel, ".") && volume_excluded(o->exclude, rel))
			continue;
		if (archive_read_disk_can_descend(disk))
			archive_read_disk_descend(disk);
		type = (int)archive_entry_filetype(ent);
		if (type == AE_IFSOCK || type == AE_IFCHR || type == AE_IFBLK) {
			warn_add(st, rel, "not archived: %s", type == AE_IFSOCK ? "a socket" : "a device node");
			continue;
		}
		ss.size = archive_entry_size(ent);
		ss.mtime.tv_sec = archive_entry_mtime(ent);
		ss.mtime.tv_nsec = archive_entry_mtime_nsec(ent);
		ss.ctime.tv_sec = archive_entry_ctime(ent);
		ss.ctime.tv_nsec = archive_entry_ctime_nsec(ent);
		if (o->on_entry) {
			rc = o->on_entry(o->on_entry_ctx, rel, ss.size, e);
			if (rc)
				goto out;
		}
		archive_entry_set_pathname(ent, rel);
		/* atime and ctime cannot be restored; storing them would only
		 * make every archive differ from the last. */
		archive_entry_unset_atime(ent);
		archive_entry_unset_ctime(ent);
		archive_entry_unset_birthtime(ent);
		if (type != AE_IFREG)
			archive_entry_set_size(ent, 0);
		archive_entry_linkify(lr, &ent, &spare);
		while (ent) {
			rc = write_one(disk, w, &wc, ent, full.buf, &ss, root.buf, st, e);
			if (rc)
				goto out;
			archive_entry_free(ent);
			ent = spare;
			spare = NULL;
		}
	}
	/* The tar strategy never defers an entry; drain anyway so a change of
	 * format cannot silently drop one. */
	archive_entry_free(ent);
	ent = NULL;
	for (;;) {
		archive_entry_linkify(lr, &ent, &spare);
		if (!ent)
			break;
		rc = write_one(disk, w, &wc, ent, "", NULL, root.buf, st, e);
		archive_entry_free(ent);
		ent = NULL;
		if (rc)
			goto out;
	}
	if (archive_write_close(w) != ARCHIVE_OK) {
		rc = write_error(&wc, w, root.buf, e);
		goto out;
	}
	st->tar_bytes += wc.bytes;
	rc = 0;
out:
	archive_entry_free(ent);
	archive_entry_free(spare);
	if (lr)
		archive_entry_linkresolver_free(lr);
	if (w)
		archive_write_free(w);
	if (disk)
		archive_read_free(disk);
	strbuf_release(&root);
	strbuf_release(&full);
	return rc;
}

/* ---- extracting ---- */

struct rctx {
	volume_source_fn src;
	volume_borrow_fn borrow;
	void *ctx;
	struct errbuf *e;
	int failed;
	int eof;
	char *buf;
	long long bytes;
};

static la_ssize_t read_cb(struct archive *a, void *cd, const void **out)
{
	struct rctx *r = cd;
	size_t got = 0;

	if (r->failed)
		return -1;
	if (r->eof)
		return 0;
	*out = r->buf;
	if (r->borrow ? r->borrow(r->ctx, out, &got, r->e) :
	    r->src(r->ctx, r->buf, VOLUME_CHUNK, &got, r->e)) {
		r->failed = 1;
		archive_set_error(a, EIO, "%s", r->e->msg);
		return -1;
	}
	if (!got)
		r->eof = 1;
	r->bytes += (long long)got;
	return (la_ssize_t)got;
}

/* Walk name's components below the working directory, one directory
 * descriptor at a time (no path length limit, nothing followed). Returns 1
 * with the first component that is a symlink in *bad (a prefix of name), so
 * a write through it can be refused; -1 when a component cannot be
 * examined (refused too: it cannot be shown to be safe). *final_type gets
 * the last component's type, 0 when it does not exist. */
/*
 * The directory find_symlink() last walked to as the parent of a final
 * component: its path (components without "." joined by "/") and an
 * O_PATH descriptor of it. Files come in directory order, so most entries'
 * parents are this one, and the walk down to it (two system calls per
 * component) is skipped. It is exactly as safe as the walk: the parent was
 * shown to be reached without symlinks, and only an entry whose own name is
 * that path or a prefix of it can change one of its components (replace a
 * directory on the way); check_entry() forgets the cache before every such
 * entry is written. The staging directory is ballast's own (mode 0700), so
 * nothing else changes it meanwhile; this is the assumption the walk
 * itself makes between checking and writing.
 */
struct walk_cache {
	struct strbuf dir;
	int fd;   /* -1: empty */
};

static void cache_drop(struct walk_cache *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	strbuf_reset(&c->dir);
}

/* Whether name's last component is "." ("a/." and "a/./" name a, which
 * the walk below treats differently from "a": never served from the cache). */
static int ends_in_dot(const char *name)
{
	size_t n = strlen(name);

	while (n && name[n - 1] == '/')
		n--;
	return n && name[n - 1] == '.' && (n == 1 || name[n - 2] == '/');
}

/* Before an entry called name is written: forget a cached directory that
 * name is, or lies on the way to. */
static void cache_forget(struct walk_cache *c, const char *name, struct strbuf *tmp)
{
	if (c->fd < 0)
		return;
	fs_path_clean(name, tmp);
	if (c->dir.len >= tmp->len && !memcmp(c->dir.buf, tmp->buf, tmp->len) &&
	    (c->dir.len == tmp->len || !tmp->len || c->dir.buf[tmp->len] == '/'))
		cache_drop(c);
}

static int find_symlink(const char *name, struct strbuf *bad, mode_t *final_type,
			struct walk_cache *c)
{
	struct strbuf pre = STRBUF_INIT, comp = STRBUF_INIT;
	const char *p = name;
	int dfd = AT_FDCWD, found = 0, at_last = 0;
	size_t parent_len = 0;
	long leaf_at;

	*final_type = 0;
	leaf_at = c->fd >= 0 && !ends_in_dot(name) ? fs_path_clean(name, &pre) : -1;
	if (leaf_at > 0 && (size_t)leaf_at - 1 == c->dir.len &&
	    !memcmp(pre.buf, c->dir.buf, c->dir.len)) {
		const char *leaf = pre.buf + leaf_at;
		struct stat sb;

		if (fstatat(c->fd, leaf, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT) {
				strbuf_reset(bad);
				strbuf_addstr(bad, pre.buf);
				found = -1;
			}
		} else if (S_ISLNK(sb.st_mode)) {
			strbuf_reset(bad);
			strbuf_addstr(bad, pre.buf);
			found = 1;
		} else {
			*final_type = sb.st_mode & S_IFMT;
		}
		strbuf_release(&pre);
		return found;
	}
	strbuf_reset(&pre);
	while (*p) {
		size_t n = strcspn(p, "/");
		struct stat sb;
		int last, fd;

		strbuf_reset(&comp);
		strbuf_add(&comp, p, n);
		p += n;
		while (*p == '/')
			p++;
		last = !*p;
		if (!strcmp(comp.buf, "."))
			continue;
		parent_len = pre.len;
		at_last = last;
		if (pre.len)
			strbuf_addch(&pre, '/');
		strbuf_addstr(&pre, comp.buf);
		if (fstatat(dfd, comp.buf, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT) {
				strbuf_reset(bad);
				strbuf_addstr(bad, pre.buf);
				found = -1;
			}
			break;  /* does not exist yet: nothing below it can be a link */
		}
		if (S_ISLNK(sb.st_mode)) {
			strbuf_reset(bad);
			strbuf_addstr(bad, pre.buf);
			found = 1;
			break;
		}
		if (last) {
			*final_type = sb.st_mode & S_IFMT;
			break;
		}
		if (!S_ISDIR(sb.st_mode))
			break;  /* libarchive fails to create below a non-directory */
		fd = openat(dfd, comp.buf, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			strbuf_reset(bad);
			strbuf_addstr(bad, pre.buf);
			found = -1;
			break;
		}
		if (dfd != AT_FDCWD)
			close(dfd);
		dfd = fd;
	}
	/* Reached the last component: dfd is its parent, walked safely. */
	if (at_last && !found && dfd != AT_FDCWD) {
		cache_drop(c);
		strbuf_add(&c->dir, pre.buf, parent_len);
		c->fd = dfd;
		dfd = AT_FDCWD;
	}
	if (dfd != AT_FDCWD)
		close(dfd);
	strbuf_release(&pre);
	strbuf_release(&comp);
	return found;
}

static int check_entry(struct archive_entry *ent, struct walk_cache *c, struct errbuf *e)
{
	const char *name = archive_entry_pathname(ent);
	const char *link = archive_entry_hardlink(ent);
	struct strbuf bad = STRBUF_INIT;
	mode_t ft;
	int type = (int)archive_entry_filetype(ent);
	int rc = 0, r;

	/* "" (FS_PATH_EMPTY) is refused: it names nothing to extract. */
	if (!name || fs_path_inside(name, NULL) != FS_PATH_INSIDE) {
		rc = errbuf_set(e, BL_EVERIFY, "volume: refusing archive entry '%s': the path leaves the target directory",
				name ? name : "");
		goto out;
	}
	if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK) {
		rc = errbuf_set(e, BL_EVERIFY, "volume: refusing archive entry '%s': %s", name,
				type == AE_IFSOCK ? "a socket" : "a device node");
		goto out;
	}
	switch (find_symlink(name, &bad, &ft, c)) {
	case -1:
		rc = errbuf_set(e, BL_EVERIFY, "volume: refusing archive entry '%s': cannot examine '%s'",
				name, bad.buf);
		goto out;
	case 1:
		if (strcmp(bad.buf, name) == 0)
			break;
		rc = errbuf_set(e, BL_EVERIFY, "volume: refusing archive entry '%s': it would be written through the symlink '%s'",
				name, bad.buf);
		goto out;
	}
	if (bad.len) {
		rc = errbuf_set(e, BL_EVERIFY, "volume: refusing archive entry '%s': it would replace a symlink extracted earlier",
				name);
		goto out;
	}
	if (link) {
		if (fs_path_inside(link, NULL) != FS_PATH_INSIDE) {
			rc = errbuf_set(e, BL_EVERIFY, "volume: refusing hard link '%s' to '%s': the target leaves the target directory",
					name, link);
			goto out;
		}
		r = find_symlink(link, &bad, &ft, c);
		if (r) {
			rc = errbuf_set(e, BL_EVERIFY, r > 0 ? "volume: refusing hard link '%s' to '%s': the target is reached through the symlink '%s'" :
					"volume: refusing hard link '%s' to '%s': cannot examine '%s'",
					name, link, bad.buf);
			goto out;
		}
		if (ft != S_IFREG) {
			rc = errbuf_set(e, BL_EVERIFY, "volume: refusing hard link '%s' to '%s': the target is not a file extracted earlier",
					name, link);
			goto out;
		}
	}
	/* This entry is written next: it may replace a cached component. */
	cache_forget(c, name, &bad);
out:
	strbuf_release(&bad);
	return rc;
}

/* libarchive's message, with strerror when it recorded an errno. */
static const char *la_error(struct archive *a, char *buf, size_t n)
{
	const char *msg = archive_error_string(a);
	int err = archive_errno(a);

	if (!msg)
		msg = "unknown error";
	if (err > 0 && !strstr(msg, strerror(err)))
		snprintf(buf, n, "%s: %s", msg, strerror(err));
	else
		snprintf(buf, n, "%s", msg);
	return buf;
}

static int read_error(struct rctx *rc, struct archive *a, struct errbuf *e)
{
	if (rc->failed)
		return e->code ? e->code : BL_EFAIL;
	return errbuf_set(e, BL_EVERIFY, "volume: corrupt or truncated archive: %s",
			  archive_error_string(a) ? archive_error_string(a) : "read error");
}

static int extract(const char *dir, volume_source_fn src, volume_borrow_fn borrow,
		   void *src_ctx, struct volume_stats *st, struct errbuf *e)
{
	const int flags = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
		ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_XATTR |
		ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
		ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
	struct rctx rcx = { src, borrow, src_ctx, e, 0, 0, NULL, 0 };
	struct walk_cache wc = { STRBUF_INIT, -1 };
	struct archive *rd = NULL, *dw = NULL;
	struct archive_entry *ent;
	char msg[512];
	struct timespec root_times[2];
	int cwd = -1, moved = 0, rc = BL_EFAIL, r, root_time_set = 0;

	if (!st->warnings)
		st->warnings = json_array();
	rcx.buf = xmalloc(VOLUME_CHUNK);
	cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "volume: cannot open the working directory");
		goto out;
	}
	if (chdir(dir) < 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "volume: cannot enter %s", dir);
		goto out;
	}
	moved = 1;
	rd = archive_read_new();
	dw = archive_write_disk_new();
	if (!rd || !dw) {
		rc = errbuf_set(e, BL_EFAIL, "volume: out of memory");
		goto out;
	}
	archive_read_support_format_tar(rd);
	/* A stored volume object is zstd-compressed; libarchive decodes it in
	 * the same pull loop, so memory stays bounded by zstd's window. Only
	 * zstd: every other decoder would be attack surface for nothing. */
	archive_read_support_filter_zstd(rd);
	/* No name lookup: owners are restored by number. */
	archive_write_disk_set_options(dw, flags);
	if (archive_read_open(rd, &rcx, NULL, read_cb, NULL) != ARCHIVE_OK) {
		rc = read_error(&rcx, rd, e);
		goto out;
	}
	for (;;) {
		const char *name;

		if (interrupt_signal) {
			rc = interrupt_check_what(e, "volume: restore into %s", dir);
			goto out;
		}
		r = archive_read_next_header(rd, &ent);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			rc = read_error(&rcx, rd, e);
			goto out;
		}
		name = archive_entry_pathname(ent);
		rc = check_entry(ent, &wc, e);
		if (rc)
			goto out;
		if ((!strcmp(name, ".") || !strcmp(name, "./")) && archive_entry_mtime_is_set(ent)) {
			root_times[0].tv_sec = root_times[1].tv_sec = archive_entry_mtime(ent);
			root_times[0].tv_nsec = root_times[1].tv_nsec = archive_entry_mtime_nsec(ent);
			root_time_set = 1;
		}
		r = archive_write_header(dw, ent);
		if (r < ARCHIVE_WARN) {
			rc = errbuf_set(e, BL_EFAIL, "volume: cannot restore '%s' into %s: %s", name, dir,
					la_error(dw, msg, sizeof(msg)));
			goto out;
		}
		if (r == ARCHIVE_WARN)
			warn_add(st, name, "%s", archive_error_string(dw));
		if (archive_entry_hardlink(ent))
			st->hardlinks++;
		else if (archive_entry_filetype(ent) == AE_IFDIR)
			st->dirs++;
		else if (archive_entry_filetype(ent) == AE_IFLNK)
			st->symlinks++;
		else if (archive_entry_filetype(ent) == AE_IFREG)
			st->files++;
		else
			st->others++;
		if (archive_entry_size(ent) > 0) {
			const void *buf;
			size_t size;
			la_int64_t off;

			while ((r = archive_read_data_block(rd, &buf, &size, &off)) == ARCHIVE_OK) {
				if (interrupt_signal) {
					rc = interrupt_check_what(e, "volume: restore into %s", dir);
					goto out;
				}
				if (archive_write_data_block(dw, buf, size, off) < ARCHIVE_OK) {
					rc = errbuf_set(e, BL_EFAIL, "volume: cannot write '%s' in %s: %s", name,
							dir, la_error(dw, msg, sizeof(msg)));
					goto out;
				}
				st->bytes += (long long)size;
			}
			if (r != ARCHIVE_EOF) {
				rc = read_error(&rcx, rd, e);
				goto out;
			}
		}
		r = archive_write_finish_entry(dw);
		if (r < ARCHIVE_WARN) {
			rc = errbuf_set(e, BL_EFAIL, "volume: cannot restore '%s' into %s: %s", name, dir,
					la_error(dw, msg, sizeof(msg)));
			goto out;
		}
		if (r == ARCHIVE_WARN)
			warn_add(st, name, "%s", archive_error_string(dw));
	}
	/* Directory modes and times are applied at close, relative to the
	 * working directory: close before leaving it. */
	if (archive_write_close(dw) != ARCHIVE_OK) {
		rc = errbuf_set(e, BL_EFAIL, "volume: cannot finish restoring into %s: %s", dir,
				la_error(dw, msg, sizeof(msg)));
		goto out;
	}
	/* libarchive leaves the extraction root's own mtime alone; the
	 * volume directory's time is part of what was saved. */
	if (root_time_set && utimensat(AT_FDCWD, ".", root_times, 0) < 0)
		warn_add(st, ".", "cannot restore the modification time: %s", strerror(errno));
	/* Read the source to its end: a source that checks a checksum at EOF
	 * must see every byte before the restored tree is trusted. */
	while (!rcx.eof && !rcx.failed) {
		const void *p;
		size_t got = 0;

		if (borrow ? borrow(src_ctx, &p, &got, e) :
		    src(src_ctx, rcx.buf, VOLUME_CHUNK, &got, e)) {
			rcx.failed = 1;
			break;
		}
		rcx.bytes += (long long)got;
		if (!got)
			rcx.eof = 1;
	}
	if (rcx.failed) {
		rc = e->code ? e->code : BL_EFAIL;
		goto out;
	}
	st->tar_bytes += rcx.bytes;
	rc = 0;
out:
	if (dw)
		archive_write_free(dw);
	if (rd)
		archive_read_free(rd);
	if (moved && fchdir(cwd) < 0 && !rc)
		rc = errbuf_errno(e, BL_EFAIL, errno, "volume: cannot return to the working directory");
	if (cwd >= 0)
		close(cwd);
	cache_drop(&wc);
	strbuf_release(&wc.dir);
	free(rcx.buf);
	return rc;
}

int volume_extract(const char *dir, volume_source_fn src, void *src_ctx,
		   struct volume_stats *st, struct errbuf *e)
{
	return extract(dir, src, NULL, src_ctx, st, e);
}

/* ---- removing and swapping ---- */

static int remove_at(int dfd, const char *name, const char *top, struct errbuf *e)
{
	struct stat sb;
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : errbuf_errno(e, BL_EFAIL, errno, "volume: cannot remove %s", top);
	if (!S_ISDIR(sb.st_mode)) {
		if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
			return errbuf_errno(e, BL_EFAIL, errno, "volume: cannot remove %s/%s", top, name);
		return 0;
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == EACCES) {
		fchmodat(dfd, name, 0700, 0);
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return errbuf_errno(e, BL_EFAIL, errno, "volume: cannot open %s for removal", top);
	/* A restored read-only directory must become writable to be emptied. */
	if ((sb.st_mode & 0700) != 0700)
		fchmod(fd, 0700);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return errbuf_errno(e, BL_EFAIL, errno, "volume: cannot read %s for removal", top);
	}
	while (!rc && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		rc = remove_at(dirfd(d), de->d_name, top, e);
	}
	closedir(d);
	if (!rc && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = errbuf_errno(e, BL_EFAIL, errno, "volume: cannot remove directory %s", top);
	return rc;
}

int volume_remove_tree(const char *path, struct errbuf *e)
{
	return remove_at(AT_FDCWD, path, path, e);
}

/* Split an absolute, slash-trimmed path into parent and base name. */
static void split_path(const char *path, struct strbuf *parent, struct strbuf *base)
{
	const char *s = strrchr(path, '/');

	strbuf_reset(parent);
	strbuf_reset(base);
	if (!s) {
		strbuf_addstr(parent, ".");
		strbuf_addstr(base, path);
		return;
	}
	if (s == path)
		strbuf_addstr(parent, "/");
	else
		strbuf_add(parent, path, (size_t)(s - path));
	strbuf_addstr(base, s + 1);
}

void volume_staging_path(const char *path, const char *id, struct strbuf *out)
{
	struct strbuf parent = STRBUF_INIT, base = STRBUF_INIT;

	split_path(path, &parent, &base);
	strbuf_reset(out);
	strbuf_addf(out, "%s%s.%s.ballast-restore-%s", parent.buf,
		    strcmp(parent.buf, "/") ? "/" : "", base.buf, id);
	strbuf_release(&parent);
	strbuf_release(&base);
}

void volume_old_path(const char *path, const char *id, struct strbuf *out)
{
	strbuf_reset(out);
	strbuf_addf(out, "%s.ballast-old-%s", path, id);
}

int volume_prune_kept(const char *path, long long keep_ms, long long now_ms, int dry,
		      json_t *out, struct errbuf *e)
{
	struct strbuf parent = STRBUF_INIT, base = STRBUF_INIT, prefix = STRBUF_INIT,
		      kept = STRBUF_INIT;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	strbuf_addstr(&kept, path);
	while (kept.len > 1 && kept.buf[kept.len - 1] == '/')
		strbuf_setlen(&kept, kept.len - 1);
	split_path(kept.buf, &parent, &base);
	strbuf_addf(&prefix, "%s.ballast-old-", base.buf);
	d = opendir(parent.buf);
	if (!d) {
		rc = errno == ENOENT ? 0 : errbuf_errno(e, BL_EFAIL, errno, "volume: cannot read %s",
							 parent.buf);
		goto out;
	}
	while (!rc && (de = readdir(d))) {
		struct stat sb;
		long long at;
		char when[TIME_UTC_MAX];
		const char *action = "keep", *reason = "replaced within retention.kept_volumes";

		if (strncmp(de->d_name, prefix.buf, prefix.len) || !de->d_name[prefix.len])
			continue;
		strbuf_reset(&kept);
		strbuf_addf(&kept, "%s%s%s", parent.buf, strcmp(parent.buf, "/") ? "/" : "",
			    de->d_name);
		/* Only what a restore made: a directory, never a link to elsewhere. */
		if (lstat(kept.buf, &sb) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		/* The rename that set it aside is its last status change. */
		at = (long long)sb.st_ctim.tv_sec * 1000 + sb.st_ctim.tv_nsec / 1000000;
		time_utc_format(sb.st_ctim.tv_sec, when);
		if (now_ms - at >= keep_ms) {
			action = "remove";
			reason = "replaced longer ago than retention.kept_volumes";
			if (!dry) {
				rc = volume_remove_tree(kept.buf, e);
				if (rc)
					break;
			}
		}
		json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s, s:s}", "volume", path,
						     "path", kept.buf, "replaced_at", when,
						     "action", action, "reason", reason));
	}
	closedir(d);
out:
	strbuf_release(&parent);
	strbuf_release(&base);
	strbuf_release(&prefix);
	strbuf_release(&kept);
	return rc;
}

static int id_ok(const char *id)
{
	if (!id || !*id)
		return 0;
	for (const char *p = id; *p; p++)
		if (*p == '/' || (p == id && *p == '.'))
			return 0;
	return 1;
}

/* Normalise the target and check everything a restore needs before it
 * starts: fills path (absolute), parent, staging and old; *exists. */
static int restore_prepare(const char *path_in, const char *id, int keep_old,
			   struct strbuf *path, struct strbuf *parent, struct strbuf *staging,
			   struct strbuf *old, int *exists, struct errbuf *e)
{
	struct strbuf base = STRBUF_INIT;
	struct stat sb;
	char cwd[PATH_MAX];
	int rc = 0;

	*exists = 0;
	if (!id_ok(id)) {
		rc = errbuf_set(e, BL_EUSAGE, "volume: invalid backup id '%s'", id ? id : "");
		goto out;
	}
	/* Absolute, because extraction changes the working directory. */
	if (path_in[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd))) {
			rc = errbuf_errno(e, BL_EFAIL, errno, "volume: cannot resolve %s", path_in);
			goto out;
		}
		strbuf_addf(path, "%s/", cwd);
	}
	strbuf_addstr(path, path_in);
	while (path->len > 1 && path->buf[path->len - 1] == '/')
		strbuf_setlen(path, path->len - 1);
	split_path(path->buf, parent, &base);
	if (!strcmp(path->buf, "/") || !strcmp(base.buf, ".") || !strcmp(base.buf, "..")) {
		rc = errbuf_set(e, BL_EUSAGE, "volume: refusing to restore onto %s", path->buf);
		goto out;
	}
	if (stat(parent->buf, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		rc = errbuf_set(e, BL_EFAIL, "volume: cannot restore %s: parent directory %s does not exist",
				path->buf, parent->buf);
		goto out;
	}
	if (lstat(path->buf, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode)) {
			rc = errbuf_set(e, BL_EFAIL, "volume: %s exists and is not a directory; refusing to replace it",
					path->buf);
			goto out;
		}
		*exists = 1;
	} else if (errno != ENOENT) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "volume: cannot inspect %s", path->buf);
		goto out;
	}
	volume_staging_path(path->buf, id, staging);
	volume_old_path(path->buf, id, old);
	if (*exists && keep_old && lstat(old->buf, &sb) == 0) {
		rc = errbuf_set(e, BL_EFAIL, "volume: %s already exists (kept by an earlier restore of this backup); remove it or restore with --no-keep",
				old->buf);
		goto out;
	}
out:
	strbuf_release(&base);
	return rc;
}

int volume_restore_check(const char *path, const char *id, int keep_old, struct errbuf *e)
{
	struct strbuf p = STRBUF_INIT, parent = STRBUF_INIT, staging = STRBUF_INIT, old = STRBUF_INIT;
	int exists, rc = restore_prepare(path, id, keep_old, &p, &parent, &staging, &old, &exists, e);

	strbuf_release(&p);
	strbuf_release(&parent);
	strbuf_release(&staging);
	strbuf_release(&old);
	return rc;
}

int volume_restore(const char *path_in, const struct volume_restore_opts *o,
		   struct volume_restore_result *res, struct volume_stats *st,
		   struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT, parent = STRBUF_INIT;
	struct strbuf staging = STRBUF_INIT, old = STRBUF_INIT;
	struct stat sb;
	int exists = 0, staged = 0, rc = BL_EFAIL, fd;

	memset(res, 0, sizeof(*res));
	rc = restore_prepare(path_in, o->id, o->keep_old, &path, &parent, &staging, &old,
			     &exists, e);
	if (rc)
		goto out;
	/* A staging directory left by an interrupted restore of the same
	 * backup holds nothing anyone relies on. */
	rc = volume_remove_tree(staging.buf, e);
	if (rc)
		goto out;
	if (mkdir(staging.buf, 0700) < 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "volume: cannot create %s", staging.buf);
		goto out;
	}
	staged = 1;
	rc = extract(staging.buf, o->src, o->borrow, o->src_ctx, st, e);
	if (rc)
		goto out;
	if (interrupt_signal) {
		rc = interrupt_check_what(e, "volume: restore of %s", path.buf);
		goto out;
	}
	/* The restored bytes reach the disk before they become the volume. */
	fd = open(staging.buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
	if (o->before_swap) {
		rc = o->before_swap(o->swap_ctx, e);
		if (rc)
			goto out;
		if (interrupt_signal) {
			rc = interrupt_check_what(e, "volume: restore of %s", path.buf);
			goto out;
		}
	}
	if (!exists) {
		if (rename(staging.buf, path.buf) < 0) {
			rc = errbuf_errno(e, BL_EFAIL, errno, "volume: cannot move %s to %s",
					  staging.buf, path.buf);
			goto out;
		}
		staged = 0;
	} else if (renameat2(AT_FDCWD, staging.buf, AT_FDCWD, path.buf, RENAME_EXCHANGE) == 0) {
		/* staging now holds the old contents */
		if (o->keep_old) {
			if (lstat(old.buf, &sb) == 0 || rename(staging.buf, old.buf) < 0) {
				/* Still safe: the old contents stay under the staging name. */
				snprintf(res->old_path, sizeof(res->old_path), "%s", staging.buf);
				staged = 0;
			} else {
				snprintf(res->old_path, sizeof(res->old_path), "%s", old.buf);
				staged = 0;
			}
		}
		res->replaced = 1;
	} else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
		struct strbuf aside = STRBUF_INIT;

		/* No atomic exchange on this filesystem: move the old tree
		 * aside, move the new one in, and put the old one back if the
		 * second step fails. */
		if (o->keep_old)
			strbuf_addstr(&aside, old.buf);
		else
			strbuf_addf(&aside, "%s.ballast-swap-%s", path.buf, o->id);
		if (rename(path.buf, aside.buf) < 0) {
			rc = errbuf_errno(e, BL_EFAIL, errno, "volume: cannot move %s aside", path.buf);
			strbuf_release(&aside);
			goto out;
		}
		if (rename(staging.buf, path.buf) < 0) {
			int err = errno;

			rename(aside.buf, path.buf);
			rc = errbuf_errno(e, BL_EFAIL, err, "volume: cannot move %s to %s",
					  staging.buf, path.buf);
			strbuf_release(&aside);
			goto out;
		}
		staged = 0;
		res->replaced = 1;
		if (o->keep_old) {
			snprintf(res->old_path, sizeof(res->old_path), "%s", aside.buf);
		} else if (volume_remove_tree(aside.buf, e)) {
			warn_add(st, ".", "%s", e->msg);
			errbuf_clear(e);
		}
		strbuf_release(&aside);
	} else {
		rc = errbuf_errno(e, BL_EFAIL, errno, "volume: cannot swap %s into %s",
				  staging.buf, path.buf);
		goto out;
	}
	fs_fsync_dir(parent.buf);
	rc = 0;
out:
	if (staged) {
		struct errbuf ignore = ERRBUF_INIT;

		/* After a successful exchange without keep_old, staging holds the
		 * replaced contents, which are removed; after a failure it holds
		 * the partial restore. Either way the volume itself is intact. */
		if (volume_remove_tree(staging.buf, &ignore) && rc == 0)
			warn_add(st, ".", "%s", ignore.msg);
	}
	strbuf_release(&path);
	strbuf_release(&parent);
	strbuf_release(&staging);
	strbuf_release(&old);
	return rc;
}
