#include "walarchive.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basebackup_item.h"
#include "dbdump.h"
#include "fsutil.h"
#include "interrupt.h"
#include "log.h"
#include "xalloc.h"
#include "zstream.h"

#define CHUNK (128 * 1024)

int walarchive_db(const struct config *cfg, const char *name, json_t **db, struct errbuf *e)
{
	json_t *dbs = config_get(cfg, "databases"), *v, *one = NULL;
	size_t i;
	int n = 0;

	*db = NULL;
	if (name) {
		*db = dbdump_find_db(cfg, name);
		if (!*db)
			return errbuf_set(e, BL_EUSAGE, "%s: no database \"%s\"", cfg->path, name);
		if (!basebackup_item_physical(*db))
			return errbuf_set(e, BL_EUSAGE, "%s: database \"%s\" is not \"mode\": "
					  "\"physical\"; it has no WAL archive", cfg->path, name);
		return 0;
	}
	json_array_foreach(dbs, i, v)
		if (basebackup_item_physical(v)) {
			one = v;
			n++;
		}
	if (n != 1)
		return errbuf_set(e, BL_EUSAGE, "%s: %s physical database: pass --db NAME",
				  cfg->path, n ? "more than one" : "no");
	*db = one;
	return 0;
}

json_t *walarchive_db_names(const struct config *cfg)
{
	json_t *out = json_array(), *db;
	size_t i;

	json_array_foreach(config_get(cfg, "databases"), i, db)
		if (basebackup_item_physical(db) && json_is_string(json_object_get(db, "name")))
			json_array_append(out, json_object_get(db, "name"));
	return out;
}

