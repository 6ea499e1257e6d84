/*
 * fsutil: the few file-system steps that make a write durable and a path
 * exist, in one place.
 *
 * Contract: fs_fsync_dir() fsyncs a directory (after a rename or create in
 * it, so the new name survives a power cut); fs_fsync_parent() the
 * directory that holds path. fs_mkdir_p() creates dir and every missing
 * parent with mode (existing ones are left as they are); on failure it
 * returns -1 with errno set and, when failed is not NULL, the component it
 * could not create in failed. All return 0 on success.
 *
 * fs_walk() calls fn for every directory and regular file below dir (a
 * directory before what it holds; other kinds are skipped), with its path
 * and its path relative to dir; a non-zero return from fn stops the walk
 * and is returned. Trees deeper than 32 levels are refused (BL_EFAIL), as
 * are unreadable directories and entries, naming the path.
 *
 * fs_path_clean() writes a relative path's components other than "." and
 * empty ones, joined by single slashes, into out ("./a//b/" -> "a/b"; ".."
 * is kept: callers that must stay inside a root check with
 * fs_path_inside()) and returns the offset in out where the last component
 * starts, -1 when there is none (out is then empty).
 *
 * fs_path_inside() classifies a relative path that untrusted input (an
 * archive entry, a link target) names below a root, checked in this order:
 * FS_PATH_EMPTY for "" (a bundle takes it as its root, a volume refuses
 * it: the callers decide), FS_PATH_ABSOLUTE when it starts with "/",
 * FS_PATH_DOTDOT when any component is ".." (also "a/../b", which stays
 * inside: nothing is resolved), else FS_PATH_INSIDE. Only the classes are
 * reported; the messages are the callers'. When clean is not NULL it gets
 * fs_path_clean()'s form of an FS_PATH_INSIDE path ("." and "./" give "",
 * the root) and is empty for every other class.
 */
#ifndef BALLAST_FSUTIL_H
#define BALLAST_FSUTIL_H

#include <sys/types.h>

#include "errbuf.h"
#include "strbuf.h"

struct stat;

int fs_fsync_dir(const char *dir);
int fs_fsync_parent(const char *path);
int fs_mkdir_p(const char *dir, mode_t mode, struct strbuf *failed);
/* write() until all len bytes are written, retrying EINTR; -1 with errno
 * set on failure. */
int fs_write_all(int fd, const void *buf, size_t len);

long fs_path_clean(const char *path, struct strbuf *out);

enum fs_path_class {
	FS_PATH_INSIDE = 0,
	FS_PATH_EMPTY,
	FS_PATH_ABSOLUTE,
	FS_PATH_DOTDOT,
};
enum fs_path_class fs_path_inside(const char *path, struct strbuf *clean);

typedef int (*fs_walk_fn)(const char *path, const char *rel, const struct stat *st, void *arg,
			  struct errbuf *e);
int fs_walk(const char *dir, fs_walk_fn fn, void *arg, struct errbuf *e);

#endif
