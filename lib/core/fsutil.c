#include "fsutil.h"

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