static int hexn(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

int walarchive_name_valid(const char *n)
{
	size_t len = n ? strlen(n) : 0;

	if (len == 24)
		return hexn(n, 24);
	if (len == 24 + 8)
		return hexn(n, 24) && !strcmp(n + 24, ".partial");
	if (len == 24 + 1 + 8 + 7)
		return hexn(n, 24) && n[24] == '.' && hexn(n + 25, 8) && !strcmp(n + 33, ".backup");
	if (len == 8 + 8)
		return hexn(n, 8) && !strcmp(n + 8, ".history");
	return 0;
}

void walarchive_prefix(const char *project, const char *db, struct strbuf *out)
{
	strbuf_reset(out);
	strbuf_addf(out, "%s/wal/%s/", project, db);
}

/* "<prefix><dir>/<name>-" : every stored copy of name starts so. */
static void name_prefix(const char *project, const char *db, const char *name,
			struct strbuf *out)
{
	walarchive_prefix(project, db, out);
	if (strlen(name) >= 24)
		strbuf_addf(out, "%.16s/%s-", name, name);
	else
		strbuf_addf(out, "history/%s-", name);
}

struct copies {
	size_t plen;
	json_t *keys;  /* array of committed keys */
};

static int copies_fn(void *ctx, const struct repo_entry *ent, struct errbuf *e)
{
	struct copies *c = ctx;
	size_t kl = strlen(ent->key);

	(void)e;
	/* <prefix><64 hex>.zst */
	if (!ent->tmp && kl == c->plen + 64 + 4 && !strcmp(ent->key + kl - 4, ".zst"))
		json_array_append_new(c->keys, json_string(ent->key));
	return 0;
}

static int find_copies(struct repo *r, const char *prefix, json_t **keys, struct errbuf *e)
{
	struct copies c = { strlen(prefix), json_array() };
	int rc = repo_list(r, prefix, copies_fn, &c, e);

	if (rc) {
		json_decref(c.keys);
		return rc;
	}
	*keys = c.keys;
	return 0;
}

static int read_fd(int fd, char *buf, size_t cap, size_t *got, const char *path,
		   struct errbuf *e)
{
	ssize_t n;

	do
		n = read(fd, buf, cap);
	while (n < 0 && errno == EINTR && !interrupt_signal);
	if (n < 0)
		return errbuf_errno(e, BL_EFAIL, errno, "cannot read %s", path);
	*got = (size_t)n;
	return 0;
}

/* Compress what fd holds from its offset on into the object
 * <prefix><hex>.zst, read CHUNK bytes at a time: committed only when what
 * was read hashes to hex (what names the file in messages; one that
 * changed while it was read is refused). The one path wal-push and the
 * partial copies take into the repository. */
static int put_fd(struct repo *r, const char *prefix, const char *hex, int fd, const char *what,
		  int level, struct errbuf *e)
{
	struct strbuf key = STRBUF_INIT;
	char again[ZSTREAM_SHA256_HEX];
	struct repo_writer *w = NULL;
	struct zstream *z = NULL;
	struct zhash *h = zhash_new();
	char *buf = xmalloc(CHUNK);
	size_t got = 0;
	int rc;

	strbuf_addf(&key, "%s%s.zst", prefix, hex);
	rc = repo_writer_open(r, key.buf, -1, &w, e);
	if (!rc)
		rc = zstream_compress_new(level, 1, repo_writer_sink, w, &z, e);
	while (!rc && !(rc = read_fd(fd, buf, CHUNK, &got, what, e)) && got) {
		zhash_update(h, buf, got);
		rc = zstream_write(z, buf, got, e);
	}
	if (!rc)
		rc = zstream_finish(z, e);
	if (!rc) {
		zhash_final(h, again);
		if (strcmp(hex, again))
			rc = errbuf_set(e, BL_EFAIL, "%s changed while it was archived", what);
	}
	if (!rc) {
		rc = repo_writer_commit(w, e);
		w = NULL;
	}
	repo_writer_abort(w);
	zstream_free(z);
	zhash_free(h);
	free(buf);
	strbuf_release(&key);
	return rc;
}

int walarchive_push(struct repo *r, const char *project, const char *db, const char *path,
		    int level, int *already, struct errbuf *e)
{
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	struct strbuf key = STRBUF_INIT;
	char hex[ZSTREAM_SHA256_HEX];
	json_t *keys = NULL, *k;
	size_t i;
	int rc, fd = -1;

	*already = 0;
	if (!walarchive_name_valid(name)) {
		rc = errbuf_set(e, BL_EUSAGE, "wal-push %s: expected a WAL file name "
				"(000000010000000000000002, 00000002.history, ...)", path);
		goto out;
	}
	rc = zhash_file(path, 0, hex, NULL, e);
	if (rc)
		goto out;
	name_prefix(project, db, name, &key);
	rc = find_copies(r, key.buf, &keys, e);
	if (rc)
		goto out;
	json_array_foreach(keys, i, k) {
		const char *have = json_string_value(k) + key.len;

		if (!strncmp(have, hex, 64)) {
			*already = 1;
			goto out;
		}
		rc = errbuf_set(e, BL_EFAIL, "wal file %s is already archived with different "
				"content (archived sha256 %.16s..., this file %.16s...): refusing to "
				"replace it", name, have, hex);
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot open %s", path);
		goto out;
	}
	rc = put_fd(r, key.buf, hex, fd, path, level, e);
out:
	if (fd >= 0)
		close(fd);
	json_decref(keys);
	strbuf_release(&key);
	return rc;
}

/* Delete every copy of name. */
static int drop_copies(struct repo *r, const char *project, const char *db, const char *name,
		       struct errbuf *e)
{
	struct strbuf prefix = STRBUF_INIT;
	json_t *keys = NULL, *k;
	size_t i;
	int rc;

	name_prefix(project, db, name, &prefix);
	rc = find_copies(r, prefix.buf, &keys, e);
	json_array_foreach(keys, i, k)
		if (!rc)
			rc = repo_delete(r, json_string_value(k), e);
	json_decref(keys);
	strbuf_release(&prefix);
	return rc;
}

int walarchive_put_partial(struct repo *r, const char *project, const char *db, const char *name,
			   int fd, const char *hex, int level, int *stored, struct errbuf *e)
{
	struct strbuf key = STRBUF_INIT, newest = STRBUF_INIT;
	json_t *keys = NULL, *k;
	size_t i;
	int rc;

	*stored = 0;
	if (!walarchive_name_valid(name) || strlen(name) != 24 + 8) {
		rc = errbuf_set(e, BL_EUSAGE, "%s: expected a partial segment name "
				"(000000010000000000000002.partial)", name);
		goto out;
	}
	name_prefix(project, db, name, &key);
	rc = find_copies(r, key.buf, &keys, e);
	if (rc)
		goto out;
	json_array_foreach(keys, i, k)
		if (!strncmp(json_string_value(k) + key.len, hex, 64) && json_array_size(keys) == 1)
			goto out;
	rc = put_fd(r, key.buf, hex, fd, name, level, e);
	if (rc)
		goto out;
	*stored = 1;
	/* the new copy is committed: the older ones (listed before it was
	 * written; one streamer per spool writes them) hold less of the same
	 * WAL */
	strbuf_addf(&newest, "%s%s.zst", key.buf, hex);
	json_array_foreach(keys, i, k)
		if (!rc && strcmp(newest.buf, json_string_value(k)))
			rc = repo_delete(r, json_string_value(k), e);
out:
	json_decref(keys);
	strbuf_release(&key);
	strbuf_release(&newest);
	return rc;
}

int walarchive_drop_partial(struct repo *r, const char *project, const char *db,
			    const char *segment, struct errbuf *e)
{
	char name[64];

	snprintf(name, sizeof(name), "%.24s.partial", segment);
	return drop_copies(r, project, db, name, e);
}

int walarchive_drop_superseded(struct repo *r, const char *project, const char *db,
			       json_t *dropped, struct errbuf *e)
{
	json_t *names = NULL, *v;
	const char *name;
	char seg[25];
	int rc = walarchive_list(r, project, db, &names, e);

	json_object_foreach(names, name, v) {
		if (rc)
			break;
		if (strlen(name) != 24 + 8 || strcmp(name + 24, ".partial"))
			continue;
		memcpy(seg, name, 24);
		seg[24] = '\0';
		if (!json_object_get(names, seg))
			continue;
		rc = walarchive_drop_partial(r, project, db, seg, e);
		if (!rc && dropped)
			json_array_append_new(dropped, json_string(seg));
	}
	json_decref(names);
	return rc;
}

struct fetch_sink {
	int fd;
	const char *tmp;
	struct zhash *h;
	struct strbuf *mem;	/* a history file read into memory (capped) */
};

#define HISTORY_MAX (1024 * 1024)

static int fetch_sink_fn(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct fetch_sink *s = ctx;

	zhash_update(s->h, buf, len);
	if (s->mem) {
		if (s->mem->len + len > HISTORY_MAX)
			return errbuf_set(e, BL_EVERIFY, "longer than %d bytes: not a timeline "
					  "history file", HISTORY_MAX);
		strbuf_add(s->mem, buf, len);
	}
	/* no fd: verify reads to hash only */
	if (s->fd >= 0 && fs_write_all(s->fd, buf, len))
		return errbuf_errno(e, BL_EFAIL, errno, "cannot write %s", s->tmp);
	return 0;
}

static void report(const struct errbuf *e)
{
	const char *path = getenv(WALARCHIVE_REPORT_ENV);
	int fd;

	if (!path || !*path)
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, e->msg, strlen(e->msg)) < 0 || write(fd, "\n", 1) < 0)
		log_warn("cannot record a wal-fetch failure in %s", path);
	close(fd);
}

