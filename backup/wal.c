/* ballast-backup wal-push / wal-fetch: PostgreSQL's archive_command and
 * restore_command (the engine is lib/backup/walarchive). */
#include <string.h>

#include "backupset.h"
#include "commands.h"
#include "log.h"
#include "walarchive.h"
#include "walstream.h"

/* The shared command line: [--db NAME] and want positionals, left in rest. */
static int wal_args(int argc, char **argv, struct cli_ctx *ctx, const char **db, int want,
		    struct parseopt_rest *rest, struct errbuf *e)
{
	const struct option_spec opts[] = {
		OPT_STRING(0, "db", db, "NAME", "the database (default: the only physical one)"),
		OPT_END()
	};
	int rc;

	*db = NULL;
	rc = cli_parse(ctx, argc, argv, opts, 0, rest, e);
	if (rc)
		return rc;
	if (rest->argc != want)
		return cli_usage_error(ctx, e, "expected %s", want == 1 ? "PATH" : "NAME DEST");
	return 0;
}

/* The repository and the database whose archive a command works on. */
static int wal_open(struct cli_ctx *ctx, const char *dbname, struct repo **r,
		    const char **project, const char **db, struct errbuf *e)
{
	json_t *spec;
	int rc = cli_config(ctx, e);

	if (!rc)
		rc = config_check_env(ctx->cfg, "repository", e);
	if (!rc)
		rc = walarchive_db(ctx->cfg, dbname, &spec, e);
	if (rc)
		return rc;
	*db = json_string_value(json_object_get(spec, "name"));
	return backupset_open(ctx->cfg, r, project, e);
}

int cmd_wal_push(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	const char *dbname, *project, *db;
	struct parseopt_rest rest;
	struct repo *r = NULL;
	int rc, already = 0;

	rc = wal_args(argc, argv, ctx, &dbname, 1, &rest, e);
	if (!rc)
		rc = wal_open(ctx, dbname, &r, &project, &db, e);
	if (!rc)
		rc = walarchive_push(r, project, db, rest.argv[0],
				     (int)config_int(ctx->cfg, "compression.level", 3), &already, e);
	if (!rc && already)
		log_info("%s is already archived with the same content", rest.argv[0]);
	repo_close(r);
	return rc;
}

int cmd_wal_fetch(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	const char *dbname, *project, *db;
	struct parseopt_rest rest;
	struct repo *r = NULL;
	int rc, missing = 0;

	rc = wal_args(argc, argv, ctx, &dbname, 2, &rest, e);
	if (!rc)
		rc = wal_open(ctx, dbname, &r, &project, &db, e);
	if (!rc)
		rc = walarchive_fetch(r, project, db, rest.argv[0], rest.argv[1], &missing, e);
	repo_close(r);
	return rc;
}

int cmd_wal_stream(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct walstream_opts o = { NULL, 0, 0 };
	struct parseopt_rest rest;
	const struct option_spec opts[] = {
		OPT_STRING(0, "db", &o.db, "NAME", "the database (default: the only physical one)"),
		OPT_FLAG(0, "synchronous", &o.synchronous,
			 "flush every write to the spool at once (pg_receivewal --synchronous), for "
			 "a synchronous_standby_names that names the slot's application"),
		OPT_FLAG(0, "once", &o.once,
			 "archive what the spool holds finished, report the slot's lag, and exit"),
		OPT_END()
	};
	int rc = cli_parse(ctx, argc, argv, opts, PARSEOPT_NO_ARGS, &rest, e);

	if (!rc)
		rc = cli_config(ctx, e);
	if (!rc)
		rc = config_check_env(ctx->cfg, "repository", e);
	if (!rc)
		rc = walstream_run(ctx->cfg, &o, e);
	return rc;
}
