/* migration: file names, directory scans, directives, checksums, splitting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migration.h"
#include "tsupport.h"

START_TEST(test_parse_name)
{
	struct strbuf name = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	enum migration_kind k;
	uint64_t v;

	ck_assert_int_eq(migration_parse_name("20261127093000_add_users.up.sql", &v, &name, &k, &e), 0);
	ck_assert_uint_eq(v, 20261127093000ULL);
	ck_assert_str_eq(name.buf, "add_users");
	ck_assert_int_eq(k, MIGRATION_UP);
	ck_assert_int_eq(migration_parse_name("7_x-y.down.sql", &v, &name, &k, &e), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_str_eq(name.buf, "x-y");
	ck_assert_int_eq(k, MIGRATION_DOWN);
	/* not SQL: ignored */
	ck_assert_int_eq(migration_parse_name("README.md", &v, &name, &k, &e), 1);
	/* SQL that does not match: an error naming the file */
	ck_assert_int_eq(migration_parse_name("1_a.tmp.sql", &v, &name, &k, &e), BL_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "1_a.tmp.sql"));
	/* <v>_<name>.sql: a single file (dbmate, goose); its content decides */
	ck_assert_int_eq(migration_parse_name("00001_a.sql", &v, &name, &k, &e), 0);
	ck_assert_int_eq(k, MIGRATION_SINGLE);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(migration_parse_name("abc_a.up.sql", &v, &name, &k, &e), BL_EUSAGE);
	ck_assert_int_eq(migration_parse_name("0_zero.up.sql", &v, &name, &k, &e), BL_EUSAGE);
	ck_assert_int_eq(migration_parse_name("1_.up.sql", &v, &name, &k, &e), BL_EUSAGE);
	ck_assert_int_eq(migration_parse_name("1.up.sql", &v, &name, &k, &e), BL_EUSAGE);
	ck_assert_int_eq(migration_parse_name("1_a b.up.sql", &v, &name, &k, &e), BL_EUSAGE);
	ck_assert_int_eq(migration_parse_name("-1_a.up.sql", &v, &name, &k, &e), BL_EUSAGE);
	/* bigint range: 2^63-1 fits, 2^63 does not, 2^64 overflows */
	ck_assert_int_eq(migration_parse_name("9223372036854775807_max.up.sql", &v, &name, &k, &e), 0);
	ck_assert_uint_eq(v, 9223372036854775807ULL);
	ck_assert_int_eq(migration_parse_name("9223372036854775808_big.up.sql", &v, &name, &k, &e), BL_EUSAGE);
	ck_assert_int_eq(migration_parse_name("18446744073709551616_big.up.sql", &v, &name, &k, &e), BL_EUSAGE);
	strbuf_release(&name);
}
END_TEST

