#include "migration.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

/* Files bigger than this are not migrations someone reviewed; refusing
 * them keeps memory bounded (a migration is held whole to send it). */
#define MIGRATION_MAX_FILE (64u * 1024 * 1024)

static int is_name_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* A marker line: "-- migrate:<rest>" (dbmate) or "-- +goose <rest>"; the
 * rest (after the prefix, trimmed) is copied to rest. */
static int marker(const char *p, const char *end, const char *prefix, char *rest, size_t cap)
{
	size_t pl = strlen(prefix), n;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (end - p < 2 || p[0] != '-' || p[1] != '-')
		return 0;
	p += 2;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if ((size_t)(end - p) < pl || strncasecmp(p, prefix, pl))
		return 0;
	p += pl;
	while (end > p && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	n = (size_t)(end - p) < cap - 1 ? (size_t)(end - p) : cap - 1;
	memcpy(rest, p, n);
	rest[n] = '\0';
	return 1;
}

static int word_is(const char *rest, const char *w)
{
	size_t n = strlen(w);

	return !strncasecmp(rest, w, n) && (rest[n] == '\0' || rest[n] == ' ' || rest[n] == '\t');
}

int migration_valid_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 100)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_name_char((unsigned char)name[i]))
			return 0;
	return 1;
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);

	return n >= m && !memcmp(s + n - m, suffix, m);
}

int migration_parse_name(const char *fname, uint64_t *version, struct strbuf *name,
			 enum migration_kind *kind, struct errbuf *e)
{
	size_t n = strlen(fname), stem;
	uint64_t v = 0;
	const char *p = fname;

	if (!ends_with(fname, n, ".sql"))
		return 1;
	if (ends_with(fname, n, ".up.sql")) {
		*kind = MIGRATION_UP;
		stem = n - 7;
	} else if (ends_with(fname, n, ".down.sql")) {
		*kind = MIGRATION_DOWN;
		stem = n - 9;
	} else {
		*kind = MIGRATION_SINGLE;
		stem = n - 4;
	}
	if (*p < '0' || *p > '9')
		goto bad;
	while (p < fname + stem && *p >= '0' && *p <= '9') {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return errbuf_set(e, BL_EUSAGE,
					  "migration file %s: version does not fit in 64 bits", fname);
		v = v * 10 + d;
		p++;
	}
	/* PostgreSQL's bigint is signed: keep versions storable. */
	if (v == 0 || v > INT64_MAX)
		return errbuf_set(e, BL_EUSAGE,
				  "migration file %s: version must be between 1 and %" PRId64, fname,
				  INT64_MAX);
	if (p >= fname + stem || *p != '_' || p + 1 >= fname + stem)
		goto bad;
	p++;
	for (const char *q = p; q < fname + stem; q++)
		if (!is_name_char((unsigned char)*q))
			goto bad;
	*version = v;
	strbuf_reset(name);
	strbuf_add(name, p, (size_t)(fname + stem - p));
	return 0;
bad:
	return errbuf_set(e, BL_EUSAGE,
			  "migration file %s: expected <version>_<name>.up.sql or .down.sql, or "
			  "<version>_<name>.sql in dbmate or goose format (version a positive "
			  "integer, name letters, digits, '_' or '-')",
			  fname);
}

static int cmp_version(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;

	return x->version < y->version ? -1 : x->version > y->version;
}

void migration_set_release(struct migration_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		free(set->items[i].name);
		free(set->items[i].up_path);
		free(set->items[i].down_path);
		free(set->items[i].down_name);
	}
	free(set->items);
	set->items = NULL;
	set->n = set->alloc = 0;
}

const struct migration *migration_find(const struct migration_set *set, uint64_t version)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (set->items[mid].version == version)
			return &set->items[mid];
		if (set->items[mid].version < version)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Scan order is readdir's; entries are matched by a linear search while
 * scanning because directories hold hundreds, not millions, of files. */
static struct migration *slot_for(struct migration_set *set, uint64_t version)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->items[i].version == version)
			return &set->items[i];
	if (set->n == set->alloc) {
		size_t na = set->alloc ? set->alloc * 2 : 64;

		set->items = xrealloc(set->items, na * sizeof(*set->items));
		set->alloc = na;
	}
	memset(&set->items[set->n], 0, sizeof(set->items[0]));
	set->items[set->n].version = version;
	return &set->items[set->n++];
}

