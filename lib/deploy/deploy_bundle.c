#include "deploy_bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deploy_state.h"
#include "fsutil.h"
#include "transport.h"
#include "xalloc.h"
#include "zstream.h"

/* Compose and env files are a few KiB; migrations can be large data
 * migrations, still far below this. */
#define BUNDLE_FILE_MAX (256 * 1024 * 1024)
#define BUNDLE_INDEX_MAX (4 * 1024 * 1024)

void deploy_bundle_init(struct deploy_bundle *b, const struct deploy_env *env,
			const char *release)
{
	struct strbuf rel = STRBUF_INIT;

	memset(b, 0, sizeof(*b));
	b->release = xstrdup(release);
	strbuf_init(&b->dir, 0);
	strbuf_addf(&rel, "releases/%s", release);
	deploy_env_state_path(env, rel.buf, &b->dir);
	strbuf_release(&rel);
	b->files = json_object();
	b->compose = json_array();
}

void deploy_bundle_release(struct deploy_bundle *b)
{
	if (!b)
		return;
	free(b->release);
	strbuf_release(&b->dir);
	json_decref(b->files);
	json_decref(b->compose);
	json_decref(b->index);
	json_decref(b->proven);
	memset(b, 0, sizeof(*b));
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

void deploy_bundle_expect(const struct deploy_env *env, struct deploy_bundle *b, int pinned)
{
	json_array_clear(b->compose);
	json_array_append_new(b->compose, json_pack("s+", "compose/", base_name(env->compose_file)));
	b->has_env = env->env_file != NULL;
	b->pinned = pinned;
}

static void bundle_path(const struct deploy_bundle *b, const char *rel, struct strbuf *out)
{
	strbuf_reset(out);
	strbuf_addf(out, "%s/%s", b->dir.buf, rel);
}

static void note_file(struct deploy_bundle *b, const char *rel, const void *data, size_t len)
{
	char hex[ZSTREAM_SHA256_HEX];

	zhash_hex(data, len, hex);
	json_object_set_new(b->files, rel, json_pack("{s:s, s:I}", "sha256", hex, "size",
						     (json_int_t)len));
}

/* Write data as rel in the bundle and record its hash. A file proven in
 * this run with the same sha256 is left as it is: rewriting the same bytes
 * costs the target an fsync and a rename, and a redeploy of the running
 * release (the no-op) would pay it for every file. */
static int put_file(struct deploy_env *env, struct deploy_bundle *b, const char *rel,
		    const void *data, size_t len, int mode, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;
	json_t *was = json_object_get(b->proven, rel);
	char hex[ZSTREAM_SHA256_HEX];
	int rc;

	if (was) {
		zhash_hex(data, len, hex);
		if (json_is_string(json_object_get(was, "sha256")) &&
		    !strcmp(json_string_value(json_object_get(was, "sha256")), hex) &&
		    json_integer_value(json_object_get(was, "size")) == (json_int_t)len) {
			note_file(b, rel, data, len);
			return 0;
		}
	}
	bundle_path(b, rel, &path);
	rc = transport_write_file(env->t, path.buf, data, len, mode, e);
	if (!rc)
		note_file(b, rel, data, len);
	strbuf_release(&path);
	return rc;
}

/* Copy a file of app_dir into the bundle, on the target. */
static int copy_in(struct deploy_env *env, struct deploy_bundle *b, const char *from,
		   const char *rel, int mode, int *exists, struct errbuf *e)
{
	struct strbuf src = STRBUF_INIT, text = STRBUF_INIT;
	int rc;

	deploy_env_path(env, from, &src);
	rc = transport_read_file(env->t, src.buf, &text, BUNDLE_FILE_MAX, exists, e);
	if (!rc && *exists)
		rc = put_file(env, b, rel, text.buf, text.len, mode, e);
	/* the env file's values: not left lying in freed memory either */
	if (text.alloc)
		memset(text.buf, 0, text.alloc);
	strbuf_release(&text);
	strbuf_release(&src);
	return rc;
}

int deploy_bundle_stage(struct deploy_env *env, struct deploy_bundle *b, const char *compose_path,
			struct errbuf *e)
{
	const char *compose = compose_path ? compose_path : env->compose_file;
	struct strbuf path = STRBUF_INIT, rel = STRBUF_INIT;
	char *text = NULL;
	int rc, exists = 0;

	bundle_path(b, DEPLOY_BUNDLE_INDEX, &path);
	if ((rc = transport_unlink(env->t, path.buf, e)))
		goto out;
	/* a proven one stays until commit: the same digests need no rewrite */
	bundle_path(b, DEPLOY_BUNDLE_OVERRIDE, &path);
	if (!json_object_get(b->proven, DEPLOY_BUNDLE_OVERRIDE) &&
	    (rc = transport_unlink(env->t, path.buf, e)))
		goto out;
	bundle_path(b, "compose", &path);
	if ((rc = transport_mkdir_p(env->t, path.buf, 0700, e)))
		goto out;
	strbuf_addf(&rel, "compose/%s", base_name(env->compose_file));
	if ((rc = copy_in(env, b, compose, rel.buf, 0600, &exists, e)))
		goto out;
	if (!exists) {
		deploy_env_path(env, compose, &path);
		rc = errbuf_set(e, BL_EFAIL, "%s: compose file %s is missing",
				transport_describe(env->t), path.buf);
		goto out;
	}
	json_array_append_new(b->compose, json_string(rel.buf));
	if (env->env_file) {
		if ((rc = copy_in(env, b, env->env_file, "env", 0600, &exists, e)))
			goto out;
		b->has_env = exists;
	}
	text = json_dumps(env->raw_node ? env->raw_node : json_object(),
			  JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text) {
		rc = errbuf_set(e, BL_EFAIL, "%s: cannot serialise the environment section", b->dir.buf);
		goto out;
	}
	rc = put_file(env, b, "environment.json", text, strlen(text), 0600, e);
out:
	if (rc)
		errbuf_prefix(e, "bundle %s: ", b->dir.buf);
	free(text);
	strbuf_release(&path);
	strbuf_release(&rel);
	return rc;
}

struct add_tree {
	struct deploy_bundle *b;
	const char *rel;
	struct strbuf key;
};

static int add_one(const char *path, const char *rel, const struct stat *st, void *arg,
		   struct errbuf *e)
{
	struct add_tree *at = arg;
	char hex[ZSTREAM_SHA256_HEX];
	long long size;
	int rc;

	if (S_ISDIR(st->st_mode))
		return 0;
	if ((rc = zhash_file(path, 0, hex, &size, e)))
		return rc;
	strbuf_reset(&at->key);
	strbuf_addf(&at->key, "%s/%s", at->rel, rel);
	json_object_set_new(at->b->files, at->key.buf,
			    json_pack("{s:s, s:I}", "sha256", hex, "size", (json_int_t)size));
	return 0;
}

/* The same walk as transport_put_tree, so the index lists what was put. */
int deploy_bundle_add_local_tree(struct deploy_bundle *b, const char *local_dir,
				 const char *rel, struct errbuf *e)
{
	struct add_tree at = { b, rel, STRBUF_INIT };
	int rc = fs_walk(local_dir, add_one, &at, e);

	strbuf_release(&at.key);
	return rc;
}

void deploy_bundle_add_files(struct deploy_bundle *b, json_t *files, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *rel;
	json_t *v;

	json_object_foreach(files, rel, v)
		if (!strncmp(rel, prefix, n) && rel[n] == '/')
			json_object_set(b->files, rel, v);
}

/* A JSON string is a YAML flow scalar: any image or service name is safe. */
static void yaml_str(struct strbuf *sb, const char *s)
{
	json_t *v = json_string(s);
	char *t = json_dumps(v, JSON_ENCODE_ANY);

	strbuf_addstr(sb, t ? t : "\"\"");
	free(t);
	json_decref(v);
}

int deploy_bundle_commit(struct deploy_env *env, struct deploy_bundle *b, json_t *images,
			 json_t *services, struct errbuf *e)
{
	struct strbuf yml = STRBUF_INIT, path = STRBUF_INIT;
	const char *svc;
	json_t *v, *idx = NULL;
	char *text = NULL, at[40];
	int rc = 0, n = 0;

	strbuf_addstr(&yml, "# written by ballast-deploy: every service's image pinned to the digest\n"
		      "# it was resolved to after pull, so that what was verified is what runs\n"
		      "services:\n");
	json_object_foreach(services, svc, v) {
		const char *digest = json_string_value(json_object_get(v, "digest"));

		if (!digest)
			continue;
		strbuf_addstr(&yml, "  ");
		yaml_str(&yml, svc);
		strbuf_addstr(&yml, ":\n    image: ");
		yaml_str(&yml, digest);
		strbuf_addch(&yml, '\n');
		n++;
	}
	b->pinned = n > 0;
	if (b->pinned && (rc = put_file(env, b, DEPLOY_BUNDLE_OVERRIDE, yml.buf, yml.len, 0600, e)))
		goto out;
	if (!b->pinned && json_object_get(b->proven, DEPLOY_BUNDLE_OVERRIDE)) {
		/* the one stage kept: nothing is pinned now */
		bundle_path(b, DEPLOY_BUNDLE_OVERRIDE, &path);
		if ((rc = transport_unlink(env->t, path.buf, e)))
			goto out;
	}
	deploy_now_iso(at, sizeof(at));
	idx = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:O}",
			"format", 1, "release", b->release, "env", env->name, "created_at", at,
			"created_by", deploy_whoami(), "host", deploy_hostname(),
			"project_directory", env->app_dir, "compose_files", b->compose,
			"services", services, "files", b->files);
	if (!idx) {
		rc = errbuf_set(e, BL_EFAIL, "bundle %s: cannot build the index", b->dir.buf);
		goto out;
	}
	json_object_set_new(idx, "images", images ? json_incref(images) : json_object());
	if (b->has_env)
		json_object_set_new(idx, "env_file", json_string("env"));
	if (b->pinned)
		json_object_set_new(idx, "override", json_string(DEPLOY_BUNDLE_OVERRIDE));
	text = json_dumps(idx, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text) {
		rc = errbuf_set(e, BL_EFAIL, "bundle %s: cannot serialise the index", b->dir.buf);
		goto out;
	}
	bundle_path(b, DEPLOY_BUNDLE_INDEX, &path);
	/* the commit: the transport's write is temp + fsync + rename (+ the
	 * directory's fsync locally) */
	if ((rc = transport_write_file(env->t, path.buf, text, strlen(text), 0600, e)))
		goto out;
	zhash_hex(text, strlen(text), b->sha256);
	json_decref(b->index);
	b->index = json_incref(idx);
