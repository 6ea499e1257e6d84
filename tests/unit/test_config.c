#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_schema.h"
#include "log.h"
#include "tsupport.h"

static int load(const char *text, struct config **cfg, struct errbuf *e)
{
	return config_load_string(text, "ballast.json", cfg, e);
}

static void expect_error(const char *text, const char *want)
{
	struct errbuf e = ERRBUF_INIT;
	struct config *cfg = NULL;

	ck_assert_int_eq(load(text, &cfg, &e), BL_EUSAGE);
	ck_assert_ptr_null(cfg);
	ck_assert_msg(strstr(e.msg, want) != NULL, "want \"%s\" in \"%s\"", want, e.msg);
}

START_TEST(test_full_example_loads)
{
	struct errbuf e = ERRBUF_INIT;
	struct config *cfg = NULL;

	setenv("T_REPO", "/var/backups/ballast", 1);
	ck_assert_msg(load("{\"project\": \"audit_app\","
			   " \"repository\": {\"type\": \"local\", \"path\": \"${T_REPO}\"},"
			   " \"databases\": [{\"name\": \"app\", \"conninfo\": \"postgresql://u@h/db\","
			   "   \"password_env\": \"T_PW\", \"dump_command\": [\"pg_dump\"], \"row_counts\": \"exact\"}],"
			   " \"compression\": {\"level\": 3, \"threads\": 0},"
			   " \"retention\": {\"keep_last\": 3, \"keep_daily\": 7},"
			   " \"migrations\": {\"dir\": \"migrations\", \"lock_timeout\": \"5s\", \"statement_timeout\": \"0\"},"
			   " \"images\": {\"BACKEND_IMAGE\": \"${UNSET_NAMESPACE_XYZ}/backend\"},"
			   " \"environments\": {\"prod\": {\"transport\": {\"type\": \"ssh\", \"host\": \"${UNSET_HOST_XYZ}\","
			   "   \"port\": \"${UNSET_PORT_XYZ}\"}, \"health\": [{\"url\": \"https://x/health\", \"status\": 200,"
			   "   \"deadline\": \"120s\"}], \"hooks\": {\"pre-deploy\": [\"hooks/a\"]}}}}",
			   &cfg, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(config_str(cfg, "repository.path", NULL), "/var/backups/ballast");
	ck_assert_str_eq(config_str(cfg, "databases[0].name", NULL), "app");
	ck_assert_int_eq(config_int(cfg, "compression.level", 0), 3);
	ck_assert_int_eq(config_int(cfg, "retention.keep_weekly", -1), -1);
	ck_assert_str_eq(config_str(cfg, "environments.prod.health[0].url", NULL), "https://x/health");
	/* Deploy-only subtrees stay raw until config_expand_env. */
	ck_assert_str_eq(config_str(cfg, "environments.prod.transport.host", NULL), "${UNSET_HOST_XYZ}");
	config_free(cfg);
}
END_TEST

START_TEST(test_parse_error_has_line_and_column)
{
	expect_error("{\n  \"project\": \"x\",\n  \"repository\": {\"type\": \"local\",}\n}",
		     "ballast.json:3:");
	expect_error("{\"project\": \"a\", \"project\": \"b\"}", "invalid JSON");
	expect_error("[1,2]", "expected a JSON object");
}
END_TEST

START_TEST(test_unknown_key_did_you_mean)
{
	expect_error("{\"repositry\": {}}", "repositry: unknown key (did you mean \"repository\"?)");
	expect_error("{\"databases\": [{\"name\": \"a\", \"conninf\": \"x\"}]}",
		     "databases[0].conninf: unknown key (did you mean \"conninfo\"?)");
	expect_error("{\"zzzzzzzz\": 1}", "zzzzzzzz: unknown key");
	expect_error("{\"environments\": {\"prod\": {\"helth\": []}}}",
		     "environments.prod.helth: unknown key (did you mean \"health\"?)");
}
END_TEST

START_TEST(test_wrong_types_name_path)
{
	expect_error("{\"environments\": {\"prod\": {\"health\": [{\"url\": 5}]}}}",
		     "environments.prod.health[0].url: expected a string, got an integer");
	expect_error("{\"compression\": {\"level\": \"high\"}}",
		     "compression.level: expected an integer, got a string");
	expect_error("{\"repository\": {\"type\": \"ftp\"}}",
		     "repository.type: expected one of \"local\", \"sftp\", \"s3\", got \"ftp\"");
	expect_error("{\"migrations\": {\"lock_timeout\": \"5 parsecs\"}}",
		     "migrations.lock_timeout: expected a duration");
	expect_error("{\"volumes\": [{\"name\": \"v\"}]}", "volumes[0].path: expected a string");
	expect_error("{\"databases\": [{\"name\": \"a\", \"dump_command\": \"pg_dump\"}]}",
		     "databases[0].dump_command: expected an array of strings");
	/* a typo in notify.on would silently mean "never notify" */
	expect_error("{\"notify\": {\"on\": [\"failure\", \"sucess\"]}}",
		     "notify.on[1]: expected one of \"failure\", \"success\", got \"sucess\"");
	expect_error("{\"notify\": {\"on\": \"failure\"}}", "notify.on: expected an array");
}
END_TEST

START_TEST(test_interpolation)
{
	struct strbuf out = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	json_t *vars = json_pack("{s:s, s:s}", "FROMFILE", "file", "EMPTY", "");

	setenv("T_A", "alpha", 1);
	unsetenv("T_UNSET");
	ck_assert_int_eq(config_interpolate("x-${T_A}-${T_UNSET:-dflt}-$${T_A}", NULL, &out, "f",
					    "p", &e), 0);
	ck_assert_str_eq(out.buf, "x-alpha-dflt-${T_A}");
	ck_assert_int_eq(config_interpolate("${FROMFILE}/${EMPTY:-e}", vars, &out, "f", "p", &e), 0);
	ck_assert_str_eq(out.buf, "file/e");
	ck_assert_int_eq(config_interpolate("${T_UNSET}", NULL, &out, "ballast.json",
					    "repository.path", &e), BL_EUSAGE);
	ck_assert_str_eq(e.msg, "ballast.json: repository.path: undefined variable ${T_UNSET} "
				"(set it, or write ${T_UNSET:-default})");
	ck_assert_int_eq(config_interpolate("${T_A", NULL, &out, "f", "p", &e), BL_EUSAGE);
	ck_assert_int_eq(config_interpolate("${A B}", NULL, &out, "f", "p", &e), BL_EUSAGE);
	expect_error("{\"repository\": {\"path\": \"${T_UNSET}/x\"}}",
		     "repository.path: undefined variable ${T_UNSET}");
	json_decref(vars);
	strbuf_release(&out);
}
END_TEST

START_TEST(test_expand_env_uses_env_file_vars)
{
	struct errbuf e = ERRBUF_INIT;
	struct config *cfg = NULL;
	json_t *vars = json_pack("{s:s, s:s}", "NS", "acme", "HOST", "prod.example");

	ck_assert_int_eq(load("{\"images\": {\"BACKEND_IMAGE\": \"${NS}/backend\"},"
			      " \"environments\": {\"prod\": {\"app_dir\": \"/srv/${HOST}\"},"
			      "                    \"qa\": {\"app_dir\": \"${QA_ONLY_UNSET}\"}}}",
			      &cfg, &e), 0);
	ck_assert_int_eq(config_expand_env(cfg, "prod", vars, &e), 0);
	ck_assert_str_eq(config_str(cfg, "images.BACKEND_IMAGE", NULL), "acme/backend");
	ck_assert_str_eq(config_str(cfg, "environments.prod.app_dir", NULL), "/srv/prod.example");
	ck_assert_str_eq(config_str(cfg, "environments.qa.app_dir", NULL), "${QA_ONLY_UNSET}");
	ck_assert_int_eq(config_expand_env(cfg, "staging", vars, &e), BL_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "environments.staging: no such environment (have: "));
	ck_assert_int_eq(config_expand_env(cfg, "qa", vars, &e), BL_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "environments.qa.app_dir: undefined variable"));
	json_decref(vars);
	config_free(cfg);
}
END_TEST

