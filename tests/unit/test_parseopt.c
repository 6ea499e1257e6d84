/* parseopt: tables parse the way getopt_long users expect (values joined or
 * apart, bundles, "--", positionals in their order), every bad input gets
 * its one line naming the option as typed, and a second parse in the same
 * process starts clean. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "parseopt.h"
#include "tsupport.h"

struct opts {
	int dry, force, jobs, nlabels;
	const char *dir, *name;
	long long wait_ms, ttl_ms;
	char labels[4][32];
};

static int add_label(const struct option_spec *opt, const char *name, const char *arg,
		     struct errbuf *e)
{
	struct opts *o = opt->value;

	if (!strchr(arg, '=') || o->nlabels == 4)
		return parseopt_bad_value(opt, name, arg, e);
	snprintf(o->labels[o->nlabels++], sizeof(o->labels[0]), "%s", arg);
	return 0;
}

/* Parse a NULL-terminated word list (argv[0] is the command) into o. The
 * words are copied: parseopt moves argv's pointers. */
static int parse(struct opts *o, unsigned flags, struct parseopt_rest *rest,
		 struct errbuf *e, char **argv, const char *const *words)
{
	int argc = 0;
	const struct option_spec table[] = {
		OPT_FLAG('n', "dry-run", &o->dry, "print the plan; change nothing"),
		OPT_FLAG('f', "force", &o->force, "release any lock"),
		OPT_INT('j', "jobs", &o->jobs, NULL, "parallel jobs", 1, 256),
		OPT_VALUE(PARSEOPT_STRING, 0, "dir", &o->dir, "DIR", "a directory",
			  PARSEOPT_NONEMPTY, "where the files are"),
		OPT_STRING(0, "database", &o->name, "NAME", "the database"),
		OPT_SECONDS('w', "lock-wait", &o->wait_ms, NULL, "wait for the lock"),
		OPT_DURATION(0, "ttl", &o->ttl_ms, NULL, "expire after this"),
		{ .kind = PARSEOPT_CALLBACK, .short_name = 'l', .long_name = "label", .value = o,
		  .argh = "K=V", .expect = "KEY=VALUE", .help = "a label\nrepeatable",
		  .cb = add_label },
		OPT_END()
	};

	memset(o, 0, sizeof(*o));
	while (words[argc]) {
		argv[argc] = (char *)words[argc];
		argc++;
	}
	argv[argc] = NULL;
	errbuf_clear(e);
	return parseopt_parse(argc, argv, table, flags, rest, e);
}

/* rest points into av, which the caller keeps */
#define PARSE_OK(o, rest, av, ...)                                                     \
	do {                                                                           \
		static const char *const w_[] = { "cmd", __VA_ARGS__, NULL };          \
		struct errbuf e_;                                                      \
		int rc_ = parse(o, 0, rest, &e_, av, w_);                              \
		ck_assert_msg(rc_ == 0, "rc %d: %s", rc_, e_.msg);                      \
	} while (0)

static void parse_fails(const char *const *words, int want_rc, const char *want_msg)
{
	struct parseopt_rest rest;
	struct opts o;
	struct errbuf e;
	char *av[32];
	int rc = parse(&o, 0, &rest, &e, av, words);

	ck_assert_msg(rc == want_rc, "%s ...: rc %d, want %d (%s)", words[1], rc, want_rc, e.msg);
	ck_assert_msg(!strcmp(e.msg, want_msg), "%s ...: got \"%s\", want \"%s\"", words[1],
		      e.msg, want_msg);
	ck_assert_int_eq(rest.argc, 0);
}

#define FAILS(msg, ...)                                                                \
	do {                                                                           \
		static const char *const w_[] = { "cmd", __VA_ARGS__, NULL };          \
		parse_fails(w_, BL_EUSAGE, msg);                                       \
	} while (0)

