/* ballast-backup verify ID|--latest|--all: re-read every stored object,
 * compare sizes and SHA-256 with the manifest, test-decompress; verify
 * --wal: the same for a physical database's WAL archive, and its
 * continuity after the newest base backup. */
#include <string.h>

#include "backup_index.h"
#include "backupset.h"
#include "basebackup.h"
#include "basebackup_item.h"
#include "commands.h"
#include "log.h"
#include "manifest.h"
#include "repo_crypt.h"
#include "walarchive.h"

/* A write-only host (encryption without an identity): the ciphertext of
 * every object, and of the manifest, against the plaintext index. */
static int verify_index(struct repo *r, const char *project, const char *id, struct errbuf *e)
{
	struct strbuf text = STRBUF_INIT;
	json_t *idx = NULL;
	int rc = backup_index_get(r, project, id, &idx, &text, e);

	if (rc == BL_EFAIL)
		errbuf_prefix(e, "no identity to read the manifest, and no plaintext index: ");
	else if (!rc)
		rc = backup_index_check_objects(r, idx, e);
	if (!rc)
		log_info("backup %s: %zu objects match the index (checksums only: no identity "
			 "to decrypt)", id, json_array_size(json_object_get(idx, "items")) + 1);
	json_decref(idx);
	strbuf_release(&text);
	return rc;
}

/* With an identity: the index's stored sizes and hashes against the
 * ciphertext the decrypting reads just saw (its other fields were checked
 * against the manifest when it loaded). */
static int verify_stored(struct repo *r, const char *project, const char *id,
			 struct errbuf *e)
{
	struct strbuf text = STRBUF_INIT;
	json_t *idx = NULL;
	int rc = backup_index_get(r, project, id, &idx, &text, e);

	if (!rc)
		rc = backup_index_check_stored(r, idx, e);
	else if (rc == BL_EFAIL) {
		/* a backup older than the index */
		errbuf_clear(e);
		rc = 0;
	}
	json_decref(idx);
	strbuf_release(&text);
	return rc;
}

static int verify_one(struct repo *r, const char *project, const char *id, struct errbuf *e)
{
	struct errbuf re = ERRBUF_INIT;
	struct manifest_item it;
	json_t *m = NULL;
	size_t i;
	int rc;

	if (!repo_crypt_can_read(r)) {
		rc = verify_index(r, project, id, e);
		if (rc == BL_EFAIL)
			goto out;
		goto record;
	}
	rc = backupset_load(r, project, id, &m, e);
	if (rc == BL_EFAIL)
		goto out; /* no such backup: nothing to record */
	if (!rc) {
		manifest_foreach_item(m, i, it) {
			rc = backupset_verify_object(r, json_object_get(it.json, "object"), 1, e);
			if (rc)
				break;
			log_info("backup %s: %s %s ok", id, it.type, it.name);
		}
	}
	if (!rc && backup_index_wanted(r))
		rc = verify_stored(r, project, id, e);
record:
	if (backupset_record_verify(r, project, id, rc == 0, rc ? e->msg : NULL, &re))
		log_warn("cannot record the verify result of %s: %s", id, re.msg);
out:
	json_decref(m);
	return rc;
}

/* The segment the newest good backup's base backup of db ends in, its
 * timeline and segment size; "" when no good backup holds one. */
static void newest_stop(struct repo *r, const char *project, const char *db, char *id,
			size_t n, char stop[BASEBACKUP_WAL_NAME], unsigned *tli, uint64_t *segsize)
{
	struct errbuf ignore = ERRBUF_INIT;
	struct basebackup_meta meta;
	json_t *list = NULL, *m = NULL, *ent, *item;
	size_t i;

	stop[0] = '\0';
	if (backupset_list(r, project, &list, &ignore))
		return;
	for (i = json_array_size(list); i-- > 0 && !stop[0];) {
		ent = json_array_get(list, i);
		if (strcmp(json_string_value(json_object_get(ent, "status")), "good") ||
		    backupset_load(r, project, json_string_value(json_object_get(ent, "id")), &m,
				   &ignore))
			continue;
		item = manifest_find_item(m, BASEBACKUP_ITEM_TYPE, db);
		if (item && !basebackup_item_get(item, &meta, &ignore)) {
			snprintf(id, n, "%s", json_string_value(json_object_get(ent, "id")));
			basebackup_wal_name(meta.timeline, meta.stop_lsn, meta.wal_segment_size, stop);
			*tli = meta.timeline;
			*segsize = meta.wal_segment_size;
		}
		json_decref(m);
		m = NULL;
	}
	json_decref(list);
}

