#include "volume_item.h"

#include <stdlib.h>
#include <string.h>

#include "backupset.h"
#include "interrupt.h"
#include "log.h"
#include "manifest.h"
#include "proc.h"
#include "ring.h"
#include "zstream.h"

/*
 * Backup runs as two stages, like `tar | zstd`: a producer thread walks the
 * volume and writes the tar (reading files, metadata, xattrs) into a small
 * ring of buffers, while the calling thread feeds zstd's workers, hashes
 * the compressed bytes and writes them to the repository. Reading the next
 * files thus overlaps compressing the last ones; memory is the ring,
 * VOLUME_RING buffers of VOLUME_CHUNK bytes.
 */
#define VOLUME_RING 8

struct snap {
	const struct volume_spec *v;
	struct volume_stats *st;
};

static int producer(void *arg, struct ring *q, struct errbuf *pe)
{
	struct snap *s = arg;

	return volume_snapshot(s->v, ring_put, q, s->st, pe);
}

/* Drain the ring into z until the producer is done. */
static int consume(struct ring *q, struct zstream *z, const struct volume_spec *v,
		   const struct volume_item_opts *o, struct errbuf *e)
{
	const void *buf;
	size_t len;

	while (ring_get(q, &buf, &len)) {
		int rc = zstream_write(z, buf, len, e);

		if (rc) {
			ring_stop(q);
			return rc;
		}
		if (o->progress)
			o->progress(o->progress_ctx, v->name, zstream_raw_bytes(z),
				    zstream_stored_bytes(z));
	}
	return 0;
}

int volume_item_backup(const struct volume_spec *v, struct repo *r, const char *key,
		       const struct volume_item_opts *o, json_t **item, struct errbuf *e)
{
	struct volume_stats st = VOLUME_STATS_INIT;
	struct repo_writer *w = NULL;
	struct zstream *z = NULL;
	struct ring *q = NULL;
	struct snap sn = { v, &st };
	struct errbuf pe = ERRBUF_INIT;
	json_t *ex = json_array();
	long long t0 = time_mono_ms();
	int rc, crc, prc;

	*item = NULL;
	for (const char **p = v->exclude; p && *p; p++)
		json_array_append_new(ex, json_string(*p));
	rc = repo_writer_open(r, key, -1, &w, e);
	if (rc)
		goto out;
	rc = zstream_compress_new(o->level, o->threads, repo_writer_sink, w, &z, e);
	if (rc)
		goto out;
	rc = ring_start(VOLUME_RING, VOLUME_CHUNK, producer, &sn, "volume archive", &q, e);
	if (rc)
		goto out;
	crc = consume(q, z, v, o, e);
	prc = ring_join(q, &pe);
	q = NULL;
	/* The producer's failure (a missing path, `before`, a signal) is the
	 * cause when it has one; a consumer failure makes the producer report
	 * only "stopped". */
	if (prc && !crc) {
		*e = pe;
		rc = prc;
	} else {
		rc = crc;
		if (prc && strstr(pe.msg, "after command failed"))
			log_error("%s", pe.msg);
	}
	if (!rc)
		rc = zstream_finish(z, e);
	if (rc)
		goto out;
	rc = repo_writer_commit(w, e);
	w = NULL;
	if (rc)
		goto out;
	*item = json_pack("{s:s, s:s, s:s, s:o, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:O, s:O, s:{s:I}}",
			  "type", "volume", "name", v->name, "path", v->path.buf,
			  "object", manifest_object(key, zstream_stored_bytes(z), zstream_sha256(z),
						    zstream_raw_bytes(z)),
			  "entries", "files", (json_int_t)st.files, "dirs", (json_int_t)st.dirs,
			  "symlinks", (json_int_t)st.symlinks, "hardlinks", (json_int_t)st.hardlinks,
			  "others", (json_int_t)st.others,
			  "bytes", (json_int_t)st.bytes,
			  "exclude", ex,
			  "warnings", st.warnings,
			  "timings", "total_ms", (json_int_t)(time_mono_ms() - t0));
	if (!*item)
		rc = errbuf_set(e, BL_EFAIL, "volume %s: cannot build the manifest item", v->name);
out:
	ring_join(q, NULL);
	if (rc && strncmp(e->msg, "volume ", 7))
		errbuf_prefix(e, "volume %s: ", v->name);
	repo_writer_abort(w);
	zstream_free(z);
	json_decref(ex);
	volume_stats_release(&st);
	return rc;
}

/*
 * Restore runs as two stages too, like `zstd -d | tar -x`: a producer
 * thread reads the stored object (objread: size and SHA-256 proven at its
 * end), decompresses it and hands the tar over through a ring, while the
 * calling thread creates the files. libarchive reads the ring's slots in
 * place. The check at the end of the object is what allows the swap: a
 * mismatch ends the stream with the producer's error, so the extraction
 * fails and the staging directory goes, the volume untouched.
 */
