/* status: where the database is, what is pending, what drifted. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "log.h"
#include "session.h"

static int has(const uint64_t *v, size_t n, uint64_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

int cmd_status(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct session_cli cli = { NULL, NULL, NULL, 0 };
	struct session s = SESSION_INIT;
	uint64_t *drift = NULL;
	size_t ndrift = 0, npending = 0, nmissing = 0;
	json_t *res = NULL, *applied, *pending, *jdrift, *missing;
	struct parseopt_rest rest;
	int exit_code = 0, rc;
	const struct option_spec opts[] = {
		SESSION_OPTS(&cli),
		OPT_FLAG(0, "exit-code", &exit_code, "exit 5 when migrations are pending"),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, PARSEOPT_NO_ARGS, &rest, e);
	if (rc)
		return rc;
	rc = session_open(ctx, &cli, SESSION_READ, &s, e);
	if (!rc)
		rc = migrator_drift(&s.files, &s.st, &drift, &ndrift, e);
	if (rc)
		goto out;

	res = json_pack("{s:s, s:I, s:b, s:s}", "event", "result", "current_version",
			(json_int_t)s.st.current, "dirty", s.st.dirty, "dir", s.dir.buf);
	applied = json_array();
	pending = json_array();
	jdrift = json_array();
	missing = json_array();
	for (size_t i = 0; i < s.st.n; i++) {
		const struct migrator_row *r = &s.st.rows[i];
		int on_disk = migration_find(&s.files, r->version) != NULL;

		json_array_append_new(applied,
			json_pack("{s:I, s:s, s:b, s:s?, s:s?, s:b, s:b, s:b}", "version",
				  (json_int_t)r->version, "name", r->name, "reversible",
				  r->down_sql != NULL, "release", r->release, "applied_at",
				  r->applied_at, "dirty", r->dirty, "drift",
				  has(drift, ndrift, r->version), "file", on_disk));
		if (!on_disk) {
			json_array_append_new(missing, json_integer((json_int_t)r->version));
			nmissing++;
		}
	}
	for (size_t i = 0; i < ndrift; i++)
		json_array_append_new(jdrift, json_integer((json_int_t)drift[i]));
	for (size_t i = 0; i < s.files.n; i++) {
		const struct migration *m = &s.files.items[i];

		if (migrator_state_find(&s.st, m->version))
			continue;
		json_array_append_new(pending, json_pack("{s:I, s:s, s:b, s:b, s:s?}", "version",
							 (json_int_t)m->version, "name", m->name,
							 "reversible", m->down_path != NULL,
							 "out_of_order", m->version < s.st.current,
							 "down_name", m->down_name));
		npending++;
	}
	json_object_set_new(res, "applied", applied);
	json_object_set_new(res, "pending", pending);
	json_object_set_new(res, "drift", jdrift);
	json_object_set_new(res, "missing", missing);

	if (ctx->json) {
		log_json_result(res);
	} else {
		printf("database:  %s\n", PQdb(s.m->conn));
		printf("directory: %s%s\n", s.dir.buf, s.files.missing ? " (does not exist)" : "");
		printf("version:   %" PRIu64 "%s\n", s.st.current,
		       s.st.dirty ? " (DIRTY: run 'ballast-migrate force VERSION' after repair)" : "");
		if (s.st.dirty)
			printf("dirty at:  %" PRIu64 "\n", s.st.dirty_version);
		printf("applied:   %zu (%zu known from database only)\n", s.st.n, nmissing);
		for (size_t i = 0; i < s.st.n; i++) {
			const struct migrator_row *r = &s.st.rows[i];
			int on_disk = migration_find(&s.files, r->version) != NULL;

			printf("  %-20" PRIu64 " %-32s %s%s%s%s%s\n", r->version, r->name,
			       r->down_sql ? "reversible" : "IRREVERSIBLE",
			       r->release ? "  release " : "", r->release ? r->release : "",
			       on_disk ? "" : "  (known from database)",
			       has(drift, ndrift, r->version) ? "  DRIFT: file changed since applied" :
								 r->dirty ? "  DIRTY" : "");
		}
		printf("pending:   %zu\n", npending);
		for (size_t i = 0; i < s.files.n; i++) {
			const struct migration *m = &s.files.items[i];

			if (!migrator_state_find(&s.st, m->version))
				printf("  %-20" PRIu64 " %-32s %s%s%s%s\n", m->version, m->name,
				       m->down_path ? "reversible" : "IRREVERSIBLE (no .down.sql)",
				       m->down_name ? "  down file named " : "",
				       m->down_name ? m->down_name : "",
				       m->version < s.st.current ?
					       "  OUT OF ORDER: older than the current version; 'up' "
					       "refuses it without --allow-out-of-order" : "");
		}
		if (ndrift)
			printf("drift:     %zu migration(s) changed on disk since applied\n", ndrift);
	}
	if (exit_code && npending)
		rc = errbuf_set(e, BL_EPENDING, "%zu migration%s pending in %s", npending,
				npending == 1 ? "" : "s", s.dir.buf);
out:
	json_decref(res);
	free(drift);
	session_close(&s);
	return rc;
}