out:
	free(text);
	json_decref(idx);
	strbuf_release(&yml);
	strbuf_release(&path);
	return rc;
}

static int verify_file(struct deploy_env *env, struct deploy_bundle *b, const char *rel,
		       json_t *want, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT, text = STRBUF_INIT;
	char hex[ZSTREAM_SHA256_HEX];
	const char *sha = json_string_value(json_object_get(want, "sha256"));
	int exists = 0, rc;

	if (!sha || strstr(rel, "..") || rel[0] == '/') {
		rc = errbuf_set(e, BL_EVERIFY, "bundle %s: bundle.json: files.%s: expected a relative path with a sha256",
				b->dir.buf, rel);
		goto out;
	}
	bundle_path(b, rel, &path);
	if ((rc = transport_read_file(env->t, path.buf, &text, BUNDLE_FILE_MAX, &exists, e)))
		goto out;
	if (!exists) {
		rc = errbuf_set(e, BL_EVERIFY, "bundle %s: %s is missing", b->dir.buf, rel);
		goto out;
	}
	zhash_hex(text.buf, text.len, hex);
	if (strcmp(hex, sha))
		rc = errbuf_set(e, BL_EVERIFY, "bundle %s: %s: sha256 %s, expected %s (changed since it was deployed)",
				b->dir.buf, rel, hex, sha);
out:
	if (text.alloc)
		memset(text.buf, 0, text.alloc);
	strbuf_release(&text);
	strbuf_release(&path);
	return rc;
}

