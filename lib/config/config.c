#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_schema.h"
#include "log.h"
#include "xalloc.h"

int config_find(const char *explicit_path, struct strbuf *out, struct errbuf *e)
{
	const char *env = getenv("BALLAST_CONFIG");

	strbuf_reset(out);
	if (explicit_path && *explicit_path) {
		strbuf_addstr(out, explicit_path);
		return 0;
	}
	if (env && *env) {
		strbuf_addstr(out, env);
		return 0;
	}
	if (access("ballast.json", F_OK) == 0) {
		strbuf_addstr(out, "ballast.json");
		return 0;
	}
	if (access("/etc/ballast/ballast.json", F_OK) == 0) {
		strbuf_addstr(out, "/etc/ballast/ballast.json");
		return 0;
	}
	return errbuf_set(e, BL_EUSAGE,
			  "no configuration: pass --config FILE, set BALLAST_CONFIG, or create "
			  "./ballast.json or /etc/ballast/ballast.json");
}

int config_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int row[64], prev, tmp;

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int cost = a[i - 1] == b[j - 1] ? 0 : 1;
			int best = prev + cost;

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

int config_duration_ms(const char *s, long long *ms)
{
	char *end;
	double v;
	long long mult;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -1;
	if (!strcmp(end, "ms"))
		mult = 1;
	else if (!strcmp(end, "s"))
		mult = 1000;
	else if (!strcmp(end, "m"))
		mult = 60000;
	else if (!strcmp(end, "h"))
		mult = 3600000;
	else if (!strcmp(end, "d"))
		mult = 86400000;
	else if (!*end && v == 0)
		mult = 0;
	else
		return -1;
	*ms = (long long)(v * (double)mult + 0.5);
	return 0;
}

/* The one message for a bad duration setting, named where.key (either may
 * be NULL); s is v's string, if it has one. */
static int bad_duration(const char *where, const char *key, json_t *v, const char *s,
			struct errbuf *e)
{
	struct strbuf name = STRBUF_INIT;
	char *js = s ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	int rc;

	strbuf_addf(&name, "%s%s%s", where ? where : "", where && key ? "." : "", key ? key : "");
	if (s)
		rc = errbuf_set(e, BL_EUSAGE, "%s: expected a duration like \"30s\", got \"%s\"",
				name.buf, s);
	else
		rc = errbuf_set(e, BL_EUSAGE, "%s: expected a duration like \"30s\", got %s",
				name.buf, js ? js : "something else");
	free(js);
	strbuf_release(&name);
	return rc;
}

int config_duration_str(const char *s, const char *key, long long def, long long min_ms,
			const char *where, long long *out, struct errbuf *e)
{
	long long ms;

	*out = def;
	if (!s)
		return 0;
	if (config_duration_ms(s, &ms) || ms < min_ms)
		return bad_duration(where, key, NULL, s, e);
	*out = ms;
	return 0;
}

int config_duration_opt(json_t *obj, const char *key, long long def, long long min_ms,
			const char *where, long long *out, struct errbuf *e)
{
	json_t *v = json_object_get(obj, key);

	*out = def;
	if (v && !json_is_string(v))
		return bad_duration(where, key, v, NULL, e);
	return config_duration_str(json_string_value(v), key, def, min_ms, where, out, e);
}

int config_json_int(json_t *v, long long *out)
{
	const char *s;
	char *end;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	if (!*s)
		return -1;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return (errno || *end) ? -1 : 0;
}

static int secret_name(const char *name)
{
	return strcasestr(name, "PASSWORD") || strcasestr(name, "SECRET") ||
	       strcasestr(name, "TOKEN") || strcasestr(name, "PASSPHRASE");
}

static const char *lookup_var(json_t *vars, const char *name)
{
	json_t *v = vars ? json_object_get(vars, name) : NULL;

	if (json_is_string(v))
		return json_string_value(v);
	return getenv(name);
}