int migration_scan(const char *dir, struct migration_set *out, struct errbuf *e)
{
	struct strbuf name = STRBUF_INIT, path = STRBUF_INIT, text = STRBUF_INIT, sect = STRBUF_INIT;
	DIR *d;
	struct dirent *de;
	int rc = 0;

	out->missing = 0;
	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT) {
			out->missing = 1;
			return 0;
		}
		return errbuf_errno(e, BL_EUSAGE, errno, "cannot read migrations directory %s", dir);
	}
	while ((de = readdir(d))) {
		uint64_t v;
		enum migration_kind kind;
		struct migration *m;
		char **slot;

		if (de->d_name[0] == '.')
			continue;
		rc = migration_parse_name(de->d_name, &v, &name, &kind, e);
		if (rc == 1) {
			rc = 0;
			continue;
		}
		if (rc) {
			errbuf_prefix(e, "%s: ", dir);
			goto out;
		}
		m = slot_for(out, v);
		strbuf_reset(&path);
		strbuf_addf(&path, "%s/%s", dir, de->d_name);
		if (kind == MIGRATION_SINGLE) {
			int fmt, has_down = 0;

			rc = migration_read(path.buf, &text, e);
			if (rc)
				goto out;
			fmt = migration_detect_format(text.buf);
			if (fmt < 0) {
				rc = errbuf_set(e, BL_EUSAGE,
						"%s: neither <version>_<name>.up.sql/.down.sql nor a "
						"dbmate (-- migrate:up) or goose (-- +goose Up) file",
						path.buf);
				goto out;
			}
			if (m->up_path || m->down_path) {
				rc = errbuf_set(e, BL_EUSAGE, "two up files for version %" PRIu64
						": %s and %s", v, m->up_path ? m->up_path : m->down_path,
						path.buf);
				goto out;
			}
			migration_section(text.buf, fmt, MIGRATION_DOWN, &sect, &has_down);
			m->format = fmt;
			m->name = xstrdup(name.buf);
			m->up_path = xstrdup(path.buf);
			if (has_down)
				m->down_path = xstrdup(path.buf);
			continue;
		}
		if (m->format != MIGRATION_PAIR) {
			rc = errbuf_set(e, BL_EUSAGE, "two up files for version %" PRIu64 ": %s and %s",
					v, m->up_path, path.buf);
			goto out;
		}
		slot = kind == MIGRATION_UP ? &m->up_path : &m->down_path;
		if (*slot) {
			/* readdir's order is arbitrary: name the two files sorted. */
			const char *a = *slot, *b = path.buf;

			if (strcmp(a, b) > 0) {
				a = path.buf;
				b = *slot;
			}
			rc = errbuf_set(e, BL_EUSAGE, "two %s files for version %" PRIu64 ": %s and %s",
					kind == MIGRATION_UP ? "up" : "down", v, a, b);
			goto out;
		}
		*slot = xstrdup(path.buf);
		if (!m->name) {
			m->name = xstrdup(name.buf);
		} else if (strcmp(m->name, name.buf)) {
			/* The up file names the migration; the down file's own
			 * name is kept to report it. */
			if (kind == MIGRATION_UP) {
				m->down_name = m->name;
				m->name = xstrdup(name.buf);
			} else {
				m->down_name = xstrdup(name.buf);
			}
		}
	}
	for (size_t i = 0; i < out->n; i++)
		if (!out->items[i].up_path) {
			rc = errbuf_set(e, BL_EUSAGE,
					"%s: %s has no matching .up.sql (a down file alone cannot be applied)",
					dir, out->items[i].down_path);
			goto out;
		}
	if (out->n)
		qsort(out->items, out->n, sizeof(out->items[0]), cmp_version);
out:
	closedir(d);
	strbuf_release(&name);
	strbuf_release(&path);
	strbuf_release(&text);
	strbuf_release(&sect);
	if (rc)
		migration_set_release(out);
	return rc;
}

