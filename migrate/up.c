/* up: apply pending migrations, each with its history row in one transaction. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>

#include "commands.h"
#include "log.h"
#include "session.h"

int cmd_up(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	static const struct option opts[] = {
		SESSION_CLI_LONGOPTS,
		{ "to", required_argument, NULL, 't' },
		{ "steps", required_argument, NULL, 's' },
		SESSION_RELEASE_LONGOPT,
		SESSION_STRICT_LONGOPT,
		{ "dry-run", no_argument, NULL, 'n' },
		{ "allow-drift", no_argument, NULL, 'a' },
		{ "allow-out-of-order", no_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	struct session_cli cli = { NULL, NULL, NULL, 0 };
	struct session s = SESSION_INIT;
	struct migrator_plan plan = { 0 };
	uint64_t to = 0, steps = 0;
	unsigned flags = 0;
	int c, dry_run = 0, allow_drift = 0, has_to = 0, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (session_cli_opt(&cli, c, optarg))
			continue;
		switch (c) {
		case 'n': dry_run = 1; break;
		case 'a': allow_drift = 1; break;
		case 'o': flags |= MIGRATOR_OUT_OF_ORDER; break;
		case 't':
			if (migration_parse_version(optarg, "up --to", &to, e))
				return cli_usage_error(ctx, e, "%s", e->msg);
			has_to = 1;
			break;
		case 's':
			if (session_parse_steps(optarg, "up --steps", &steps, e))
				return cli_usage_error(ctx, e, "%s", e->msg);
			break;
		default: return cli_usage_error(ctx, e, "up: unknown option or missing value: %s", argv[optind - 1]);
		}
	}
	/* golang-migrate's `up N`: N steps, not a version. */
	if (optind + 1 == argc && !steps) {
		if (session_parse_steps(argv[optind], "up N", &steps, e))
			return cli_usage_error(ctx, e, "up: unexpected argument %s (a number of steps, "
						       "or --to VERSION for a version)", argv[optind]);
		optind++;
	}
	if (optind < argc)
		return cli_usage_error(ctx, e, "up: unexpected argument %s", argv[optind]);
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
