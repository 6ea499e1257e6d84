/* up: apply pending migrations, each with its history row in one transaction. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>

#include "commands.h"
#include "log.h"
#include "migrator.h"

int cmd_up(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	static const struct option opts[] = {
		MIGRATOR_CLI_LONGOPTS,
		{ "to", required_argument, NULL, 't' },
		MIGRATOR_RELEASE_LONGOPT,
		{ "dry-run", no_argument, NULL, 'n' },
		{ "allow-drift", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	struct migrator_cli cli = { NULL, NULL, NULL };
	struct migrator_session s = MIGRATOR_SESSION_INIT;
	struct migrator_plan plan = { 0 };
	uint64_t to = 0;
	int c, dry_run = 0, allow_drift = 0, has_to = 0, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (migrator_cli_opt(&cli, c, optarg))
			continue;
		switch (c) {
		case 'n': dry_run = 1; break;
		case 'a': allow_drift = 1; break;
		case 't':
			if (migration_parse_version(optarg, "up --to", &to, e))
				return cli_usage_error(ctx, e, "%s", e->msg);
			has_to = 1;
			break;
		default: return cli_usage_error(ctx, e, "up: unknown option or missing value: %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error(ctx, e, "up: unexpected argument %s", argv[optind]);
	rc = migrator_session_open(ctx, &cli, dry_run ? MIGRATOR_READ : MIGRATOR_WRITE, &s, e);
	if (!rc)
		rc = migrator_refuse_dirty(&s.st, e);
	if (!rc)
		rc = migrator_refuse_drift(&s, allow_drift, e);
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
	rc = migrator_plan_to(&s.files, &s.st, to, &plan, e);
	if (!rc)
		rc = migrator_session_execute(&s, &plan, dry_run, ctx->json, e);
out:
	migrator_plan_release(&plan);
	migrator_session_close(&s);
	return rc;
}
