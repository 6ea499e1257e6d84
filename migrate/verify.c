/* verify: applied migrations against their files (checksum drift). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "log.h"
#include "session.h"

int cmd_verify(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct session_cli cli = { NULL, NULL, NULL, 0 };
	struct session s = SESSION_INIT;
	uint64_t *drift = NULL;
	size_t ndrift = 0, checked = 0;
	json_t *res = NULL, *arr, *ooo;
	const struct migration *first_ooo = NULL;
	size_t nooo = 0;
	struct parseopt_rest rest;
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
	/* A file older than the current version that was never applied (a
	 * merged branch): the schema is not what the files describe. */
	ooo = json_array();
	migrator_out_of_order(&s.files, &s.st, UINT64_MAX, &first_ooo, &nooo);
	for (size_t i = 0; i < s.files.n; i++) {
		const struct migration *m = &s.files.items[i];

		if (m->version >= s.st.current || migrator_state_find(&s.st, m->version))
			continue;
		json_array_append_new(ooo, json_integer((json_int_t)m->version));
		if (!ctx->json)
			printf("out of order: %s is not applied but older than the current version %"
			       PRIu64 "\n", m->up_path, s.st.current);
	}
	res = json_pack("{s:s, s:b, s:I, s:o, s:o}", "event", "result", "ok",
			ndrift == 0 && nooo == 0, "checked", (json_int_t)checked, "drift", arr,
			"out_of_order", ooo);
	if (ctx->json)
		log_json_result(res);
	else if (!ndrift && !nooo)
		printf("ok: %zu applied migration%s match their files\n", checked,
		       checked == 1 ? "" : "s");
	if (ndrift)
		rc = errbuf_set(e, BL_EVERIFY,
				"%zu applied migration%s changed on disk since applied (first: %" PRIu64 ")",
				ndrift, ndrift == 1 ? "" : "s", drift[0]);
	else if (nooo)
		rc = errbuf_set(e, BL_EVERIFY,
				"%zu migration file%s not applied but older than the current version %"
				PRIu64 " (first: %s); run 'up --allow-out-of-order' to apply",
				nooo, nooo == 1 ? "" : "s", s.st.current, first_ooo->up_path);
out:
	json_decref(res);
	free(drift);
	session_close(&s);
	return rc;
}
