#include "basebackup.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interrupt.h"
#include "zstream.h"

#define BLOCK 512
/* backup_label is a few hundred bytes, a manifest line a path and four
 * fields: anything near these bounds is not what the server writes. */
#define SMALL_MAX (64 * 1024)
#define TAIL_KEEP (64 * 1024)

enum member { M_OTHER, M_LABEL, M_VERSION, M_MANIFEST };

struct scan {
	struct basebackup_info *bi;
	proc_sink_fn sink;
	void *ctx;
	unsigned char hdr[BLOCK];
	size_t hlen;
	long long remain, pad;
	enum member member;
	char name[260];
	int any_header;
	struct strbuf version, line, tail;
	struct zhash *mh;
	char mcheck[65];
};

void basebackup_info_init(struct basebackup_info *bi)
{
	memset(bi, 0, sizeof(*bi));
	strbuf_init(&bi->label, 0);
}

void basebackup_info_release(struct basebackup_info *bi)
{
	strbuf_release(&bi->label);
	memset(bi, 0, sizeof(*bi));
}

int basebackup_lsn_parse(const char *s, uint64_t *lsn)
{
	unsigned hi, lo;
	int n = 0;

	if (!s || sscanf(s, "%X/%X%n", &hi, &lo, &n) != 2 || s[n])
		return -1;
	*lsn = ((uint64_t)hi << 32) | lo;
	return 0;
}

int basebackup_segsize_valid(uint64_t segsize)
{
	/* initdb --wal-segsize: a power of two from 1 MiB to 1 GiB */
	return segsize >= BASEBACKUP_SEGSIZE_MIN && segsize <= BASEBACKUP_SEGSIZE_MAX &&
	       !(segsize & (segsize - 1));
}

void basebackup_wal_name(unsigned timeline, uint64_t lsn, uint64_t segsize,
			 char out[BASEBACKUP_WAL_NAME])
{
	uint64_t seg = lsn / segsize, per_log = 0x100000000ULL / segsize;

	snprintf(out, BASEBACKUP_WAL_NAME, "%08X%08X%08X", timeline,
		 (unsigned)(seg / per_log), (unsigned)(seg % per_log));
}

/* The one segment size whose naming puts LSN in FILE; 0 when none or
 * several do (an LSN in a log file's segment 0 is in segment 0 for every
 * size larger than its offset in that log file). */
static uint64_t segsize_from_name(uint64_t lsn, const char *file)
{
	uint64_t found = 0, sz;
	char name[BASEBACKUP_WAL_NAME];

	for (sz = BASEBACKUP_SEGSIZE_MIN; sz <= BASEBACKUP_SEGSIZE_MAX; sz <<= 1) {
		basebackup_wal_name(0, lsn, sz, name);
		if (strcmp(name + 8, file + 8))
			continue;
		if (found)
			return 0;
		found = sz;
	}
	return found;
}

/* The value after "KEY: " on its own line of the label, up to a space or
 * the end of the line (whole=1: the rest of the line). */
static void label_field(const char *label, const char *key, int whole, char *out, size_t n)
{
	const char *p = label;
	size_t kl = strlen(key), i = 0;

	out[0] = '\0';
	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == ':' && p[kl + 1] == ' ') {
			p += kl + 2;
			while (p[i] && p[i] != '\n' && (whole || p[i] != ' ') && i + 1 < n) {
				out[i] = p[i];
				i++;
			}
			out[i] = '\0';
			return;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
}

