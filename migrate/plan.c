/* plan: what reaching a version would run, in order, changing nothing. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "log.h"
#include "session.h"

int cmd_plan(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct session_cli cli = { NULL, NULL, NULL, 0 };
	struct session s = SESSION_INIT;
	struct migrator_plan plan = { 0 };
	json_t *res = NULL, *steps = NULL, *irr;
	uint64_t to = 0;
	unsigned flags = 0;
	struct parseopt_rest rest;
	const char *to_arg = NULL;
	int has_to = 0, ooo = 0, rc;
	const struct option_spec opts[] = {
		SESSION_OPTS(&cli),
		OPT_STRING(0, "to", &to_arg, "V", "the version to reach (default the newest file)"),
		OPT_FLAG(0, "allow-out-of-order", &ooo,
			 "include files older than the current version"),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, PARSEOPT_NO_ARGS, &rest, e);
	if (rc)
		return rc;
	/* a version is a uint64_t, more than OPT_INT holds: checked here, in
	 * migration_parse_version's words */
	if (to_arg) {
		if (migration_parse_version(to_arg, "plan --to", &to, e))
			return cli_usage_error(ctx, e, "%s", e->msg);
		has_to = 1;
	}
	if (ooo)
		flags |= MIGRATOR_OUT_OF_ORDER;
	rc = session_open(ctx, &cli, SESSION_READ, &s, e);
	if (!rc)
		rc = migrator_refuse_dirty(&s.st, e);
	if (rc)
		goto out;
	if (!has_to)
		to = s.files.n && s.files.items[s.files.n - 1].version > s.st.current ?
			     s.files.items[s.files.n - 1].version : s.st.current;
	rc = session_refuse_ooo_target(&s, "plan --to", to, e);
	if (!rc)
		rc = migrator_plan_to(&s.files, &s.st, to, flags, &plan, e);
	if (!rc)
		rc = migrator_plan_steps_json(&plan, &steps, e);
	if (rc)
		goto out;
	irr = json_array();
	for (size_t i = 0; i < plan.n_irreversible; i++)
		json_array_append_new(irr, json_integer((json_int_t)plan.irreversible[i]));
	res = json_pack("{s:s, s:I, s:I, s:s, s:O, s:o}", "event", "result", "from",
			(json_int_t)plan.from, "to", (json_int_t)to, "direction",
			plan.direction > 0 ? "up" : plan.direction < 0 ? "down" : "none", "steps",
			steps, "irreversible", irr);
	if (ctx->json) {
		log_json_result(res);
	} else {
		size_t i;
		json_t *st;

		printf("plan: %s from %" PRIu64 " to %" PRIu64 ", %zu step%s\n",
		       plan.direction > 0 ? "up" : plan.direction < 0 ? "down" : "nothing to do",
		       plan.from, to, plan.n, plan.n == 1 ? "" : "s");
		json_array_foreach(steps, i, st)
			printf("  %-4s %-20" JSON_INTEGER_FORMAT " %-32s %s%s\n",
			       json_string_value(json_object_get(st, "direction")),
			       json_integer_value(json_object_get(st, "version")),
			       json_string_value(json_object_get(st, "name")),
			       json_is_true(json_object_get(st, "reversible")) ? "" : "[irreversible] ",
			       json_string_value(json_object_get(st, "first_line")));
		if (plan.n_irreversible)
			printf("refused: the downgrade crosses %zu irreversible migration%s\n",
			       plan.n_irreversible, plan.n_irreversible == 1 ? "" : "s");
	}
	if (to > s.st.current && !migration_find(&s.files, to))
		log_warn("plan --to %" PRIu64 ": no migration file has that version", to);
out:
	json_decref(res);
	json_decref(steps);
	migrator_plan_release(&plan);
	session_close(&s);
	return rc;
}