START_TEST(test_secrets_registered)
{
	struct errbuf e = ERRBUF_INIT;
	struct config *cfg = NULL;
	struct strbuf sb = STRBUF_INIT;

	log_clear_secrets();
	setenv("T_DB_PW", "s3cret-db-pw", 1);
	setenv("T_API_TOKEN", "tok-123456", 1);
	ck_assert_int_eq(load("{\"databases\": [{\"name\": \"a\", \"password_env\": \"T_DB_PW\","
			      "  \"conninfo\": \"postgresql://u:inline-pw@h/db\"}],"
			      " \"notify\": {\"webhook\": \"https://hooks/${T_API_TOKEN}\"}}",
			      &cfg, &e), 0);
	log_redact_str("a s3cret-db-pw b inline-pw c tok-123456 d", &sb);
	ck_assert_str_eq(sb.buf, "a *** b *** c *** d");
	strbuf_release(&sb);
	config_free(cfg);
}
END_TEST

START_TEST(test_durations)
{
	long long ms;

	ck_assert_int_eq(config_duration_ms("500ms", &ms), 0);
	ck_assert_int_eq(ms, 500);
	ck_assert_int_eq(config_duration_ms("5s", &ms), 0);
	ck_assert_int_eq(ms, 5000);
	ck_assert_int_eq(config_duration_ms("1.5m", &ms), 0);
	ck_assert_int_eq(ms, 90000);
	ck_assert_int_eq(config_duration_ms("2h", &ms), 0);
	ck_assert_int_eq(ms, 7200000);
	ck_assert_int_eq(config_duration_ms("0", &ms), 0);
	ck_assert_int_eq(ms, 0);
	ck_assert_int_eq(config_duration_ms("5", &ms), -1);
	ck_assert_int_eq(config_duration_ms("-1s", &ms), -1);
	ck_assert_int_eq(config_duration_ms("5 s", &ms), -1);
	ck_assert_int_eq(config_duration_ms("", &ms), -1);
}
END_TEST

