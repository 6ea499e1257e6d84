/* up: apply pending migrations, each with its history row in one transaction. */
#include <inttypes.h>
#include <stdlib.h>

#include "commands.h"
#include "log.h"
#include "session.h"

int cmd_up(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct session_cli cli = { NULL, NULL, NULL, 0 };
	struct session s = SESSION_INIT;
	struct migrator_plan plan = { 0 };
	uint64_t to = 0, steps = 0;
	unsigned flags = 0;
	struct parseopt_rest rest;
	const char *to_arg = NULL, *steps_arg = NULL;
	int dry_run = 0, allow_drift = 0, has_to = 0, ooo = 0, used = 0, rc;
	const struct option_spec opts[] = {
		SESSION_OPTS(&cli),
		OPT_STRING(0, "to", &to_arg, "V", "apply up to this version (default the newest file)"),
		OPT_STRING(0, "steps", &steps_arg, "N",
			   "apply at most N pending migrations (default all)"),
		SESSION_RELEASE_OPT(&cli),
		SESSION_STRICT_OPT(&cli),
		OPT_FLAG(0, "dry-run", &dry_run, "print the plan; change nothing"),
		OPT_FLAG(0, "allow-drift", &allow_drift,
			 "apply even when an applied migration's file changed (else exit 4)"),
		OPT_FLAG(0, "allow-out-of-order", &ooo,
			 "apply files older than the current version (else exit 2)"),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	/* versions and step counts are uint64_t, more than OPT_INT holds:
	 * checked here, in migration_parse_version's words */
	if (to_arg) {
		if (migration_parse_version(to_arg, "up --to", &to, e))
			return cli_usage_error(ctx, e, "%s", e->msg);
		has_to = 1;
	}
	if (steps_arg && session_parse_steps(steps_arg, "up --steps", &steps, e))
		return cli_usage_error(ctx, e, "%s", e->msg);
	if (ooo)
		flags |= MIGRATOR_OUT_OF_ORDER;
	/* golang-migrate's `up N`: N steps, not a version. */
	if (rest.argc == 1 && !steps) {
		if (session_parse_steps(rest.argv[0], "up N", &steps, e))
			return cli_usage_error(ctx, e, "up: unexpected argument %s (a number of steps, "
						       "or --to VERSION for a version)", rest.argv[0]);
		used++;
	}
	if (used < rest.argc)
		return cli_usage_error(ctx, e, "up: unexpected argument %s", rest.argv[used]);
	if (has_to && steps)
		return cli_usage_error(ctx, e, "up: give --to V or N steps, not both");
	rc = session_open(ctx, &cli, dry_run ? SESSION_READ : SESSION_WRITE, &s, e);
	if (!rc)
		rc = migrator_refuse_dirty(&s.st, e);
	if (!rc)
		rc = session_refuse_drift(&s, allow_drift, e);
	if (rc)
		goto out;
	if (has_to && to < s.st.current) {
		rc = errbuf_set(e, BL_EUSAGE,
				"up --to %" PRIu64 ": the database is already at %" PRIu64
				"; use 'down --to' or 'goto' to go back",
				to, s.st.current);
		goto out;
	}
	if (!has_to)
		to = s.files.n ? s.files.items[s.files.n - 1].version : s.st.current;
	if (to < s.st.current)
		to = s.st.current;
	rc = migrator_plan_to(&s.files, &s.st, to, flags, &plan, e);
	if (rc)
		goto out;
	if (steps && steps < plan.n) {
		plan.n = (size_t)steps;
		plan.to = plan.from;
		for (size_t i = 0; i < plan.n; i++)
			if (plan.steps[i].version > plan.to)
				plan.to = plan.steps[i].version;
	}
	rc = session_execute(&s, &plan, dry_run, ctx->json, e);
out:
	migrator_plan_release(&plan);
	session_close(&s);
	return rc;
}