int migration_read(const char *path, struct strbuf *out, struct errbuf *e)
{
	char buf[65536];
	FILE *f = fopen(path, "rb");
	size_t n;
	int rc = 0;

	strbuf_reset(out);
	if (!f)
		return errbuf_errno(e, BL_EUSAGE, errno, "cannot open %s", path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (out->len + n > MIGRATION_MAX_FILE) {
			rc = errbuf_set(e, BL_EUSAGE, "%s: larger than %u bytes", path,
					MIGRATION_MAX_FILE);
			goto out;
		}
		strbuf_add(out, buf, n);
	}
	if (ferror(f)) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot read %s", path);
		goto out;
	}
	if (memchr(out->buf, '\0', out->len))
		rc = errbuf_set(e, BL_EUSAGE, "%s: contains a NUL byte; expected SQL text", path);
out:
	fclose(f);
	return rc;
}

int migration_detect_format(const char *text)
{
	char rest[64];

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n'), *end = nl ? nl : p + strlen(p);

		if (marker(p, end, "migrate:", rest, sizeof(rest)) && word_is(rest, "up"))
			return MIGRATION_DBMATE;
		if (marker(p, end, "+goose", rest, sizeof(rest)) && word_is(rest, "up"))
			return MIGRATION_GOOSE;
		if (!nl)
			break;
		p = nl + 1;
	}
	return -1;
}

void migration_section(const char *text, int format, enum migration_kind kind, struct strbuf *out,
		       int *present)
{
	const char *want = kind == MIGRATION_UP ? "up" : "down";
	int in = 0, no_tx = 0;
	char rest[64];

	strbuf_reset(out);
	*present = 0;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n'), *end = nl ? nl : p + strlen(p);
		int is_marker = 0;

		if (format == MIGRATION_DBMATE && marker(p, end, "migrate:", rest, sizeof(rest))) {
			is_marker = 1;
			if (word_is(rest, "up") || word_is(rest, "down")) {
				in = word_is(rest, want);
				if (in) {
					*present = 1;
					no_tx = strstr(rest, "transaction:false") != NULL;
				}
			}
		} else if (format == MIGRATION_GOOSE && marker(p, end, "+goose", rest, sizeof(rest))) {
			/* StatementBegin/End stay (as comments) for the
			 * splitter of no-transaction runs; the server ignores
			 * them in one piece. */
			is_marker = strncasecmp(rest, "Statement", 9) != 0;
			if (word_is(rest, "up") || word_is(rest, "down")) {
				in = word_is(rest, want);
				if (in)
					*present = 1;
			} else if (!strncasecmp(rest, "NO TRANSACTION", 14)) {
				no_tx = 1;
			}
		}
		if (in && !is_marker)
			strbuf_add(out, p, (size_t)(end - p));
		if (!nl)
			break;
		strbuf_addch(out, '\n');
		p = nl + 1;
	}
	if (no_tx && *present) {
		/* The first line is never part of a section (a marker precedes
		 * any section line): the directive can take it, keeping lines. */
		const char *nl = strchr(out->buf, '\n');
		struct strbuf t = STRBUF_INIT;

		strbuf_addstr(&t, "-- ballast:no-transaction");
		strbuf_addstr(&t, nl ? nl : "\n");
		strbuf_reset(out);
		strbuf_addstr(out, t.buf);
		strbuf_release(&t);
	}
}

int migration_load(const struct migration *mig, enum migration_kind kind, struct strbuf *out,
		   struct errbuf *e)
{
	struct strbuf text = STRBUF_INIT;
	const char *path = kind == MIGRATION_UP ? mig->up_path : mig->down_path;
	int rc, present = 0;

	if (!path) {
		strbuf_reset(out);
		return errbuf_set(e, BL_EUSAGE, "migration %" PRIu64 " (%s) has no down SQL",
				  mig->version, mig->name);
	}
	if (mig->format == MIGRATION_PAIR)
		return migration_read(path, out, e);
	rc = migration_read(path, &text, e);
	if (!rc)
		migration_section(text.buf, mig->format, kind, out, &present);
	strbuf_release(&text);
	return rc;
}

