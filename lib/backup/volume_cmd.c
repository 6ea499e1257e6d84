#include "volume_cmd.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_schema.h"
#include "log.h"
#include "interrupt.h"
#include "xalloc.h"

/* A NULL-terminated array of the strings of a JSON array (already checked
 * against the schema: strings only). NULL when the key is absent. */
static const char **string_list(json_t *arr, const char *where, const char *key,
				int nonempty, struct errbuf *e, int *rc)
{
	const char **out;
	size_t i;
	json_t *s;

	*rc = 0;
	if (!arr)
		return NULL;
	if (!json_is_array(arr)) {
		*rc = errbuf_set(e, BL_EUSAGE, "%s.%s: expected an array of strings", where, key);
		return NULL;
	}
	if (nonempty && json_array_size(arr) == 0) {
		*rc = errbuf_set(e, BL_EUSAGE, "%s.%s: expected a command (a non-empty argv array)",
				 where, key);
		return NULL;
	}
	out = xcalloc(json_array_size(arr) + 1, sizeof(*out));
	json_array_foreach(arr, i, s) {
		if (!json_is_string(s)) {
			free(out);
			*rc = errbuf_set(e, BL_EUSAGE, "%s.%s[%zu]: expected a string", where, key, i);
			return NULL;
		}
		out[i] = json_string_value(s);
	}
	return out;
}

int volume_spec_load(const struct config *cfg, json_t *v, const char *where,
		     struct volume_spec *out, struct errbuf *e)
{
	json_t *name = json_object_get(v, "name"), *path = json_object_get(v, "path");
	int rc;

	if (!json_is_string(name))
		return errbuf_set(e, BL_EUSAGE, "%s.name: expected a string", where);
	/* The name becomes part of an object key (volume-<name>.tar.zst). */
	if (!config_name_valid(json_string_value(name)))
		return errbuf_set(e, BL_EUSAGE, "%s.name: expected letters, digits, '.', '_' or '-', got '%s'",
				  where, json_string_value(name));
	if (!json_is_string(path) || !*json_string_value(path))
		return errbuf_set(e, BL_EUSAGE, "%s.path: expected a directory path", where);
	out->name = json_string_value(name);
	strbuf_init(&out->path, 0);
	config_path(cfg, json_string_value(path), &out->path);
	out->dir = cfg && cfg->dir ? cfg->dir : NULL;
	out->exclude = string_list(json_object_get(v, "exclude"), where, "exclude", 0, e, &rc);
	if (!rc)
		out->before = string_list(json_object_get(v, "before"), where, "before", 1, e, &rc);
	if (!rc)
		out->after = string_list(json_object_get(v, "after"), where, "after", 1, e, &rc);
	if (rc) {
		volume_spec_release(out);
		out->name = NULL;
	}
	return rc;
}

int volume_spec_find(const struct config *cfg, const char *name,
		     struct volume_spec *out, struct errbuf *e)
{
	json_t *vols = config_get(cfg, "volumes"), *v;
	struct strbuf known = STRBUF_INIT;
	char where[64];
	size_t i;
	int rc;

	json_array_foreach(vols, i, v) {
		json_t *n = json_object_get(v, "name");

		if (json_is_string(n) && !strcmp(json_string_value(n), name)) {
			snprintf(where, sizeof(where), "volumes[%zu]", i);
			strbuf_release(&known);
			return volume_spec_load(cfg, v, where, out, e);
		}
		if (json_is_string(n))
			strbuf_addf(&known, "%s%s", known.len ? ", " : "", json_string_value(n));
	}
	rc = errbuf_set(e, BL_EUSAGE, "no volume named '%s' in the configuration (known: %s)",
			name, known.len ? known.buf : "none");
	strbuf_release(&known);
	return rc;
}

void volume_spec_release(struct volume_spec *v)
{
	free(v->exclude);
	free(v->before);
	free(v->after);
	v->exclude = v->before = v->after = NULL;
	strbuf_release(&v->path);
}

static int run_phase(const struct volume_spec *v, const char *phase, const char **argv,
		     struct errbuf *e)
{
	struct strbuf out = STRBUF_INIT;
	int rc;

	log_info("volume %s: running %s command %s", v->name, phase, argv[0]);
	rc = proc_run(argv, NULL, v->dir, &out, VOLUME_CMD_TIMEOUT_MS, e);
	strbuf_rtrim(&out);
	if (out.len)
		log_debug("volume %s: %s command said: %s", v->name, phase, out.buf);
	if (rc)
		errbuf_prefix(e, "volume %s: %s command failed: ", v->name, phase);
	strbuf_release(&out);
	return rc;
}

int volume_cmd_before(struct volume_cmd *c, struct errbuf *e)
{
	if (c->before_started)
		return 0;
	c->before_started = 1;
	return c->v->before ? run_phase(c->v, "before", c->v->before, e) : 0;
}

int volume_cmd_after(struct volume_cmd *c, struct errbuf *e)
{
	if (!c->before_started || c->after_done || !c->v->after)
		return 0;
	c->after_done = 1;
	return run_phase(c->v, "after", c->v->after, e);
}

int volume_snapshot(const struct volume_spec *v, proc_sink_fn sink, void *sink_ctx,
		    struct volume_stats *st, struct errbuf *e)
{
	struct volume_cmd cmd = VOLUME_CMD_INIT(v);
	struct volume_archive_opts o = { (const char *const *)v->exclude, NULL, NULL };
	struct errbuf after_err = ERRBUF_INIT;
	int rc, arc;

	rc = volume_cmd_before(&cmd, e);
	if (!rc && interrupt_signal)
		rc = interrupt_check_what(e, "volume %s", v->name);
	if (!rc) {
		rc = volume_archive(v->path.buf, &o, sink, sink_ctx, st, e);
		if (rc && strncmp(e->msg, "volume", 6))
			errbuf_prefix(e, "volume %s: ", v->name);
	}
	arc = volume_cmd_after(&cmd, &after_err);
	if (arc) {
		if (!rc) {
			*e = after_err;
			rc = arc;
		} else {
			log_error("%s", after_err.msg);
		}
	}
	return rc;
}