struct rsource {
	struct backupset_reader rd;
	const struct volume_item_restore_opts *o;
	const char *name;
	struct ring *q;    /* the consumer's handle */
	struct volume_cmd *cmd;
	int stopped;    /* the before command was run: after is owed */
};

static void report(void *ctx, long long raw)
{
	struct rsource *s = ctx;

	s->o->progress(s->o->progress_ctx, s->name, raw, -1);
}

static int ring_source(void *ctx, const void **buf, size_t *got, struct errbuf *e)
{
	struct rsource *s = ctx;
	int rc;

	if (ring_get(s->q, buf, got))
		return 0;
	/* The end of the stream: the producer's verdict on the object. */
	rc = ring_join(s->q, e);
	s->q = NULL;
	return rc;
}

/* The containers writing to the volume are stopped only for the swap:
 * they keep running while the copy is extracted and checked. */
static int stop_for_swap(void *ctx, struct errbuf *e)
{
	struct rsource *s = ctx;

	s->stopped = 1;
	return volume_cmd_before(s->cmd, e);
}

int volume_item_restore(const struct volume_spec *spec, struct repo *r, json_t *item,
			const struct volume_item_restore_opts *o, struct strbuf *where,
			struct strbuf *old_path, json_t **warnings, struct errbuf *e)
{
	const char *name = json_string_value(json_object_get(item, "name"));
	json_t *obj = json_object_get(item, "object");
	struct volume_stats st = VOLUME_STATS_INIT;
	struct volume_restore_result res;
	struct volume_cmd cmd = VOLUME_CMD_INIT(spec);
	struct errbuf after_err = ERRBUF_INIT, pe = ERRBUF_INIT;
	struct rsource s;
	struct manifest_obj mo;
	struct volume_restore_opts ro;
	int rc, arc;

	memset(&s, 0, sizeof(s));
	memset(&ro, 0, sizeof(ro));
	strbuf_reset(where);
	strbuf_reset(old_path);
	if (warnings)
		*warnings = NULL;
	if (!name)
		name = "?";
	if (o->to)
		strbuf_addstr(where, o->to);
	else if (spec)
		strbuf_addstr(where, spec->path.buf);
	else {
		rc = errbuf_set(e, BL_EUSAGE, "no volume named \"%s\" in the configuration: pass --to DIR",
				name);
		goto out;
	}
	if (manifest_obj_get(obj, &mo, e)) {
		rc = errbuf_set(e, BL_EVERIFY, "volume %s: the manifest item has no complete object", name);
		goto out;
	}
	rc = volume_restore_check(where->buf, o->id, o->keep_old, e);
	if (rc)
		goto out;
	s.rd.r = r;
	s.rd.obj = obj;
	if (o->progress) {
		s.rd.progress = report;
		s.rd.progress_ctx = &s;
	}
	s.o = o;
	s.name = name;
	s.cmd = &cmd;
	rc = ring_start(VOLUME_RING, VOLUME_CHUNK, backupset_ring_read, &s.rd, "volume restore", &s.q, e);
	if (rc)
		goto out;
	ro.id = o->id;
	ro.keep_old = o->keep_old;
	ro.borrow = ring_source;
	ro.src_ctx = &s;
	/* A restore elsewhere (--to) leaves the containers alone. */
	if (spec && !o->to) {
		ro.before_swap = stop_for_swap;
		ro.swap_ctx = &s;
	}
	rc = volume_restore(where->buf, &ro, &res, &st, e);
	if (rc == BL_EVERIFY && s.q) {
		const void *buf;
		size_t len;

		/* The archive looked wrong before the object ended: read on, so
		 * that a damaged object is reported as such (its checksum) rather
		 * than as whatever its damage made of the tar. */
		while (!interrupt_signal && ring_get(s.q, &buf, &len))
			;
		if (ring_join(s.q, &pe) == BL_EVERIFY)
			*e = pe;
		s.q = NULL;
	}
	if (!rc && res.old_path[0])
		strbuf_addstr(old_path, res.old_path);
	if (s.stopped) {
		arc = volume_cmd_after(&cmd, &after_err);
		if (arc && !rc) {
			*e = after_err;
			rc = arc;
		} else if (arc) {
			log_error("%s", after_err.msg);
		}
	}
out:
	ring_join(s.q, NULL);
	if (rc == BL_EVERIFY && strncmp(e->msg, "volume ", 7))
		errbuf_prefix(e, "refusing to restore volume %s: ", name);
	else if (rc && strncmp(e->msg, "volume ", 7))
		errbuf_prefix(e, "restore of volume %s: ", name);
	if (warnings && st.warnings && json_array_size(st.warnings))
		*warnings = json_incref(st.warnings);
	volume_stats_release(&st);
	return rc;
}
