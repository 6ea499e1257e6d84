#include "volume_item.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backupset.h"
#include "log.h"
#include "manifest.h"
#include "objread.h"
#include "proc.h"
#include "xalloc.h"
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

struct ring {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *buf[VOLUME_RING];
	size_t len[VOLUME_RING];
	int head, count;   /* next to read, filled slots */
	int done;          /* producer finished (its rc is in prc) */
	int stop;          /* consumer failed: producer must give up */
	int prc;
	struct errbuf pe;  /* the producer's error */
	const struct volume_spec *v;
	struct volume_stats *st;
};

static int ring_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct ring *q = ctx;
	int slot;

	pthread_mutex_lock(&q->mu);
	while (q->count == VOLUME_RING && !q->stop)
		pthread_cond_wait(&q->cv, &q->mu);
	if (q->stop) {
		pthread_mutex_unlock(&q->mu);
		return errbuf_set(e, BL_EFAIL, "volume %s: stopped", q->v->name);
	}
	slot = (q->head + q->count) % VOLUME_RING;
	pthread_mutex_unlock(&q->mu);
	/* Only the producer writes into a free slot: no lock for the copy. */
	memcpy(q->buf[slot], buf, len);
	q->len[slot] = len;
	pthread_mutex_lock(&q->mu);
	q->count++;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

static void *producer(void *arg)
{
	struct ring *q = arg;
	int rc = volume_snapshot(q->v, ring_sink, q, q->st, &q->pe);

	pthread_mutex_lock(&q->mu);
	q->prc = rc;
	q->done = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* Drain the ring into z until the producer is done; returns the first
 * failure, the consumer's own or the producer's. */
static int consume(struct ring *q, struct zstream *z, const struct volume_item_opts *o,
		   struct errbuf *e)
{
	int rc = 0;

	for (;;) {
		int slot;

		pthread_mutex_lock(&q->mu);
		while (!q->count && !q->done)
			pthread_cond_wait(&q->cv, &q->mu);
		if (!q->count) {
			pthread_mutex_unlock(&q->mu);
			break;
		}
		slot = q->head;
		pthread_mutex_unlock(&q->mu);
		rc = zstream_write(z, q->buf[slot], q->len[slot], e);
		if (!rc && o->progress)
			o->progress(o->progress_ctx, q->v->name, zstream_raw_bytes(z),
				    zstream_stored_bytes(z));
		pthread_mutex_lock(&q->mu);
		q->head = (q->head + 1) % VOLUME_RING;
		q->count--;
		if (rc)
			q->stop = 1;
		pthread_cond_broadcast(&q->cv);
		pthread_mutex_unlock(&q->mu);
		if (rc)
			break;
	}
	return rc;
}

int volume_item_backup(const struct volume_spec *v, struct repo *r, const char *key,
		       const struct volume_item_opts *o, json_t **item, struct errbuf *e)
{
	struct volume_stats st = VOLUME_STATS_INIT;
	struct repo_writer *w = NULL;
	struct zstream *z = NULL;
	struct ring q;
	pthread_t th;
	json_t *ex = json_array();
	long long t0 = time_mono_ms();
	int rc, started = 0, crc;

	*item = NULL;
	memset(&q, 0, sizeof(q));
	pthread_mutex_init(&q.mu, NULL);
	pthread_cond_init(&q.cv, NULL);
	q.v = v;
	q.st = &st;
	for (const char **p = v->exclude; p && *p; p++)
		json_array_append_new(ex, json_string(*p));
	for (int i = 0; i < VOLUME_RING; i++)
		q.buf[i] = xmalloc(VOLUME_CHUNK);
	rc = repo_writer_open(r, key, -1, &w, e);
	if (rc)
		goto out;
	rc = zstream_compress_new(o->level, o->threads, repo_writer_sink, w, &z, e);
	if (rc)
		goto out;
	if (pthread_create(&th, NULL, producer, &q)) {
		rc = errbuf_set(e, BL_EFAIL, "volume %s: cannot start the archive thread", v->name);
		goto out;
	}
	started = 1;
	crc = consume(&q, z, o, e);
	pthread_join(th, NULL);
	started = 0;
	/* The producer's failure (a missing path, `before`, a signal) is the
	 * cause when it has one; a consumer failure makes the producer report
	 * only "stopped". */
	if (q.prc && !crc) {
		*e = q.pe;
		rc = q.prc;
	} else {
		rc = crc;
		if (q.prc && strstr(q.pe.msg, "after command failed"))
			log_error("%s", q.pe.msg);
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
	if (started) {
		pthread_mutex_lock(&q.mu);
		q.stop = 1;
		pthread_cond_broadcast(&q.cv);
		pthread_mutex_unlock(&q.mu);
		pthread_join(th, NULL);
	}
	if (rc && strncmp(e->msg, "volume ", 7))
		errbuf_prefix(e, "volume %s: ", v->name);
	repo_writer_abort(w);
	zstream_free(z);
	for (int i = 0; i < VOLUME_RING; i++)
		free(q.buf[i]);
	pthread_mutex_destroy(&q.mu);
	pthread_cond_destroy(&q.cv);
	json_decref(ex);
	volume_stats_release(&st);
	return rc;
}

/* The stored object, pulled chunk by chunk for libarchive; objread checks
 * its size and SHA-256 when it ends. */
struct rsource {
	struct objread *rd;
	const struct volume_item_restore_opts *o;
	const char *name;
};

static int repo_source(void *ctx, void *buf, size_t cap, size_t *got, struct errbuf *e)
{
	struct rsource *s = ctx;
	int rc = objread_read(s->rd, buf, cap, got, e);

	if (!rc && *got && s->o->progress)
		s->o->progress(s->o->progress_ctx, s->name, -1, objread_bytes(s->rd));
	return rc;
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
	struct errbuf after_err = ERRBUF_INIT;
	struct rsource s;
	struct manifest_obj mo;
	struct volume_restore_opts ro;
	int rc, arc, hooks = 0;

	memset(&s, 0, sizeof(s));
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
	s.o = o;
	s.name = name;
	/* Never touch anything before the stored bytes are known good. */
	rc = o->verified ? 0 : backupset_verify_object(r, obj, 0, e);
	if (rc) {
		errbuf_prefix(e, "refusing to restore: ");
		goto out;
	}
	rc = objread_open(r, mo.key, mo.size, mo.sha256, &s.rd, e);
	if (rc)
		goto out;
	rc = volume_restore_check(where->buf, o->id, o->keep_old, e);
	if (rc)
		goto out;
	/* The containers writing to the volume are stopped around the swap;
	 * a restore elsewhere (--to) leaves them alone. */
	hooks = spec && !o->to;
	if (hooks) {
		rc = volume_cmd_before(&cmd, e);
		if (rc)
			goto after;
	}
	ro.id = o->id;
	ro.keep_old = o->keep_old;
	ro.src = repo_source;
	ro.src_ctx = &s;
	rc = volume_restore(where->buf, &ro, &res, &st, e);
	if (!rc && res.old_path[0])
		strbuf_addstr(old_path, res.old_path);
after:
	if (hooks) {
		arc = volume_cmd_after(&cmd, &after_err);
		if (arc && !rc) {
			*e = after_err;
			rc = arc;
		} else if (arc) {
			log_error("%s", after_err.msg);
		}
	}
out:
	if (rc && strncmp(e->msg, "volume ", 7))
		errbuf_prefix(e, "restore of volume %s: ", name);
	if (warnings && st.warnings && json_array_size(st.warnings))
		*warnings = json_incref(st.warnings);
	objread_close(s.rd);
	volume_stats_release(&st);
	return rc;
}
