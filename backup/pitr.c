/* ballast-backup restore --pitr: a physical database's data directory
 * recovered to a point in time (the engine is lib/backup/pitr). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "log.h"
#include "pitr.h"

int cmd_restore_pitr(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct pitr_opts o;
	struct pitr_result res;
	struct pitr_target_opt tg = { &o, 0 };
	char self[PATH_MAX], cfgpath[PATH_MAX];
	const char *where;
	int rc = 0, pitr = 0;
	struct parseopt_rest rest;
	const struct option_spec opts[] = {
		/* cmd_restore sent us here because of it */
		OPT_VALUE(PARSEOPT_FLAG, 0, "pitr", &pitr, NULL, NULL, PARSEOPT_HIDDEN, NULL),
		OPT_STRING(0, "db", &o.db, "NAME", "the database (default: the only physical one)"),
		OPT_STRING(0, "data-dir", &o.data_dir, "DIR",
			   "the stopped server's data directory"),
		OPT_STRING(0, "docker-volume", &o.docker_volume, "NAME",
			   "or this Docker named volume (local driver; its containers stopped)"),
		OPT_STRING(0, "scratch-dir", &o.scratch_dir, "DIR",
			   "with --docker-volume: recover here, outside Docker's data root "
			   "(default $TMPDIR, else /var/tmp)"),
		OPT_CALLBACK_DATA(0, "time", &tg, "T",
				  "recover to this time, with its zone (2026-12-05T18:30:00Z)",
				  pitr_opt_target, PITR_TIME),
		OPT_CALLBACK_DATA(0, "name", &tg, "RESTORE_POINT",
				  "recover to this restore point (see restore-point)",
				  pitr_opt_target, PITR_NAME),
		OPT_CALLBACK_DATA(0, "lsn", &tg, "LSN", "recover to this LSN", pitr_opt_target,
				  PITR_LSN),
		OPT_CALLBACK_DATA(0, "latest", &tg, NULL, "recover to the end of the WAL archive",
				  pitr_opt_target, PITR_LATEST),
		OPT_STRING(0, "id", &o.id, "ID",
			   "this base backup (default: the newest that ends before the target)"),
		OPT_STRING(0, "timeline", &o.timeline, "latest|current|N",
			   "recovery_target_timeline (default latest)"),
		OPT_FLAG(0, "dry-run", &o.dry_run,
			 "choose the base backup and check it; change nothing"),
		OPT_END()
	};

	memset(&o, 0, sizeof(o));
	pitr_result_init(&res);
	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		goto out;
	if (rest.argc) {
		rc = cli_usage_error(ctx, e, "unexpected argument %s (--pitr takes the backup as "
				     "--id ID)", rest.argv[0]);
		goto out;
	}
	if (tg.n != 1) {
		rc = cli_usage_error(ctx, e, "--pitr needs exactly one of --time T, --name "
				     "RESTORE_POINT, --lsn LSN or --latest");
		goto out;
	}
	if (!o.data_dir == !o.docker_volume || (o.data_dir && !*o.data_dir) ||
	    (o.docker_volume && !*o.docker_volume)) {
		rc = cli_usage_error(ctx, e, "--pitr needs one of --data-dir DIR (the stopped "
				     "server's data directory) or --docker-volume NAME");
		goto out;
	}
	if (o.scratch_dir && !o.docker_volume) {
		rc = cli_usage_error(ctx, e, "--scratch-dir goes with --docker-volume (a data "
				     "directory is recovered beside itself)");
		goto out;
	}
	/* The database's password is not needed: nothing connects to its server. */
	rc = cli_config(ctx, e);
	if (!rc)
		rc = config_check_env(ctx->cfg, "repository", e);
	if (rc)
		goto out;
	/* The recovering server calls this very binary with this very
	 * configuration, whatever its working directory and PATH. */
	rc = pitr_self(ctx->cfg, self, cfgpath, e);
	if (rc)
		goto out;
	o.self = self;
	o.config_path = cfgpath;
	rc = pitr_restore(ctx->cfg, &o, &res, e);
	if (rc)
		goto out;
	/* a volume's directory as docker named it */
	where = o.docker_volume ? res.data_dir.buf : o.data_dir;
	if (ctx->json) {
		json_t *out = json_pack("{s:s, s:s, s:s, s:b, s:s, s:s?, s:s?, s:s?, s:I, s:s, s:I}",
					"event", "result", "status", "ok", "backup_id", res.id,
					"dry_run", o.dry_run, "data_dir", where,
					"docker_volume", o.docker_volume,
					"kept", res.kept.len ? res.kept.buf : NULL,
					"undo", res.undo.len ? res.undo.buf : NULL,
					"timeline", (json_int_t)res.timeline, "lsn", res.lsn.buf,
					"recovery_ms", (json_int_t)res.recovery_ms);

		log_json_result(out);
		json_decref(out);
	} else if (o.dry_run) {
		printf("would restore base backup %s into %s%s%s and recover it (nothing was "
		       "changed)\n", res.id, where, o.docker_volume ? ", docker volume " : "",
		       o.docker_volume ? o.docker_volume : "");
	} else {
		printf("database restored into %s%s%s from backup %s: timeline %u, LSN %s\n",
		       where, o.docker_volume ? ", docker volume " : "",
		       o.docker_volume ? o.docker_volume : "", res.id, res.timeline, res.lsn.buf);
		if (res.kept.len)
			printf("  the previous data directory is kept as %s; to undo (server "
			       "stopped):\n  %s\n", res.kept.buf, res.undo.buf);
	}
out:
	pitr_result_release(&res);
	return rc;
}