int migration_sha256_hex(const void *data, size_t len, char out[65], struct errbuf *e)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = 0;

	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, data, len) != 1 || EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 ||
	    mdlen != 32) {
		rc = errbuf_set(e, BL_EFAIL, "sha-256: openssl digest failed");
		goto out;
	}
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

static const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* Is [p, end) a "-- ballast:<word>" directive line? */
static int is_directive(const char *p, const char *end, const char *word)
{
	size_t wl = strlen(word);

	p = skip_blanks(p, end);
	if (end - p < 2 || p[0] != '-' || p[1] != '-')
		return 0;
	p = skip_blanks(p + 2, end);
	if ((size_t)(end - p) < 8 + wl || strncmp(p, "ballast:", 8))
		return 0;
	p += 8;
	if (strncmp(p, word, wl))
		return 0;
	p = skip_blanks(p + wl, end);
	while (p < end && (*p == '\r' || *p == ' ' || *p == '\t'))
		p++;
	return p == end;
}

int migration_no_transaction(const char *sql)
{
	const char *nl = strchr(sql, '\n');
	const char *end = nl ? nl : sql + strlen(sql);

	/* A UTF-8 byte order mark is invisible in editors: accept it. */
	if (!strncmp(sql, "\xef\xbb\xbf", 3))
		sql += 3;
	return is_directive(sql, end, "no-transaction");
}

