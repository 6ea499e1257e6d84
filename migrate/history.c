/* history: applied migrations in the order they were applied. */
#include <inttypes.h>
#include <stdio.h>

#include "commands.h"
#include "log.h"
#include "session.h"

int cmd_history(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct session_cli cli = { NULL, NULL, NULL, 0 };
	struct session s = SESSION_INIT;
	struct migrator_state h = { 0 };
	struct parseopt_rest rest;
	json_t *res = NULL, *arr;
	int rc;
	const struct option_spec opts[] = {
		SESSION_OPTS(&cli),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, PARSEOPT_NO_ARGS, &rest, e);
	if (rc)
		return rc;
	rc = session_open(ctx, &cli, SESSION_READ, &s, e);
	if (!rc)
		rc = migrator_load_history(s.m, &h, e);
	if (rc)
		goto out;
	arr = json_array();
	for (size_t i = 0; i < h.n; i++) {
		const struct migrator_row *r = &h.rows[i];

		json_array_append_new(arr,
			json_pack("{s:I, s:s, s:s?, s:I, s:s?, s:s?, s:b, s:b, s:s?}", "version",
				  (json_int_t)r->version, "name", r->name, "applied_at", r->applied_at,
				  "duration_ms", (json_int_t)r->duration_ms, "applied_by",
				  r->applied_by, "release", r->release, "reversible",
				  r->down_sql != NULL, "dirty", r->dirty, "note", r->note));
		if (!ctx->json)
			printf("%-24s %-20" PRIu64 " %-32s %-12s %6lld ms  %s%s%s%s\n",
			       r->applied_at ? r->applied_at : "", r->version, r->name,
			       r->release ? r->release : "-", r->duration_ms,
			       r->applied_by ? r->applied_by : "", r->dirty ? "  DIRTY" : "",
			       r->note ? "  " : "", r->note ? r->note : "");
	}
	if (!ctx->json && !h.n)
		printf("no migrations applied\n");
	res = json_pack("{s:s, s:I, s:b, s:o}", "event", "result", "current_version",
			(json_int_t)s.st.current, "dirty", s.st.dirty, "history", arr);
	if (ctx->json)
		log_json_result(res);
out:
	json_decref(res);
	migrator_state_release(&h);
	session_close(&s);
	return rc;
}