static int label_parse(struct basebackup_info *bi, struct errbuf *e)
{
	char tl[16], file[64];
	const char *f;

	label_field(bi->label.buf, "START WAL LOCATION", 0, bi->start_lsn, sizeof(bi->start_lsn));
	label_field(bi->label.buf, "CHECKPOINT LOCATION", 0, bi->checkpoint_lsn,
		    sizeof(bi->checkpoint_lsn));
	label_field(bi->label.buf, "START TIME", 1, bi->start_time, sizeof(bi->start_time));
	label_field(bi->label.buf, "START TIMELINE", 0, tl, sizeof(tl));
	label_field(bi->label.buf, "START WAL LOCATION", 1, file, sizeof(file));
	bi->timeline = (unsigned)strtoul(tl, NULL, 10);
	f = strstr(file, "(file ");
	if (f && strlen(f) >= 6 + 24)
		snprintf(bi->start_wal, sizeof(bi->start_wal), "%.24s", f + 6);
	{
		uint64_t lsn;

		if (basebackup_lsn_parse(bi->start_lsn, &lsn) || !bi->timeline || !bi->start_wal[0])
			return errbuf_set(e, BL_EFAIL, "backup_label: expected START WAL LOCATION and "
					  "START TIMELINE lines, got \"%.120s\"", bi->label.buf);
	}
	return 0;
}

/* The last WAL range of the manifest's tail: where the backup ends. */
static int manifest_ranges(struct scan *s, struct errbuf *e)
{
	const char *at = NULL, *p;
	struct strbuf js = STRBUF_INIT;
	json_t *root, *ranges, *last;
	int rc = 0;

	for (p = s->tail.buf; (p = strstr(p, "\"WAL-Ranges\"")); p++)
		at = p;
	if (!at)
		return errbuf_set(e, BL_EVERIFY, "backup_manifest: no \"WAL-Ranges\" at its end");
	strbuf_addch(&js, '{');
	strbuf_addstr(&js, at);
	root = json_loads(js.buf, 0, NULL);
	ranges = json_object_get(root, "WAL-Ranges");
	last = json_array_get(ranges, json_array_size(ranges) ? json_array_size(ranges) - 1 : 0);
	if (!json_is_string(json_object_get(last, "End-LSN")) ||
	    !json_is_integer(json_object_get(last, "Timeline"))) {
		rc = errbuf_set(e, BL_EVERIFY, "backup_manifest: unreadable \"WAL-Ranges\"");
	} else {
		snprintf(s->bi->stop_lsn, sizeof(s->bi->stop_lsn), "%s",
			 json_string_value(json_object_get(last, "End-LSN")));
		s->bi->stop_timeline = (unsigned)json_integer_value(json_object_get(last, "Timeline"));
	}
	json_decref(root);
	strbuf_release(&js);
	return rc;
}

static const char checksum_key[] = "\"Manifest-Checksum\": \"";

/* A whole manifest line: every line but the checksum's own is hashed. */
static void manifest_line(struct scan *s)
{
	if (!strncmp(s->line.buf, checksum_key, sizeof(checksum_key) - 1)) {
		snprintf(s->mcheck, sizeof(s->mcheck), "%.64s",
			 s->line.buf + sizeof(checksum_key) - 1);
		return;
	}
	zhash_update(s->mh, s->line.buf, s->line.len);
}

static int manifest_data(struct scan *s, const unsigned char *p, size_t n, struct errbuf *e)
{
	strbuf_add(&s->tail, p, n);
	if (s->tail.len > 2 * TAIL_KEEP) {
		memmove(s->tail.buf, s->tail.buf + s->tail.len - TAIL_KEEP, TAIL_KEEP);
		strbuf_setlen(&s->tail, TAIL_KEEP);
	}
	for (size_t i = 0; i < n; i++) {
		strbuf_addch(&s->line, p[i]);
		if (p[i] == '\n') {
			manifest_line(s);
			strbuf_reset(&s->line);
		} else if (s->line.len > SMALL_MAX) {
			return errbuf_set(e, BL_EVERIFY, "backup_manifest: a line longer than %d bytes",
					  SMALL_MAX);
		}
	}
	return 0;
}