/* Stream the object key of WAL file name through zstd into s (its fd, when
 * there is one) and check the content hashes to want (the 64 hex digits
 * the key carries). BL_EVERIFY naming the file and the object when it does
 * not decompress or hash. */
static int read_checked(struct repo *r, const char *key, const char *name, const char *want,
			struct fetch_sink *s, struct errbuf *e)
{
	struct repo_reader *rd = NULL;
	struct zstream *z = NULL;
	char hex[ZSTREAM_SHA256_HEX];
	char *buf = xmalloc(CHUNK);
	size_t got;
	int rc;

	rc = repo_reader_open(r, key, &rd, e);
	if (!rc)
		rc = zstream_decompress_new(fetch_sink_fn, s, &z, e);
	if (rc)
		goto out;
	while (!(rc = repo_reader_read(rd, buf, CHUNK, &got, e)) && got) {
		rc = zstream_write(z, buf, got, e);
		if (rc)
			break;
	}
	if (!rc)
		rc = zstream_finish(z, e);
	if (rc) {
		char why[ERRBUF_MSG_MAX];

		memcpy(why, e->msg, sizeof(why));
		if (rc == BL_EVERIFY || strstr(why, "zstd"))
			rc = errbuf_set(e, BL_EVERIFY, "wal file %s in the archive is damaged (%s): %s",
					name, key, why);
		goto out;
	}
	zhash_final(s->h, hex);
	if (strncmp(hex, want, 64))
		rc = errbuf_set(e, BL_EVERIFY, "wal file %s in the archive is damaged (%s): its "
				"content hashes to sha256 %.16s...", name, key, hex);
out:
	repo_reader_close(rd);
	zstream_free(z);
	free(buf);
	return rc;
}

