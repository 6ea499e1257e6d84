/* ballast-backup restore ID: put a backup's databases and volumes back. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "backupset.h"
#include "commands.h"
#include "dbdump.h"
#include "log.h"
#include "manifest.h"
#include "progress.h"
#include "volume_item.h"
#include "interrupt.h"

static const char *item_type(json_t *it)
{
	const char *t = json_string_value(json_object_get(it, "type"));

	return t ? t : "";
}

static const char *item_name(json_t *it)
{
	const char *n = json_string_value(json_object_get(it, "name"));

	return n ? n : "";
}

/* Which items this restore touches: with neither --db nor --volume the
 * whole set, otherwise exactly the ones named. */
static int wanted(json_t *it, const char *only_db, const char *only_vol)
{
	if (!only_db && !only_vol)
		return !strcmp(item_type(it), "db") || !strcmp(item_type(it), "volume");
	if (only_db && !strcmp(item_type(it), "db") && !strcmp(item_name(it), only_db))
		return 1;
	return only_vol && !strcmp(item_type(it), "volume") && !strcmp(item_name(it), only_vol);
}

/* The configured volume called name: 0 with *found = 0 when the
 * configuration has none (a restore --to still works). */
static int find_volume(const struct config *cfg, const char *name, struct volume_spec *out,
		       int *found, struct errbuf *e)
{
	json_t *v;
	size_t i;

	*found = 0;
	json_array_foreach(config_get(cfg, "volumes"), i, v) {
		char where[64];
		int rc;

		if (strcmp(json_string_value(json_object_get(v, "name")) ?
			   json_string_value(json_object_get(v, "name")) : "", name))
			continue;
		snprintf(where, sizeof(where), "volumes[%zu]", i);
		rc = volume_spec_load(cfg, v, where, out, e);
		if (rc) {
			errbuf_prefix(e, "%s: ", cfg->path);
			return rc;
		}
		*found = 1;
		return 0;
	}
	return 0;
}

static int restore_volume(struct cli_ctx *ctx, struct repo *r, json_t *it, const char *id,
			  const char *to, int keep, struct progress *prog, json_t *done,
			  struct errbuf *e)
{
	struct volume_spec spec = VOLUME_SPEC_INIT;
	struct volume_item_restore_opts vo;
	struct strbuf where = STRBUF_INIT, old = STRBUF_INIT;
	json_t *warnings = NULL, *w;
	const char *name = item_name(it);
	int found = 0, rc;
	size_t k;

	rc = find_volume(ctx->cfg, name, &spec, &found, e);
	if (rc)
		goto out;
	memset(&vo, 0, sizeof(vo));
	vo.id = id;
	vo.to = to;
	vo.keep_old = keep;
	vo.verified = 1;
	vo.progress = progress_update;
	vo.progress_ctx = prog;
	rc = volume_item_restore(found ? &spec : NULL, r, it, &vo, &where, &old, &warnings, e);
	progress_done(prog);
	if (rc)
		goto out;
	json_array_foreach(warnings, k, w)
		log_warn("volume %s: %s: %s", name, json_string_value(json_object_get(w, "path")),
			 json_string_value(json_object_get(w, "warning")));
	if (old.len)
		log_info("volume %s restored from %s into %s; the previous contents are in %s",
			 name, id, where.buf, old.buf);
	else
		log_info("volume %s restored from %s into %s", name, id, where.buf);
	json_array_append_new(done, json_pack("{s:s, s:s, s:s, s:s?, s:o}", "type", "volume",
					      "name", name, "path", where.buf, "kept",
					      old.len ? old.buf : NULL, "warnings",
					      warnings ? json_incref(warnings) : json_array()));
out:
	if (found)
		volume_spec_release(&spec);
	json_decref(warnings);
	strbuf_release(&where);
	strbuf_release(&old);
	return rc;
}

