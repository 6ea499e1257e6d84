/* migrator: the plan engine without a database (files and a state built
 * in memory): out-of-order files refused or taken, targets, downgrades. */
#include <stdlib.h>
#include <string.h>

#include "migrator.h"
#include "tsupport.h"

static struct migration files_items[] = {
	{ 1, "a", "m/1_a.up.sql", "m/1_a.down.sql", NULL, MIGRATION_PAIR },
	{ 2, "b", "m/2_b.up.sql", "m/2_b.down.sql", NULL, MIGRATION_PAIR },
	{ 3, "c", "m/3_c.up.sql", NULL, NULL, MIGRATION_PAIR },
	{ 4, "d", "m/4_d.up.sql", "m/4_d.down.sql", NULL, MIGRATION_PAIR },
};

static const struct migration_set files = { files_items, 4, 4, 0 };

/* Applied: 1 and 3 (2 arrived later from a merged branch). */
static struct migrator_row rows[] = {
	{ 1, "a", NULL, "DROP TABLE a;", NULL, 0, NULL, NULL, NULL, 0 },
	{ 3, "c", NULL, NULL, NULL, 0, NULL, NULL, NULL, 0 },
};

static const struct migrator_state st = { rows, 2, 1, 3, 0, 0 };

START_TEST(test_out_of_order_refused_whatever_is_pending)
{
	struct migrator_plan p;
	struct errbuf e = ERRBUF_INIT;
	const struct migration *first;
	size_t n;

	ck_assert_int_eq(migrator_out_of_order(&files, &st, UINT64_MAX, &first, &n), 1);
	ck_assert_uint_eq(first->version, 2);
	ck_assert_uint_eq(n, 1);
	/* nothing newer than 3 wanted: still refused, not "nothing to do" */
	ck_assert_int_eq(migrator_plan_to(&files, &st, 3, 0, &p, &e), BL_EUSAGE);
	ck_assert_msg(strstr(e.msg, "m/2_b.up.sql is not applied but older than the current version 3"),
		      "%s", e.msg);
	ck_assert_int_eq(migrator_plan_to(&files, &st, 4, 0, &p, &e), BL_EUSAGE);
	/* a target below the out-of-order file is not concerned */
	ck_assert_int_eq(migrator_out_of_order(&files, &st, 1, &first, &n), 0);
}
END_TEST

START_TEST(test_out_of_order_allowed)
{
	struct migrator_plan p;
	struct errbuf e = ERRBUF_INIT;

	ck_assert_int_eq(migrator_plan_to(&files, &st, 4, MIGRATOR_OUT_OF_ORDER, &p, &e), 0);
	ck_assert_int_eq(p.direction, 1);
	ck_assert_uint_eq(p.n, 2);
	ck_assert_uint_eq(p.steps[0].version, 2);
	ck_assert_int_eq(p.steps[0].out_of_order, 1);
	ck_assert_uint_eq(p.steps[1].version, 4);
	ck_assert_int_eq(p.steps[1].out_of_order, 0);
	ck_assert_uint_eq(p.from, 3);
	ck_assert_uint_eq(p.to, 4);
	migrator_plan_release(&p);
	/* only the old one: the version stays 3 */
	ck_assert_int_eq(migrator_plan_to(&files, &st, 3, MIGRATOR_OUT_OF_ORDER, &p, &e), 0);
	ck_assert_uint_eq(p.n, 1);
	ck_assert_uint_eq(p.to, 3);
	migrator_plan_release(&p);
}
END_TEST

START_TEST(test_down_and_irreversible)
{
	struct migrator_plan p;
	struct errbuf e = ERRBUF_INIT;

	ck_assert_int_eq(migrator_plan_to(&files, &st, 0, 0, &p, &e), 0);
	ck_assert_int_eq(p.direction, -1);
	ck_assert_uint_eq(p.n, 2);
	ck_assert_uint_eq(p.steps[0].version, 3);
	ck_assert_uint_eq(p.n_irreversible, 1);
	ck_assert_uint_eq(p.irreversible[0], 3);
	ck_assert_int_eq(migrator_refuse_irreversible(&p, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "irreversible migration 3 (c)"), "%s", e.msg);
	migrator_plan_release(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("migrator");
	TCase *tc = tcase_create("plan");

	tcase_add_test(tc, test_out_of_order_refused_whatever_is_pending);
	tcase_add_test(tc, test_out_of_order_allowed);
	tcase_add_test(tc, test_down_and_irreversible);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
