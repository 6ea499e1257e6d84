/* down: revert with the down SQL stored when each migration was applied. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>

#include "commands.h"
#include "session.h"

int cmd_down(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	static const struct option opts[] = {
		SESSION_CLI_LONGOPTS,
		{ "to", required_argument, NULL, 't' },
		{ "steps", required_argument, NULL, 's' },
		SESSION_STRICT_LONGOPT,
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	struct session_cli cli = { NULL, NULL, NULL, 0 };
	struct session s = SESSION_INIT;
	struct migrator_plan plan = { 0 };
	uint64_t to = 0, steps = 1;
	int c, dry_run = 0, has_to = 0, has_steps = 0, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (session_cli_opt(&cli, c, optarg))
			continue;
		switch (c) {
		case 'n': dry_run = 1; break;
		case 't':
			if (migration_parse_version(optarg, "down --to", &to, e))
				return cli_usage_error(ctx, e, "%s", e->msg);
			has_to = 1;
			break;
		case 's':
			if (session_parse_steps(optarg, "down --steps", &steps, e))
				return cli_usage_error(ctx, e, "%s", e->msg);
			has_steps = 1;
			break;
		default: return cli_usage_error(ctx, e, "down: unknown option or missing value: %s", argv[optind - 1]);
		}
	}
	/* golang-migrate's `down N`: N steps, not a version. */
	if (optind + 1 == argc && !has_steps) {
		if (session_parse_steps(argv[optind], "down N", &steps, e))
			return cli_usage_error(ctx, e, "down: unexpected argument %s (a number of "
						       "steps, or --to VERSION for a version)",
					       argv[optind]);
		has_steps = 1;
		optind++;
	}
	if (optind < argc)
		return cli_usage_error(ctx, e, "down: unexpected argument %s", argv[optind]);
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
