/* dbconn without a Docker engine: hostaddr added to URLs and key=value
 * conninfos (and what libpq makes of them), the default tool commands of a
 * database in a container, and a database without one left as written.
 * The engine side runs in tests/scripts/test_docker_pg.sh. */
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "dbconn.h"
#include "pg.h"
#include "tsupport.h"

/* The value libpq parses for keyword in conninfo ("" when unset). */
static void parsed(const char *conninfo, const char *keyword, struct strbuf *out)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);

	strbuf_reset(out);
	ck_assert_ptr_nonnull(opts);
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (!strcmp(o->keyword, keyword) && o->val)
			strbuf_addstr(out, o->val);
	PQconninfoFree(opts);
}

START_TEST(test_hostaddr_url)
{
	struct strbuf out = STRBUF_INIT, v = STRBUF_INIT;

	dbconn_add_hostaddr("postgresql://postgres@127.0.0.1:5432/audit_app", "172.18.0.2", &out);
	ck_assert_str_eq(out.buf, "postgresql://postgres@127.0.0.1:5432/audit_app?hostaddr=172.18.0.2");
	parsed(out.buf, "hostaddr", &v);
	ck_assert_str_eq(v.buf, "172.18.0.2");
	parsed(out.buf, "host", &v);
	ck_assert_str_eq(v.buf, "127.0.0.1");
	parsed(out.buf, "dbname", &v);
	ck_assert_str_eq(v.buf, "audit_app");

	dbconn_add_hostaddr("postgres://u@db/app?sslmode=disable", "10.0.0.9", &out);
	ck_assert_str_eq(out.buf, "postgres://u@db/app?sslmode=disable&hostaddr=10.0.0.9");
	parsed(out.buf, "sslmode", &v);
	ck_assert_str_eq(v.buf, "disable");
	parsed(out.buf, "hostaddr", &v);
	ck_assert_str_eq(v.buf, "10.0.0.9");
	strbuf_release(&out);
	strbuf_release(&v);
}
END_TEST

START_TEST(test_hostaddr_keywords)
{
	struct strbuf out = STRBUF_INIT, v = STRBUF_INIT;

	dbconn_add_hostaddr("host=127.0.0.1 port=5433 dbname='a b'", "172.18.0.3", &out);
	ck_assert_str_eq(out.buf, "host=127.0.0.1 port=5433 dbname='a b' hostaddr=172.18.0.3");
	parsed(out.buf, "dbname", &v);
	ck_assert_str_eq(v.buf, "a b");
	parsed(out.buf, "port", &v);
	ck_assert_str_eq(v.buf, "5433");

	/* "" is $DATABASE_URL, else libpq's PG* variables and defaults */
	unsetenv("DATABASE_URL");
	dbconn_add_hostaddr("", "172.18.0.4", &out);
	ck_assert_str_eq(out.buf, "hostaddr=172.18.0.4");
	setenv("DATABASE_URL", "postgresql:///app", 1);
	dbconn_add_hostaddr(NULL, "172.18.0.4", &out);
	ck_assert_str_eq(out.buf, "postgresql:///app?hostaddr=172.18.0.4");
	unsetenv("DATABASE_URL");
	strbuf_release(&out);
	strbuf_release(&v);
}
END_TEST

static void tool_line(json_t *db, const char *key, const char *tool, int pw, struct strbuf *out)
{
	struct strvec argv = STRVEC_INIT;
	const char *const *a;

	dbconn_push_tool(&argv, db, key, tool, pw);
	strbuf_reset(out);
	for (a = strvec_argv(&argv); *a; a++)
		strbuf_addf(out, "%s%s", out->len ? " " : "", *a);
	strvec_clear(&argv);
}

