/* baseline: adopt an existing database by recording migrations as applied. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "commands.h"
#include "log.h"
#include "session.h"
#include "pg.h"

int cmd_baseline(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	static const struct option opts[] = {
		SESSION_CLI_LONGOPTS,
		SESSION_RELEASE_LONGOPT,
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	struct session_cli cli = { NULL, NULL, NULL, 0 };
	struct session s = SESSION_INIT;
	json_t *res = NULL, *arr = json_array();
	uint64_t v = 0;
	int c, dry_run = 0, rc, in_tx = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (session_cli_opt(&cli, c, optarg))
			continue;
		switch (c) {
		case 'n': dry_run = 1; break;
		default:
			json_decref(arr);
			return cli_usage_error(ctx, e, "baseline: unknown option or missing value: %s", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc || migration_parse_version(argv[optind], "baseline", &v, e) || !v) {
		json_decref(arr);
		return cli_usage_error(ctx, e, "baseline: expected one positive VERSION");
	}
	rc = session_open(ctx, &cli, dry_run ? SESSION_READ : SESSION_WRITE, &s, e);
	if (!rc)
		rc = migrator_refuse_dirty(&s.st, e);
	if (rc)
		goto out;
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
	session_close(&s);
	return rc;
}