int deploy_bundle_read_index(struct deploy_env *env, const struct deploy_bundle *b,
			     json_t **index, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT, text = STRBUF_INIT;
	int exists = 0, rc;

	*index = NULL;
	bundle_path(b, DEPLOY_BUNDLE_INDEX, &path);
	rc = transport_read_file(env->t, path.buf, &text, BUNDLE_INDEX_MAX, &exists, e);
	if (!rc && exists) {
		*index = json_loadb(text.buf, text.len, 0, NULL);
		if (!json_is_object(*index)) {
			json_decref(*index);
			*index = NULL;
		}
	}
	strbuf_release(&path);
	strbuf_release(&text);
	return rc;
}

int deploy_bundle_load(struct deploy_env *env, struct deploy_bundle *b, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT, text = STRBUF_INIT;
	struct transport_stat st;
	json_t *idx = NULL, *files, *v;
	const char *rel;
	int exists = 0, rc;

	if ((rc = transport_stat(env->t, b->dir.buf, &st, e)))
		goto out;
	if (!st.exists || !st.is_dir) {
		rc = errbuf_set(e, BL_EUSAGE, "environment %s: release %s is not kept (no bundle at %s); see 'ballast-deploy releases %s'",
				env->name, b->release, b->dir.buf, env->name);
		goto out;
	}
	bundle_path(b, DEPLOY_BUNDLE_INDEX, &path);
	if ((rc = transport_read_file(env->t, path.buf, &text, BUNDLE_INDEX_MAX, &exists, e)))
		goto out;
	if (!exists) {
		rc = errbuf_set(e, BL_EVERIFY, "bundle %s: incomplete (no %s): a deploy of it did not finish recording it",
				b->dir.buf, DEPLOY_BUNDLE_INDEX);
		goto out;
	}
	idx = json_loadb(text.buf, text.len, 0, NULL);
	files = json_object_get(idx, "files");
	if (!json_is_object(idx) || !json_is_object(files) ||
	    !json_array_size(json_object_get(idx, "compose_files")) ||
	    !json_is_string(json_object_get(idx, "release")) ||
	    strcmp(json_string_value(json_object_get(idx, "release")), b->release)) {
		rc = errbuf_set(e, BL_EVERIFY, "%s: expected a bundle index of release %s (files, compose_files)",
				path.buf, b->release);
		goto out;
	}
	json_object_foreach(files, rel, v)
		if ((rc = verify_file(env, b, rel, v, e)))
			goto out;
	json_decref(b->files);
	b->files = json_incref(files);
	json_decref(b->compose);
	b->compose = json_incref(json_object_get(idx, "compose_files"));
	{
		size_t i;

		json_array_foreach(b->compose, i, v)
			if (!json_is_string(v) || !json_object_get(files, json_string_value(v))) {
				rc = errbuf_set(e, BL_EVERIFY, "%s: compose_files[%zu]: not a file of the index",
						path.buf, i);
				goto out;
			}
	}
	b->has_env = json_is_string(json_object_get(idx, "env_file")) &&
		     json_object_get(files, "env") != NULL;
	b->pinned = json_is_string(json_object_get(idx, "override")) &&
		    json_object_get(files, DEPLOY_BUNDLE_OVERRIDE) != NULL;
	zhash_hex(text.buf, text.len, b->sha256);
	json_decref(b->index);
	b->index = json_incref(idx);
out:
	json_decref(idx);
	strbuf_release(&path);
	strbuf_release(&text);
	return rc;
}

