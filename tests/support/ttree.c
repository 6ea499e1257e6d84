#include "ttree.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

struct line {
	char *path;
	char *text;
	dev_t dev;
	ino_t ino;
	nlink_t nlink;
};

struct lines {
	struct line *v;
	size_t n, alloc;
};

static void hash_file(int dfd, const char *name, struct strbuf *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char *buf = malloc(1 << 20);
	ssize_t n;

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	if (fd >= 0) {
		while ((n = read(fd, buf, 1 << 20)) > 0)
			EVP_DigestUpdate(ctx, buf, (size_t)n);
		close(fd);
	} else {
		strbuf_addstr(out, " unreadable");
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	strbuf_addch(out, ' ');
	for (unsigned int i = 0; i < mdlen; i++)
		strbuf_addf(out, "%02x", md[i]);
	EVP_MD_CTX_free(ctx);
	free(buf);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* xattrs by /proc/self/fd path so symlinks are read without following. */
static void add_xattrs(const char *full, struct strbuf *out)
{
	char names[65536], val[65536];
	ssize_t len = llistxattr(full, names, sizeof(names));
	char *list[512];
	size_t n = 0;

	for (ssize_t i = 0; len > 0 && i < len && n < 512; i += (ssize_t)strlen(names + i) + 1)
		list[n++] = names + i;
	qsort(list, n, sizeof(list[0]), cmp_str);
	for (size_t i = 0; i < n; i++) {
		ssize_t vl = lgetxattr(full, list[i], val, sizeof(val));

		strbuf_addf(out, " x:%s=", list[i]);
		for (ssize_t k = 0; k < vl; k++)
			strbuf_addf(out, "%02x", (unsigned char)val[k]);
	}
}

static int walk(const char *root, const char *rel, struct lines *ls)
{
	struct strbuf full = STRBUF_INIT, text = STRBUF_INIT;
	struct stat sb;
	int rc = 0;

	strbuf_addstr(&full, root);
	if (strcmp(rel, "."))
		strbuf_addf(&full, "/%s", rel);
	if (lstat(full.buf, &sb) < 0) {
		strbuf_release(&full);
		return -1;
	}
	strbuf_addf(&text, "%s %c %04o %u:%u", rel,
		    S_ISDIR(sb.st_mode) ? 'd' : S_ISLNK(sb.st_mode) ? 'l' : S_ISREG(sb.st_mode) ? 'f' :
		    S_ISFIFO(sb.st_mode) ? 'p' : '?',
		    (unsigned)(sb.st_mode & 07777), (unsigned)sb.st_uid, (unsigned)sb.st_gid);
	if (!S_ISDIR(sb.st_mode))
		strbuf_addf(&text, " size=%lld", (long long)sb.st_size);
	strbuf_addf(&text, " mtime=%lld.%09ld", (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
	if (S_ISLNK(sb.st_mode)) {
		char t[4096];
		ssize_t n = readlink(full.buf, t, sizeof(t) - 1);

		t[n > 0 ? n : 0] = '\0';
		strbuf_addf(&text, " -> %s", t);
	}
	if (S_ISREG(sb.st_mode))
		hash_file(AT_FDCWD, full.buf, &text);
	add_xattrs(full.buf, &text);
	if (ls->n == ls->alloc) {
		ls->alloc = ls->alloc ? ls->alloc * 2 : 1024;
		ls->v = realloc(ls->v, ls->alloc * sizeof(*ls->v));
	}
	ls->v[ls->n++] = (struct line){ strdup(rel), strbuf_detach(&text, NULL), sb.st_dev,
					sb.st_ino, sb.st_nlink };
	if (S_ISDIR(sb.st_mode)) {
		DIR *d = opendir(full.buf);
		struct dirent *de;

		if (!d) {
			rc = -1;
			goto out;
		}
		while ((de = readdir(d))) {
			struct strbuf sub = STRBUF_INIT;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (strcmp(rel, "."))
				strbuf_addf(&sub, "%s/%s", rel, de->d_name);
			else
				strbuf_addstr(&sub, de->d_name);
			if (walk(root, sub.buf, ls))
				rc = -1;
			strbuf_release(&sub);
		}
		closedir(d);
	}
out:
	strbuf_release(&full);
	strbuf_release(&text);
	return rc;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(((const struct line *)a)->path, ((const struct line *)b)->path);
}

int ttree_list(const char *root, struct strbuf *out)
{
	struct lines ls = { NULL, 0, 0 };
	int rc = walk(root, ".", &ls);

	qsort(ls.v, ls.n, sizeof(*ls.v), cmp_line);
	for (size_t i = 0; i < ls.n; i++) {
		strbuf_addstr(out, ls.v[i].text);
		if (ls.v[i].nlink > 1 && ls.v[i].text[strlen(ls.v[i].path) + 1] != 'd') {
			for (size_t j = 0; j < ls.n; j++)
				if (ls.v[j].dev == ls.v[i].dev && ls.v[j].ino == ls.v[i].ino) {
					strbuf_addf(out, " links=%s", ls.v[j].path);
					break;
				}
		}
		strbuf_addch(out, '\n');
	}
	for (size_t i = 0; i < ls.n; i++) {
		free(ls.v[i].path);
		free(ls.v[i].text);
	}
	free(ls.v);
	return rc;
}

int ttree_write_random(const char *path, size_t len, unsigned seed)
{
	unsigned char buf[65536];
	unsigned long long x = seed * 2654435761ULL + 1;
	FILE *f = fopen(path, "wb");
	int rc = 0;

	if (!f)
		return -1;
	while (len) {
		size_t n = len > sizeof(buf) ? sizeof(buf) : len;

		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (unsigned char)x;
		}
		if (fwrite(buf, 1, n, f) != n)
			rc = -1;
		len -= n;
	}
	if (fclose(f))
		rc = -1;
	return rc;
}

static int put(const char *root, const char *rel, const char *text)
{
	struct strbuf p = STRBUF_INIT;
	FILE *f;
	int rc = -1;

	strbuf_addf(&p, "%s/%s", root, rel);
	f = fopen(p.buf, "w");
	if (f) {
		rc = fputs(text, f) < 0 ? -1 : 0;
		if (fclose(f))
			rc = -1;
	}
	strbuf_release(&p);
	return rc;
}

static int sh(const char *root, const char *cmd)
{
	struct strbuf c = STRBUF_INIT;
	int rc;

	strbuf_addf(&c, "cd '%s' && %s", root, cmd);
	rc = system(c.buf);
	strbuf_release(&c);
	return rc == 0 ? 0 : -1;
}

int ttree_make_sample(const char *root)
{
	struct strbuf p = STRBUF_INIT, longname = STRBUF_INIT, deep = STRBUF_INIT;
	struct timespec ts[2];
	int rc = 0, fd;

	rc |= put(root, "plain.txt", "hello, volume\n");
	rc |= put(root, "empty", "");
	rc |= put(root, "exec.sh", "#!/bin/sh\necho hi\n");
	rc |= sh(root, "chmod 4755 exec.sh && chmod 0640 plain.txt && chown 1001:1002 plain.txt");
	rc |= sh(root, "mkdir -p dir/nested emptydir sticky 'café' && chmod 0700 emptydir && chmod 1777 sticky");
	rc |= put(root, "dir/nested/deep.txt", "deep\n");
	rc |= put(root, "café/日本語-ファイル.txt", "unicode ✓\n");
	rc |= sh(root, "ln -s plain.txt link-rel && ln -s /etc/hostname link-abs && "
		       "ln -s does/not/exist link-dangling && ln -s dir dirlink && "
		       "chown -h 1001:1002 link-rel");
	rc |= put(root, "hard1", "one inode, three names\n");
	rc |= sh(root, "ln hard1 dir/hard2 && ln hard1 hard3 && mkfifo fifo");
	rc |= sh(root, "setfattr -n user.note -v hi plain.txt && setfattr -n user.bin -v 0x00ff10 dir/nested/deep.txt");
	rc |= sh(root, "setfacl -m u:nobody:r,g:nogroup:rw hard1 && setfacl -d -m u:nobody:rx dir");
	/* 255 bytes is the longest name ext4 and tmpfs take. */
	for (int i = 0; i < 251; i++)
		strbuf_addch(&longname, 'n');
	strbuf_addstr(&longname, ".txt");
	rc |= put(root, longname.buf, "long name\n");
	/* A path longer than 2,000 bytes: ten 200-byte directories. */
	strbuf_addstr(&deep, root);
	for (int i = 0; i < 10; i++) {
		strbuf_addch(&deep, '/');
		for (int k = 0; k < 200; k++)
			strbuf_addch(&deep, (char)('a' + i));
		if (mkdir(deep.buf, 0755) < 0)
			rc = -1;
	}
	strbuf_addstr(&deep, "/leaf.txt");
	fd = open(deep.buf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "leaf\n", 5) != 5)
		rc = -1;
	if (fd >= 0)
		close(fd);
	/* Sparse: data at 0 and at 8 MiB, hole up to 16 MiB. */
	strbuf_addf(&p, "%s/sparse.img", root);
	fd = open(p.buf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || pwrite(fd, "head", 4, 0) != 4 || pwrite(fd, "middle", 6, 8 << 20) != 6 ||
	    ftruncate(fd, 16 << 20) < 0)
		rc = -1;
	if (fd >= 0)
		close(fd);
	/* Last, so no later change moves it. */
	strbuf_reset(&p);
	strbuf_addf(&p, "%s/plain.txt", root);
	ts[0].tv_sec = ts[1].tv_sec = 1600000000;
	ts[0].tv_nsec = ts[1].tv_nsec = 123456789;
	if (utimensat(AT_FDCWD, p.buf, ts, AT_SYMLINK_NOFOLLOW) < 0)
		rc = -1;
	strbuf_release(&p);
	strbuf_release(&longname);
	strbuf_release(&deep);
	return rc ? -1 : 0;
}
