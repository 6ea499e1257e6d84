/* deploy_refs: the CI mapping from git refs to environment and image tag,
 * built-in and configured. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "deploy_refs.h"
#include "tsupport.h"

static void expect(const struct config *cfg, const char *ref, const char *env, const char *tag)
{
	struct errbuf e = ERRBUF_INIT;
	char *got_env = NULL, *got_tag = NULL;
	int rc = deploy_ref_match(cfg, ref, &got_env, &got_tag, &e);

	ck_assert_msg(rc == 0, "%s: %s", ref, e.msg);
	ck_assert_str_eq(got_env, env);
	ck_assert_str_eq(got_tag, tag);
	free(got_env);
	free(got_tag);
}

static void expect_none(const struct config *cfg, const char *ref, int code)
{
	struct errbuf e = ERRBUF_INIT;
	char *got_env = NULL, *got_tag = NULL;

	ck_assert_int_eq(deploy_ref_match(cfg, ref, &got_env, &got_tag, &e), code);
	ck_assert_ptr_null(got_env);
	ck_assert_ptr_null(got_tag);
	ck_assert_msg(strstr(e.msg, "ref ") != NULL, "message names the ref: %s", e.msg);
}

START_TEST(test_builtin)
{
	expect(NULL, "develop", "dev", "dev");
	expect(NULL, "refs/heads/develop", "dev", "dev");
	expect(NULL, "qa", "qa", "qa");
	expect(NULL, "release/1.4", "qa", "qa");
	expect(NULL, "main", "prod", "latest");
	expect(NULL, "refs/tags/v1.2.3", "prod", "v1.2.3");
	expect(NULL, "v10.0.22", "prod", "v10.0.22");
	expect_none(NULL, "feature/x", BL_EFAIL);
	expect_none(NULL, "release/1/2", BL_EFAIL);
	expect_none(NULL, "v1.2", BL_EFAIL);
	expect_none(NULL, "v1.2.3.4", BL_EFAIL);
	expect_none(NULL, "vx.y.z", BL_EFAIL);
	expect_none(NULL, "refs/heads/master", BL_EFAIL);
	/* release candidates: qa, as themselves */
	expect(NULL, "refs/tags/v1.2.3-rc1", "qa", "v1.2.3-rc1");
	expect(NULL, "v1.2.3-beta.2", "qa", "v1.2.3-beta.2");
	expect_none(NULL, "v1.2.3-", BL_EFAIL);
	expect_none(NULL, "v1.2-rc1", BL_EFAIL);
	expect_none(NULL, "v1.2.3-rc/1", BL_EFAIL);
}
END_TEST

START_TEST(test_configured)
{
	const char *json =
		"{\"environments\": {"
		" \"staging\": {\"app_dir\": \"/srv/s\", \"refs\": [\"develop\", \"hotfix/*\"], \"tag\": \"edge\"},"
		" \"preview\": {\"app_dir\": \"/srv/p\", \"refs\": [\"feature/*\"]},"
		" \"live\": {\"app_dir\": \"/srv/l\", \"refs\": [\"main:stable\", \"v*.*.*\"]},"
		" \"prodlike\": {\"app_dir\": \"/srv/p\", \"refs\": [\"main\", \"stable/*\"]},"
		" \"bad\": {\"app_dir\": \"/srv/b\", \"refs\": [\"weird:no/slash\"]}"
		"}}";
	struct config *cfg = NULL;
	struct errbuf e = ERRBUF_INIT;

	ck_assert_msg(config_load_string(json, "test.json", &cfg, &e) == 0, "%s", e.msg);
	expect(cfg, "develop", "staging", "edge");
	expect(cfg, "hotfix/urgent", "staging", "edge");
	expect(cfg, "feature/login", "preview", "feature-login");
	expect(cfg, "main", "live", "stable");
	expect(cfg, "v2.0.1", "live", "v2.0.1");
	/* no TAG and no "tag": the built-in tag for the ref, else the ref */
	expect(cfg, "stable/2", "prodlike", "stable-2");
	/* configured refs replace the built-in mapping entirely */
	expect_none(cfg, "qa", BL_EFAIL);
	expect_none(cfg, "weird", BL_EUSAGE);
	config_free(cfg);
}
END_TEST

/* The worked example's refs give the mapping. */
START_TEST(test_example_config)
{
	struct config *cfg = NULL;
	struct errbuf e = ERRBUF_INIT;

	ck_assert_msg(config_load(BALLAST_SOURCE_DIR "/examples/audit_app/ballast.json", &cfg, &e) == 0,
		      "%s", e.msg);
	expect(cfg, "develop", "dev", "dev");
	expect(cfg, "qa", "qa", "qa");
	expect(cfg, "refs/heads/release/2.1", "qa", "qa");
	/* prod is immutable and takes release tags only */
	expect_none(cfg, "refs/heads/main", BL_EFAIL);
	expect(cfg, "refs/tags/v1.2.3", "prod", "v1.2.3");
	expect(cfg, "refs/tags/v1.2.3-rc1", "qa", "v1.2.3-rc1");
	expect_none(cfg, "feature/x", BL_EFAIL);
	config_free(cfg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("deploy_refs");
	TCase *tc = tcase_create("refs");

	tcase_add_test(tc, test_builtin);
	tcase_add_test(tc, test_configured);
	tcase_add_test(tc, test_example_config);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