void deploy_bundle_compose_argv(const struct deploy_env *env, const struct deploy_bundle *b,
				const char *const *args, struct strvec *out)
{
	size_t i;
	json_t *v;

	strvec_push_json(out, env->compose_command);
	json_array_foreach(b->compose, i, v) {
		strvec_push(out, "-f");
		strvec_pushf(out, "%s/%s", b->dir.buf, json_string_value(v));
	}
	if (b->pinned) {
		strvec_push(out, "-f");
		strvec_pushf(out, "%s/%s", b->dir.buf, DEPLOY_BUNDLE_OVERRIDE);
	}
	if (b->has_env) {
		strvec_push(out, "--env-file");
		strvec_pushf(out, "%s/env", b->dir.buf);
	}
	strvec_push(out, "--project-directory");
	strvec_push(out, env->app_dir);
	if (env->project_name) {
		strvec_push(out, "-p");
		strvec_push(out, env->project_name);
	}
	for (const char *const *a = args; a && *a; a++)
		strvec_push(out, *a);
}

json_t *deploy_bundle_ref(const struct deploy_bundle *b)
{
	return json_pack("{s:s, s:s}", "dir", b->dir.buf, "sha256", b->sha256);
}

static int by_created(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	const char *ta = json_string_value(json_object_get(json_object_get(a, "index"), "created_at"));
	const char *tb = json_string_value(json_object_get(json_object_get(b, "index"), "created_at"));
	int c = strcmp(ta ? ta : "", tb ? tb : "");

	return c ? c : strcmp(json_string_value(json_object_get(a, "release")),
			      json_string_value(json_object_get(b, "release")));
}

