// services: pg
/* lib/pg's probes with a limit and a reason (wal-stream's stall check):
 * pg_exec_until against a backend that goes silent (SIGSTOP: a proxy that
 * accepted and stopped forwarding looks the same to the client) returns at
 * its deadline with no SQLSTATE; a server error gives its SQLSTATE; a
 * refused connection (a database that does not exist) gives the server's
 * SQLSTATE, and a port nobody listens on gives none. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "pg.h"
#include "timeutil.h"
#include "tsupport.h"

START_TEST(test_exec_silent_backend)
{
	char *ci = tsvc_read("pg", "conninfo");
	struct errbuf e = ERRBUF_INIT;
	struct strbuf pid = STRBUF_INIT;
	PGconn *c = NULL;
	PGresult *r = NULL;
	char state[6] = "x";
	long long t0;
	int rc;

	ck_assert_ptr_nonnull(ci);
	ck_assert_int_eq(pg_connect_until(ci, NULL, time_mono_ms() + 60000, &c, state, &e), 0);
	ck_assert_str_eq(state, "");
	ck_assert_int_eq(pg_value(c, "SELECT pg_backend_pid()", &pid, &e), 0);
	ck_assert_int_eq(kill((pid_t)atoi(pid.buf), SIGSTOP), 0);
	t0 = time_mono_ms();
	rc = pg_exec_until(c, "SELECT 1", t0 + 1000, &r, state, &e);
	kill((pid_t)atoi(pid.buf), SIGCONT);
	ck_assert_int_eq(rc, BL_EFAIL);
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(e.msg, "no answer in time"), "%s", e.msg);
	ck_assert_str_eq(state, "");
	/* it returned at its deadline, not when the backend woke up */
	ck_assert_int_ge(time_mono_ms() - t0, 1000);
	PQfinish(c);
	strbuf_release(&pid);
	free(ci);
}
END_TEST

START_TEST(test_exec_server_error)
{
	char *ci = tsvc_read("pg", "conninfo");
	struct errbuf e = ERRBUF_INIT;
	PGconn *c = NULL;
	PGresult *r = NULL;
	char state[6] = "";

	ck_assert_int_eq(pg_connect(ci, NULL, &c, &e), 0);
	ck_assert_int_eq(pg_exec_until(c, "SELECT 1 / 0", time_mono_ms() + 60000, &r, state, &e),
			 BL_EFAIL);
	ck_assert_str_eq(state, "22012");
	ck_assert_msg(strstr(e.msg, "division by zero"), "%s", e.msg);
	/* the connection is usable after an answered error */
	ck_assert_int_eq(pg_exec_until(c, "SELECT 2", time_mono_ms() + 60000, &r, state, &e), 0);
	ck_assert_str_eq(PQgetvalue(r, 0, 0), "2");
	ck_assert_str_eq(state, "");
	PQclear(r);
	PQfinish(c);
	free(ci);
}
END_TEST

START_TEST(test_connect_refused)
{
	char *ci = tsvc_read("pg", "conninfo");
	struct errbuf e = ERRBUF_INIT;
	struct strbuf bad = STRBUF_INIT;
	PGconn *c = NULL;
	char state[6] = "";

	strbuf_addf(&bad, "%s dbname=ballast_no_such_db", ci);
	ck_assert_int_eq(pg_connect_until(bad.buf, NULL, time_mono_ms() + 60000, &c, state, &e),
			 BL_EFAIL);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(state, "3D000");
	ck_assert_msg(strstr(e.msg, "ballast_no_such_db") && !strstr(e.msg, "3D000") &&
		      !strstr(e.msg, "LOCATION"), "%s", e.msg);
	/* nobody listens on port 1: no server answered */
	errbuf_clear(&e);
	ck_assert_int_eq(pg_connect_until("host=127.0.0.1 port=1 connect_timeout=5", NULL,
					  time_mono_ms() + 60000, &c, state, &e), BL_EFAIL);
	ck_assert_str_eq(state, "");
	strbuf_release(&bad);
	free(ci);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pg_deadline");
	TCase *tc = tcase_create("pg");

	tcase_add_test(tc, test_exec_silent_backend);
	tcase_add_test(tc, test_exec_server_error);
	tcase_add_test(tc, test_connect_refused);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