/* verify --wal: every archived file of each physical database (or only
 * dbname) re-read and hashed, then the archive's continuity from the
 * newest good base backup's stop segment. */
static int verify_wal(struct cli_ctx *ctx, struct repo *r, const char *project,
		      const char *dbname, struct errbuf *e)
{
	json_t *out = json_array(), *db, *dbs = walarchive_db_names(ctx->cfg), *v, *names = NULL,
	       *damaged = NULL;
	struct strbuf gap = STRBUF_INIT, history = STRBUF_INIT;
	char first[ERRBUF_MSG_MAX] = "";
	int rc = 0, bad = 0;
	size_t i;

	if (dbname && (rc = walarchive_db(ctx->cfg, dbname, &db, e)))
		goto out;
	json_array_foreach(dbs, i, v) {
		const char *name = json_string_value(v);
		char id[64] = "", stop[BASEBACKUP_WAL_NAME];
		unsigned tli = 0, target = 0;
		uint64_t segsize = 0;

		if (dbname && strcmp(name, dbname))
			continue;
		damaged = json_array();
		rc = walarchive_list(r, project, name, &names, e);
		if (!rc)
			rc = walarchive_verify(r, names, damaged, e);
		if (rc)
			goto out;
		newest_stop(r, project, name, id, sizeof(id), stop, &tli, &segsize);
		strbuf_reset(&gap);
		if (stop[0]) {
			/* as recovery to the latest timeline reads the archive */
			target = tli;
			rc = walarchive_history(r, names, tli, 0, &target, &history, e);
			if (rc == BL_EVERIFY) {
				log_error("%s", e->msg);
				if (!first[0])
					snprintf(first, sizeof(first), "%s", e->msg);
				bad++;
				target = tli;
				errbuf_clear(e);
				rc = 0;
			} else if (rc) {
				goto out;
			}
			walarchive_gap(names, tli, stop, segsize, target,
				       history.len ? history.buf : NULL, &gap);
		}
		log_info("wal %s: %zu files verified, %zu damaged%s%s%s%s", name,
			 json_object_size(names), json_array_size(damaged),
			 stop[0] ? (gap.len ? "; a gap at " : "; continuous after base backup ") : "",
			 stop[0] ? (gap.len ? gap.buf : id) : "", stop[0] ? "" : "; no good base backup",
			 target > tli ? " to the newest timeline" : "");
		{
			json_t *d;
			size_t k;

			json_array_foreach(damaged, k, d) {
				log_error("%s", json_string_value(json_object_get(d, "error")));
				if (!first[0])
					snprintf(first, sizeof(first), "%s",
						 json_string_value(json_object_get(d, "error")));
			}
		}
		if (gap.len && !first[0])
			snprintf(first, sizeof(first), "wal %s: the archive has no %s: recovery from "
				 "base backup %s stops before it", name, gap.buf, id);
		bad += (int)json_array_size(damaged) + (gap.len ? 1 : 0);
		json_array_append_new(out, json_pack("{s:s, s:i, s:O, s:s?, s:s?, s:s?, s:o?}",
						     "database", name, "files",
						     (int)json_object_size(names), "damaged", damaged,
						     "backup", id[0] ? id : NULL,
						     "from", stop[0] ? stop : NULL,
						     "gap", gap.len ? gap.buf : NULL,
						     "timeline", stop[0] ? json_integer(target) : NULL));
		json_decref(names);
		names = NULL;
		json_decref(damaged);
		damaged = NULL;
	}
	if (!json_array_size(out)) {
		rc = errbuf_set(e, BL_EUSAGE, "%s: no database is configured \"mode\": \"physical\"",
				ctx->cfg->path);
		goto out;
	}
	if (ctx->json) {
		json_t *res = json_pack("{s:s, s:b, s:O}", "event", "result", "ok", !bad, "wal", out);

		log_json_result(res);
		json_decref(res);
	}
	if (bad)
		rc = errbuf_set(e, BL_EVERIFY, "%s", first);
out:
	json_decref(out);
	json_decref(dbs);
	strbuf_release(&history);
	json_decref(names);
	json_decref(damaged);
	strbuf_release(&gap);
	return rc;
}

