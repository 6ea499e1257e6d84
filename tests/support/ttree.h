/*
 * ttree: recursive listings of directory trees, for comparing a restored
 * volume with its source.
 *
 * Contract: ttree_list() appends one line per entry below root (root itself
 * as "."), sorted by path: type, mode, uid, gid, size, mtime with
 * nanoseconds (directories and files; symlinks too), symlink target,
 * SHA-256 of the content, every xattr (ACLs appear as
 * system.posix_acl_* xattrs) and, for files with several links, the first
 * path of its inode. Two trees are identical for ballast's purposes exactly
 * when their listings are equal. Returns 0, or -1 when root cannot be read.
 */
#ifndef BALLAST_TTREE_H
#define BALLAST_TTREE_H

#include "strbuf.h"

int ttree_list(const char *root, struct strbuf *out);

/* Fill an empty directory with every kind of entry a volume may hold:
 * files (empty, setuid, 16 MiB sparse with a trailing hole), directories
 * (empty, sticky, with a default ACL), relative, absolute and dangling
 * symlinks, three hard links to one file, a FIFO, unicode and 255-byte
 * names, a path over 2,000 bytes, xattrs, ACLs, foreign owners and a
 * nanosecond mtime. Returns 0 or -1. */
int ttree_make_sample(const char *root);

/* Write len bytes of deterministic pseudo-random data (seeded) to path. */
int ttree_write_random(const char *path, size_t len, unsigned seed);

#endif