/* base is "<name>-<64 hex>.zst" (an object's last path element): name
 * into out and 1, or 0 for anything that is not an archived WAL file. */
static int object_name(const char *base, char *out, size_t cap)
{
	const char *dash = strrchr(base, '-');

	if (!dash || (size_t)(dash - base) >= cap || strlen(dash) != 1 + 64 + 4 ||
	    strcmp(dash + 65, ".zst"))
		return 0;
	snprintf(out, cap, "%.*s", (int)(dash - base), base);
	return walarchive_name_valid(out);
}

struct folder {
	size_t plen;
	json_t *ents;  /* name -> [[key, size], ...] */
};

static int folder_fn(void *ctx, const struct repo_entry *ent, struct errbuf *e)
{
	struct folder *f = ctx;
	const char *base = ent->key + f->plen;
	char name[64];
	json_t *a;

	(void)e;
	if (ent->tmp || strchr(base, '/') || !object_name(base, name, sizeof(name)))
		return 0;
	if (!(a = json_object_get(f->ents, name)))
		json_object_set_new(f->ents, name, a = json_array());
	json_array_append_new(a, json_pack("[s, I]", ent->key, (json_int_t)ent->size));
	return 0;
}

/* Every archived file of the folder prefix (ending in '/'). */
static int list_folder(struct repo *r, const char *prefix, json_t **ents, struct errbuf *e)
{
	struct folder f = { strlen(prefix), json_object() };
	int rc = repo_list(r, prefix, folder_fn, &f, e);

	if (rc)
		json_decref(f.ents);
	else
		*ents = f.ents;
	return rc;
}

/* A segment of the folder ents after seg (same timeline and log). */
static const char *later_segment(json_t *ents, const char *seg)
{
	const char *k;
	json_t *v;

	json_object_foreach(ents, k, v)
		if ((strlen(k) == 24 || !strcmp(k + 24, ".partial")) && strncmp(k + 16, seg + 16, 8) > 0)
			return k;
	return NULL;
}

/* Whether the partial copy of segment seg (the folder's listing in ents)
 * may stand in for it: only as the last WAL of its timeline, which
 * recovery then ends in. *why says why not: a later segment of the same
 * timeline is stored (the archive has a gap; BL_EVERIFY), or a later
 * timeline exists (its history file; the partial may be a promotion's
 * left-over that recovery must not replay; *superseded). */
static int partial_usable(struct repo *r, const char *project, const char *db, const char *seg,
			  json_t *ents, int *superseded, struct strbuf *why, struct errbuf *e)
{
	struct strbuf prefix = STRBUF_INIT;
	json_t *next = NULL, *hist = NULL;
	const char *later = later_segment(ents, seg), *k;
	unsigned tli = 0, log = 0, t;
	json_t *v;
	int rc = 0;

	*superseded = 0;
	sscanf(seg, "%8X%8X", &tli, &log);
	if (!later) {
		/* the next segment may open the next log's folder */
		walarchive_prefix(project, db, &prefix);
		strbuf_addf(&prefix, "%08X%08X/", tli, log + 1);
		rc = list_folder(r, prefix.buf, &next, e);
		if (rc)
			goto out;
		json_object_foreach(next, k, v)
			if (strlen(k) == 24 || !strcmp(k + 24, ".partial")) {
				later = k;
				break;
			}
	}
	if (later) {
		strbuf_addf(why, "later segment %.24s of the same timeline is stored", later);
		goto out;
	}
	walarchive_prefix(project, db, &prefix);
	strbuf_addstr(&prefix, "history/");
	rc = list_folder(r, prefix.buf, &hist, e);
	if (rc)
		goto out;
	json_object_foreach(hist, k, v)
		if (sscanf(k, "%8X", &t) == 1 && t > tli) {
			*superseded = 1;
			strbuf_addf(why, "timeline %u superseded it (%s is stored)", tli, k);
			break;
		}
out:
	json_decref(next);
	json_decref(hist);
	strbuf_release(&prefix);
	return rc;
}

