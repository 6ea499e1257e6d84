/* goto: reach a version, applying files or reverting with stored down SQL. */
#include <inttypes.h>
#include <stdlib.h>

#include "commands.h"
#include "session.h"

int cmd_goto(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct session_cli cli = { NULL, NULL, NULL, 0 };
	struct session s = SESSION_INIT;
	struct migrator_plan plan = { 0 };
	uint64_t to = 0;
	unsigned flags = 0;
	struct parseopt_rest rest;
	int dry_run = 0, allow_drift = 0, ooo = 0, rc;
	const struct option_spec opts[] = {
		SESSION_OPTS(&cli),
		SESSION_RELEASE_OPT(&cli),
		OPT_FLAG(0, "dry-run", &dry_run, "print the plan; change nothing"),
		OPT_FLAG(0, "allow-drift", &allow_drift,
			 "go on when an applied migration's file changed (else exit 4)"),
		OPT_FLAG(0, "allow-out-of-order", &ooo,
			 "apply files older than the current version (else exit 2)"),
		SESSION_STRICT_OPT(&cli),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	if (ooo)
		flags |= MIGRATOR_OUT_OF_ORDER;
	if (rest.argc != 1)
		return cli_usage_error(ctx, e, "goto: expected one VERSION");
	if (migration_parse_version(rest.argv[0], "goto", &to, e))
		return cli_usage_error(ctx, e, "%s", e->msg);
	rc = session_open(ctx, &cli, dry_run ? SESSION_READ : SESSION_WRITE, &s, e);
	if (!rc)
		rc = migrator_refuse_dirty(&s.st, e);
	if (!rc && to >= s.st.current)
		rc = session_refuse_drift(&s, allow_drift, e);
	if (!rc)
		rc = session_refuse_ooo_target(&s, "goto", to, e);
	if (rc)
		goto out;
	rc = migrator_plan_to(&s.files, &s.st, to, flags, &plan, e);
	if (!rc)
		rc = migrator_refuse_irreversible(&plan, e);
	if (!rc && to > s.st.current && !migration_find(&s.files, to))
		rc = errbuf_set(e, BL_EUSAGE,
				"goto %" PRIu64 ": no migration file %" PRIu64 "_*.up.sql in %s; "
				"nothing was changed",
				to, to, s.dir.buf);
	if (!rc)
		rc = session_execute(&s, &plan, dry_run, ctx->json, e);
out:
	migrator_plan_release(&plan);
	session_close(&s);
	return rc;
}
