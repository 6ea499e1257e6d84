/* down: revert with the down SQL stored when each migration was applied. */
#include <inttypes.h>
#include <stdlib.h>

#include "commands.h"
#include "session.h"

int cmd_down(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct session_cli cli = { NULL, NULL, NULL, 0 };
	struct session s = SESSION_INIT;
	struct migrator_plan plan = { 0 };
	uint64_t to = 0, steps = 1;
	struct parseopt_rest rest;
	const char *to_arg = NULL, *steps_arg = NULL;
	int dry_run = 0, has_to = 0, has_steps = 0, used = 0, rc;
	const struct option_spec opts[] = {
		SESSION_OPTS(&cli),
		OPT_STRING(0, "to", &to_arg, "V", "revert down to this version"),
		OPT_STRING(0, "steps", &steps_arg, "N", "revert N migrations (default 1)"),
		SESSION_STRICT_OPT(&cli),
		OPT_FLAG(0, "dry-run", &dry_run, "print the plan; change nothing"),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	/* versions and step counts are uint64_t, more than OPT_INT holds:
	 * checked here, in migration_parse_version's words */
	if (to_arg) {
		if (migration_parse_version(to_arg, "down --to", &to, e))
			return cli_usage_error(ctx, e, "%s", e->msg);
		has_to = 1;
	}
	if (steps_arg) {
		if (session_parse_steps(steps_arg, "down --steps", &steps, e))
			return cli_usage_error(ctx, e, "%s", e->msg);
		has_steps = 1;
	}
	/* golang-migrate's `down N`: N steps, not a version. */
	if (rest.argc == 1 && !has_steps) {
		if (session_parse_steps(rest.argv[0], "down N", &steps, e))
			return cli_usage_error(ctx, e, "down: unexpected argument %s (a number of "
						       "steps, or --to VERSION for a version)",
					       rest.argv[0]);
		has_steps = 1;
		used++;
	}
	if (used < rest.argc)
		return cli_usage_error(ctx, e, "down: unexpected argument %s", rest.argv[used]);
	if (has_to && has_steps)
		return cli_usage_error(ctx, e, "down: give --to V or --steps N, not both");
	rc = session_open(ctx, &cli, dry_run ? SESSION_READ : SESSION_WRITE, &s, e);
	if (!rc)
		rc = migrator_refuse_dirty(&s.st, e);
	if (rc)
		goto out;
	if (has_to && to > s.st.current) {
		rc = errbuf_set(e, BL_EUSAGE,
				"down --to %" PRIu64 ": the database is at %" PRIu64
				"; use 'up --to' or 'goto' to go forward",
				to, s.st.current);
		goto out;
	}
	if (!has_to)
		to = steps >= s.st.n ? 0 : s.st.rows[s.st.n - 1 - steps].version;
	rc = migrator_plan_to(&s.files, &s.st, to, 0, &plan, e);
	if (!rc)
		rc = migrator_refuse_irreversible(&plan, e);
	if (!rc)
		rc = session_execute(&s, &plan, dry_run, ctx->json, e);
out:
	migrator_plan_release(&plan);
	session_close(&s);
	return rc;
}
