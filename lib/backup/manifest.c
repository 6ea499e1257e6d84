#include "manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "zstream.h"

/* How a manifest is stored; manifest_parse() accepts only this form. */
#define MANIFEST_DUMP_FLAGS (JSON_INDENT(2) | JSON_SORT_KEYS)

void manifest_new_id(time_t t, int msec, char id[MANIFEST_ID_MAX])
{
	unsigned char rnd = 0;
	struct tm tm;

	if (getrandom(&rnd, 1, 0) != 1) {
		/* getrandom without GRND_NONBLOCK only fails before the pool is
		 * seeded; callers check for an existing id anyway. */
		rnd = (unsigned char)getpid();
	}
	if (msec < 0 || msec > 999)
		msec = 0;
	gmtime_r(&t, &tm);
	strftime(id, MANIFEST_ID_MAX, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(id + strlen(id), MANIFEST_ID_MAX - strlen(id), "-%03x%x",
		 (unsigned)(msec * 4096 / 1000), (unsigned)(rnd & 0xf));
}

long long manifest_id_time_ms(const char *id)
{
	struct tm tm;
	unsigned frac = 0;
	long long ms;

	memset(&tm, 0, sizeof(tm));
	if (!id || !strptime(id, "%Y%m%dT%H%M%SZ", &tm))
		return -1;
	ms = (long long)timegm(&tm) * 1000;
	/* "-fffr": three hex digits of the millisecond scaled to 0-ffb */
	if (strlen(id) >= 20 && id[16] == '-' && sscanf(id + 17, "%3x", &frac) == 1)
		ms += (long long)frac * 1000 / 4096;
	return ms;
}

int manifest_id_valid(const char *id)
{
	static const char shape[] = "DDDDDDDDTDDDDDDZ-HHHH";
	size_t i;

	if (!id || strlen(id) != sizeof(shape) - 1)
		return 0;
	for (i = 0; shape[i]; i++) {
		char c = id[i];

		if (shape[i] == 'D' ? !(c >= '0' && c <= '9') :
		    shape[i] == 'H' ? !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) :
		    c != shape[i])
			return 0;
	}
	return 1;
}

void manifest_backups_prefix(const char *project, struct strbuf *out)
{
	strbuf_reset(out);
	strbuf_addf(out, "%s/backups/", project);
}

void manifest_backup_prefix(const char *project, const char *id, struct strbuf *out)
{
	strbuf_reset(out);
	strbuf_addf(out, "%s/backups/%s/", project, id);
}

json_t *manifest_new(const char *id, const char *project, time_t created, json_t *labels)
{
	char when[32], host[256] = "";
	json_t *m;

	time_utc_format(created, when);
	gethostname(host, sizeof(host) - 1);
	m = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:[]}", "format", MANIFEST_FORMAT,
		      "id", id, "project", project, "created", when, "host", host,
		      "ballast_version", BALLAST_VERSION, "status", "ok", "labels",
		      labels ? json_deep_copy(labels) : json_object(), "items");
	if (!m)
		abort();
	return m;
}

json_t *manifest_object(const char *key, long long size, const char *sha256,
			long long raw_size)
{
	json_t *o = json_pack("{s:s, s:I, s:s, s:I, s:s}", "key", key, "size", (json_int_t)size,
			      "sha256", sha256, "raw_size", (json_int_t)raw_size, "compression",
			      "zstd");

	if (!o)
		abort();
	return o;
}

int manifest_checksum(json_t *m, struct strbuf *out)
{
	json_t *copy = json_deep_copy(m);
	char hex[ZSTREAM_SHA256_HEX];
	struct zhash *h;
	char *text;

	strbuf_reset(out);
	if (!copy)
		return -1;
	json_object_del(copy, "checksum");
	text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(copy);
	if (!text)
		return -1;
	h = zhash_new();
	zhash_update(h, text, strlen(text));
	zhash_final(h, hex);
	zhash_free(h);
	free(text);
	strbuf_addf(out, "sha256:%s", hex);
	return 0;
}

int manifest_seal(json_t *m, struct strbuf *text, struct errbuf *e)
{
	struct strbuf sum = STRBUF_INIT;
	long long total = 0;
	char when[32];
	size_t i;
	json_t *it;
	char *s;

	json_array_foreach(json_object_get(m, "items"), i, it)
		total += json_integer_value(json_object_get(json_object_get(it, "object"), "size"));
	time_utc_format(time(NULL), when);
	json_object_set_new(m, "finished", json_string(when));
	json_object_set_new(m, "size", json_integer(total));
	if (manifest_checksum(m, &sum)) {
		strbuf_release(&sum);
		return errbuf_set(e, BL_EFAIL, "manifest: cannot serialise");
	}
	json_object_set_new(m, "checksum", json_string(sum.buf));
	strbuf_release(&sum);
	s = json_dumps(m, MANIFEST_DUMP_FLAGS);
	if (!s)
		return errbuf_set(e, BL_EFAIL, "manifest: cannot serialise");
	strbuf_reset(text);
	strbuf_addstr(text, s);
	strbuf_addch(text, '\n');
	free(s);
	return 0;
}

static int check_object(json_t *o, const char *where, size_t idx, struct errbuf *e)
{
	const char *key = json_string_value(json_object_get(o, "key"));
	const char *sha = json_string_value(json_object_get(o, "sha256"));

	if (!json_is_object(o) || !key || !sha || strlen(sha) != 64 ||
	    !json_is_integer(json_object_get(o, "size")))
		return errbuf_set(e, BL_EVERIFY, "%s: items[%zu].object: expected key, size and "
				  "sha256", where, idx);
	return 0;
}