START_TEST(test_parse_version)
{
	struct errbuf e = ERRBUF_INIT;
	uint64_t v = 99;

	ck_assert_int_eq(migration_parse_version("0", "x", &v, &e), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(migration_parse_version("42", "x", &v, &e), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(migration_parse_version("4a", "goto", &v, &e), BL_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "goto"));
	ck_assert_int_eq(migration_parse_version("", "x", &v, &e), BL_EUSAGE);
	ck_assert_int_eq(migration_parse_version("-3", "x", &v, &e), BL_EUSAGE);
	ck_assert_int_eq(migration_parse_version("9223372036854775808", "x", &v, &e), BL_EUSAGE);
}
END_TEST

static char *scan_dir(const char *const *files)
{
	char *d = ttmp_dir("migration");
	char path[4096];

	for (; *files; files++) {
		snprintf(path, sizeof(path), "%s/%s", d, *files);
		ck_assert_int_eq(twrite_file(path, "SELECT 1;\n"), 0);
	}
	return d;
}

START_TEST(test_scan)
{
	const char *files[] = { "10_c.up.sql", "2_b.up.sql", "2_b.down.sql", "1_a.up.sql",
				"1_a.down.sql", "README.md", ".gitkeep", NULL };
	struct migration_set set = MIGRATION_SET_INIT;
	struct errbuf e = ERRBUF_INIT;
	char *d = scan_dir(files);

	ck_assert_int_eq(migration_scan(d, &set, &e), 0);
	ck_assert_uint_eq(set.n, 3);
	ck_assert_int_eq(set.missing, 0);
	ck_assert_uint_eq(set.items[0].version, 1);
	ck_assert_uint_eq(set.items[1].version, 2);
	ck_assert_uint_eq(set.items[2].version, 10);
	ck_assert_ptr_nonnull(set.items[0].down_path);
	ck_assert_ptr_null(set.items[2].down_path);
	ck_assert_str_eq(set.items[2].name, "c");
	ck_assert_ptr_nonnull(migration_find(&set, 2));
	ck_assert_ptr_null(migration_find(&set, 3));
	migration_set_release(&set);
	ttmp_rm(d);
	free(d);
}
END_TEST

/* golang-migrate pairs by version alone: the down file may carry another
 * name (six of Ente's pairs do), in either readdir order. */
START_TEST(test_scan_pairs_by_version)
{
	const char *files[] = { "64_collection_pub_magic_metadata.up.sql",
				"64_collection_drop_pub_magic_metadata.down.sql",
				"65_b.down.sql", "65_a.up.sql", "66_same.up.sql", "66_same.down.sql", NULL };
	struct migration_set set = MIGRATION_SET_INIT;
	struct errbuf e = ERRBUF_INIT;
	char *d = scan_dir(files);

	ck_assert_msg(migration_scan(d, &set, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(set.n, 3);
	ck_assert_str_eq(set.items[0].name, "collection_pub_magic_metadata");
	ck_assert_str_eq(set.items[0].down_name, "collection_drop_pub_magic_metadata");
	ck_assert_ptr_nonnull(strstr(set.items[0].down_path, "64_collection_drop_pub_magic_metadata.down.sql"));
	ck_assert_str_eq(set.items[1].name, "a");
	ck_assert_str_eq(set.items[1].down_name, "b");
	ck_assert_str_eq(set.items[2].name, "same");
	ck_assert_ptr_null(set.items[2].down_name);
	migration_set_release(&set);
	ttmp_rm(d);
	free(d);
}
END_TEST

/* Transaction control at top level is found with its line; the same words
 * inside bodies, strings, comments or other statements are not. */
START_TEST(test_tx_control)
{
	struct strbuf w = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	unsigned line = 99;
	const char *none =
		"-- BEGIN; COMMIT;\n"
		"CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n  COMMIT;\nEND\n$$;\n"
		"/* begin; */ SELECT 'BEGIN; COMMIT;';\n"
		"CREATE TABLE begin_log (\"commit\" int);\n"
		"DO $x$ BEGIN RAISE NOTICE 'x'; END $x$;\n";
	struct { const char *sql; unsigned line; const char *word; } cases[] = {
		{ "create table a (i int);\nBEGIN;\ncreate table b (i int);\nCOMMIT;\n", 2, "BEGIN" },
		{ "select 1;\n\n  start   transaction isolation level serializable;\n", 3, "START TRANSACTION" },
		{ "select 1;\ncommit;\n", 2, "COMMIT" },
		{ "select 1; end;", 1, "END" },
		{ "-- x\n/* y */ Rollback;", 2, "ROLLBACK" },
		{ "SAVEPOINT s1;", 1, "SAVEPOINT" },
		{ "select 1;\nrelease savepoint s1;", 2, "RELEASE" },
		{ "select 1;\nabort;", 2, "ABORT" },
	};

	ck_assert_int_eq(migration_tx_control(none, strlen(none), &line, &w, &e), 0);
	ck_assert_uint_eq(line, 0);
	ck_assert_str_eq(w.buf, "");
	/* "start" alone (a column, a function) is not START TRANSACTION */
	ck_assert_int_eq(migration_tx_control("select start from t;", 20, &line, &w, &e), 0);
	ck_assert_uint_eq(line, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(migration_tx_control(cases[i].sql, strlen(cases[i].sql), &line, &w, &e), 0);
		ck_assert_msg(line == cases[i].line, "case %zu: line %u", i, line);
		ck_assert_str_eq(w.buf, cases[i].word);
	}
	ck_assert_int_eq(migration_tx_control("select 'x;", 10, &line, &w, &e), BL_EUSAGE);
	strbuf_release(&w);
}
END_TEST

/* What golang-migrate runs outside a transaction because the file is one
 * statement that cannot run in one. */
START_TEST(test_single_no_tx)
{
	struct strbuf w = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct { const char *sql; const char *word; } cases[] = {
		{ "-- idx\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (c)\n  WHERE x;\n", "CREATE INDEX CONCURRENTLY" },
		{ "create unique index concurrently i on t (c);", "CREATE UNIQUE INDEX CONCURRENTLY" },
		{ "DROP INDEX CONCURRENTLY IF EXISTS i;", "DROP INDEX CONCURRENTLY" },
		{ "vacuum analyze t;", "VACUUM" },
		{ "ALTER SYSTEM SET work_mem = '8MB';", "ALTER SYSTEM" },
		{ "CREATE DATABASE x", "CREATE DATABASE" },
		/* two statements: the directive is needed, as golang-migrate's
		 * implicit transaction block fails them too */
		{ "CREATE INDEX CONCURRENTLY i ON t (c);\nSELECT 1;", "" },
		{ "CREATE INDEX i ON t (c);", "" },
		{ "SELECT 'CREATE INDEX CONCURRENTLY';", "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(migration_single_no_tx(cases[i].sql, strlen(cases[i].sql), &w, &e), 0);
		ck_assert_msg(!strcmp(w.buf, cases[i].word), "case %zu: '%s'", i, w.buf);
	}
	strbuf_release(&w);
}
END_TEST

static const char dbmate_file[] =
	"-- migrate:up\n"
	"create table users (id int);\n"
	"insert into users values (1);\n"
	"\n"
	"-- migrate:down\n"
	"drop table users;\n";

static const char dbmate_notx[] =
	"-- migrate:up transaction:false\n"
	"create index concurrently i on users (id);\n"
	"-- migrate:down\n"
	"drop index i;\n";

static const char goose_file[] =
	"-- +goose NO TRANSACTION\n"
	"-- +goose Up\n"
	"-- +goose StatementBegin\n"
	"CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql;\n"
	"-- +goose StatementEnd\n"
	"\n"
	"-- +goose Down\n"
	"DROP FUNCTION f();\n";

/* Sections keep the file's line numbers; the directive takes line 1. */
START_TEST(test_single_file_sections)
{
	struct strbuf out = STRBUF_INIT;
	int present = 0;

	ck_assert_int_eq(migration_detect_format(dbmate_file), MIGRATION_DBMATE);
	ck_assert_int_eq(migration_detect_format(goose_file), MIGRATION_GOOSE);
	ck_assert_int_eq(migration_detect_format("create table x (i int);\n-- migrate:down\n"), -1);
	migration_section(dbmate_file, MIGRATION_DBMATE, MIGRATION_UP, &out, &present);
	ck_assert_int_eq(present, 1);
	ck_assert_str_eq(out.buf, "\ncreate table users (id int);\ninsert into users values (1);\n\n\n\n");
	ck_assert_int_eq(migration_no_transaction(out.buf), 0);
	migration_section(dbmate_file, MIGRATION_DBMATE, MIGRATION_DOWN, &out, &present);
	ck_assert_int_eq(present, 1);
	ck_assert_str_eq(out.buf, "\n\n\n\n\ndrop table users;\n");
	migration_section(dbmate_notx, MIGRATION_DBMATE, MIGRATION_UP, &out, &present);
	ck_assert_int_eq(migration_no_transaction(out.buf), 1);
	ck_assert_ptr_nonnull(strstr(out.buf, "\ncreate index concurrently"));
	migration_section(dbmate_notx, MIGRATION_DBMATE, MIGRATION_DOWN, &out, &present);
	ck_assert_int_eq(migration_no_transaction(out.buf), 0);
	migration_section(goose_file, MIGRATION_GOOSE, MIGRATION_UP, &out, &present);
	ck_assert_int_eq(migration_no_transaction(out.buf), 1);
	ck_assert_str_eq(out.buf, "-- ballast:no-transaction\n\n-- +goose StatementBegin\n"
			 "CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql;\n"
			 "-- +goose StatementEnd\n\n\n\n");
	migration_section(goose_file, MIGRATION_GOOSE, MIGRATION_DOWN, &out, &present);
	ck_assert_int_eq(present, 1);
	ck_assert_int_eq(migration_no_transaction(out.buf), 1);
	/* no down marker: no down section (irreversible) */
	migration_section("-- +goose Up\nselect 1;\n", MIGRATION_GOOSE, MIGRATION_DOWN, &out, &present);
	ck_assert_int_eq(present, 0);
	strbuf_release(&out);
}
END_TEST

/* goose's StatementBegin/End: one statement, semicolons included, for
 * the splitter and so for transaction-control detection. */
START_TEST(test_split_goose_blocks)
{
	const char *sql =
		"select 1;\n"
		"-- +goose StatementBegin\n"
		"CREATE FUNCTION one() RETURNS int LANGUAGE sql\n"
		"BEGIN ATOMIC\n  SELECT 1;\nEND;\n"
		"-- +goose StatementEnd\n"
		"select 2;\n";
	struct migration_stmt *st = NULL;
	struct strbuf w = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	unsigned line = 9;
	size_t n = 0;

	ck_assert_int_eq(migration_split(sql, strlen(sql), &st, &n, &e), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(st[1].line, 3);
	ck_assert_int_eq(strncmp(sql + st[1].start, "CREATE FUNCTION", 15), 0);
	ck_assert_ptr_nonnull(memmem(sql + st[1].start, st[1].len, "END;", 4));
	ck_assert_uint_eq(st[2].line, 8);
	free(st);
	ck_assert_int_eq(migration_tx_control(sql, strlen(sql), &line, &w, &e), 0);
	ck_assert_uint_eq(line, 0);
	ck_assert_int_eq(migration_split("-- +goose StatementBegin\nselect 1;\n", 35, &st, &n, &e),
			 BL_EUSAGE);
	ck_assert_msg(strstr(e.msg, "without StatementEnd"), "%s", e.msg);
	strbuf_release(&w);
}
END_TEST

START_TEST(test_scan_single_files)
{
	char *d = ttmp_dir("migration");
	char path[4096];
	struct migration_set set = MIGRATION_SET_INIT;
	struct strbuf sql = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;

	snprintf(path, sizeof(path), "%s/20151129054053_users.sql", d);
	ck_assert_int_eq(twrite_file(path, dbmate_file), 0);
	snprintf(path, sizeof(path), "%s/20151129054054_fn.sql", d);
	ck_assert_int_eq(twrite_file(path, goose_file), 0);
	snprintf(path, sizeof(path), "%s/20151129054055_once.sql", d);
	ck_assert_int_eq(twrite_file(path, "-- +goose Up\nselect 1;\n"), 0);
	ck_assert_msg(migration_scan(d, &set, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(set.n, 3);
	ck_assert_int_eq(set.items[0].format, MIGRATION_DBMATE);
	ck_assert_int_eq(set.items[1].format, MIGRATION_GOOSE);
	ck_assert_ptr_nonnull(set.items[1].down_path);
	ck_assert_ptr_null(set.items[2].down_path);
	ck_assert_int_eq(migration_load(&set.items[0], MIGRATION_DOWN, &sql, &e), 0);
	ck_assert_ptr_nonnull(strstr(sql.buf, "drop table users;"));
	ck_assert_ptr_null(strstr(sql.buf, "create table"));
	migration_set_release(&set);
	/* a single file with no markers, or one beside a pair file: errors */
	snprintf(path, sizeof(path), "%s/20151129054056_plain.sql", d);
	ck_assert_int_eq(twrite_file(path, "select 1;\n"), 0);
	ck_assert_int_eq(migration_scan(d, &set, &e), BL_EUSAGE);
	ck_assert_msg(strstr(e.msg, "20151129054056_plain.sql: neither"), "%s", e.msg);
	unlink(path);
	snprintf(path, sizeof(path), "%s/20151129054055_once.up.sql", d);
	ck_assert_int_eq(twrite_file(path, "select 1;\n"), 0);
	ck_assert_int_eq(migration_scan(d, &set, &e), BL_EUSAGE);
	ck_assert_msg(strstr(e.msg, "two up files for version 20151129054055"), "%s", e.msg);
	strbuf_release(&sql);
	ttmp_rm(d);
	free(d);
}
END_TEST

START_TEST(test_scan_errors)
{
	const char *dup[] = { "1_a.up.sql", "1_b.up.sql", NULL };
	const char *orphan[] = { "1_a.up.sql", "2_b.down.sql", NULL };
	const char *dupdown[] = { "1_a.up.sql", "1_a.down.sql", "1_b.down.sql", NULL };
	const char *bad[] = { "1_a.up.sql", "2-b.up.sql", NULL };
	const char *const *cases[] = { dup, orphan, bad, dupdown };
	const char *expect[] = { "two up files for version 1:", "2_b.down.sql has no matching .up.sql",
				 "2-b.up.sql: expected", "two down files for version 1:" };
	struct migration_set set = MIGRATION_SET_INIT;
	struct errbuf e = ERRBUF_INIT;

	for (size_t i = 0; i < 4; i++) {
		char *d = scan_dir(cases[i]);

		ck_assert_int_eq(migration_scan(d, &set, &e), BL_EUSAGE);
		ck_assert_msg(strstr(e.msg, expect[i]), "case %zu: %s", i, e.msg);
		/* errors name files, not migrations */
		ck_assert_msg(strstr(e.msg, ".sql"), "case %zu: %s", i, e.msg);
		ck_assert_uint_eq(set.n, 0);
		ttmp_rm(d);
		free(d);
	}
	/* a directory that does not exist: empty, flagged */
	ck_assert_int_eq(migration_scan("/nonexistent/ballast/migrations", &set, &e), 0);
	ck_assert_int_eq(set.missing, 1);
	ck_assert_uint_eq(set.n, 0);
}
END_TEST

START_TEST(test_sha256)
{
	struct errbuf e = ERRBUF_INIT;
	char hex[65];

	ck_assert_int_eq(migration_sha256_hex("abc", 3, hex, &e), 0);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ck_assert_int_eq(migration_sha256_hex("", 0, hex, &e), 0);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

START_TEST(test_directive_first_line)
{
	struct strbuf sb = STRBUF_INIT;

	ck_assert(migration_no_transaction("-- ballast:no-transaction\nCREATE INDEX;"));
	ck_assert(migration_no_transaction("--ballast:no-transaction  \r\nX"));
	ck_assert(migration_no_transaction("\xef\xbb\xbf-- ballast:no-transaction"));
	ck_assert(!migration_no_transaction("CREATE TABLE t();\n-- ballast:no-transaction\n"));
	ck_assert(!migration_no_transaction("-- ballast:no-transactional\n"));
	ck_assert(!migration_no_transaction("-- not ballast:no-transaction\n"));
	migration_first_line("-- ballast:no-transaction\n\n  CREATE INDEX CONCURRENTLY i ON t(x);  \nmore", &sb);
	ck_assert_str_eq(sb.buf, "CREATE INDEX CONCURRENTLY i ON t(x);");
	migration_first_line("-- add users\nCREATE TABLE users();", &sb);
	ck_assert_str_eq(sb.buf, "-- add users");
	migration_first_line("\n\n", &sb);
	ck_assert_str_eq(sb.buf, "");
	strbuf_release(&sb);
}
END_TEST

static void split_expect(const char *sql, size_t want, const char *const *texts, const unsigned *lines)
{
	struct migration_stmt *st = NULL;
	struct errbuf e = ERRBUF_INIT;
	size_t n = 0;

	ck_assert_msg(migration_split(sql, strlen(sql), &st, &n, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(n, want);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(strlen(texts[i]) == st[i].len && !memcmp(sql + st[i].start, texts[i], st[i].len),
			      "stmt %zu: got [%.*s] want [%s]", i, (int)st[i].len, sql + st[i].start, texts[i]);
		ck_assert_uint_eq(st[i].line, lines[i]);
	}
	free(st);
}

START_TEST(test_split)
{
	const char *sql1 = "-- ballast:no-transaction\nCREATE INDEX CONCURRENTLY a ON t(x);\n\n"
			   "CREATE INDEX CONCURRENTLY b ON t(y);\n";
	const char *t1[] = { "CREATE INDEX CONCURRENTLY a ON t(x);", "CREATE INDEX CONCURRENTLY b ON t(y);" };
	const unsigned l1[] = { 2, 4 };
	const char *sql2 = "SELECT 'a;b''c;';\nSELECT \"we;ird\" FROM x; /* c; /* nested; */ ; */\n"
			   "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END $body$ LANGUAGE plpgsql;\n"
			   "SELECT $$;$$, E'\\';', $1;\nSELECT 1 -- trailing; comment\n;  \n-- only a comment;\n";
	const char *t2[] = { "SELECT 'a;b''c;';", "SELECT \"we;ird\" FROM x;",
			     "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END $body$ LANGUAGE plpgsql;",
			     "SELECT $$;$$, E'\\';', $1;", "SELECT 1 -- trailing; comment\n;" };
	const unsigned l2[] = { 1, 2, 3, 4, 5 };
	const char *sql3 = "SELECT 1";
	const char *t3[] = { "SELECT 1" };
	const unsigned l3[] = { 1 };

	split_expect(sql1, 2, t1, l1);
	split_expect(sql2, 5, t2, l2);
	split_expect(sql3, 1, t3, l3);
	split_expect(";;  ;\n-- x\n/* y */", 0, NULL, NULL);
}
END_TEST

START_TEST(test_split_unterminated)
{
	const char *bad[] = { "SELECT 'abc;\n", "SELECT $x$ abc;\n", "SELECT 1;\n/* open", "SELECT \"x;" };
	struct migration_stmt *st = NULL;
	struct errbuf e = ERRBUF_INIT;
	size_t n = 0;

	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(migration_split(bad[i], strlen(bad[i]), &st, &n, &e), BL_EUSAGE);
		ck_assert_ptr_nonnull(strstr(e.msg, "unterminated"));
		ck_assert_ptr_null(st);
	}
}
END_TEST

START_TEST(test_line_at)
{
	const char *t = "SELECT 1;\nSELECT 'é';\nSELECT nosuch;\n";

	ck_assert_uint_eq(migration_line_at(t, strlen(t), 1, 1), 1);
	/* 'é' is two bytes but one character: position 29 is "nosuch"'s n. */
	ck_assert_uint_eq(migration_line_at(t, strlen(t), 29, 1), 3);
	ck_assert_uint_eq(migration_line_at(t, strlen(t), 21, 1), 2);
	ck_assert_uint_eq(migration_line_at(t, strlen(t), 29, 10), 12);
	ck_assert_uint_eq(migration_line_at(t, strlen(t), 999, 1), 0);
	ck_assert_uint_eq(migration_line_at(t, strlen(t), 0, 1), 0);
}
END_TEST

START_TEST(test_valid_name)
{
	ck_assert(migration_valid_name("add_users"));
	ck_assert(migration_valid_name("A-1"));
	ck_assert(!migration_valid_name(""));
	ck_assert(!migration_valid_name("a b"));
	ck_assert(!migration_valid_name("../x"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("migration");
	TCase *tc = tcase_create("migration");

	tcase_add_test(tc, test_parse_name);
	tcase_add_test(tc, test_parse_version);
	tcase_add_test(tc, test_scan);
	tcase_add_test(tc, test_scan_errors);
	tcase_add_test(tc, test_scan_pairs_by_version);
	tcase_add_test(tc, test_tx_control);
	tcase_add_test(tc, test_single_no_tx);
	tcase_add_test(tc, test_single_file_sections);
	tcase_add_test(tc, test_scan_single_files);
	tcase_add_test(tc, test_split_goose_blocks);
	tcase_add_test(tc, test_sha256);
	tcase_add_test(tc, test_directive_first_line);
	tcase_add_test(tc, test_split);
	tcase_add_test(tc, test_split_unterminated);
	tcase_add_test(tc, test_line_at);
	tcase_add_test(tc, test_valid_name);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