void migration_first_line(const char *sql, struct strbuf *out)
{
	const char *p = sql;

	strbuf_reset(out);
	while (*p) {
		const char *nl = strchr(p, '\n');
		const char *end = nl ? nl : p + strlen(p);
		const char *s = skip_blanks(p, end), *t = end;

		while (t > s && (t[-1] == '\r' || t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if (t > s && !(t - s > 12 && !strncmp(s, "--", 2) &&
			       strstr(s, "ballast:") && strstr(s, "ballast:") < t)) {
			size_t n = (size_t)(t - s);

			if (n > 120) {
				n = 120;
				/* do not cut a UTF-8 sequence in half */
				while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
					n--;
			}
			strbuf_add(out, s, n);
			return;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
}

/* A dollar-quote tag at p ("$$" or "$tag$"); returns its length or 0. */
static size_t dollar_tag(const char *p, const char *end)
{
	const char *q = p + 1;

	if (q < end && *q == '$')
		return 2;
	if (q >= end || !((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '_' ||
			  (unsigned char)*q >= 0x80))
		return 0;
	while (q < end && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
			   (*q >= '0' && *q <= '9') || *q == '_' || (unsigned char)*q >= 0x80))
		q++;
	if (q < end && *q == '$')
		return (size_t)(q - p + 1);
	return 0;
}

static unsigned count_lines(const char *from, const char *to)
{
	unsigned n = 0;

	for (const char *p = from; p < to; p++)
		if (*p == '\n')
			n++;
	return n;
}

static void push_stmt(struct migration_stmt **v, size_t *nv, size_t *av, ptrdiff_t start,
		      size_t len, unsigned line)
{
	if (*nv == *av) {
		*av = *av ? *av * 2 : 16;
		*v = xrealloc(*v, *av * sizeof(**v));
	}
	(*v)[*nv].start = (size_t)start;
	(*v)[*nv].len = len;
	(*v)[*nv].line = line;
	(*nv)++;
}

int migration_split(const char *sql, size_t len, struct migration_stmt **out, size_t *n,
		    struct errbuf *e)
{
	const char *p = sql, *end = sql + len, *start = sql;
	struct migration_stmt *v = NULL;
	size_t nv = 0, av = 0;
	int meaningful = 0, rc = 0;
	unsigned line = 1, start_line = 1;

	*out = NULL;
	*n = 0;
	while (p <= end) {
		const char *open = p;

		if (p == end || *p == ';') {
			if (meaningful)
				push_stmt(&v, &nv, &av, start - sql, (size_t)(p - start) + (p < end),
					  start_line);
			if (p == end)
				break;
			p++;
			start = p;
			start_line = line;
			meaningful = 0;
			continue;
		}
		if (*p == '\n') {
			line++;
			p++;
			continue;
		}
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\f' || *p == '\v') {
			p++;
			continue;
		}
		if (*p == '-' && p + 1 < end && p[1] == '-') {
			const char *eol = memchr(p, '\n', (size_t)(end - p));
			char rest[32];

			if (!eol)
				eol = end;
			if (marker(p, eol, "+goose", rest, sizeof(rest)) &&
			    !strcasecmp(rest, "StatementBegin")) {
				/* goose: everything up to StatementEnd is one
				 * statement, semicolons included (BEGIN ATOMIC
				 * bodies). What came before it ends first. */
				const char *q = eol, *body, *bend = NULL;
				unsigned bline;

				if (meaningful) {
					push_stmt(&v, &nv, &av, start - sql, (size_t)(p - start), start_line);
					meaningful = 0;
				}
				body = q < end ? q + 1 : end;
				bline = line + 1;
				for (q = body; q < end;) {
					const char *qe = memchr(q, '\n', (size_t)(end - q));

					if (!qe)
						qe = end;
					if (marker(q, qe, "+goose", rest, sizeof(rest)) &&
					    !strcasecmp(rest, "StatementEnd")) {
						bend = q;
						break;
					}
					q = qe < end ? qe + 1 : end;
				}
				if (!bend) {
					rc = errbuf_set(e, BL_EUSAGE, "line %u: -- +goose StatementBegin "
							"without StatementEnd", line);
					goto out;
				}
				for (const char *c = body; c < bend; c++)
					if (*c != ' ' && *c != '\t' && *c != '\n' && *c != '\r') {
						push_stmt(&v, &nv, &av, body - sql, (size_t)(bend - body),
							  bline);
						break;
					}
				line += count_lines(p, bend);
				p = bend;
				while (p < end && *p != '\n')
					p++;
				start = p;
				start_line = line;
				continue;
			}
			p = eol;
			continue;
		}
		if (!meaningful) {
			/* A statement starts at its first token, so error lines
			 * count from where the SQL is, not from preceding comments. */
			start = p;
			start_line = line;
		}
		if (*p == '/' && p + 1 < end && p[1] == '*') {
			int depth = 1;

			p += 2;
			while (p < end && depth) {
				if (*p == '/' && p + 1 < end && p[1] == '*') {
					depth++;
					p += 2;
				} else if (*p == '*' && p + 1 < end && p[1] == '/') {
					depth--;
					p += 2;
				} else {
					p++;
				}
			}
			if (depth) {
				rc = errbuf_set(e, BL_EUSAGE, "line %u: unterminated /* comment",
						line);
				goto out;
			}
			line += count_lines(open, p);
			if (!meaningful)
				start = p;
			continue;
		}
		meaningful = 1;
		if (*p == '\'' || *p == '"') {
			char q = *p;
			/* E'...' strings escape with backslashes. */
			int backslash = q == '\'' && p > sql && (p[-1] == 'E' || p[-1] == 'e') &&
					(p - 1 == sql || !is_name_char((unsigned char)p[-2]));

			p++;
			for (;;) {
				if (p >= end) {
					rc = errbuf_set(e, BL_EUSAGE, "line %u: unterminated %s",
							line,
							q == '"' ? "quoted identifier" : "string");
					goto out;
				}
				if (backslash && *p == '\\' && p + 1 < end) {
					p += 2;
					continue;
				}
				if (*p == q) {
					if (p + 1 < end && p[1] == q) {
						p += 2;
						continue;
					}
					p++;
					break;
				}
				p++;
			}
			line += count_lines(open, p);
			continue;
		}
		if (*p == '$' && !(p > sql && is_name_char((unsigned char)p[-1]))) {
			size_t tl = dollar_tag(p, end);

			if (tl) {
				const char *q = p + tl;

				while (q + tl <= end && memcmp(q, p, tl))
					q++;
				if (q + tl > end) {
					rc = errbuf_set(e, BL_EUSAGE,
							"line %u: unterminated dollar quote %.*s", line,
							(int)tl, p);
					goto out;
				}
				p = q + tl;
				line += count_lines(open, p);
				continue;
			}
		}
		p++;
	}
	*out = v;
	*n = nv;
	v = NULL;
out:
	free(v);
	return rc;
}

/* The first word of a statement, upper-cased, at most cap-1 bytes. */
static void first_word(const char *p, const char *end, char *out, size_t cap)
{
	size_t n = 0;

	while (p < end && n + 1 < cap && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
		out[n++] = (char)(*p >= 'a' ? *p - 32 : *p);
		p++;
	}
	out[n] = '\0';
}

int migration_tx_control(const char *sql, size_t len, unsigned *line, struct strbuf *word,
			 struct errbuf *e)
{
	static const char *const words[] = { "BEGIN", "COMMIT", "END", "ROLLBACK", "ABORT",
					     "SAVEPOINT", "RELEASE", NULL };
	struct migration_stmt *st = NULL;
	size_t n = 0;
	int rc;

	*line = 0;
	strbuf_reset(word);
	rc = migration_split(sql, len, &st, &n, e);
	for (size_t i = 0; !rc && i < n && !*line; i++) {
		const char *p = sql + st[i].start, *end = p + st[i].len;
		char w[16], w2[16];

		first_word(p, end, w, sizeof(w));
		if (!strcmp(w, "START")) {
			p += 5;
			while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
				p++;
			first_word(p, end, w2, sizeof(w2));
			if (!strcmp(w2, "TRANSACTION")) {
				*line = st[i].line;
				strbuf_addstr(word, "START TRANSACTION");
			}
			continue;
		}
		for (size_t k = 0; words[k]; k++)
			if (!strcmp(w, words[k])) {
				*line = st[i].line;
				strbuf_addstr(word, w);
				break;
			}
	}
	free(st);
	return rc;
}

int migration_single_no_tx(const char *sql, size_t len, struct strbuf *word, struct errbuf *e)
{
	struct migration_stmt *st = NULL;
	char w[4][16];
	const char *p, *end;
	size_t n = 0;
	int rc, k;

	strbuf_reset(word);
	rc = migration_split(sql, len, &st, &n, e);
	if (rc || n != 1)
		goto out;
	p = sql + st[0].start;
	end = p + st[0].len;
	for (k = 0; k < 4; k++) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
			p++;
		first_word(p, end, w[k], sizeof(w[k]));
		p += strlen(w[k]);
		if (!w[k][0])
			break;
	}
	for (; k < 4; k++)
		w[k][0] = '\0';
	if (!strcmp(w[0], "VACUUM") ||
	    (!strcmp(w[0], "ALTER") && !strcmp(w[1], "SYSTEM")) ||
	    ((!strcmp(w[0], "CREATE") || !strcmp(w[0], "DROP")) &&
	     (!strcmp(w[1], "DATABASE") || !strcmp(w[1], "TABLESPACE"))) ||
	    ((!strcmp(w[0], "CREATE") || !strcmp(w[0], "DROP") || !strcmp(w[0], "REINDEX")) &&
	     (!strcmp(w[2], "CONCURRENTLY") || !strcmp(w[3], "CONCURRENTLY")))) {
		int upto = !strcmp(w[0], "VACUUM") ? 1 : !strcmp(w[2], "CONCURRENTLY") ? 3 :
			   !strcmp(w[3], "CONCURRENTLY") ? 4 : 2;

		for (k = 0; k < upto; k++)
			strbuf_addf(word, "%s%s", k ? " " : "", w[k]);
	}
out:
	free(st);
	return rc;
}

unsigned migration_line_at(const char *text, size_t len, long pos, unsigned base_line)
{
	unsigned line = base_line ? base_line : 1;
	long chars = 0;

	if (pos < 1)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if ((c & 0xc0) != 0x80 && ++chars == pos)
			return line;
		if (c == '\n')
			line++;
	}
	return 0;
}

int migration_parse_version(const char *s, const char *what, uint64_t *v, struct errbuf *e)
{
	uint64_t x = 0;

	if (!s || !*s)
		goto bad;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || x > ((uint64_t)INT64_MAX - (uint64_t)(*p - '0')) / 10)
			goto bad;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	*v = x;
	return 0;
bad:
	return errbuf_set(e, BL_EUSAGE, "%s: expected a version (0 to %" PRId64 "), got \"%s\"",
			  what, INT64_MAX, s ? s : "");
}