int config_interpolate(const char *in, json_t *vars, struct strbuf *out,
		       const char *file, const char *where, struct errbuf *e)
{
	const char *p = in;

	strbuf_reset(out);
	while (*p) {
		const char *close, *def = NULL, *val;
		char name[256];
		size_t nlen;

		if (p[0] == '$' && p[1] == '$') {
			strbuf_addch(out, '$');
			p += 2;
			continue;
		}
		if (p[0] != '$' || p[1] != '{') {
			strbuf_addch(out, *p++);
			continue;
		}
		close = strchr(p + 2, '}');
		if (!close)
			return errbuf_set(e, BL_EUSAGE, "%s: %s: unterminated ${ in \"%s\"", file,
					  where, in);
		nlen = (size_t)(close - (p + 2));
		{
			const char *colon = memchr(p + 2, ':', nlen);

			if (colon && colon[1] == '-') {
				def = colon + 2;
				nlen = (size_t)(colon - (p + 2));
			}
		}
		if (nlen == 0 || nlen >= sizeof(name))
			return errbuf_set(e, BL_EUSAGE, "%s: %s: bad variable reference in \"%s\"",
					  file, where, in);
		memcpy(name, p + 2, nlen);
		name[nlen] = '\0';
		for (size_t i = 0; i < nlen; i++)
			if (!(isalnum((unsigned char)name[i]) || name[i] == '_'))
				return errbuf_set(e, BL_EUSAGE,
						  "%s: %s: bad variable name \"%s\" in \"%s\"", file,
						  where, name, in);
		val = lookup_var(vars, name);
		if (val && secret_name(name))
			log_add_secret(val);
		if (!val || (!*val && def)) {
			if (!def)
				return errbuf_set(e, BL_EUSAGE,
						  "%s: %s: undefined variable ${%s} (set it, or write "
						  "${%s:-default})",
						  file, where, name, name);
			strbuf_add(out, def, (size_t)(close - def));
		} else {
			strbuf_addstr(out, val);
		}
		p = close + 1;
	}
	return 0;
}