static int member_end(struct scan *s, struct errbuf *e)
{
	char got[ZSTREAM_SHA256_HEX];
	int rc = 0;

	switch (s->member) {
	case M_LABEL:
		rc = label_parse(s->bi, e);
		break;
	case M_VERSION:
		strbuf_rtrim(&s->version);
		snprintf(s->bi->pg_version, sizeof(s->bi->pg_version), "%s", s->version.buf);
		break;
	case M_MANIFEST:
		if (s->line.len)
			manifest_line(s);
		zhash_final(s->mh, got);
		if (strlen(s->mcheck) != 64)
			return errbuf_set(e, BL_EVERIFY, "backup_manifest: no Manifest-Checksum line");
		if (strcmp(got, s->mcheck))
			return errbuf_set(e, BL_EVERIFY, "backup_manifest: checksum mismatch (the "
					  "manifest says %.12s..., its content hashes to %.12s...)",
					  s->mcheck, got);
		rc = manifest_ranges(s, e);
		if (!rc) {
			s->bi->manifest = 1;
			memcpy(s->bi->manifest_sha256, s->mcheck, sizeof(s->mcheck));
		}
		break;
	case M_OTHER:
		break;
	}
	s->member = M_OTHER;
	return rc;
}

static int member_data(struct scan *s, const unsigned char *p, size_t n, struct errbuf *e)
{
	switch (s->member) {
	case M_LABEL:
	case M_VERSION: {
		struct strbuf *sb = s->member == M_LABEL ? &s->bi->label : &s->version;

		if (sb->len + n > SMALL_MAX)
			return errbuf_set(e, BL_EFAIL, "%s: larger than %d bytes", s->name, SMALL_MAX);
		strbuf_add(sb, p, n);
		return 0;
	}
	case M_MANIFEST:
		s->bi->manifest_size += (long long)n;
		return manifest_data(s, p, n, e);
	case M_OTHER:
		break;
	}
	return 0;
}

/* Octal, or base-256 with the high bit set (PostgreSQL writes that for
 * members of 8 GiB and more). */
static long long tar_number(const unsigned char *f, size_t n)
{
	long long v = 0;

	if (f[0] & 0x80) {
		for (size_t i = 1; i < n; i++)
			v = (v << 8) | f[i];
		return v;
	}
	for (size_t i = 0; i < n && f[i] >= '0' && f[i] <= '7'; i++)
		v = v * 8 + (f[i] - '0');
	return v;
}

static int header(struct scan *s, struct errbuf *e)
{
	const unsigned char *h = s->hdr;
	const char *nm;
	size_t i;

	for (i = 0; i < BLOCK && !h[i]; i++)
		;
	if (i == BLOCK)
		return 0; /* an end-of-archive block */
	if (memcmp(h + 257, "ustar", 5))
		return errbuf_set(e, BL_EFAIL, "pg_basebackup's output is not a tar stream "
				  "(expected -D - -Ft)");
	s->any_header = 1;
	if (h[345])
		snprintf(s->name, sizeof(s->name), "%.155s/%.100s", (const char *)h + 345,
			 (const char *)h);
	else
		snprintf(s->name, sizeof(s->name), "%.100s", (const char *)h);
	nm = s->name;
	if (!strncmp(nm, "./", 2))
		nm += 2;
	s->remain = tar_number(h + 124, 12);
	s->pad = (BLOCK - s->remain % BLOCK) % BLOCK;
	s->member = !strcmp(nm, "backup_label") ? M_LABEL : !strcmp(nm, "PG_VERSION") ?
		M_VERSION : !strcmp(nm, "backup_manifest") ? M_MANIFEST : M_OTHER;
	if (s->member == M_MANIFEST && !s->mh)
		s->mh = zhash_new();
	/* -X fetch puts whole segments in pg_wal/: their size is the cluster's
	 * segment size, whatever initdb --wal-segsize chose */
	if (!strncmp(nm, "pg_wal/", 7) && strlen(nm + 7) == 24 &&
	    strspn(nm + 7, "0123456789ABCDEF") == 24 && h[156] != '5') {
		if (!basebackup_segsize_valid((uint64_t)s->remain))
			return errbuf_set(e, BL_EFAIL, "%s: %lld bytes is not a WAL segment size "
					  "(expected a power of two from 1 MiB to 1 GiB)", nm,
					  s->remain);
		if (s->bi->wal_segment_size && s->bi->wal_segment_size != (uint64_t)s->remain)
			return errbuf_set(e, BL_EFAIL, "%s: %lld bytes, another segment had %llu",
					  nm, s->remain,
					  (unsigned long long)s->bi->wal_segment_size);
		s->bi->wal_segment_size = (uint64_t)s->remain;
	}
	if (!s->remain)
		return member_end(s, e);
	return 0;
}

