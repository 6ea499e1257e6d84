/*
 * config: ballast.json, loaded with jansson, interpolated and validated.
 *
 * Contract: config_load() returns a config whose JSON tree matches the
 * schema in config_schema.c (unknown keys are errors with a did-you-mean
 * hint; wrong types name the JSON path), or BL_EUSAGE with one line:
 *   "ballast.json:12:5: invalid JSON: ..."            (jansson's position)
 *   "ballast.json: environments.prod.health[0].url: expected a string"
 *   "ballast.json: repository.path: undefined variable ${BACKUP_DIR}"
 *
 * ${VAR} and ${VAR:-default} are expanded in every string value from the
 * process environment ("$$" is a literal '$'). Two subtrees are left raw at
 * load: "images" and "environments", because they are only meaningful to
 * ballast-deploy, which expands them with config_expand_env() once it has
 * read the environment's env file; a nightly backup must not fail because a
 * deploy-only variable is unset.
 *
 * Secrets: the values of variables named by any "*_env" key, passwords in
 * database conninfo strings, and variables whose names contain PASSWORD,
 * SECRET or TOKEN are registered with log_add_secret() while loading.
 */
#ifndef BALLAST_CONFIG_H
#define BALLAST_CONFIG_H

#include <jansson.h>

#include "errbuf.h"
#include "strbuf.h"

struct config {
	json_t *root;
	char *path;  /* the file it came from, for messages */
	char *dir;   /* its directory: relative paths in it resolve from here */
};

/* Which file to use: explicit (--config) > $BALLAST_CONFIG > ./ballast.json
 * > /etc/ballast/ballast.json. BL_EUSAGE when none exists. */
int config_find(const char *explicit_path, struct strbuf *out, struct errbuf *e);

int config_load(const char *path, struct config **out, struct errbuf *e);
/* For tests and stdin: name appears in messages. */
int config_load_string(const char *text, const char *name, struct config **out,
		       struct errbuf *e);
void config_free(struct config *cfg);

/* Expand ${VAR} / ${VAR:-default} in `in`. Variables are looked up in
 * `vars` (a JSON object of strings, may be NULL) first, then the process
 * environment. `where` ("repository.path") is used in the error. */
int config_interpolate(const char *in, json_t *vars, struct strbuf *out,
		       const char *file, const char *where, struct errbuf *e);

/* Expand "images" and "environments.<env>" in place, with vars (the env
 * file) before the process environment. BL_EUSAGE for an unknown env. */
int config_expand_env(struct config *cfg, const char *env, json_t *vars, struct errbuf *e);

/* Every "*_env" key (password_env, access_key_env, ...) under the top-level
 * key subtree (NULL: everything but "environments", which ballast-deploy
 * reads with its env file) must name a set variable: BL_EUSAGE naming the
 * first JSON path and variable that is not. */
int config_check_env(const struct config *cfg, const char *subtree, struct errbuf *e);

/* Lookups by dotted path ("compression.level", "databases[0].name",
 * "environments.prod.app_dir"); NULL/default when absent. */
json_t *config_get(const struct config *cfg, const char *path);
const char *config_str(const struct config *cfg, const char *path, const char *def);
long long config_int(const struct config *cfg, const char *path, long long def);
int config_bool(const struct config *cfg, const char *path, int def);

/* Accept an integer or a string of digits (after interpolation a port is
 * often a string). -1 when v is neither. */
int config_json_int(json_t *v, long long *out);

/* "512M", "1G", "1.5GiB", "100000" (bytes), "0" -> bytes (K, M, G, T are
 * powers of 1024); -1 when malformed. */
long long config_size_bytes(const char *s);

/* "500ms", "5s", "10m", "2h", "1d", "0" -> milliseconds. */
int config_duration_ms(const char *s, long long *ms);

/* An optional duration setting, obj.key: absent (or obj NULL) is def;
 * present, it must be a duration string of at least min_ms, else BL_EUSAGE
 * with the one message every duration setting gives:
 *   <where>.<key>: expected a duration like "30s", got "<value>"
 * (a value that is not a string is shown as its JSON: got 30). where names
 * obj ("repository", "ballast.json: environments.prod"); NULL for a caller
 * whose errors are already prefixed with it ("<key>: expected ..."). */
int config_duration_opt(json_t *obj, const char *key, long long def, long long min_ms,
			const char *where, long long *out, struct errbuf *e);
/* The same for a value already taken out of its object: s NULL is def. */
int config_duration_str(const char *s, const char *key, long long def, long long min_ms,
			const char *where, long long *out, struct errbuf *e);

/* Resolve a path from the config: "~/" from $HOME, relative from cfg->dir. */
void config_path(const struct config *cfg, const char *p, struct strbuf *out);

/* Levenshtein distance, for did-you-mean hints. */
int config_edit_distance(const char *a, const char *b);

#endif