/* Walk the tree, expanding strings. skip_top: leave images/environments. */
static int expand_tree(json_t *v, json_t *vars, struct strbuf *path, const char *file,
		       int skip_top, struct errbuf *e)
{
	struct strbuf sb = STRBUF_INIT;
	size_t plen = path->len, i;
	const char *key;
	json_t *child;
	int rc = 0;

	if (json_is_object(v)) {
		json_object_foreach(v, key, child) {
			if (skip_top && (!strcmp(key, "images") || !strcmp(key, "environments")))
				continue;
			strbuf_setlen(path, plen);
			if (plen)
				strbuf_addch(path, '.');
			strbuf_addstr(path, key);
			if (json_is_string(child)) {
				rc = config_interpolate(json_string_value(child), vars, &sb, file,
							path->buf, e);
				if (rc)
					goto out;
				json_string_set(child, sb.buf);
			} else if ((rc = expand_tree(child, vars, path, file, 0, e))) {
				goto out;
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, child) {
			strbuf_setlen(path, plen);
			strbuf_addf(path, "[%zu]", i);
			if (json_is_string(child)) {
				rc = config_interpolate(json_string_value(child), vars, &sb, file,
							path->buf, e);
				if (rc)
					goto out;
				json_string_set(child, sb.buf);
			} else if ((rc = expand_tree(child, vars, path, file, 0, e))) {
				goto out;
			}
		}
	}
out:
	strbuf_setlen(path, plen);
	strbuf_release(&sb);
	return rc;
}

static const char *type_name(enum schema_type t)
{
	switch (t) {
	case SCHEMA_STRING: return "a string";
	case SCHEMA_INT: return "an integer";
	case SCHEMA_BOOL: return "true or false";
	case SCHEMA_OBJECT: return "an object";
	case SCHEMA_MAP: return "an object";
	case SCHEMA_ARRAY: return "an array";
	case SCHEMA_STRINGS: return "an array of strings";
	case SCHEMA_STRING_OR_STRINGS: return "a string or an array of strings";
	case SCHEMA_BOOL_OR_ONE: return "true, false or a string";
	default: return "nothing";
	}
}

static int all_strings(json_t *v)
{
	size_t i;
	json_t *c;

	if (!json_is_array(v))
		return 0;
	json_array_foreach(v, i, c)
		if (!json_is_string(c))
			return 0;
	return 1;
}

static int validate(json_t *v, const struct schema *s, struct strbuf *path, const char *file,
		    struct errbuf *e)
{
	size_t plen = path->len, i;
	const char *key;
	json_t *child;
	long long n;
	int rc = 0, ok;
	const char *where = path->len ? path->buf : "(top level)";

	switch (s->type) {
	case SCHEMA_BOOL_OR_ONE:
		if (json_is_boolean(v)) {
			ok = 1;
			break;
		}
		/* a string, checked against oneof */
		__attribute__((fallthrough));
	case SCHEMA_STRING:
		ok = json_is_string(v);
		if (ok && s->oneof && !strstr(json_string_value(v), "${")) {
			int found = 0;
			struct strbuf alts = STRBUF_INIT;

			for (const char *const *o = s->oneof; *o; o++) {
				if (!strcmp(*o, json_string_value(v)))
					found = 1;
				strbuf_addf(&alts, "%s\"%s\"", o == s->oneof ? "" : ", ", *o);
			}
			if (!found) {
				rc = errbuf_set(e, BL_EUSAGE, "%s: %s: expected one of %s, got \"%s\"",
						file, where, alts.buf, json_string_value(v));
				strbuf_release(&alts);
				return rc;
			}
			strbuf_release(&alts);
		}
		if (ok && s->check && !strstr(json_string_value(v), "${")) {
			const char *why = s->check(json_string_value(v));

			if (why)
				return errbuf_set(e, BL_EUSAGE, "%s: %s: %s", file, where, why);
		}
		break;
	case SCHEMA_INT:
		ok = config_json_int(v, &n) == 0;
		if (ok && s->ranged && (n < s->min || n > s->max))
			return errbuf_set(e, BL_EUSAGE, "%s: %s: expected %lld..%lld, got %lld", file,
					  where, s->min, s->max, n);
		ok = ok || (json_is_string(v) && strstr(json_string_value(v), "${"));
		break;
	case SCHEMA_BOOL:
		ok = json_is_boolean(v);
		break;
	case SCHEMA_DURATION:
		ok = json_is_string(v) &&
		     (config_duration_ms(json_string_value(v), &n) == 0 ||
		      strstr(json_string_value(v), "${"));
		break;
	case SCHEMA_STRINGS:
		ok = all_strings(v);
		break;
	case SCHEMA_STRING_OR_STRINGS:
		ok = json_is_string(v) || all_strings(v);
		break;
	case SCHEMA_ARRAY:
		if (!json_is_array(v)) {
			ok = 0;
			break;
		}
		json_array_foreach(v, i, child) {
			strbuf_setlen(path, plen);
			strbuf_addf(path, "[%zu]", i);
			if ((rc = validate(child, s->item, path, file, e)))
				break;
		}
		strbuf_setlen(path, plen);
		return rc;
	case SCHEMA_MAP:
		if (!json_is_object(v)) {
			ok = 0;
			break;
		}
		json_object_foreach(v, key, child) {
			strbuf_setlen(path, plen);
			if (plen)
				strbuf_addch(path, '.');
			strbuf_addstr(path, key);
			if ((rc = validate(child, s->item, path, file, e)))
				break;
		}
		strbuf_setlen(path, plen);
		return rc;
	case SCHEMA_OBJECT:
		if (!json_is_object(v)) {
			ok = 0;
			break;
		}
		json_object_foreach(v, key, child) {
			const struct schema *f, *best = NULL;
			int bestd = 99;

			for (f = s->fields; f->key; f++) {
				int d;

				if (!strcmp(f->key, key))
					break;
				d = config_edit_distance(f->key, key);
				if (d < bestd) {
					bestd = d;
					best = f;
				}
			}
			strbuf_setlen(path, plen);
			if (plen)
				strbuf_addch(path, '.');
			strbuf_addstr(path, key);
			if (!f->key) {
				if (best && bestd <= 2)
					rc = errbuf_set(e, BL_EUSAGE,
							"%s: %s: unknown key (did you mean \"%s\"?)", file,
							path->buf, best->key);
				else
					rc = errbuf_set(e, BL_EUSAGE, "%s: %s: unknown key", file,
							path->buf);
				break;
			}
			if ((rc = validate(child, f, path, file, e)))
				break;
		}
		strbuf_setlen(path, plen);
		return rc;
	default:
		ok = 1;
	}
	if (!ok) {
		const char *got = json_is_string(v) ? "a string" :
				  json_is_integer(v) ? "an integer" :
				  json_is_real(v) ? "a number" :
				  json_is_boolean(v) ? "a boolean" :
				  json_is_null(v) ? "null" :
				  json_is_array(v) ? "an array" : "an object";

		if (s->type == SCHEMA_DURATION) {
			struct strbuf full = STRBUF_INIT;

			strbuf_addf(&full, "%s: %s", file, where);
			rc = bad_duration(full.buf, NULL, v, json_string_value(v), e);
			strbuf_release(&full);
			return rc;
		}
		return errbuf_set(e, BL_EUSAGE, "%s: %s: expected %s, got %s", file, where,
				  type_name(s->type), got);
	}
	return 0;
}

/* Two entries of arr (databases, volumes) with one name would write one
 * object twice and lose a backup: refused, naming both paths. */
static int check_unique(struct config *cfg, const char *arr, struct errbuf *e)
{
	json_t *list = json_object_get(cfg->root, arr), *a, *b;
	size_t i, j;

	json_array_foreach(list, i, a) {
		const char *n = json_string_value(json_object_get(a, "name"));

		for (j = 0; j < i && n; j++) {
			b = json_array_get(list, j);
			if (!strcmp(n, json_string_value(json_object_get(b, "name"))))
				return errbuf_set(e, BL_EUSAGE, "%s: %s[%zu].name: \"%s\" is also "
						  "%s[%zu].name: each needs its own name", cfg->path, arr,
						  i, n, arr, j);
		}
	}
	return 0;
}

static int check_required(struct config *cfg, struct errbuf *e)
{
	json_t *dbs = json_object_get(cfg->root, "databases"), *d;
	json_t *vols = json_object_get(cfg->root, "volumes");
	size_t i;

	json_array_foreach(dbs, i, d) {
		const char *mode = json_string_value(json_object_get(d, "mode"));
		json_t *ct = json_object_get(d, "container");

		if (!json_is_string(json_object_get(d, "name")))
			return errbuf_set(e, BL_EUSAGE, "%s: databases[%zu].name: expected a string",
					  cfg->path, i);
		if (json_is_string(ct) && !*json_string_value(ct))
			return errbuf_set(e, BL_EUSAGE, "%s: databases[%zu].container: expected the "
					  "name or id of a container, got \"\"", cfg->path, i);
		/* a base backup and its WAL need the server's files, not a dump
		 * tool's stream: docker exec does not make that reachable */
		if (ct && mode && !strcmp(mode, "physical"))
			return errbuf_set(e, BL_EUSAGE, "%s: databases[%zu].container: only for mode "
					  "logical (a physical database's pg_basebackup and WAL archive "
					  "need the server reachable from this host)", cfg->path, i);
	}
	json_array_foreach(vols, i, d) {
		if (!json_is_string(json_object_get(d, "name")))
			return errbuf_set(e, BL_EUSAGE, "%s: volumes[%zu].name: expected a string",
					  cfg->path, i);
		if (!json_is_string(json_object_get(d, "path")))
			return errbuf_set(e, BL_EUSAGE, "%s: volumes[%zu].path: expected a string",
					  cfg->path, i);
	}
	if (check_unique(cfg, "databases", e) || check_unique(cfg, "volumes", e))
		return e->code;
	return 0;
}

/* Every "*_env" key under v whose variable is unset: the first path into
 * first, and the count. */
static void unset_env(json_t *v, struct strbuf *path, struct strbuf *first, int *n)
{
	size_t plen = path->len, i;
	const char *key;
	json_t *child;

	if (json_is_object(v)) {
		json_object_foreach(v, key, child) {
			size_t kl = strlen(key);

			strbuf_setlen(path, plen);
			strbuf_addf(path, "%s%s", plen ? "." : "", key);
			if (json_is_string(child) && kl > 4 && !strcmp(key + kl - 4, "_env")) {
				const char *var = json_string_value(child);

				if (*var && !getenv(var) && !(*n)++)
					strbuf_addf(first, "%s: variable %s is not set", path->buf, var);
			} else {
				unset_env(child, path, first, n);
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, child) {
			strbuf_setlen(path, plen);
			strbuf_addf(path, "[%zu]", i);
			unset_env(child, path, first, n);
		}
	}
	strbuf_setlen(path, plen);
}

int config_check_env(const struct config *cfg, const char *subtree, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT, first = STRBUF_INIT;
	const char *key;
	json_t *child;
	int n = 0, rc = 0;

	json_object_foreach(cfg->root, key, child) {
		if (subtree ? strcmp(key, subtree) : !strcmp(key, "environments"))
			continue;
		strbuf_setlen(&path, 0);
		strbuf_addstr(&path, key);
		if (json_is_array(child) || json_is_object(child))
			unset_env(child, &path, &first, &n);
	}
	if (n)
		rc = errbuf_set(e, BL_EUSAGE, "%s: %s%s", cfg->path, first.buf,
				n > 1 ? " (and more: see 'config')" : "");
	strbuf_release(&path);
	strbuf_release(&first);
	return rc;
}

/* Register every secret the config names. */
static void collect_secrets(json_t *v)
{
	const char *key;
	json_t *child;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, key, child) {
			size_t kl = strlen(key);

			if (json_is_string(child) && kl > 4 && !strcmp(key + kl - 4, "_env")) {
				const char *val = getenv(json_string_value(child));

				if (val)
					log_add_secret(val);
			} else if (json_is_string(child) && !strcmp(key, "conninfo")) {
				char *err = NULL;
				PQconninfoOption *opts = PQconninfoParse(json_string_value(child), &err);

				for (PQconninfoOption *o = opts; o && o->keyword; o++)
					if (!strcmp(o->keyword, "password") && o->val)
						log_add_secret(o->val);
				PQconninfoFree(opts);
				PQfreemem(err);
			} else {
				collect_secrets(child);
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			collect_secrets(child);
	}
}

static int finish_load(struct config *cfg, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;
	int rc;

	if (!json_is_object(cfg->root)) {
		rc = errbuf_set(e, BL_EUSAGE, "%s: expected a JSON object at the top level",
				cfg->path);
		goto out;
	}
	rc = validate(cfg->root, &config_schema_root, &path, cfg->path, e);
	if (rc)
		goto out;
	rc = expand_tree(cfg->root, NULL, &path, cfg->path, 1, e);
	if (rc)
		goto out;
	/* again on the values as expanded: "${LEVEL}" is only a number now */
	rc = validate(cfg->root, &config_schema_root, &path, cfg->path, e);
	if (rc)
		goto out;
	rc = check_required(cfg, e);
	if (rc)
		goto out;
	collect_secrets(cfg->root);
out:
	strbuf_release(&path);
	return rc;
}

static struct config *config_new(const char *name)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	char *tmp = xstrdup(name);

	cfg->path = xstrdup(name);
	cfg->dir = xstrdup(dirname(tmp));
	free(tmp);
	return cfg;
}

/* One path from parsed (or not) JSON to a checked config; takes root. */
static int load_root(const char *name, json_t *root, const json_error_t *jerr,
		     struct config **out, struct errbuf *e)
{
	struct config *cfg = NULL;
	int rc;

	*out = NULL;
	if (!root) {
		if (jerr->line <= 0)
			return errbuf_set(e, BL_EUSAGE, "%s: invalid JSON: %s", name, jerr->text);
		return errbuf_set(e, BL_EUSAGE, "%s:%d:%d: invalid JSON: %s", name, jerr->line,
				  jerr->column, jerr->text);
	}
	cfg = config_new(name);
	cfg->root = root;
	rc = finish_load(cfg, e);
	if (rc) {
		config_free(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

int config_load_string(const char *text, const char *name, struct config **out,
		       struct errbuf *e)
{
	json_error_t jerr;
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);

	return load_root(name, root, &jerr, out, e);
}

int config_load(const char *path, struct config **out, struct errbuf *e)
{
	json_error_t jerr;
	json_t *root;

	*out = NULL;
	if (access(path, R_OK) != 0)
		return errbuf_errno(e, BL_EUSAGE, errno, "cannot read config %s", path);
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	return load_root(path, root, &jerr, out, e);
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	json_decref(cfg->root);
	free(cfg->path);
	free(cfg->dir);
	free(cfg);
}

int config_expand_env(struct config *cfg, const char *env, json_t *vars, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;
	json_t *envs = json_object_get(cfg->root, "environments");
	json_t *node = json_object_get(envs, env);
	json_t *images = json_object_get(cfg->root, "images");
	int rc = 0;

	if (!json_is_object(node)) {
		struct strbuf names = STRBUF_INIT;
		const char *k;
		json_t *ignored;

		json_object_foreach(envs, k, ignored)
			strbuf_addf(&names, "%s%s", names.len ? ", " : "", k);
		rc = errbuf_set(e, BL_EUSAGE, "%s: environments.%s: no such environment (have: %s)",
				cfg->path, env, names.len ? names.buf : "none");
		strbuf_release(&names);
		return rc;
	}
	if (images) {
		strbuf_addstr(&path, "images");
		rc = expand_tree(images, vars, &path, cfg->path, 0, e);
		if (rc)
			goto out;
	}
	strbuf_reset(&path);
	strbuf_addf(&path, "environments.%s", env);
	rc = expand_tree(node, vars, &path, cfg->path, 0, e);
	if (!rc)
		collect_secrets(node);
out:
	strbuf_release(&path);
	return rc;
}

json_t *config_get(const struct config *cfg, const char *path)
{
	json_t *v = cfg ? cfg->root : NULL;
	const char *p = path;
	char seg[256];

	while (v && *p) {
		size_t n = strcspn(p, ".[");

		if (n) {
			if (n >= sizeof(seg))
				return NULL;
			memcpy(seg, p, n);
			seg[n] = '\0';
			v = json_object_get(v, seg);
			p += n;
		}
		if (*p == '[') {
			char *end;
			unsigned long idx = strtoul(p + 1, &end, 10);

			if (*end != ']')
				return NULL;
			v = json_array_get(v, idx);
			p = end + 1;
		}
		if (*p == '.')
			p++;
	}
	return v;
}

const char *config_str(const struct config *cfg, const char *path, const char *def)
{
	json_t *v = config_get(cfg, path);

	return json_is_string(v) ? json_string_value(v) : def;
}

long long config_int(const struct config *cfg, const char *path, long long def)
{
	long long n;

	return config_json_int(config_get(cfg, path), &n) == 0 ? n : def;
}

int config_bool(const struct config *cfg, const char *path, int def)
{
	json_t *v = config_get(cfg, path);

	return json_is_boolean(v) ? json_is_true(v) : def;
}

void config_path(const struct config *cfg, const char *p, struct strbuf *out)
{
	const char *home = getenv("HOME");

	strbuf_reset(out);
	if (!p)
		return;
	if (p[0] == '~' && p[1] == '/' && home) {
		strbuf_addf(out, "%s%s", home, p + 1);
	} else if (p[0] != '/' && cfg && cfg->dir && strcmp(cfg->dir, ".")) {
		strbuf_addf(out, "%s/%s", cfg->dir, p);
	} else {
		strbuf_addstr(out, p);
	}
}

long long config_size_bytes(const char *s)
{
	char *end;
	double v;
	long long mult = 1;

	if (!s || !*s)
		return -1;
	v = strtod(s, &end);
	if (end == s || v < 0)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': mult = 1024LL; end++; break;
	case 'M': mult = 1024LL * 1024; end++; break;
	case 'G': mult = 1024LL * 1024 * 1024; end++; break;
	case 'T': mult = 1024LL * 1024 * 1024 * 1024; end++; break;
	default: return -1;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end)
		return -1;
	return (long long)(v * (double)mult);
}