START_TEST(test_values_joined_and_apart)
{
	struct parseopt_rest rest;
	struct opts o;
	char *av[32];

	PARSE_OK(&o, &rest, av, "--dir=/a", "--database", "app", "-j4", "-w", "1.5", "--ttl=2h");
	ck_assert_str_eq(o.dir, "/a");
	ck_assert_str_eq(o.name, "app");
	ck_assert_int_eq(o.jobs, 4);
	ck_assert_int_eq(o.wait_ms, 1500);
	ck_assert_int_eq(o.ttl_ms, 2LL * 3600 * 1000);
	ck_assert_int_eq(rest.argc, 0);
	PARSE_OK(&o, &rest, av, "-j", "256", "--jobs=2", "--lock-wait", "2m", "--ttl", "0");
	/* the last of a repeated option wins */
	ck_assert_int_eq(o.jobs, 2);
	ck_assert_int_eq(o.wait_ms, 120000);
	ck_assert_int_eq(o.ttl_ms, 0);
	/* a value is taken as it is, even one that looks like an option */
	PARSE_OK(&o, &rest, av, "--database", "--dry-run");
	ck_assert_str_eq(o.name, "--dry-run");
	ck_assert_int_eq(o.dry, 0);
	/* a unique prefix, as getopt_long takes it */
	PARSE_OK(&o, &rest, av, "--dry", "--datab=x");
	ck_assert_int_eq(o.dry, 1);
	ck_assert_str_eq(o.name, "x");
}
END_TEST

START_TEST(test_bundles_and_positionals_in_order)
{
	struct parseopt_rest rest;
	struct opts o;
	char *av[32];

	PARSE_OK(&o, &rest, av, "a", "-nf", "b", "--dir", "d", "c");
	ck_assert(o.dry && o.force);
	ck_assert_str_eq(o.dir, "d");
	ck_assert_int_eq(rest.argc, 3);
	ck_assert_str_eq(rest.argv[0], "a");
	ck_assert_str_eq(rest.argv[1], "b");
	ck_assert_str_eq(rest.argv[2], "c");
	ck_assert_ptr_null(rest.argv[3]);
	PARSE_OK(&o, &rest, av, "-nj3");
	ck_assert(o.dry && o.jobs == 3);
	/* "--" ends the options; "-" alone is a positional (stdin) */
	PARSE_OK(&o, &rest, av, "--dir", "x", "--", "--dry-run", "-n");
	ck_assert_int_eq(o.dry, 0);
	ck_assert_int_eq(rest.argc, 2);
	ck_assert_str_eq(rest.argv[0], "--dry-run");
	ck_assert_str_eq(rest.argv[1], "-n");
	PARSE_OK(&o, &rest, av, "-", "-n");
	ck_assert_int_eq(rest.argc, 1);
	ck_assert_str_eq(rest.argv[0], "-");
	ck_assert_int_eq(o.dry, 1);
}
END_TEST

START_TEST(test_stop_at_non_option)
{
	static const char *const w[] = { "cmd", "-n", "run", "-f", "--", "x", NULL };
	struct parseopt_rest rest;
	struct opts o;
	struct errbuf e;
	char *av[32];

	ck_assert_int_eq(parse(&o, PARSEOPT_STOP_AT_NON_OPTION, &rest, &e, av, w), 0);
	ck_assert_int_eq(o.dry, 1);
	ck_assert_int_eq(o.force, 0);
	ck_assert_int_eq(rest.argc, 4);
	ck_assert_str_eq(rest.argv[0], "run");
	ck_assert_str_eq(rest.argv[1], "-f");
	ck_assert_str_eq(rest.argv[2], "--");
}
END_TEST

/* a command that takes no positional names the first one it was given,
 * after the options (a bad option is still the one reported) */