START_TEST(test_tools)
{
	json_t *plain = json_pack("{s:s}", "name", "app");
	json_t *ct = json_pack("{s:s, s:s}", "name", "app", "container", "audit-postgres-1");
	json_t *set = json_pack("{s:s, s:[s,s]}", "container", "c1", "dump_command", "/opt/pg_dump",
				"--verbose");
	json_t *empty = json_pack("{s:s}", "container", "");
	struct strbuf line = STRBUF_INIT;

	tool_line(plain, "dump_command", "pg_dump", 1, &line);
	ck_assert_str_eq(line.buf, "pg_dump");
	tool_line(ct, "dump_command", "pg_dump", 1, &line);
	ck_assert_str_eq(line.buf, "docker exec -i -e PGPASSWORD audit-postgres-1 pg_dump");
	tool_line(ct, "restore_command", "pg_restore", 0, &line);
	ck_assert_str_eq(line.buf, "docker exec -i audit-postgres-1 pg_restore");
	tool_line(set, "dump_command", "pg_dump", 1, &line);
	ck_assert_str_eq(line.buf, "/opt/pg_dump --verbose");
	tool_line(set, "restore_command", "pg_restore", 1, &line);
	ck_assert_str_eq(line.buf, "docker exec -i -e PGPASSWORD c1 pg_restore");

	ck_assert_ptr_null(dbconn_container(plain));
	ck_assert_ptr_null(dbconn_container(empty));
	ck_assert_ptr_null(dbconn_container(NULL));
	ck_assert_str_eq(dbconn_container(ct), "audit-postgres-1");
	json_decref(plain);
	json_decref(ct);
	json_decref(set);
	json_decref(empty);
	strbuf_release(&line);
}
END_TEST

START_TEST(test_resolve_without_container)
{
	json_t *db = json_pack("{s:s}", "conninfo", "host=db port=5432 dbname=app");
	struct strbuf out = STRBUF_INIT, addr = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;

	strbuf_addstr(&addr, "stale");
	ck_assert_int_eq(dbconn_resolve(db, NULL, &out, &addr, &e), 0);
	ck_assert_str_eq(out.buf, "host=db port=5432 dbname=app");
	ck_assert_str_eq(addr.buf, "");
	ck_assert_int_eq(dbconn_resolve(db, "dbname=other", &out, NULL, &e), 0);
	ck_assert_str_eq(out.buf, "dbname=other");
	ck_assert_int_eq(dbconn_conninfo(db, &out, &e), 0);
	ck_assert_str_eq(out.buf, "host=db port=5432 dbname=app");
	json_decref(db);
	strbuf_release(&out);
	strbuf_release(&addr);
}
END_TEST

/* Values a scratch directory or a role name may hold reach libpq intact. */
START_TEST(test_conninfo_quoting)
{
	const char *odd = "/var/tmp/it's a \\dir";
	struct strbuf ci = STRBUF_INIT, v = STRBUF_INIT;

	pg_conninfo_add(&ci, "host", odd);
	strbuf_addstr(&ci, " port=5432");
	pg_conninfo_add(&ci, "user", "o'brien");
	ck_assert_str_eq(ci.buf, "host='/var/tmp/it\\'s a \\\\dir' port=5432 user='o\\'brien'");
	ck_assert_int_eq(pg_conninfo_get(ci.buf, "host", &v), 1);
	ck_assert_str_eq(v.buf, odd);
	ck_assert_int_eq(pg_conninfo_get(ci.buf, "user", &v), 1);
	ck_assert_str_eq(v.buf, "o'brien");
	ck_assert_int_eq(pg_conninfo_get(ci.buf, "dbname", &v), 0);
	ck_assert_str_eq(v.buf, "");
	ck_assert_int_eq(pg_conninfo_get(NULL, "user", &v), 0);
	ck_assert_int_eq(pg_conninfo_get("postgresql://u@h/db", "dbname", &v), 1);
	ck_assert_str_eq(v.buf, "db");
	ck_assert_int_eq(pg_conninfo_get("host='unterminated", "host", &v), 0);
	strbuf_release(&ci);
	strbuf_release(&v);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dbconn");
	TCase *tc = tcase_create("dbconn");

	tcase_add_test(tc, test_hostaddr_url);
	tcase_add_test(tc, test_hostaddr_keywords);
	tcase_add_test(tc, test_tools);
	tcase_add_test(tc, test_resolve_without_container);
	tcase_add_test(tc, test_conninfo_quoting);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