int cmd_verify(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct repo *r = NULL;
	const char *project;
	json_t *ids = NULL, *results = NULL, *list = NULL, *v;
	int rc, latest = 0, all = 0, wal = 0, failed = 0, worst = 0;
	const char *dbname = NULL;
	char first[ERRBUF_MSG_MAX] = "";
	size_t i;
	struct parseopt_rest rest;
	const struct option_spec opts[] = {
		OPT_FLAG(0, "latest", &latest, "verify the newest committed backup"),
		OPT_FLAG(0, "all", &all, "verify every committed backup and report each failure"),
		OPT_FLAG(0, "wal", &wal, "verify the WAL archive of the physical databases:\n"
			 "every file re-read and hashed, no gap after the newest base backup"),
		OPT_STRING(0, "db", &dbname, "NAME", "with --wal: only this database's archive"),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	ids = json_array();
	results = json_array();
	if (latest + all + wal + rest.argc != 1) {
		rc = cli_usage_error(ctx, e, "expected one of ID, --latest, --all or --wal");
		goto out;
	}
	if (dbname && !wal) {
		rc = cli_usage_error(ctx, e, "--db goes with --wal");
		goto out;
	}
	rc = cli_config(ctx, e);
	if (!rc)
		rc = backupset_open(ctx->cfg, &r, &project, e);
	if (rc)
		goto out;
	if (wal) {
		rc = verify_wal(ctx, r, project, dbname, e);
		goto out;
	}
	if (latest || all) {
		rc = backupset_list(r, project, &list, e);
		if (rc)
			goto out;
		for (i = json_array_size(list); i-- > 0;) {
			json_t *ent = json_array_get(list, i);

			if (!strcmp(json_string_value(json_object_get(ent, "status")), "incomplete"))
				continue;
			json_array_insert(ids, 0, json_object_get(ent, "id"));
			if (latest)
				break;
		}
		if (!json_array_size(ids)) {
			rc = errbuf_set(e, BL_EFAIL, "no committed backup of %s in %s", project,
					repo_describe(r));
			goto out;
		}
	} else {
		char id[64];

		rc = backupset_resolve(r, project, rest.argv[0], id, sizeof(id), e);
		if (rc)
			goto out;
		json_array_append_new(ids, json_string(id));
	}
	json_array_foreach(ids, i, v) {
		struct errbuf one = ERRBUF_INIT;
		const char *id = json_string_value(v);
		int st = verify_one(r, project, id, &one);

		json_array_append_new(results, st ?
				      json_pack("{s:s, s:s, s:s}", "id", id, "status", "failed", "error",
						one.msg) :
				      json_pack("{s:s, s:s}", "id", id, "status", "ok"));
		if (st) {
			failed++;
			if (st > worst)
				worst = st;
			if (!first[0])
				snprintf(first, sizeof(first), "%s", one.msg);
			if (all)
				log_error("backup %s: %s", id, one.msg);
		}
	}
	/* the summary before the result: with --json the result is the last line */
	if (!failed)
		log_info("%zu backup%s verified", json_array_size(ids),
			 json_array_size(ids) == 1 ? "" : "s");
	if (ctx->json) {
		json_t *res = json_pack("{s:s, s:b, s:O}", "event", "result", "ok", !failed,
					"backups", results);

		log_json_result(res);
		json_decref(res);
	}
	if (failed == 1 && json_array_size(ids) == 1)
		rc = errbuf_set(e, worst, "verify %s: %s", json_string_value(json_array_get(ids, 0)),
				first);
	else if (failed)
		rc = errbuf_set(e, worst, "%d of %zu backups failed verification; first: %s",
				failed, json_array_size(ids), first);
out:
	json_decref(ids);
	json_decref(results);
	json_decref(list);
	repo_close(r);
	return rc;
}