START_TEST(test_no_args)
{
	static const char *const w[] = { "cmd", "-n", "stray", "more", NULL };
	static const char *const bad[] = { "cmd", "stray", "--bogus", NULL };
	struct parseopt_rest rest;
	struct opts o;
	struct errbuf e;
	char *av[32];

	ck_assert_int_eq(parse(&o, PARSEOPT_NO_ARGS, &rest, &e, av, w), BL_EUSAGE);
	ck_assert_str_eq(e.msg, "unexpected argument stray");
	ck_assert_int_eq(rest.argc, 0);
	ck_assert_int_eq(parse(&o, PARSEOPT_NO_ARGS, &rest, &e, av, bad), BL_EUSAGE);
	ck_assert_str_eq(e.msg, "unknown option --bogus");
}
END_TEST

START_TEST(test_posixly_correct_changes_nothing)
{
	struct parseopt_rest rest;
	struct opts o;
	char *av[32];

	setenv("POSIXLY_CORRECT", "1", 1);
	PARSE_OK(&o, &rest, av, "a", "-n", "b");
	unsetenv("POSIXLY_CORRECT");
	ck_assert_int_eq(o.dry, 1);
	ck_assert_int_eq(rest.argc, 2);
	ck_assert_str_eq(rest.argv[1], "b");
}
END_TEST

START_TEST(test_callbacks_see_each_occurrence)
{
	struct parseopt_rest rest;
	struct opts o;
	char *av[32];

	PARSE_OK(&o, &rest, av, "-l", "a=1", "--label=b=2", "--label", "c=3");
	ck_assert_int_eq(o.nlabels, 3);
	ck_assert_str_eq(o.labels[0], "a=1");
	ck_assert_str_eq(o.labels[1], "b=2");
	ck_assert_str_eq(o.labels[2], "c=3");
	FAILS("--label: expected KEY=VALUE, got \"nolabel\"", "--label", "nolabel");
	FAILS("-l: expected KEY=VALUE, got \"x\"", "-l", "x");
}
END_TEST

START_TEST(test_unknown_and_ambiguous)
{
	FAILS("unknown option --dryrun; did you mean --dry-run?", "--dryrun");
	FAILS("unknown option --verbosely", "--verbosely");
	FAILS("unknown option --frce; did you mean --force?", "--frce=1");
	/* a bad letter inside a bundle is named itself, never the word before */
	FAILS("unknown option -x", "prune", "-nx");
	FAILS("unknown option -x", "-x");
	FAILS("option --d is ambiguous: --dry-run, --dir, --database", "--d");
	FAILS("--dry-run takes no value", "--dry-run=yes");
}
END_TEST

START_TEST(test_missing_and_bad_values)
{
	FAILS("--dir needs a directory", "--dir");
	FAILS("-j needs an integer from 1 to 256", "-j");
	FAILS("--jobs needs an integer from 1 to 256", "-n", "--jobs");
	FAILS("--jobs: expected an integer from 1 to 256, got \"0\"", "--jobs", "0");
	FAILS("-j: expected an integer from 1 to 256, got \"257\"", "-j257");
	FAILS("--jobs: expected an integer from 1 to 256, got \"\"", "--jobs=");
	FAILS("--jobs: expected an integer from 1 to 256, got \" 4\"", "--jobs", " 4");
	FAILS("--jobs: expected an integer from 1 to 256, got \"4x\"", "--jobs", "4x");
	FAILS("--jobs: expected an integer from 1 to 256, got \"99999999999999999999\"",
	      "--jobs", "99999999999999999999");
	FAILS("--dir: expected a directory, got \"\"", "--dir", "");
	FAILS("--lock-wait: expected seconds, got \"\"", "--lock-wait", "");
	FAILS("-w: expected seconds, got \"inf\"", "-w", "inf");
	FAILS("-w: expected seconds, got \"nan\"", "-w", "nan");
	FAILS("-w: expected seconds, got \"-1\"", "-w", "-1");
	FAILS("-w: expected seconds, got \"1e300\"", "-w", "1e300");
	FAILS("--ttl: expected a duration like \"5s\", got \"5\"", "--ttl", "5");
	FAILS("--ttl: expected a duration like \"5s\", got \"soon\"", "--ttl", "soon");
}
END_TEST