int deploy_bundle_list(struct deploy_env *env, json_t **bundles, struct errbuf *e)
{
	struct strbuf dir = STRBUF_INIT, out = STRBUF_INIT;
	json_t **items = NULL;
	size_t n = 0, cap = 0;
	char *tok, *save = NULL;
	int rc;

	*bundles = json_array();
	deploy_env_state_path(env, "releases", &dir);
	rc = transport_list_dir(env->t, dir.buf, &out, e);
	if (rc)
		goto out;
	for (tok = strtok_r(out.buf, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
		struct deploy_bundle b;
		json_t *idx = NULL, *item;

		/* a release name is a tag: anything else is not a bundle
		 * (upload's temporary directories) */
		if (!deploy_tag_valid(tok))
			continue;
		deploy_bundle_init(&b, env, tok);
		rc = deploy_bundle_read_index(env, &b, &idx, e);
		deploy_bundle_release(&b);
		if (rc)
			goto out;
		item = json_pack("{s:s, s:b}", "release", tok, "complete", json_is_object(idx));
		if (json_is_object(idx))
			json_object_set(item, "index", idx);
		json_decref(idx);
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			items = xrealloc(items, cap * sizeof(*items));
		}
		items[n++] = item;
	}
	if (n)
		qsort(items, n, sizeof(*items), by_created);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(*bundles, items[i]);
	n = 0;
out:
	for (size_t i = 0; i < n; i++)
		json_decref(items[i]);
	free(items);
	strbuf_release(&dir);
	strbuf_release(&out);
	return rc;
}