/* config_duration_opt/_str: absent is the default; anything else that is
 * not a duration of at least min_ms is one message, naming where.key and
 * the value (as JSON when it is not a string). */
START_TEST(test_duration_opt)
{
	struct errbuf e = ERRBUF_INIT;
	json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:{s:i}, s:n, s:s}", "ok", "1.5m", "bad",
			      "soon", "zero", "0s", "int", 30, "obj", "a", 1, "null", "empty", "");
	long long ms = 0;

	ck_assert_int_eq(config_duration_opt(o, "ok", 7, 0, "w", &ms, &e), 0);
	ck_assert_int_eq(ms, 90000);
	ck_assert_int_eq(config_duration_opt(o, "missing", 7, 1, "w", &ms, &e), 0);
	ck_assert_int_eq(ms, 7);
	ck_assert_int_eq(config_duration_opt(NULL, "ok", -1, 0, "w", &ms, &e), 0);
	ck_assert_int_eq(ms, -1);
	ck_assert_int_eq(config_duration_opt(o, "zero", 5, 0, "w", &ms, &e), 0);
	ck_assert_int_eq(ms, 0);

	ck_assert_int_eq(config_duration_opt(o, "bad", 5, 0, "repository", &ms, &e), BL_EUSAGE);
	ck_assert_str_eq(e.msg, "repository.bad: expected a duration like \"30s\", got \"soon\"");
	ck_assert_int_eq(ms, 5);
	ck_assert_int_eq(config_duration_opt(o, "zero", 5, 1, "repository", &ms, &e), BL_EUSAGE);
	ck_assert_str_eq(e.msg, "repository.zero: expected a duration like \"30s\", got \"0s\"");
	ck_assert_int_eq(config_duration_opt(o, "empty", 5, 0, "x: y", &ms, &e), BL_EUSAGE);
	ck_assert_str_eq(e.msg, "x: y.empty: expected a duration like \"30s\", got \"\"");
	ck_assert_int_eq(config_duration_opt(o, "int", 5, 0, "notify", &ms, &e), BL_EUSAGE);
	ck_assert_str_eq(e.msg, "notify.int: expected a duration like \"30s\", got 30");
	ck_assert_int_eq(config_duration_opt(o, "obj", 5, 0, "notify", &ms, &e), BL_EUSAGE);
	ck_assert_str_eq(e.msg, "notify.obj: expected a duration like \"30s\", got {\"a\":1}");
	ck_assert_int_eq(config_duration_opt(o, "null", 5, 0, "notify", &ms, &e), BL_EUSAGE);
	ck_assert_str_eq(e.msg, "notify.null: expected a duration like \"30s\", got null");
	/* no where: the caller prefixes its own context */
	ck_assert_int_eq(config_duration_opt(o, "bad", 5, 0, NULL, &ms, &e), BL_EUSAGE);
	ck_assert_str_eq(e.msg, "bad: expected a duration like \"30s\", got \"soon\"");

	ck_assert_int_eq(config_duration_str(NULL, "k", 9, 0, "w", &ms, &e), 0);
	ck_assert_int_eq(ms, 9);
	ck_assert_int_eq(config_duration_str("2h", "k", 9, 0, "w", &ms, &e), 0);
	ck_assert_int_eq(ms, 7200000);
	ck_assert_int_eq(config_duration_str("500ms", "k", 9, 1000, "w", &ms, &e), BL_EUSAGE);
	ck_assert_str_eq(e.msg, "w.k: expected a duration like \"30s\", got \"500ms\"");
	ck_assert_int_eq(config_duration_str("5", "lock_wait_timeout", 9, 0, NULL, &ms, &e),
			 BL_EUSAGE);
	ck_assert_str_eq(e.msg, "lock_wait_timeout: expected a duration like \"30s\", got \"5\"");
	json_decref(o);
}
END_TEST