START_TEST(test_stored_before_the_error_stays)
{
	static const char *const w[] = { "cmd", "-n", "--jobs", "0", "-f", NULL };
	struct parseopt_rest rest;
	struct opts o;
	struct errbuf e;
	char *av[32];

	ck_assert_int_eq(parse(&o, 0, &rest, &e, av, w), BL_EUSAGE);
	ck_assert_int_eq(o.dry, 1);
	ck_assert_int_eq(o.force, 0);
}
END_TEST

START_TEST(test_second_parse_starts_clean)
{
	static const char *const bad[] = { "cmd", "-nx", NULL };
	struct parseopt_rest rest;
	struct opts o;
	struct errbuf e;
	char *av[32];

	/* the first parse stops inside a bundle; the next must not resume it */
	ck_assert_int_eq(parse(&o, 0, &rest, &e, av, bad), BL_EUSAGE);
	PARSE_OK(&o, &rest, av, "-f", "z");
	ck_assert_int_eq(o.force, 1);
	ck_assert_int_eq(o.dry, 0);
	ck_assert_int_eq(rest.argc, 1);
	ck_assert_str_eq(rest.argv[0], "z");
}
END_TEST

START_TEST(test_broken_table_is_a_bug)
{
	int x = 0;
	char *argv[] = { "cmd", NULL };
	const struct option_spec twice[] = {
		OPT_FLAG('n', "dry-run", &x, "a"),
		OPT_FLAG('n', "now", &x, "b"),
		OPT_END()
	};
	const struct option_spec nowhere[] = {
		{ .kind = PARSEOPT_STRING, .long_name = "dir" },
		OPT_END()
	};
	struct parseopt_rest rest;
	struct errbuf e;

	errbuf_clear(&e);
	ck_assert_int_eq(parseopt_parse(1, argv, twice, 0, &rest, &e), BL_EFAIL);
	ck_assert_str_eq(e.msg, "parseopt: option 1 (now) repeats the name of an earlier option");
	errbuf_clear(&e);
	ck_assert_int_eq(parseopt_parse(1, argv, nowhere, 0, &rest, &e), BL_EFAIL);
	ck_assert_str_eq(e.msg, "parseopt: option 0 (dir) stores nowhere");
}
END_TEST

START_TEST(test_usage_lines)
{
	int x = 0;
	const char *s = NULL;
	const struct option_spec table[] = {
		OPT_FLAG('n', "dry-run", &x, "print the plan"),
		OPT_STRING(0, "dir", &s, "DIR", "where\nand more"),
		OPT_STRING(0, "a-very-long-option-name", &s, "VALUE", "wide"),
		{ .kind = PARSEOPT_FLAG, .long_name = "secret", .value = &x, .help = "hidden",
		  .flags = PARSEOPT_HIDDEN },
		OPT_END()
	};
	struct strbuf out = STRBUF_INIT;

	parseopt_usage(table, &out);
	ck_assert_str_eq(out.buf,
			 "  -n, --dry-run  print the plan\n"
			 "      --dir DIR  where\n"
			 "                 and more\n"
			 "      --a-very-long-option-name VALUE\n"
			 "                 wide\n");
	strbuf_release(&out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("parseopt");
	TCase *tc = tcase_create("parseopt");

	tcase_add_test(tc, test_values_joined_and_apart);
	tcase_add_test(tc, test_bundles_and_positionals_in_order);
	tcase_add_test(tc, test_stop_at_non_option);
	tcase_add_test(tc, test_no_args);
	tcase_add_test(tc, test_posixly_correct_changes_nothing);
	tcase_add_test(tc, test_callbacks_see_each_occurrence);
	tcase_add_test(tc, test_unknown_and_ambiguous);
	tcase_add_test(tc, test_missing_and_bad_values);
	tcase_add_test(tc, test_stored_before_the_error_stays);
	tcase_add_test(tc, test_second_parse_starts_clean);
	tcase_add_test(tc, test_broken_table_is_a_bug);
	tcase_add_test(tc, test_usage_lines);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
