/* verify: applied migrations against their files (checksum drift). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "log.h"
#include "migrator.h"

int cmd_verify(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	static const struct option opts[] = {
		MIGRATOR_CLI_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct migrator_cli cli = { NULL, NULL, NULL };
	struct migrator_session s = MIGRATOR_SESSION_INIT;
	uint64_t *drift = NULL;
	size_t ndrift = 0, checked = 0;
	json_t *res = NULL, *arr;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (migrator_cli_opt(&cli, c, optarg))
			continue;
		switch (c) {
		default: return cli_usage_error(ctx, e, "verify: unknown option or missing value: %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error(ctx, e, "verify: unexpected argument %s", argv[optind]);
	rc = migrator_session_open(ctx, &cli, MIGRATOR_READ, &s, e);
	if (!rc)
		rc = migrator_refuse_dirty(&s.st, e);
	if (!rc)
		rc = migrator_drift(&s.files, &s.st, &drift, &ndrift, e);
	if (rc)
		goto out;
	for (size_t i = 0; i < s.st.n; i++)
		if (migration_find(&s.files, s.st.rows[i].version))
			checked++;
	arr = json_array();
	for (size_t i = 0; i < ndrift; i++) {
		const struct migrator_row *r = migrator_state_find(&s.st, drift[i]);

		json_array_append_new(arr, json_integer((json_int_t)drift[i]));
		if (!ctx->json)
			printf("drift: %" PRIu64 "_%s: the up file changed since it was applied\n",
			       drift[i], r ? r->name : "?");
	}
	res = json_pack("{s:s, s:b, s:I, s:o}", "event", "result", "ok", ndrift == 0, "checked",
			(json_int_t)checked, "drift", arr);
	if (ctx->json)
		log_json_result(res);
	else if (!ndrift)
		printf("ok: %zu applied migration%s match their files\n", checked,
		       checked == 1 ? "" : "s");
	if (ndrift)
		rc = errbuf_set(e, BL_EVERIFY,
				"%zu applied migration%s changed on disk since applied (first: %" PRIu64 ")",
				ndrift, ndrift == 1 ? "" : "s", drift[0]);
out:
	json_decref(res);
	free(drift);
	migrator_session_close(&s);
	return rc;
}
