/*
 * migration: the file side of ballast-migrate, pure and without a database.
 *
 * Contract: a migrations directory holds `<version>_<name>.up.sql` and an
 * optional `<version>_<name>.down.sql`; version is a positive 64-bit
 * integer written in decimal without a sign, name is [A-Za-z0-9_-]+.
 * migration_scan() reads the directory and returns the migrations sorted by
 * version, or BL_EUSAGE with one line naming the files for: a `.sql` file
 * whose name does not match, two up (or two down) files for one version, a
 * `.down.sql` without its `.up.sql`. Up and down pair by version alone, as
 * golang-migrate pairs them: `64_a.up.sql` with `64_b.down.sql` is one
 * migration named `a` whose down file is named `b` (down_name).
 *
 * Single-file formats: `<version>_<name>.sql` holding dbmate's
 * `-- migrate:up` / `-- migrate:down` sections (`transaction:false` on a
 * marker line) or goose's `-- +goose Up` / `-- +goose Down` (with
 * StatementBegin/End, and `-- +goose NO TRANSACTION` for both directions)
 * is one migration whose up_path and down_path are that file (down_path
 * NULL when it has no down section: irreversible). migration_load() gives
 * each direction's SQL with the other lines blanked, so line numbers are
 * the file's, and with `-- ballast:no-transaction` as its first line when
 * the section runs outside a transaction. A `<version>_<name>.sql` file
 * without such markers is an error naming it. Other files (README.md, .gitkeep) are ignored. A
 * directory that does not exist scans as empty with `missing` set, because
 * a downgrade must work from a release that ships no migrations at all.
 *
 * The helpers below work on SQL text in memory: the SHA-256 of a file,
 * the `-- ballast:no-transaction` directive on the first line, the first
 * meaningful line for plans, a statement splitter that honours quotes,
 * dollar quotes and comments (for files run outside a transaction), and the
 * mapping from PostgreSQL's error position (1-based characters) to a line.
 */
#ifndef BALLAST_MIGRATION_H
#define BALLAST_MIGRATION_H

#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"
#include "strbuf.h"

struct migration {
	uint64_t version;
	char *name;
	char *up_path;    /* NULL only transiently while scanning */
	char *down_path;  /* NULL: irreversible */
	char *down_name;  /* the down file's name when it differs from name, else NULL */
	int format;       /* MIGRATION_PAIR, MIGRATION_DBMATE or MIGRATION_GOOSE */
};

enum migration_format { MIGRATION_PAIR = 0, MIGRATION_DBMATE = 1, MIGRATION_GOOSE = 2 };

struct migration_set {
	struct migration *items;
	size_t n;
	size_t alloc;
	int missing;      /* the directory does not exist */
};

#define MIGRATION_SET_INIT { NULL, 0, 0, 0 }

enum migration_kind { MIGRATION_UP = 1, MIGRATION_DOWN = 2, MIGRATION_SINGLE = 3 };

/* Parse a bare file name. Returns 0 and fills version/name/kind for a
 * migration file (`<v>_<name>.sql` is MIGRATION_SINGLE: its content
 * decides); 1 when the name is not a .sql file (ignore it); BL_EUSAGE with
 * a message for a .sql file that does not match the pattern. */
int migration_parse_name(const char *fname, uint64_t *version, struct strbuf *name,
			 enum migration_kind *kind, struct errbuf *e);

int migration_scan(const char *dir, struct migration_set *out, struct errbuf *e);
void migration_set_release(struct migration_set *set);
/* The migration with this version, or NULL. */
const struct migration *migration_find(const struct migration_set *set, uint64_t version);

/* The format a single file's text declares: MIGRATION_DBMATE,
 * MIGRATION_GOOSE, or -1 when it has neither's up marker. */
int migration_detect_format(const char *text);

/* One direction of a single file's text (format as detected): out gets
 * the text with every line outside that section (and every marker line)
 * blanked, the first line replaced by `-- ballast:no-transaction` when the
 * section runs outside a transaction; *present says whether the section's
 * marker exists. */
void migration_section(const char *text, int format, enum migration_kind kind, struct strbuf *out,
		       int *present);

/* The SQL of one direction of mig, whatever its format. */
int migration_load(const struct migration *mig, enum migration_kind kind, struct strbuf *out,
		   struct errbuf *e);

/* Read a whole (small) SQL file. A NUL byte is an error: libpq cannot send it. */
int migration_read(const char *path, struct strbuf *out, struct errbuf *e);

/* Lowercase hex SHA-256 of data (65 bytes with the NUL). */
int migration_sha256_hex(const void *data, size_t len, char out[65], struct errbuf *e);

/* True when the first line is `-- ballast:no-transaction` (spaces allowed
 * around the words, trailing blanks ignored). */
int migration_no_transaction(const char *sql);

/* The first line that is neither blank nor a ballast directive, trimmed and
 * cut to 120 bytes; "" for an empty file. */
void migration_first_line(const char *sql, struct strbuf *out);

/* One statement of a split file: [start, start+len) in the text, and the
 * 1-based line where it starts. */
struct migration_stmt {
	size_t start;
	size_t len;
	unsigned line;
};

/* Split sql at top-level semicolons. Statements that hold only blanks and
 * comments are dropped. *out is malloc'ed (free it). BL_EUSAGE for an
 * unterminated quote, dollar quote or block comment, naming its line. */
int migration_split(const char *sql, size_t len, struct migration_stmt **out, size_t *n,
		    struct errbuf *e);

/* Transaction control inside a file: the first top-level statement that
 * begins with BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK, ABORT,
 * SAVEPOINT or RELEASE (found with migration_split, so words inside quotes,
 * dollar-quoted bodies and comments do not count). *line is its 1-based
 * line (0: none) and word the keyword in upper case. Errors as
 * migration_split. */
int migration_tx_control(const char *sql, size_t len, unsigned *line, struct strbuf *word,
			 struct errbuf *e);

/* A file whose only statement cannot run inside a transaction block
 * (CREATE/DROP INDEX CONCURRENTLY, REINDEX ... CONCURRENTLY, VACUUM,
 * CREATE/DROP DATABASE or TABLESPACE, ALTER SYSTEM): word gets its leading
 * keywords (upper case), else it is left empty. golang-migrate sends such
 * a file as one query, which PostgreSQL runs outside a transaction. */
int migration_single_no_tx(const char *sql, size_t len, struct strbuf *word, struct errbuf *e);

/* 1-based line of the character at 1-based character position pos (as
 * PostgreSQL reports it, counting UTF-8 code points) in text, plus
 * base_line - 1. 0 when pos is out of range. */
unsigned migration_line_at(const char *text, size_t len, long pos, unsigned base_line);

/* Parse a version argument ("0" allowed: the empty schema). BL_EUSAGE
 * naming `what` unless s is decimal digits fitting a bigint. */
int migration_parse_version(const char *s, const char *what, uint64_t *v, struct errbuf *e);

/* Check a name for `new`: [A-Za-z0-9_-]+, at most 100 bytes. */
int migration_valid_name(const char *name);

#endif
