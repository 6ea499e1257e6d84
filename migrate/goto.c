/* goto: reach a version, applying files or reverting with stored down SQL. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>

#include "commands.h"
#include "session.h"

int cmd_goto(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	static const struct option opts[] = {
		SESSION_CLI_LONGOPTS,
		SESSION_RELEASE_LONGOPT,
		{ "dry-run", no_argument, NULL, 'n' },
		{ "allow-drift", no_argument, NULL, 'a' },
		{ "allow-out-of-order", no_argument, NULL, 'o' },
		SESSION_STRICT_LONGOPT,
		{ NULL, 0, NULL, 0 }
	};
	struct session_cli cli = { NULL, NULL, NULL, 0 };
	struct session s = SESSION_INIT;
	struct migrator_plan plan = { 0 };
	uint64_t to = 0;
	unsigned flags = 0;
	int c, dry_run = 0, allow_drift = 0, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (session_cli_opt(&cli, c, optarg))
			continue;
		switch (c) {
		case 'n': dry_run = 1; break;
		case 'a': allow_drift = 1; break;
		case 'o': flags |= MIGRATOR_OUT_OF_ORDER; break;
		default: return cli_usage_error(ctx, e, "goto: unknown option or missing value: %s", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(ctx, e, "goto: expected one VERSION");
	if (migration_parse_version(argv[optind], "goto", &to, e))
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