int deploy_bundle_prune(struct deploy_env *env, long long keep, const char *current,
			const char *previous, json_t *removed, struct errbuf *e)
{
	json_t *list = NULL, *it;
	long long kept = 0;
	size_t i;
	int rc;

	if ((rc = deploy_bundle_list(env, &list, e)))
		goto out;
	/* current and previous take their places first, whatever their age;
	 * the newest others fill what is left of `keep` */
	json_array_foreach(list, i, it) {
		const char *rel = json_string_value(json_object_get(it, "release"));

		if (json_is_true(json_object_get(it, "complete")) &&
		    ((current && !strcmp(rel, current)) || (previous && !strcmp(rel, previous))))
			kept++;
	}
	for (i = json_array_size(list); i-- > 0;) {
		const char *rel;
		struct strbuf dir = STRBUF_INIT;
		int st = 0;

		it = json_array_get(list, i);
		rel = json_string_value(json_object_get(it, "release"));
		if (!json_is_true(json_object_get(it, "complete")) ||
		    (current && !strcmp(rel, current)) || (previous && !strcmp(rel, previous)))
			continue;
		if (kept < keep) {
			kept++;
			continue;
		}
		strbuf_addf(&dir, "releases/%s", rel);
		{
			struct strbuf path = STRBUF_INIT;
			const char *argv[] = { "rm", "-rf", "--", NULL, NULL };

			deploy_env_state_path(env, dir.buf, &path);
			argv[3] = path.buf;
			rc = transport_run(env->t, argv, NULL, NULL, NULL, NULL, &st, 60000, e);
			if (!rc && st)
				rc = errbuf_set(e, BL_EFAIL, "%s: cannot remove %s (rm exited with status %d)",
						transport_describe(env->t), path.buf, st);
			strbuf_release(&path);
		}
		strbuf_release(&dir);
		if (rc)
			goto out;
		json_array_append_new(removed, json_string(rel));
	}
out:
	json_decref(list);
	return rc;
}

int deploy_releases(struct deploy_env *env, json_t **releases, struct errbuf *e)
{
	json_t *list = NULL, *hist = NULL, *state = NULL, *it;
	const char *cur, *prev;
	size_t i;
	int rc;

	*releases = json_array();
	if ((rc = deploy_state_read(env, &state, e)) || (rc = deploy_history_read(env, &hist, e)) ||
	    (rc = deploy_bundle_list(env, &list, e)))
		goto out;
	cur = json_string_value(json_object_get(state, "release"));
	prev = json_string_value(json_object_get(state, "previous_release"));
	json_array_foreach(list, i, it) {
		const char *rel = json_string_value(json_object_get(it, "release"));
		json_t *idx = json_object_get(it, "index"), *o, *ran = NULL, *last = NULL;
		size_t j;

		o = json_pack("{s:s, s:O, s:b, s:b}", "release", rel, "complete",
			      json_object_get(it, "complete"), "current", cur && !strcmp(cur, rel),
			      "previous", prev && !strcmp(prev, rel));
		if (idx) {
			json_object_set(o, "created_at", json_object_get(idx, "created_at"));
			json_object_set(o, "services", json_object_get(idx, "services"));
			json_object_set(o, "images", json_object_get(idx, "images"));
		}
		for (j = json_array_size(hist); j-- > 0 && !ran;) {
			json_t *h = json_array_get(hist, j);
			const char *to = json_string_value(json_object_get(h, "to"));
			const char *res = json_string_value(json_object_get(h, "result"));
			const char *act = json_string_value(json_object_get(h, "action"));

			if (!to || !res || !act || strcmp(to, rel))
				continue;
			if (!last)
				last = h;
			/* the release ran after a deploy that was deployed, or a
			 * rollback or recovery that ended on it */
			if (!strcmp(act, "deploy") ? !strcmp(res, "deployed") : !strncmp(res, "rolled-back", 11))
				ran = h;
		}
		if (last)
			json_object_set(o, "result", json_object_get(last, "result"));
		if (ran) {
			json_object_set(o, "deployed_at", json_object_get(ran, "finished_at"));
			if (json_is_integer(json_object_get(ran, "schema_after")))
				json_object_set(o, "schema_version", json_object_get(ran, "schema_after"));
		}
		json_array_append_new(*releases, o);
	}
out:
	json_decref(list);
	json_decref(hist);
	json_decref(state);
	return rc;
}
