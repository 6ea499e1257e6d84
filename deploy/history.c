#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

#define MAX_W(a, b) ((a) > (b) ? (a) : (b))
#include "deploy_env.h"
#include "deploy_state.h"
#include "log.h"

int cmd_history(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct deploy_env *env = NULL;
	struct parseopt_rest rest;
	json_t *hist = NULL, *h;
	size_t i, first;
	int limit = 20, rc;
	/* written out: OPT_INT has no room for "a count", the words -n's
	 * message always had */
	const struct option_spec opts[] = {
		{ .kind = PARSEOPT_INT, .short_name = 'n', .long_name = "limit", .value = &limit,
		  .argh = "COUNT", .expect = "a count", .min = 0, .max = INT_MAX,
		  .help = "show the last COUNT entries (default 20; 0 for all)" },
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	if (rest.argc != 1)
		return cli_usage_error(ctx, e, "expected one environment");
	if ((rc = cli_config(ctx, e)))
		return rc;
	if ((rc = deploy_env_open(ctx->cfg, rest.argv[0], 1, &env, e)))
		return rc;
	if ((rc = deploy_history_read(env, &hist, e)))
		goto out;
	first = limit && json_array_size(hist) > (size_t)limit ? json_array_size(hist) - (size_t)limit : 0;
	if (log_json()) {
		json_t *sel = json_array(), *res;

		for (i = first; i < json_array_size(hist); i++)
			json_array_append(sel, json_array_get(hist, i));
		res = json_pack("{s:s, s:s, s:o}", "event", "result", "env", env->name, "history", sel);
		log_json_result(res);
		json_decref(res);
	} else {
		int wf = 1, wt = 1, wa = 1, wr = 1;

		if (!json_array_size(hist))
			printf("%s: no deploys recorded yet\n", env->name);
		/* columns as wide as the longest value shown, so long release
		 * names keep the table aligned */
		for (i = first; i < json_array_size(hist); i++) {
			const char *v;

			h = json_array_get(hist, i);
			v = json_string_value(json_object_get(h, "from"));
			wf = MAX_W(wf, v ? (int)strlen(v) : 1);
			v = json_string_value(json_object_get(h, "to"));
			wt = MAX_W(wt, v ? (int)strlen(v) : 1);
			v = json_string_value(json_object_get(h, "action"));
			wa = MAX_W(wa, v ? (int)strlen(v) : 1);
			v = json_string_value(json_object_get(h, "result"));
			wr = MAX_W(wr, v ? (int)strlen(v) : 1);
		}
		for (i = first; i < json_array_size(hist); i++) {
			const char *from, *to, *bk;

			h = json_array_get(hist, i);
			from = json_string_value(json_object_get(h, "from"));
			to = json_string_value(json_object_get(h, "to"));
			bk = json_string_value(json_object_get(h, "backup_id"));
			printf("%-20s  %-*s  %-*s -> %-*s  %-*s  %6.1fs  %s%s%s\n",
			       json_string_value(json_object_get(h, "finished_at")), wa,
			       json_string_value(json_object_get(h, "action")), wf, from ? from : "-",
			       wt, to ? to : "-", wr, json_string_value(json_object_get(h, "result")),
			       json_integer_value(json_object_get(h, "ms")) / 1000.0,
			       json_string_value(json_object_get(h, "by")), bk ? "  backup " : "",
			       bk ? bk : "");
		}
	}
	fflush(stdout);
out:
	json_decref(hist);
	deploy_env_close(env);
	return rc;
}
