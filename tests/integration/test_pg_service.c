// services: pg
/* The PostgreSQL test service: it starts, accepts libpq connections on its
 * socket and on TCP with the password, and reports its version. Stopping
 * and cleanup are checked by the fixture's stop step and by test.sh. */
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "tsupport.h"

START_TEST(test_socket_connect)
{
	char *ci = tsvc_read("pg", "conninfo");
	PGconn *c;
	PGresult *r;

	ck_assert_ptr_nonnull(ci);
	c = PQconnectdb(ci);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect %s: %s", ci, PQerrorMessage(c));
	r = PQexec(c, "SELECT current_setting('server_version_num')::int");
	ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	ck_assert_int_ge(atoi(PQgetvalue(r, 0, 0)), 150000);
	PQclear(r);
	PQfinish(c);
	free(ci);
}
END_TEST

START_TEST(test_tcp_needs_password)
{
	char *ci = tsvc_read("pg", "conninfo_tcp");
	char *pw = tsvc_read("pg", "password");
	char full[1024];
	PGconn *c;

	ck_assert_ptr_nonnull(ci);
	ck_assert_ptr_nonnull(pw);
	snprintf(full, sizeof(full), "%s password=wrong", ci);
	c = PQconnectdb(full);
	ck_assert_int_ne(PQstatus(c), CONNECTION_OK);
	ck_assert_ptr_nonnull(strstr(PQerrorMessage(c), "password"));
	PQfinish(c);
	snprintf(full, sizeof(full), "%s password=%s", ci, pw);
	c = PQconnectdb(full);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
	PQfinish(c);
	free(ci);
	free(pw);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pg_service");
	TCase *tc = tcase_create("pg");

	tcase_add_test(tc, test_socket_connect);
	tcase_add_test(tc, test_tcp_needs_password);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