/* The schema's check of a duration key at load gives the same message. */
START_TEST(test_duration_load_message)
{
	expect_error("{\"notify\": {\"timeout\": \"soon\"}}",
		     "ballast.json: notify.timeout: expected a duration like \"30s\", got \"soon\"");
	expect_error("{\"notify\": {\"timeout\": 10}}",
		     "ballast.json: notify.timeout: expected a duration like \"30s\", got 10");
}
END_TEST

START_TEST(test_find_and_load_file)
{
	struct errbuf e = ERRBUF_INIT;
	struct strbuf path = STRBUF_INIT;
	struct config *cfg = NULL;
	char *dir = ttmp_dir("config");
	char file[512];

	ck_assert_ptr_nonnull(dir);
	snprintf(file, sizeof(file), "%s/ballast.json", dir);
	setenv("BALLAST_CONFIG", "/from/env.json", 1);
	ck_assert_int_eq(config_find("/explicit.json", &path, &e), 0);
	ck_assert_str_eq(path.buf, "/explicit.json");
	ck_assert_int_eq(config_find(NULL, &path, &e), 0);
	ck_assert_str_eq(path.buf, "/from/env.json");
	unsetenv("BALLAST_CONFIG");
	ck_assert_int_eq(config_load("/nonexistent/ballast.json", &cfg, &e), BL_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/ballast.json"));
	twrite_file(file, "{\"project\": \"p\",\n \"volumes\": [{\"name\": \"v\", \"path\": \"rel\"}]}\n");
	ck_assert_msg(config_load(file, &cfg, &e) == 0, "%s", e.msg);
	config_path(cfg, config_str(cfg, "volumes[0].path", NULL), &path);
	ck_assert_str_eq(path.buf + strlen(dir), "/rel");
	config_free(cfg);
	twrite_file(file, "{\"project\": \"p\",\n \"volumes\": [{\"name\": \"v\", \"path\": 1}]\n");
	ck_assert_int_eq(config_load(file, &cfg, &e), BL_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "ballast.json:3:"));
	ttmp_rm(dir);
	free(dir);
	strbuf_release(&path);
}
END_TEST