static int scan_feed(struct scan *s, const unsigned char *p, size_t n, struct errbuf *e)
{
	int rc = 0;

	while (n && !rc) {
		size_t take;

		if (s->remain > 0) {
			take = n < (size_t)s->remain ? n : (size_t)s->remain;
			rc = member_data(s, p, take, e);
			s->remain -= (long long)take;
			if (!rc && !s->remain)
				rc = member_end(s, e);
		} else if (s->pad > 0) {
			take = n < (size_t)s->pad ? n : (size_t)s->pad;
			s->pad -= (long long)take;
		} else {
			take = BLOCK - s->hlen < n ? BLOCK - s->hlen : n;
			memcpy(s->hdr + s->hlen, p, take);
			s->hlen += take;
			if (s->hlen == BLOCK) {
				s->hlen = 0;
				rc = header(s, e);
			}
		}
		p += take;
		n -= take;
	}
	return rc;
}

static int scan_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct scan *s = ctx;
	int rc;

	if (interrupt_signal)
		return interrupt_check(e);
	rc = scan_feed(s, buf, len, e);
	if (!rc)
		rc = s->sink(s->ctx, buf, len, e);
	s->bi->tar_bytes += (long long)len;
	return rc;
}

int basebackup_stream(const char *const *argv, const char *const *env, proc_sink_fn sink,
		      void *ctx, struct basebackup_info *bi, struct errbuf *e)
{
	struct child c = CHILD_INIT;
	struct scan s;
	int rc;

	memset(&s, 0, sizeof(s));
	s.bi = bi;
	s.sink = sink;
	s.ctx = ctx;
	strbuf_init(&s.version, 0);
	strbuf_init(&s.line, 0);
	strbuf_init(&s.tail, 0);
	c.argv = argv;
	c.env = env;
	c.in_mode = PROC_NULL;
	c.out_mode = PROC_PIPE;
	c.err_mode = PROC_PIPE;
	rc = proc_start(&c, e);
	if (rc)
		goto out;
	rc = proc_stream(&c, scan_sink, &s, e);
	proc_release(&c);
	if (rc)
		goto out;
	if (s.remain > 0 || s.hlen) {
		rc = errbuf_set(e, BL_EFAIL, "pg_basebackup's tar stream ended inside %s",
				s.any_header ? s.name : "its first header");
		goto out;
	}
	if (!bi->label.len) {
		rc = errbuf_set(e, BL_EFAIL, "pg_basebackup's tar stream has no backup_label "
				"(expected the whole cluster as one tar: -D - -Ft)");
		goto out;
	}
	if (!bi->wal_segment_size) {
		uint64_t lsn = 0;

		basebackup_lsn_parse(bi->start_lsn, &lsn); /* label_parse() checked it */
		bi->wal_segment_size = segsize_from_name(lsn, bi->start_wal);
	}
	if (!bi->wal_segment_size) {
		rc = errbuf_set(e, BL_EFAIL, "pg_basebackup's tar stream has no WAL segment in "
				"pg_wal/ and backup_label's start WAL file %s does not tell the "
				"segment size (expected -X fetch)", bi->start_wal);
		goto out;
	}
out:
	zhash_free(s.mh);
	strbuf_release(&s.version);
	strbuf_release(&s.line);
	strbuf_release(&s.tail);
	return rc;
}
