#include "basebackup_item.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basebackup.h"
#include "interrupt.h"
#include "manifest.h"
#include "proc.h"
#include "timeutil.h"
#include "zstream.h"

int basebackup_item_physical(json_t *db)
{
	const char *m = json_string_value(json_object_get(db, "mode"));

	return m && !strcmp(m, "physical");
}

struct bsink {
	struct zstream *z;
	const char *name;
	const struct dbdump_opts *o;
};

static int tar_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct bsink *s = ctx;
	int rc = zstream_write(s->z, buf, len, e);

	if (!rc && s->o->progress)
		s->o->progress(s->o->progress_ctx, s->name, zstream_raw_bytes(s->z),
			       zstream_stored_bytes(s->z));
	return rc;
}

int basebackup_item_backup(json_t *db, struct repo *r, const char *key,
			   const struct dbdump_opts *o, json_t **item, struct errbuf *e)
{
	const char *name = json_string_value(json_object_get(db, "name"));
	json_t *cmd = json_object_get(db, "basebackup_command");
	struct strbuf pw = STRBUF_INIT, envpw = STRBUF_INIT, ci = STRBUF_INIT,
		      version = STRBUF_INIT;
	struct strvec argv = STRVEC_INIT;
	const char *env[2] = { NULL, NULL };
	struct basebackup_info bi;
	struct repo_writer *w = NULL;
	struct zstream *z = NULL;
	struct bsink s;
	long long t0 = time_mono_ms(), finished;
	char when[TIME_UTC_MAX];
	int rc;

	*item = NULL;
	basebackup_info_init(&bi);
	dbdump_password(db, &pw);
	if (pw.len) {
		strbuf_addf(&envpw, "PGPASSWORD=%s", pw.buf);
		env[0] = envpw.buf;
	}
	rc = dbdump_conninfo_nopw(json_string_value(json_object_get(db, "conninfo")), &ci, e);
	if (rc)
		goto out;
	/* The tool first: a missing pg_basebackup fails before the server or
	 * the repository is touched. */
	dbdump_push_command(&argv, cmd, "pg_basebackup");
	strvec_push(&argv, "--version");
	rc = proc_run(strvec_argv(&argv), env, NULL, &version, 60000, e);
	strbuf_rtrim(&version);
	strvec_clear(&argv);
	if (rc)
		goto out;

	dbdump_push_command(&argv, cmd, "pg_basebackup");
	/* One tar on stdout: only possible without WAL streaming, so the WAL
	 * that makes the copy consistent is fetched at its end (-X fetch). A
	 * fast checkpoint starts the copy now instead of after the next
	 * scheduled checkpoint. */
	strvec_push(&argv, "--pgdata=-");
	strvec_push(&argv, "--format=tar");
	strvec_push(&argv, "--wal-method=fetch");
	strvec_push(&argv, "--checkpoint=fast");
	strvec_push(&argv, "--no-password");
	strvec_pushf(&argv, "--label=ballast %s", name);
	strvec_pushf(&argv, "--dbname=%s", ci.buf);

	rc = repo_writer_open(r, key, -1, &w, e);
	if (rc)
		goto out;
	rc = zstream_compress_new(o->level, o->threads, repo_writer_sink, w, &z, e);
	if (rc)
		goto out;
	s.z = z;
	s.name = name;
	s.o = o;
	rc = basebackup_stream(strvec_argv(&argv), env, tar_sink, &s, &bi, e);
	if (rc)
		goto out;
	/* The manifest's WAL range is the only record of where the copy ends,
	 * and a point-in-time restore needs that. */
	if (!bi.manifest) {
		rc = errbuf_set(e, BL_EFAIL, "the server sent no backup_manifest (expected "
				"PostgreSQL 13 or later, and no --no-manifest in basebackup_command)");
		goto out;
	}
	rc = zstream_finish(z, e);
	if (!rc)
		rc = interrupt_check(e);
	if (rc)
		goto out;
	finished = time_wall_ms();
	rc = repo_writer_commit(w, e);
	w = NULL;
	if (rc)
		goto out;
	time_utc_format((time_t)(finished / 1000), when);
	*item = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:I,"
			  " s:s, s:o, s:o, s:{s:I}}",
			  "type", BASEBACKUP_ITEM_TYPE, "name", name, "pg_version", bi.pg_version,
			  "pg_basebackup_version", version.buf, "timeline", (json_int_t)bi.timeline,
			  "wal_segment_size", (json_int_t)bi.wal_segment_size,
			  "start_lsn", bi.start_lsn, "stop_lsn", bi.stop_lsn,
			  "checkpoint_lsn", bi.checkpoint_lsn, "start_wal", bi.start_wal,
			  "start_time", bi.start_time, "finished", when,
			  "finished_ms", (json_int_t)finished, "backup_label", bi.label.buf,
			  "backup_manifest", bi.manifest ?
			  json_pack("{s:s, s:I}", "sha256", bi.manifest_sha256, "size",
				    (json_int_t)bi.manifest_size) : json_null(),
			  "object", manifest_object(key, zstream_stored_bytes(z), zstream_sha256(z),
						    zstream_raw_bytes(z)),
			  "timings", "total_ms", (json_int_t)(time_mono_ms() - t0));
	if (!*item)
		rc = errbuf_set(e, BL_EFAIL, "cannot describe the base backup in the manifest");
out:
	if (rc && name)
		errbuf_prefix(e, "base backup of database %s: ", name);
	repo_writer_abort(w);
	zstream_free(z);
	basebackup_info_release(&bi);
	strvec_clear(&argv);
	strbuf_release(&pw);
	strbuf_release(&envpw);
	strbuf_release(&ci);
	strbuf_release(&version);
	return rc;
}

int basebackup_item_get(json_t *item, struct basebackup_meta *out, struct errbuf *e)
{
	const char *name = json_string_value(json_object_get(item, "name"));

	memset(out, 0, sizeof(*out));
	out->name = name ? name : "?";
	out->pg_version = json_string_value(json_object_get(item, "pg_version"));
	out->timeline = (unsigned)json_integer_value(json_object_get(item, "timeline"));
	out->start_wal = json_string_value(json_object_get(item, "start_wal"));
	out->finished_ms = json_integer_value(json_object_get(item, "finished_ms"));
	out->object = json_object_get(item, "object");
	/* Backups made before the size was recorded: PostgreSQL's default. */
	out->wal_segment_size = json_object_get(item, "wal_segment_size") ?
		(uint64_t)json_integer_value(json_object_get(item, "wal_segment_size")) :
		BASEBACKUP_SEGSIZE_DEFAULT;
	if (!basebackup_segsize_valid(out->wal_segment_size))
		return errbuf_set(e, BL_EVERIFY, "base backup item %s: wal_segment_size is not a "
				  "power of two from 1 MiB to 1 GiB", out->name);
	if (!name || !out->pg_version || !out->timeline || !out->start_wal ||
	    out->finished_ms <= 0 || !json_is_object(out->object) ||
	    basebackup_lsn_parse(json_string_value(json_object_get(item, "start_lsn")),
				 &out->start_lsn) ||
	    basebackup_lsn_parse(json_string_value(json_object_get(item, "stop_lsn")),
				 &out->stop_lsn))
		return errbuf_set(e, BL_EVERIFY, "base backup item %s: the manifest lacks its "
				  "timeline, LSNs or end time", out->name);
	return 0;
}
