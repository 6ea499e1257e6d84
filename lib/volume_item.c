#include "volume_item.h"

#include <string.h>

#include "backupset.h"
#include "cli.h"
#include "log.h"
#include "manifest.h"
#include "proc.h"
#include "zstream.h"

struct bsink {
	struct zstream *z;
	const struct volume_spec *v;
	const struct volume_item_opts *o;
};

static int writer_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	return repo_writer_write(ctx, buf, len, e);
}

static int tar_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct bsink *s = ctx;
	int rc = zstream_write(s->z, buf, len, e);

	if (!rc && s->o->progress)
		s->o->progress(s->o->progress_ctx, s->v->name, zstream_raw_bytes(s->z),
			       zstream_stored_bytes(s->z));
	return rc;
}

int volume_item_backup(const struct volume_spec *v, struct repo *r, const char *key,
		       const struct volume_item_opts *o, json_t **item, struct errbuf *e)
{
	struct volume_stats st = VOLUME_STATS_INIT;
	struct repo_writer *w = NULL;
	struct zstream *z = NULL;
	struct bsink s;
	json_t *ex = json_array();
	long long t0 = proc_now_ms();
	int rc;

	*item = NULL;
	for (const char **p = v->exclude; p && *p; p++)
		json_array_append_new(ex, json_string(*p));
	rc = repo_writer_open(r, key, -1, &w, e);
	if (rc)
		goto out;
	rc = zstream_compress_new(o->level, o->threads, writer_sink, w, &z, e);
	if (rc)
		goto out;
	s.z = z;
	s.v = v;
	s.o = o;
	rc = volume_snapshot(v, tar_sink, &s, &st, e);
	if (!rc)
		rc = zstream_finish(z, e);
	if (rc)
		goto out;
	rc = repo_writer_commit(w, e);
	w = NULL;
	if (rc)
		goto out;
	*item = json_pack("{s:s, s:s, s:s, s:o, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:o, s:O, s:{s:I}}",
			  "type", "volume", "name", v->name, "path", v->path.buf,
			  "object", manifest_object(key, zstream_stored_bytes(z), zstream_sha256(z),
						    zstream_raw_bytes(z)),
			  "entries", "files", (json_int_t)st.files, "dirs", (json_int_t)st.dirs,
			  "symlinks", (json_int_t)st.symlinks, "hardlinks", (json_int_t)st.hardlinks,
			  "others", (json_int_t)st.others,
			  "bytes", (json_int_t)st.bytes,
			  "exclude", json_incref(ex),
			  "warnings", st.warnings ? st.warnings : json_array(),
			  "timings", "total_ms", (json_int_t)(proc_now_ms() - t0));
	if (!*item)
		rc = errbuf_set(e, BL_EFAIL, "volume %s: cannot build the manifest item", v->name);
out:
	if (rc && strncmp(e->msg, "volume ", 7))
		errbuf_prefix(e, "volume %s: ", v->name);
	repo_writer_abort(w);
	zstream_free(z);
	json_decref(ex);
	volume_stats_release(&st);
	return rc;
}

/* The stored object, pulled chunk by chunk for libarchive, with its size
 * and SHA-256 checked when it ends. */
struct rsource {
	struct repo_reader *rd;
	struct zhash *h;
	long long got, want;
	const char *sha, *key;
	int done;
	const struct volume_item_restore_opts *o;
	const char *name;
};

static int repo_source(void *ctx, void *buf, size_t cap, size_t *got, struct errbuf *e)
{
	struct rsource *s = ctx;
	char hex[ZSTREAM_SHA256_HEX];
	int rc;

	*got = 0;
	if (s->done)
		return 0;
	rc = repo_reader_read(s->rd, buf, cap, got, e);
	if (rc)
		return rc;
	if (*got) {
		zhash_update(s->h, buf, *got);
		s->got += (long long)*got;
		if (s->o->progress)
			s->o->progress(s->o->progress_ctx, s->name, -1, s->got);
		return 0;
	}
	s->done = 1;
	zhash_final(s->h, hex);
	if (s->got != s->want)
		return errbuf_set(e, BL_EVERIFY, "%s: size %lld, the manifest says %lld", s->key,
				  s->got, s->want);
	if (strcmp(hex, s->sha))
		return errbuf_set(e, BL_EVERIFY, "%s: sha256 %s, the manifest says %s", s->key, hex,
				  s->sha);
	return 0;
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
	s.key = json_string_value(json_object_get(obj, "key"));
	s.sha = json_string_value(json_object_get(obj, "sha256"));
	if (!s.key || !s.sha || !json_is_integer(json_object_get(obj, "size"))) {
		rc = errbuf_set(e, BL_EVERIFY, "volume %s: the manifest item has no complete object", name);
		goto out;
	}
	s.want = json_integer_value(json_object_get(obj, "size"));
	s.o = o;
	s.name = name;
	/* Never touch anything before the stored bytes are known good. */
	rc = o->verified ? 0 : backupset_verify_object(r, obj, 0, e);
	if (rc) {
		errbuf_prefix(e, "refusing to restore: ");
		goto out;
	}
	rc = repo_reader_open(r, s.key, &s.rd, e);
	if (rc)
		goto out;
	s.h = zhash_new();
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
	repo_reader_close(s.rd);
	if (s.h)
		zhash_free(s.h);
	volume_stats_release(&st);
	return rc;
}