int cmd_restore(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "volume", required_argument, NULL, 'V' },
		{ "target", required_argument, NULL, 't' },
		{ "to", required_argument, NULL, 'T' },
		{ "create", no_argument, NULL, 'c' },
		{ "clean", no_argument, NULL, 'C' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "no-keep", no_argument, NULL, 'k' },
		{ "latest", no_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 }
	};
	struct dbrestore_opts ro;
	struct progress prog;
	struct repo *r = NULL;
	const char *project, *only_db = NULL, *only_vol = NULL, *to = NULL, *id;
	json_t *m = NULL, *it, *done = json_array();
	int rc = 0, opt, n = 0, nvol = 0, use_latest = 0, keep = 1;
	char latest[64];
	size_t i;

	memset(&ro, 0, sizeof(ro));
	ro.jobs = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			only_db = optarg;
			break;
		case 't':
			ro.target = optarg;
			break;
		case 'c':
			ro.create = 1;
			break;
		case 'C':
			ro.clean = 1;
			break;
		case 'j': {
			char *end;
			long j = strtol(optarg, &end, 10);

			if (*end || j < 1 || j > 256) {
				rc = cli_usage_error(ctx, e, "--jobs %s: expected 1..256", optarg);
				goto out;
			}
			ro.jobs = (int)j;
			break;
		}
		case 'L':
			use_latest = 1;
			break;
		case 'V':
			only_vol = optarg;
			break;
		case 'T':
			if (!*optarg) {
				rc = cli_usage_error(ctx, e, "--to: expected a directory");
				goto out;
			}
			to = optarg;
			break;
		case 'k':
			keep = 0;
			break;
		default:
			rc = cli_usage_error(ctx, e, "unknown option %s", argv[optind - 1]);
			goto out;
		}
	}
	if (argc - optind + use_latest != 1) {
		rc = cli_usage_error(ctx, e, argc - optind + use_latest < 1 ?
				     "missing backup ID (or --latest)" : "expected one backup ID");
		goto out;
	}
	rc = cli_config(ctx, e);
	if (!rc)
		rc = backupset_open(ctx->cfg, &r, &project, e);
	if (rc)
		goto out;
	id = use_latest ? NULL : argv[optind];
	if (use_latest) {
		rc = backupset_latest(r, project, latest, sizeof(latest), e);
		if (rc)
			goto out;
		id = latest;
	}
	rc = backupset_load(r, project, id, &m, e);
	if (rc)
		goto out;
	json_array_foreach(json_object_get(m, "items"), i, it)
		if (wanted(it, only_db, only_vol)) {
			if (!strcmp(item_type(it), "db"))
				n++;
			else
				nvol++;
		}
	if (only_db && !n) {
		rc = errbuf_set(e, BL_EUSAGE, "backup %s has no database \"%s\"", id, only_db);
		goto out;
	}
	if (only_vol && !nvol) {
		rc = errbuf_set(e, BL_EUSAGE, "backup %s has no volume \"%s\"", id, only_vol);
		goto out;
	}
	if (!n && !nvol) {
		rc = errbuf_set(e, BL_EUSAGE, "backup %s holds no database or volume", id);
		goto out;
	}
	if (ro.target && n > 1) {
		rc = cli_usage_error(ctx, e, "--target needs --db NAME: backup %s holds %d "
				     "databases", id, n);
		goto out;
	}
	if (to && !nvol) {
		rc = cli_usage_error(ctx, e, "--to: backup %s holds no volume to restore", id);
		goto out;
	}
	if (to && nvol > 1) {
		rc = cli_usage_error(ctx, e, "--to needs --volume NAME: backup %s holds %d volumes",
				     id, nvol);
		goto out;
	}
	/* Every stored object of the restore is checked before the first one
	 * touches anything: a bad volume object must not leave the databases
	 * restored and the volumes not. */
	json_array_foreach(json_object_get(m, "items"), i, it) {
		if (!wanted(it, only_db, only_vol))
			continue;
		rc = backupset_verify_object(r, json_object_get(it, "object"), 0, e);
		if (rc) {
			errbuf_prefix(e, "refusing to restore %s %s: ", item_type(it), item_name(it));
			goto out;
		}
	}
	interrupt_catch();
	progress_init(&prog);
	ro.progress = progress_update;
	ro.progress_ctx = &prog;
	json_array_foreach(json_object_get(m, "items"), i, it) {
		const char *name = item_name(it);

		if (!wanted(it, only_db, only_vol) || strcmp(item_type(it), "db"))
			continue;
		rc = dbdump_restore(ctx->cfg, r, it, &ro, e);
		progress_done(&prog);
		if (rc)
			goto out;
		log_info("database %s restored from %s; row counts match the backup", name, id);
		json_array_append_new(done, json_pack("{s:s, s:s}", "type", "db", "name", name));
	}
	/* Volumes last: their `after` commands restart the services that use
	 * them, which should find the databases already restored. */
	json_array_foreach(json_object_get(m, "items"), i, it) {
		if (!wanted(it, only_db, only_vol) || strcmp(item_type(it), "volume"))
			continue;
		rc = restore_volume(ctx, r, it, id, to, keep, &prog, done, e);
		if (rc)
			goto out;
	}
	if (ctx->json) {
		json_t *res = json_pack("{s:s, s:s, s:s, s:O}", "event", "result", "backup_id", id,
					"status", "ok", "restored", done);

		log_json_result(res);
		json_decref(res);
	}
out:
	json_decref(m);
	json_decref(done);
	repo_close(r);
	return rc;
}
