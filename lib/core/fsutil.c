#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc ? -1 : 0;
}

int fs_fsync_parent(const char *path)
{
	struct strbuf dir = STRBUF_INIT;
	const char *slash = strrchr(path, '/');
	int rc;

	if (!slash)
		strbuf_addch(&dir, '.');
	else if (slash == path)
		strbuf_addch(&dir, '/');
	else
		strbuf_add(&dir, path, (size_t)(slash - path));
	rc = fs_fsync_dir(dir.buf);
	strbuf_release(&dir);
	return rc;
}

int fs_mkdir_p(const char *dir, mode_t mode, struct strbuf *failed)
{
	struct strbuf sb = STRBUF_INIT;
	int rc = 0, err = 0;

	strbuf_addstr(&sb, dir);
	strbuf_addch(&sb, '/');
	for (char *p = sb.buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(sb.buf, mode) && errno != EEXIST) {
			err = errno;
			rc = -1;
			if (failed) {
				strbuf_reset(failed);
				strbuf_addstr(failed, sb.buf);
			}
			break;
		}
		*p = '/';
	}
	strbuf_release(&sb);
	if (rc)
		errno = err;
	return rc;
}

static int walk(const char *dir, const char *rel, int depth, fs_walk_fn fn, void *arg,
		struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT, sub = STRBUF_INIT;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (depth > 32)
		return errbuf_set(e, BL_EFAIL, "%s: directory tree deeper than 32 levels", dir);
	d = opendir(dir);
	if (!d)
		return errbuf_errno(e, BL_EFAIL, errno, "cannot open directory %s", dir);
	while ((de = readdir(d))) {
		struct stat sb;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		strbuf_reset(&path);
		strbuf_addf(&path, "%s/%s", dir, de->d_name);
		strbuf_reset(&sub);
		strbuf_addf(&sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		if (stat(path.buf, &sb)) {
			rc = errbuf_errno(e, BL_EFAIL, errno, "cannot stat %s", path.buf);
			break;
		}
		if (S_ISDIR(sb.st_mode)) {
			rc = fn(path.buf, sub.buf, &sb, arg, e);
			if (!rc)
				rc = walk(path.buf, sub.buf, depth + 1, fn, arg, e);
		} else if (S_ISREG(sb.st_mode)) {
			rc = fn(path.buf, sub.buf, &sb, arg, e);
		}
		if (rc)
			break;
	}
	closedir(d);
	strbuf_release(&path);
	strbuf_release(&sub);
	return rc;
}

int fs_walk(const char *dir, fs_walk_fn fn, void *arg, struct errbuf *e)
{
	return walk(dir, "", 0, fn, arg, e);
}

int fs_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

long fs_path_clean(const char *path, struct strbuf *out)
{
	const char *p = path;
	long last = -1;

	strbuf_reset(out);
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n && !(n == 1 && p[0] == '.')) {
			if (out->len)
				strbuf_addch(out, '/');
			last = (long)out->len;
			strbuf_add(out, p, n);
		}
		p += n;
		while (*p == '/')
			p++;
	}
	return last;
}

enum fs_path_class fs_path_inside(const char *path, struct strbuf *clean)
{
	const char *p = path;

	if (clean)
		strbuf_reset(clean);
	if (!*path)
		return FS_PATH_EMPTY;
	if (*path == '/')
		return FS_PATH_ABSOLUTE;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return FS_PATH_DOTDOT;
		p += n;
		while (*p == '/')
			p++;
	}
	if (clean)
		fs_path_clean(path, clean);
	return FS_PATH_INSIDE;
}
