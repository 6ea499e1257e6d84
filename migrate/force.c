/* force: clear the dirty state after a no-transaction migration failed. */
#include <inttypes.h>
#include <stdio.h>

#include "commands.h"
#include "log.h"
#include "session.h"

int cmd_force(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct session_cli cli = { NULL, NULL, NULL, 0 };
	struct session s = SESSION_INIT;
	json_t *res = NULL;
	uint64_t v = 0, from_dirty;
	struct parseopt_rest rest;
	int dry_run = 0, rc;
	const struct option_spec opts[] = {
		SESSION_OPTS(&cli),
		OPT_FLAG(0, "dry-run", &dry_run, "say what would change; change nothing"),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	if (rest.argc != 1)
		return cli_usage_error(ctx, e, "force: expected one VERSION");
	if (migration_parse_version(rest.argv[0], "force", &v, e))
		return cli_usage_error(ctx, e, "%s", e->msg);
	rc = session_open(ctx, &cli, dry_run ? SESSION_READ : SESSION_WRITE, &s, e);
	if (rc)
		goto out;
	if (!s.st.dirty) {
		rc = errbuf_set(e, BL_EUSAGE, "force %" PRIu64 ": the database is not dirty (version %" PRIu64 "); nothing to do",
				v, s.st.current);
		goto out;
	}
	from_dirty = s.st.dirty_version;
	if (!dry_run) {
		rc = migrator_force(s.m, v, e);
		if (!rc)
			rc = session_reload(&s, e);
		if (rc)
			goto out;
	}
	res = json_pack("{s:s, s:I, s:I, s:s, s:I, s:b, s:b}", "event", "result", "dirty_version",
			(json_int_t)from_dirty, "forced", (json_int_t)v, "outcome",
			v >= from_dirty ? "kept as applied" : "removed as not applied",
			"current_version", (json_int_t)s.st.current, "dirty", s.st.dirty,
			"dry_run", dry_run);
	if (ctx->json)
		log_json_result(res);
	else
		printf("%sdirty migration %" PRIu64 " %s; version %" PRIu64 "\n",
		       dry_run ? "dry run: " : "", from_dirty,
		       v >= from_dirty ? "kept as applied" : "removed as not applied",
		       s.st.current);
out:
	json_decref(res);
	session_close(&s);
	return rc;
}
