/* baseline: adopt an existing database by recording migrations as applied. */
#include <inttypes.h>
#include <stdio.h>

#include "commands.h"
#include "log.h"
#include "session.h"
#include "pg.h"

/* Other tools' history tables: report them, and propose the version they
 * agree on (0 when none or they disagree). A golang-migrate table marked
 * dirty is a half-applied migration: adopting it would record a lie. */
static int detect(struct cli_ctx *ctx, struct session *s, uint64_t *proposed, json_t **out,
		  struct errbuf *e)
{
	struct migrator_foreign *f = NULL;
	size_t n = 0;
	json_t *arr = json_array();
	int rc, disagree = 0;

	*proposed = 0;
	rc = migrator_detect_foreign(s->m, &f, &n, e);
	if (rc)
		goto out;
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:b, s:s?}", "tool", f[i].tool,
						     "table", f[i].table, "version",
						     f[i].has_version ? json_integer((json_int_t)f[i].version)
								      : json_null(),
						     "dirty", f[i].dirty, "revision", f[i].revision));
		if (!ctx->json) {
			if (f[i].revision)
				printf("found %s's %s at revision %s (not a number: pick the ballast "
				       "version whose SQL matches it)\n", f[i].tool, f[i].table, f[i].revision);
			else if (f[i].has_version)
				printf("found %s's %s at version %" PRIu64 "%s\n", f[i].tool, f[i].table,
				       f[i].version, f[i].dirty ? " (DIRTY)" : "");
			else
				printf("found %s's %s with no applied version\n", f[i].tool, f[i].table);
		}
		if (f[i].dirty) {
			rc = errbuf_set(e, BL_EFAIL,
					"%s's %s is dirty at version %" PRIu64 ": a migration failed "
					"half-way under %s; repair it there (for golang-migrate: "
					"'migrate force') before adopting the database",
					f[i].tool, f[i].table, f[i].version, f[i].tool);
			goto out;
		}
		if (!f[i].has_version)
			continue;
		if (*proposed && *proposed != f[i].version)
			disagree = 1;
		*proposed = f[i].version;
	}
	if (disagree)
		*proposed = 0;
out:
	migrator_foreign_release(f, n);
	*out = arr;
	return rc;
}

int cmd_baseline(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct session_cli cli = { NULL, NULL, NULL, 0 };
	struct session s = SESSION_INIT;
	struct parseopt_rest rest;
	json_t *res = NULL, *arr, *found = NULL;
	uint64_t v = 0, proposed = 0;
	int dry_run = 0, rc, in_tx = 0;
	const struct option_spec opts[] = {
		SESSION_OPTS(&cli),
		SESSION_RELEASE_OPT(&cli),
		OPT_FLAG(0, "dry-run", &dry_run, "print what would be recorded; change nothing"),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	if (rest.argc > 1 || (rest.argc == 1 &&
			      (migration_parse_version(rest.argv[0], "baseline", &v, e) || !v)))
		return cli_usage_error(ctx, e, "baseline: expected one positive VERSION (or none, "
					       "to look for another tool's history table)");
	arr = json_array();
	rc = session_open(ctx, &cli, dry_run || !v ? SESSION_READ : SESSION_WRITE, &s, e);
	if (!rc)
		rc = migrator_refuse_dirty(&s.st, e);
	if (!rc)
		rc = detect(ctx, &s, &proposed, &found, e);
	if (rc)
		goto out;
	if (!v) {
		/* Propose only: adopting is a decision someone makes with V. */
		res = json_pack("{s:s, s:O, s:o}", "event", "result", "detected", found, "proposed",
				proposed ? json_integer((json_int_t)proposed) : json_null());
		if (ctx->json)
			log_json_result(res);
		if (!proposed)
			rc = errbuf_set(e, BL_EUSAGE,
					"baseline: expected a VERSION; %s",
					json_array_size(found) ?
						"the history tables found do not name one ballast version" :
						"no golang-migrate, dbmate, goose or Alembic history table found");
		else if (!ctx->json)
			printf("proposed: ballast-migrate baseline %" PRIu64 " (records the files up to it "
			       "as applied, storing their down SQL)\n", proposed);
		goto out;
	}
	if (proposed && proposed != v)
		log_warn("baseline %" PRIu64 ": the other tool's history says %" PRIu64, v, proposed);
	if (!migration_find(&s.files, v)) {
		rc = errbuf_set(e, BL_EUSAGE, "baseline %" PRIu64 ": no migration file %" PRIu64
				"_*.up.sql in %s", v, v, s.dir.buf);
		goto out;
	}
	/* All or nothing: a half-recorded baseline would be a lie. */
	if (!dry_run) {
		rc = pg_exec(s.m->conn, "BEGIN", NULL, e);
		if (rc)
			goto out;
		in_tx = 1;
	}
	for (size_t i = 0; i < s.files.n && s.files.items[i].version <= v; i++) {
		const struct migration *mig = &s.files.items[i];

		if (migrator_state_find(&s.st, mig->version))
			continue;
		if (!dry_run && (rc = migrator_baseline_one(s.m, mig, e)))
			goto out;
		json_array_append_new(arr, json_integer((json_int_t)mig->version));
		if (!ctx->json)
			printf("%s%" PRIu64 "_%s\n", dry_run ? "would record " : "recorded ",
			       mig->version, mig->name);
	}
	if (in_tx) {
		rc = pg_exec(s.m->conn, "COMMIT", NULL, e);
		in_tx = 0;
		if (!rc)
			rc = session_reload(&s, e);
		if (rc)
			goto out;
	}
	res = json_pack("{s:s, s:I, s:O, s:b}", "event", "result", "current_version",
			(json_int_t)(dry_run ? (s.st.current > v ? s.st.current : v) : s.st.current),
			"recorded", arr, "dry_run", dry_run);
	if (ctx->json)
		log_json_result(res);
	else
		printf("baseline: %zu migration%s recorded as applied without running\n",
		       json_array_size(arr), json_array_size(arr) == 1 ? "" : "s");
out:
	if (in_tx)
		pg_exec(s.m->conn, "ROLLBACK", NULL, &(struct errbuf)ERRBUF_INIT);
	json_decref(res);
	json_decref(arr);
	json_decref(found);
	session_close(&s);
	return rc;
}
