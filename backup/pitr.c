/* ballast-backup restore --pitr: a physical database's data directory
 * recovered to a point in time (the engine is lib/backup/pitr). */
#include <getopt.h>
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
	static const struct option opts[] = {
		{ "pitr", no_argument, NULL, 'P' },
		{ "db", required_argument, NULL, 'd' },
		{ "data-dir", required_argument, NULL, 'D' },
		{ "id", required_argument, NULL, 'i' },
		{ "time", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'N' },
		{ "lsn", required_argument, NULL, 'l' },
		{ "latest", no_argument, NULL, 'L' },
		{ "timeline", required_argument, NULL, 'T' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	struct pitr_opts o;
	struct pitr_result res;
	char self[PATH_MAX], cfgpath[PATH_MAX];
	ssize_t n;
	int rc = 0, opt, targets = 0;

	memset(&o, 0, sizeof(o));
	pitr_result_init(&res);
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'P':
			break;
		case 'd':
			o.db = optarg;
			break;
		case 'D':
			o.data_dir = optarg;
			break;
		case 'i':
			o.id = optarg;
			break;
		case 't':
		case 'N':
		case 'l':
		case 'L':
			targets++;
			o.target = opt == 't' ? PITR_TIME : opt == 'N' ? PITR_NAME : opt == 'l' ?
				PITR_LSN : PITR_LATEST;
			o.value = optarg;
			break;
		case 'T':
			o.timeline = optarg;
			break;
		case 'n':
			o.dry_run = 1;
			break;
		default:
			rc = cli_usage_error(ctx, e, "unknown option %s", argv[optind - 1]);
			goto out;
		}
	}
	if (optind < argc) {
		rc = cli_usage_error(ctx, e, "unexpected argument %s (--pitr takes the backup as "
				     "--id ID)", argv[optind]);
		goto out;
	}
	if (targets != 1) {
		rc = cli_usage_error(ctx, e, "--pitr needs exactly one of --time T, --name "
				     "RESTORE_POINT, --lsn LSN or --latest");
		goto out;
	}
	if (!o.data_dir || !*o.data_dir) {
		rc = cli_usage_error(ctx, e, "--pitr needs --data-dir DIR (the stopped server's "
				     "data directory)");
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
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || !realpath(ctx->cfg->path, cfgpath)) {
		rc = errbuf_set(e, BL_EFAIL, "cannot resolve this program's path or %s",
				ctx->cfg->path);
		goto out;
	}
	self[n] = '\0';
	o.self = self;
	o.config_path = cfgpath;
	rc = pitr_restore(ctx->cfg, &o, &res, e);
	if (rc)
		goto out;
	if (ctx->json) {
		json_t *out = json_pack("{s:s, s:s, s:s, s:b, s:s, s:s?, s:s?, s:I, s:s, s:I}",
					"event", "result", "status", "ok", "backup_id", res.id,
					"dry_run", o.dry_run, "data_dir", o.data_dir,
					"kept", res.kept.len ? res.kept.buf : NULL,
					"undo", res.undo.len ? res.undo.buf : NULL,
					"timeline", (json_int_t)res.timeline, "lsn", res.lsn.buf,
					"recovery_ms", (json_int_t)res.recovery_ms);

		log_json_result(out);
		json_decref(out);
	} else if (o.dry_run) {
		printf("would restore base backup %s into %s and recover it (nothing was "
		       "changed)\n", res.id, o.data_dir);
	} else {
		printf("database restored into %s from backup %s: timeline %u, LSN %s\n",
		       o.data_dir, res.id, res.timeline, res.lsn.buf);
		if (res.kept.len)
			printf("  the previous data directory is kept as %s; to undo (server "
			       "stopped):\n  %s\n", res.kept.buf, res.undo.buf);
	}
out:
	pitr_result_release(&res);
	return rc;
}