/* Two databases (or volumes) with one name would write one object twice
 * and lose a backup: refused, naming both JSON paths. */
START_TEST(test_duplicate_names)
{
	expect_error("{\"databases\": [{\"name\": \"app\"}, {\"name\": \"b\"}, {\"name\": \"app\"}]}",
		     "databases[2].name: \"app\" is also databases[0].name");
	expect_error("{\"volumes\": [{\"name\": \"v\", \"path\": \"/a\"}, "
		     "{\"name\": \"v\", \"path\": \"/b\"}]}",
		     "volumes[1].name: \"v\" is also volumes[0].name");
}
END_TEST

START_TEST(test_numeric_ranges)
{
	struct errbuf e = ERRBUF_INIT;
	struct config *cfg = NULL;

	expect_error("{\"compression\": {\"level\": 99}}", "compression.level: expected 1..19, got 99");
	expect_error("{\"compression\": {\"level\": 0}}", "compression.level: expected 1..19, got 0");
	expect_error("{\"compression\": {\"threads\": -1}}", "compression.threads: expected 0..256");
	expect_error("{\"retention\": {\"keep_daily\": -3}}", "retention.keep_daily: expected 0..");
	expect_error("{\"repository\": {\"type\": \"sftp\", \"port\": 70000}}",
		     "repository.port: expected 1..65535, got 70000");
	expect_error("{\"databases\": [{\"name\": \"a\", \"restore_wait\": \"soon\"}]}",
		     "databases[0].restore_wait: expected a duration");
	/* checked again once ${VAR} is expanded */
	setenv("T_LEVEL", "42", 1);
	expect_error("{\"compression\": {\"level\": \"${T_LEVEL}\"}}",
		     "compression.level: expected 1..19, got 42");
	setenv("T_LEVEL", "7", 1);
	ck_assert_msg(load("{\"compression\": {\"level\": \"${T_LEVEL}\", \"threads\": 0}}", &cfg,
			   &e) == 0, "%s", e.msg);
	ck_assert_int_eq(config_int(cfg, "compression.level", 0), 7);
	config_free(cfg);
	unsetenv("T_LEVEL");
}
END_TEST

/* A *_env key naming an unset variable is reported with its path and the
 * variable; "environments" is ballast-deploy's (its env file may set it). */
START_TEST(test_unset_env_reported)
{
	struct errbuf e = ERRBUF_INIT;
	struct config *cfg = NULL;

	unsetenv("T_UNSET_PW");
	unsetenv("T_UNSET_SK");
	setenv("T_SET_AK", "ak", 1);
	ck_assert_int_eq(load("{\"databases\": [{\"name\": \"a\", \"password_env\": \"T_UNSET_PW\"}],"
			      " \"repository\": {\"type\": \"s3\", \"access_key_env\": \"T_SET_AK\","
			      " \"secret_key_env\": \"T_UNSET_SK\"},"
			      " \"environments\": {\"p\": {\"transport\": {\"type\": \"ssh\","
			      " \"passphrase_env\": \"T_UNSET_X\"}}}}", &cfg, &e), 0);
	ck_assert_int_eq(config_check_env(cfg, NULL, &e), BL_EUSAGE);
	ck_assert_msg(strstr(e.msg, "databases[0].password_env: variable T_UNSET_PW is not set") &&
		      strstr(e.msg, "and more"), "%s", e.msg);
	ck_assert_int_eq(config_check_env(cfg, "repository", &e), BL_EUSAGE);
	ck_assert_msg(strstr(e.msg, "repository.secret_key_env: variable T_UNSET_SK is not set") &&
		      !strstr(e.msg, "and more"), "%s", e.msg);
	setenv("T_UNSET_PW", "x", 1);
	setenv("T_UNSET_SK", "y", 1);
	errbuf_clear(&e);
	ck_assert_msg(config_check_env(cfg, NULL, &e) == 0, "%s", e.msg);
	unsetenv("T_UNSET_PW");
	unsetenv("T_UNSET_SK");
	unsetenv("T_SET_AK");
	config_free(cfg);
}
END_TEST