/* text is the serialisation manifest_seal() gives m. */
static int canonical(json_t *m, const char *text, size_t len)
{
	char *s = json_dumps(m, MANIFEST_DUMP_FLAGS);
	size_t n;
	int same;

	if (!s)
		return 0;
	n = strlen(s);
	same = len == n + 1 && !memcmp(s, text, n) && text[n] == '\n';
	free(s);
	return same;
}

int manifest_torn(const char *text, size_t len)
{
	struct strbuf whole = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	json_error_t je;
	json_t *m = json_loadb(text, len, 0, &je);
	int torn;

	if (!m)
		return je.position >= 0 && (size_t)je.position >= len;
	json_decref(m);
	/* Complete JSON but for the newline manifest_seal() ends with: the
	 * last byte never arrived. */
	if (len && text[len - 1] == '\n')
		return 0;
	strbuf_add(&whole, text, len);
	strbuf_addch(&whole, '\n');
	torn = manifest_parse(whole.buf, whole.len, "manifest", &m, &e) == 0;
	json_decref(m);
	strbuf_release(&whole);
	return torn;
}

int manifest_parse(const char *text, size_t len, const char *where, json_t **out,
		   struct errbuf *e)
{
	struct strbuf sum = STRBUF_INIT;
	json_error_t je;
	const char *have;
	json_t *m, *it;
	size_t i;
	int rc = 0;

	*out = NULL;
	m = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!m) {
		/* jansson quotes the offending text: keep the error one line. */
		for (char *p = je.text; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
		return errbuf_set(e, BL_EVERIFY, "%s:%d:%d: invalid JSON: %s", where, je.line,
				  je.column, je.text);
	}
	if (!json_is_object(m) || !json_string_value(json_object_get(m, "id")) ||
	    !json_string_value(json_object_get(m, "created")) ||
	    !json_is_array(json_object_get(m, "items"))) {
		rc = errbuf_set(e, BL_EVERIFY, "%s: expected a manifest object with id, created "
				"and items", where);
		goto out;
	}
	have = json_string_value(json_object_get(m, "checksum"));
	if (!have) {
		rc = errbuf_set(e, BL_EVERIFY, "%s: checksum: missing", where);
		goto out;
	}
	if (manifest_checksum(m, &sum) || strcmp(sum.buf, have)) {
		rc = errbuf_set(e, BL_EVERIFY, "%s: checksum mismatch (the manifest was changed "
				"or corrupted after it was written)", where);
		goto out;
	}
	/* The self-hash covers the parsed values, not the bytes: a flipped bit
	 * that turns one whitespace character into another, or adds one, parses
	 * to the same manifest. Storage that flips bits must not pass verify, so
	 * the text must also be exactly what manifest_seal() writes. */
	if (!canonical(m, text, len)) {
		rc = errbuf_set(e, BL_EVERIFY, "%s: not in the form ballast writes (the manifest "
				"was changed or corrupted after it was written)", where);
		goto out;
	}
	json_array_foreach(json_object_get(m, "items"), i, it) {
		if (!json_string_value(json_object_get(it, "type")) ||
		    !json_string_value(json_object_get(it, "name"))) {
			rc = errbuf_set(e, BL_EVERIFY, "%s: items[%zu]: expected type and name",
					where, i);
			goto out;
		}
		rc = check_object(json_object_get(it, "object"), where, i, e);
		if (rc)
			goto out;
	}
	*out = m;
	m = NULL;
out:
	json_decref(m);
	strbuf_release(&sum);
	return rc;
}

json_t *manifest_find_item(json_t *m, const char *type, const char *name)
{
	struct manifest_item it;
	size_t i;

	manifest_foreach_item(m, i, it)
		if (it.type && it.name && !strcmp(it.type, type) && !strcmp(it.name, name))
			return it.json;
	return NULL;
}

int manifest_obj_get(json_t *obj, struct manifest_obj *out, struct errbuf *e)
{
	json_t *raw = json_object_get(obj, "raw_size");

	memset(out, 0, sizeof(*out));
	out->key = json_string_value(json_object_get(obj, "key"));
	out->sha256 = json_string_value(json_object_get(obj, "sha256"));
	if (!out->key || !out->sha256 || !json_is_integer(json_object_get(obj, "size")))
		return errbuf_set(e, BL_EVERIFY, "manifest: an object lacks key, size or sha256");
	out->size = json_integer_value(json_object_get(obj, "size"));
	out->raw_size = json_is_integer(raw) ? json_integer_value(raw) : -1;
	return 0;
}

static const char *str_of(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

void manifest_head_get(json_t *m, struct manifest_head *out)
{
	json_t *size = json_object_get(m, "size"), *labels = json_object_get(m, "labels");

	out->id = str_of(m, "id");
	out->project = str_of(m, "project");
	out->created = str_of(m, "created");
	out->finished = str_of(m, "finished");
	out->host = str_of(m, "host");
	out->version = str_of(m, "ballast_version");
	out->status = str_of(m, "status");
	out->size = json_is_integer(size) ? json_integer_value(size) : -1;
	out->labels = json_is_object(labels) ? labels : NULL;
	out->nitems = json_array_size(json_object_get(m, "items"));
}

int manifest_item_get(json_t *m, size_t i, struct manifest_item *out)
{
	json_t *it = json_array_get(json_object_get(m, "items"), i);
	struct errbuf ignore = ERRBUF_INIT;

	memset(out, 0, sizeof(*out));
	if (!it)
		return -1;
	out->json = it;
	out->type = str_of(it, "type");
	out->name = str_of(it, "name");
	/* parse checked it; an item being built may not have one yet */
	if (manifest_obj_get(json_object_get(it, "object"), &out->obj, &ignore))
		memset(&out->obj, 0, sizeof(out->obj));
	out->obj.raw_size = out->obj.key ? out->obj.raw_size : -1;
	return 0;
}