int walarchive_fetch(struct repo *r, const char *project, const char *db, const char *name,
		     const char *dest, int *missing, struct errbuf *e)
{
	struct strbuf prefix = STRBUF_INIT, tmp = STRBUF_INIT, why = STRBUF_INIT;
	struct fetch_sink s = { -1, NULL, NULL, NULL };
	char stored[64];
	const char *key = NULL;
	json_t *ents = NULL, *keys;
	int rc, superseded = 0;

	*missing = 0;
	if (!walarchive_name_valid(name)) {
		rc = errbuf_set(e, BL_EUSAGE, "wal-fetch %s: expected a WAL file name", name);
		goto out;
	}
	/* the folder at once: the file, and for a segment its partial copy */
	walarchive_prefix(project, db, &prefix);
	if (strlen(name) >= 24)
		strbuf_addf(&prefix, "%.16s/", name);
	else
		strbuf_addstr(&prefix, "history/");
	rc = list_folder(r, prefix.buf, &ents, e);
	if (rc)
		goto out;
	snprintf(stored, sizeof(stored), "%s", name);
	keys = json_object_get(ents, name);
	if (!keys && strlen(name) == 24) {
		/* pg_receivewal's partial segment that wal-stream committed on
		 * its interval (zero-padded to the segment's size, as recovery
		 * wants it): recovery reads up to its last complete record and
		 * ends there, as Barman's partial get-wal does */
		snprintf(stored, sizeof(stored), "%s.partial", name);
		keys = json_object_get(ents, stored);
		if (keys)
			rc = partial_usable(r, project, db, name, ents, &superseded, &why, e);
		if (rc)
			goto out;
		if (keys && why.len && !superseded) {
			rc = errbuf_set(e, BL_EVERIFY, "wal file %s is in the archive only as %s while "
					"%s: the archive has a gap at %s", name, stored, why.buf, name);
			goto out;
		}
		if (superseded)
			keys = NULL;
	}
	if (!keys) {
		*missing = 1;
		rc = errbuf_set(e, BL_EFAIL, "wal file %s is not in the archive (%s/%s)%s%s", name,
				repo_describe(r), prefix.buf,
				superseded ? "; its partial copy is not used: " : "", why.buf);
		goto out;
	}
	if (json_array_size(keys) > 1 && strcmp(stored, name)) {
		/* two partial copies only between a new one's commit and the old
		 * one's deletion: both are the same WAL, the larger holds more */
		size_t i, best = 0;
		json_t *c;

		json_array_foreach(keys, i, c)
			if (json_integer_value(json_array_get(c, 1)) >
			    json_integer_value(json_array_get(json_array_get(keys, best), 1)))
				best = i;
		key = json_string_value(json_array_get(json_array_get(keys, best), 0));
	} else if (json_array_size(keys) > 1) {
		rc = errbuf_set(e, BL_EVERIFY, "wal file %s is archived twice with different "
				"content (%s, %s)", name,
				json_string_value(json_array_get(json_array_get(keys, 0), 0)),
				json_string_value(json_array_get(json_array_get(keys, 1), 0)));
		goto out;
	} else {
		key = json_string_value(json_array_get(json_array_get(keys, 0), 0));
	}
	if (strcmp(stored, name))
		log_info("wal-fetch %s: only its partial copy %s is archived: recovery ends in it",
			 name, stored);
	strbuf_addf(&tmp, "%s.ballast-tmp", dest);
	s.tmp = tmp.buf;
	s.h = zhash_new();
	s.fd = open(tmp.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (s.fd < 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot create %s", tmp.buf);
		goto out;
	}
	rc = read_checked(r, key, stored, key + prefix.len + strlen(stored) + 1, &s, e);
	if (rc)
		goto out;
	if (fsync(s.fd) < 0 || close(s.fd) < 0) {
		s.fd = -1;
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot write %s", tmp.buf);
		goto out;
	}
	s.fd = -1;
	if (rename(tmp.buf, dest) < 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot rename %s to %s", tmp.buf, dest);
		goto out;
	}
out:
	if (s.fd >= 0)
		close(s.fd);
	if (rc && tmp.len)
		unlink(tmp.buf);
	if (rc && !*missing)
		report(e);
	zhash_free(s.h);
	json_decref(ents);
	strbuf_release(&prefix);
	strbuf_release(&tmp);
	strbuf_release(&why);
	return rc;
}

struct lister {
	size_t plen;
	json_t *names;
};

static int list_fn(void *ctx, const struct repo_entry *ent, struct errbuf *e)
{
	struct lister *l = ctx;
	const char *rest = ent->key + l->plen, *slash = strchr(rest, '/');
	char name[64];

	(void)e;
	/* exactly <name>-<64 hex>.zst: anything else is not an archived file */
	if (!ent->tmp && slash && object_name(slash + 1, name, sizeof(name)))
		json_object_set_new(l->names, name, json_string(ent->key));
	return 0;
}

int walarchive_list(struct repo *r, const char *project, const char *db, json_t **names,
		    struct errbuf *e)
{
	struct strbuf prefix = STRBUF_INIT;
	struct lister l;
	int rc;

	walarchive_prefix(project, db, &prefix);
	l.plen = prefix.len;
	l.names = json_object();
	rc = repo_list(r, prefix.buf, list_fn, &l, e);
	if (rc)
		json_decref(l.names);
	else
		*names = l.names;
	strbuf_release(&prefix);
	return rc;
}

/* A segment name's number: per_log segments to a log file (2^32 / the
 * segment size). */
static unsigned long long segno(const char *name, unsigned long long per_log)
{
	char log[9], seg[9];

	snprintf(log, sizeof(log), "%.8s", name + 8);
	snprintf(seg, sizeof(seg), "%.8s", name + 16);
	return strtoull(log, NULL, 16) * per_log + strtoull(seg, NULL, 16);
}

/* The newest segment number of timeline tli stored, or 0. */
static unsigned long long newest_seg(json_t *names, unsigned tli, unsigned long long per_log)
{
	unsigned long long last = 0;
	const char *k;
	json_t *v;

	json_object_foreach(names, k, v) {
		char t[9];

		if (strlen(k) < 24 || (k[24] == '.' && strcmp(k + 24, ".partial")))
			continue;
		snprintf(t, sizeof(t), "%.8s", k);
		if (strtoul(t, NULL, 16) == tli && segno(k, per_log) > last)
			last = segno(k, per_log);
	}
	return last;
}

/* The first segment of timeline tli in [from, to] missing from names. A
 * partial copy stands in for a segment only as the last of the way (tip):
 * recovery ends in it, so anything after it would be out of reach. */
static int range_gap(json_t *names, unsigned tli, unsigned long long from, unsigned long long to,
		     unsigned long long per_log, int tip, struct strbuf *gap)
{
	char want[40];

	for (unsigned long long n = from; n <= to; n++) {
		snprintf(want, sizeof(want), "%08X%08X%08X", tli, (unsigned)(n / per_log),
			 (unsigned)(n % per_log));
		if (json_object_get(names, want))
			continue;
		strcat(want, ".partial");
		if (tip && n == to && json_object_get(names, want))
			continue;
		strbuf_addf(gap, "%.24s", want);
		return 1;
	}
	return 0;
}

/* One line of a timeline history file: "<parent tli>\t<X/Y switch
 * LSN>\t<reason>"; blank and '#' lines are not entries. */
static int history_entry(const char *line, unsigned *tli, uint64_t *lsn)
{
	unsigned hi, lo;

	while (*line == ' ' || *line == '\t')
		line++;
	if (!*line || *line == '#' || *line == '\n')
		return 0;
	if (sscanf(line, "%u %X/%X", tli, &hi, &lo) != 3)
		return 0;
	*lsn = ((uint64_t)hi << 32) | lo;
	return 1;
}

void walarchive_gap(json_t *names, unsigned tli, const char *stop_wal, uint64_t segsize,
		    unsigned target, const char *history, struct strbuf *gap)
{
	/* The base backup carries the WAL up to its stop segment (-X fetch):
	 * the archive must hold every segment after it, on each timeline of
	 * the way for as long as recovery stays on it. */
	unsigned long long per_log = 0x100000000ULL / segsize;
	unsigned long long stop = segno(stop_wal, per_log), from = stop + 1, sw;
	unsigned *tl = NULL, cur = tli;
	uint64_t *lsn = NULL;
	size_t n = 0, alloc = 0, i, first = 0;
	const char *line;
	int on_way = 0;

	strbuf_reset(gap);
	for (line = history; target != tli && line && *line;) {
		unsigned t;
		uint64_t l;

		if (history_entry(line, &t, &l)) {
			if (n == alloc) {
				alloc = alloc ? 2 * alloc : 8;
				tl = xrealloc(tl, alloc * sizeof(*tl));
				lsn = xrealloc(lsn, alloc * sizeof(*lsn));
			}
			tl[n] = t;
			lsn[n++] = l;
		}
		line = strchr(line, '\n');
		line += !!line;
	}
	/* the way passes through tli only if the branch leaves it after the
	 * backup's stop segment (or within it) */
	for (i = 0; i < n; i++)
		if (tl[i] == tli && lsn[i] / segsize >= stop) {
			on_way = 1;
			first = i;
			break;
		}
	for (i = first; on_way && i < n; i++) {
		/* cur is read up to the segment before its switch point; the
		 * next timeline's copy of the switch segment holds the rest */
		sw = lsn[i] / segsize;
		if (sw > from && range_gap(names, cur, from, sw - 1, per_log, 0, gap))
			goto out;
		from = sw > from ? sw : (sw == stop ? stop : from);
		cur = i + 1 < n ? tl[i + 1] : target;
	}
	range_gap(names, cur, from, newest_seg(names, cur, per_log), per_log, 1, gap);
out:
	free(tl);
	free(lsn);
}

int walarchive_history(struct repo *r, json_t *names, unsigned tli, unsigned want,
		       unsigned *target, struct strbuf *text, struct errbuf *e)
{
	struct fetch_sink s = { -1, NULL, NULL, text };
	char hname[32];
	const char *k, *key, *dash;
	json_t *v;
	unsigned best = 0;
	int rc;

	*target = tli;
	strbuf_reset(text);
	if (!want)
		json_object_foreach(names, k, v) {
			unsigned n;

			if (strlen(k) == 16 && !strcmp(k + 8, ".history") &&
			    sscanf(k, "%8X", &n) == 1 && n > best)
				best = n;
		}
	else
		best = want;
	if (best <= tli)
		return 0;
	snprintf(hname, sizeof(hname), "%08X.history", best);
	key = json_string_value(json_object_get(names, hname));
	if (!key)
		return 0;
	dash = strrchr(key, '-');
	if (!dash || strlen(dash + 1) < 64)
		return errbuf_set(e, BL_EVERIFY, "wal file %s in the archive is damaged (%s): the "
				  "object's name carries no sha256", hname, key);
	s.h = zhash_new();
	rc = read_checked(r, key, hname, dash + 1, &s, e);
	zhash_free(s.h);
	if (rc) {
		strbuf_reset(text);
		return rc;
	}
	*target = best;
	return 0;
}

int walarchive_before(const char *name, const char *keep_from)
{
	/* "TTTTTTTTLLLLLLLLSSSSSSSS[.partial|.XXXXXXXX.backup]": the log and
	 * segment are fixed-width upper-case hex, so they compare as text */
	if (!walarchive_name_valid(name) || strlen(name) < 24 || strstr(name, ".history") ||
	    strlen(keep_from) < 24)
		return 0;
	return strncmp(name + 8, keep_from + 8, 16) < 0;
}

int walarchive_verify(struct repo *r, json_t *names, json_t *damaged, struct errbuf *e)
{
	const char *name;
	json_t *key;
	int rc = 0;

	json_object_foreach(names, name, key) {
		const char *k = json_string_value(key), *dash = strrchr(k, '-');
		struct fetch_sink s = { -1, k, NULL, NULL };
		struct errbuf one = ERRBUF_INIT;

		rc = interrupt_check(e);
		if (rc)
			return rc;
		if (!dash || strlen(dash + 1) < 64) {
			json_array_append_new(damaged, json_pack("{s:s, s:s}", "file", name, "error",
								 "the object's name carries no sha256"));
			continue;
		}
		s.h = zhash_new();
		rc = read_checked(r, k, name, dash + 1, &s, &one);
		zhash_free(s.h);
		if (rc == BL_EVERIFY) {
			json_array_append_new(damaged, json_pack("{s:s, s:s}", "file", name, "error",
								 one.msg));
			rc = 0;
		} else if (rc) {
			/* the repository itself failed: not a verdict on the file */
			*e = one;
			return rc;
		}
	}
	return 0;
}