/* transport.options: refused entries name the entry and say why; the
 * check runs again on values that were ${...} at load. */
START_TEST(test_openssh_options)
{
	struct errbuf e = ERRBUF_INIT;
	struct config *cfg = NULL;

	ck_assert_ptr_null(config_ssh_option_refused("ServerAliveInterval=5"));
	ck_assert_ptr_null(config_ssh_option_refused("ProxyJump bastion"));
	ck_assert_ptr_null(config_ssh_option_refused("IdentitiesOnly=yes"));
	ck_assert_ptr_nonnull(strstr(config_ssh_option_refused("proxycommand=nc %h %p"), "runs"));
	ck_assert_ptr_nonnull(strstr(config_ssh_option_refused("LocalCommand=x"), "runs"));
	ck_assert_ptr_nonnull(strstr(config_ssh_option_refused("Match=exec true"), "runs"));
	ck_assert_ptr_nonnull(strstr(config_ssh_option_refused("ControlPath=/tmp/x"), "ballast sets it"));
	ck_assert_ptr_nonnull(strstr(config_ssh_option_refused("StrictHostKeyChecking=no"), "host_key_policy"));
	ck_assert_ptr_nonnull(strstr(config_ssh_option_refused("User=x\nProxyCommand=y"), "control"));
	ck_assert_ptr_nonnull(strstr(config_ssh_option_refused("=x"), "Key=Value"));
	ck_assert_ptr_nonnull(strstr(config_ssh_option_refused("Port="), "Key=Value"));
	ck_assert_ptr_nonnull(strstr(config_ssh_option_refused("-oProxyCommand=x"), "Key=Value"));
	expect_error("{\"environments\": {\"p\": {\"transport\": {\"type\": \"openssh\", \"host\": \"h\","
		     " \"options\": [\"Compression=yes\", \"KnownHostsCommand=/bin/x\"]}}}}",
		     "ballast.json: environments.p.transport.options[1]: refused: it runs");
	expect_error("{\"environments\": {\"p\": {\"transport\": {\"type\": \"openssh\", \"host\": \"h\","
		     " \"options\": \"Compression=yes\"}}}}",
		     "environments.p.transport.options");
	expect_error("{\"environments\": {\"p\": {\"transport\": {\"type\": \"rsh\", \"host\": \"h\"}}}}",
		     "expected one of \"local\", \"ssh\", \"openssh\"");
	ck_assert_msg(load("{\"environments\": {\"p\": {\"transport\": {\"type\": \"openssh\", \"host\": \"h\","
			   " \"config_file\": \"ssh_config\", \"identity\": \"id\", \"options\": [\"ProxyJump=b\"]}}}}",
			   &cfg, &e) == 0, "%s", e.msg);
	config_free(cfg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");

	tcase_add_test(tc, test_full_example_loads);
	tcase_add_test(tc, test_parse_error_has_line_and_column);
	tcase_add_test(tc, test_unknown_key_did_you_mean);
	tcase_add_test(tc, test_wrong_types_name_path);
	tcase_add_test(tc, test_interpolation);
	tcase_add_test(tc, test_expand_env_uses_env_file_vars);
	tcase_add_test(tc, test_secrets_registered);
	tcase_add_test(tc, test_durations);
	tcase_add_test(tc, test_duration_opt);
	tcase_add_test(tc, test_duration_load_message);
	tcase_add_test(tc, test_find_and_load_file);
	tcase_add_test(tc, test_duplicate_names);
	tcase_add_test(tc, test_numeric_ranges);
	tcase_add_test(tc, test_unset_env_reported);
	tcase_add_test(tc, test_openssh_options);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
