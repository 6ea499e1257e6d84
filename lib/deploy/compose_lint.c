#include "compose_lint.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "config.h"
#include "xalloc.h"

/* Keep in step with docs/lint.md: the ids are part of the interface (labels
 * name them, --json carries them). */
enum {
	R_NON_ROOT,
	R_NO_NEW_PRIVS,
	R_PRIVILEGED,
	R_READ_ONLY,
	R_TMP_TMPFS,
	R_CPU_LIMIT,
	R_MEMORY_LIMIT,
	R_HEALTHCHECK,
	R_RESTART,
	R_LOGGING,
	R_PORTS,
	R_WRITABLE_PATHS,
	R_PG_DATA_VOLUME,
	R_CAPABILITIES,
	R_HOST_NAMESPACES,
	R_DOCKER_SOCKET,
	R_HOST_MOUNTS,
	R_DEVICES,
	R_DUPLICATE_PORTS,
	R_CONTAINER_NAME,
	R_IMAGE_TAG,
	R_UNKNOWN_KEY,
	R_COUNT
};

static const struct compose_rule rules[] = {
	[R_NON_ROOT] = { "non-root", "the container runs as a non-root user (user:)" },
	[R_NO_NEW_PRIVS] = { "no-new-privileges",
			     "security_opt has no-new-privileges:true" },
	[R_PRIVILEGED] = { "privileged", "the container is not privileged" },
	[R_READ_ONLY] = { "read-only", "the root filesystem is read-only (read_only: true)" },
	[R_TMP_TMPFS] = { "tmp-tmpfs", "a read-only container has a tmpfs at /tmp" },
	[R_CPU_LIMIT] = { "cpu-limit", "a CPU limit (deploy.resources.limits.cpus or cpus:)" },
	[R_MEMORY_LIMIT] = { "memory-limit",
			     "a memory limit (deploy.resources.limits.memory or mem_limit:)" },
	[R_HEALTHCHECK] = { "healthcheck", "a healthcheck with a test" },
	[R_RESTART] = { "restart", "a restart policy other than \"no\"" },
	[R_LOGGING] = { "logging", "json-file logging with max-size and max-file (or local)" },
	[R_PORTS] = { "ports", "only host ports 80 and 443 are published" },
	[R_WRITABLE_PATHS] = { "writable-paths",
			       "writable mounts only where ballast.lint.writable allows" },
	[R_PG_DATA_VOLUME] = { "pg-data-volume",
			       "PostgreSQL data lives in a named volume" },
	[R_CAPABILITIES] = { "capabilities",
			     "cap_add grants no capability that escapes the container" },
	[R_HOST_NAMESPACES] = { "host-namespaces",
				"no host pid, ipc, network, uts or user namespace" },
	[R_DOCKER_SOCKET] = { "docker-socket", "the Docker socket is not mounted" },
	[R_HOST_MOUNTS] = { "host-mounts",
			    "no bind mount of the host's root or system directories" },
	[R_DEVICES] = { "devices", "no host devices are passed in (devices:)" },
	[R_DUPLICATE_PORTS] = { "duplicate-ports",
				"no host ip/port/protocol is published by two services" },
	[R_CONTAINER_NAME] = { "container-name",
			       "container_name is unique and a valid Docker name" },
	[R_IMAGE_TAG] = { "image-tag",
			  "images have a fixed tag or digest (a warning unless immutable)" },
	[R_UNKNOWN_KEY] = { "unknown-key", "every key is in the compose specification" },
	{ NULL, NULL }
};

#define LABEL_ALLOW "ballast.lint.allow"
#define LABEL_WRITABLE "ballast.lint.writable"
/* Merge keys may chain; a cycle through aliases must not hang the lint. */
#define MERGE_DEPTH 16
/* include: chains deeper than this are refused (a cycle is caught before). */
#define COMPOSE_LINT_INCLUDE_DEPTH 16

const struct compose_rule *compose_lint_rules(void)
{
	return rules;
}

/* A published host port (range), kept across services and included files. */
struct published {
	char *file, *service;
	char *profiles;       /* the service's profiles, "a,b"; NULL: always runs */
	int line;
	char ip[64];          /* "" for every address */
	long lo, hi;
	char proto[16];
};

/* A name taken by a service (its container_name, or the service name). */
struct taken {
	char *name, *file, *service, *profiles;
	int line;
};

/* What the lint of one compose file and its includes shares. */
struct lint_run {
	const struct compose_lint_opts *opts;
	struct compose_lint *r;
	struct published *ports;
	size_t nports, aports;
	struct taken *names, *services;
	size_t nnames, anames, nservices, aservices;
	const char *stack[COMPOSE_LINT_INCLUDE_DEPTH + 1];  /* the include chain */
	int depth;
};

struct lint {
	yaml_document_t *doc;
	struct compose_lint *r;
	struct lint_run *run;
	const char *file;     /* the file being linted (root or included) */
	const char *svc;      /* service being checked; NULL at the top level */
	char *profiles;       /* its profiles, "a,b"; NULL when it has none */
	int svc_line;
	unsigned allow;       /* bit per rule exempted by the label */
};

/* ---- YAML helpers ---- */

static yaml_node_t *yget(yaml_document_t *d, int idx)
{
	return idx ? yaml_document_get_node(d, idx) : NULL;
}

static int line_of(const yaml_node_t *n)
{
	return n ? (int)n->start_mark.line + 1 : 0;
}

static int is_scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE;
}

static int is_map(const yaml_node_t *n)
{
	return n && n->type == YAML_MAPPING_NODE;
}

static int is_seq(const yaml_node_t *n)
{
	return n && n->type == YAML_SEQUENCE_NODE;
}

/* A plain `~`, `null` or empty value: compose treats it as absent. */
static int is_null(const yaml_node_t *n)
{
	const char *v;

	if (!n)
		return 1;
	if (!is_scalar(n) || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	v = (const char *)n->data.scalar.value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

/* libyaml NUL-terminates scalar values; an embedded NUL just ends it early,
 * which can only make a value look less like what a rule accepts. */
static const char *sval(const yaml_node_t *n)
{
	return is_scalar(n) ? (const char *)n->data.scalar.value : NULL;
}

static int scalar_is(const yaml_node_t *n, const char *s)
{
	return is_scalar(n) && n->data.scalar.length == strlen(s) &&
	       !memcmp(n->data.scalar.value, s, n->data.scalar.length);
}

static int is_true(const yaml_node_t *n)
{
	const char *v = sval(n);

	/* YAML 1.1 (docker-compose 1.x) also reads yes/on as true. */
	return v && (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE") ||
		     !strcmp(v, "yes") || !strcmp(v, "on"));
}

static yaml_node_t *map_get_depth(yaml_document_t *d, yaml_node_t *m, const char *key,
				  int depth)
{
	yaml_node_pair_t *p;

	if (!is_map(m) || depth > MERGE_DEPTH)
		return NULL;
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++)
		if (scalar_is(yget(d, p->key), key))
			return yget(d, p->value);
	/* Not set here: look in `<<: *anchor` / `<<: [*a, *b]` (earlier wins). */
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *v;

		if (!scalar_is(yget(d, p->key), "<<"))
			continue;
		v = yget(d, p->value);
		if (is_map(v)) {
			yaml_node_t *got = map_get_depth(d, v, key, depth + 1);

			if (got)
				return got;
		} else if (is_seq(v)) {
			for (yaml_node_item_t *i = v->data.sequence.items.start;
			     i < v->data.sequence.items.top; i++) {
				yaml_node_t *got = map_get_depth(d, yget(d, *i), key, depth + 1);

				if (got)
					return got;
			}
		}
	}
	return NULL;
}

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *m, const char *key)
{
	yaml_node_t *v = map_get_depth(d, m, key, 0);

	return is_null(v) ? NULL : v;
}

/* deploy.resources.limits.cpus and friends. */
static yaml_node_t *map_path(yaml_document_t *d, yaml_node_t *m, const char *const *keys)
{
	for (; *keys && m; keys++)
		m = map_get(d, m, *keys);
	return m;
}

/* ---- findings ---- */

static void vadd_finding(struct lint *L, int rule, int warning, const yaml_node_t *at,
			 const char *fix, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));

static void vadd_finding(struct lint *L, int rule, int warning, const yaml_node_t *at,
			 const char *fix, const char *fmt, va_list ap)
{
	struct compose_lint *r = L->r;
	struct compose_finding *f;
	struct strbuf sb = STRBUF_INIT;

	if (r->nr == r->alloc) {
		size_t n = r->alloc ? r->alloc * 2 : 16;

		r->findings = xrealloc(r->findings, n * sizeof(*r->findings));
		r->alloc = n;
	}
	strbuf_vaddf(&sb, fmt, ap);
	f = &r->findings[r->nr++];
	f->rule = rules[rule].id;
	f->file = xstrdup(L->file);
	f->service = L->svc ? xstrdup(L->svc) : NULL;
	f->line = at ? line_of(at) : L->svc_line;
	f->problem = strbuf_detach(&sb, NULL);
	f->fix = xstrdup(fix);
	f->allowed = !!(L->allow & (1u << rule));
	f->warning = warning;
	if (!f->allowed)
		*(warning ? &r->warnings : &r->violations) += 1;
}

static void add_finding_as(struct lint *L, int rule, int warning, const yaml_node_t *at,
			   const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static void add_finding_as(struct lint *L, int rule, int warning, const yaml_node_t *at,
			   const char *fix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vadd_finding(L, rule, warning, at, fix, fmt, ap);
	va_end(ap);
}

/* A violation: every rule but image-tag only ever reports those. */
#define add_finding(L, rule, at, fix, ...) add_finding_as(L, rule, 0, at, fix, __VA_ARGS__)

/* ---- labels ---- */

/* The value of label `name` (map or "k=v" list form), or NULL. */
static const char *label_get(struct lint *L, yaml_node_t *svc, const char *name,
			     yaml_node_t **at, struct strbuf *tmp)
{
	yaml_node_t *labels = map_get(L->doc, svc, "labels");
	size_t n = strlen(name);

	if (is_map(labels)) {
		yaml_node_t *v = map_get(L->doc, labels, name);

		*at = v;
		return v ? sval(v) : NULL;
	}
	if (!is_seq(labels))
		return NULL;
	for (yaml_node_item_t *i = labels->data.sequence.items.start;
	     i < labels->data.sequence.items.top; i++) {
		yaml_node_t *it = yget(L->doc, *i);
		const char *s = sval(it);

		if (s && !strncmp(s, name, n) && (s[n] == '=' || !s[n])) {
			*at = it;
			strbuf_reset(tmp);
			strbuf_addstr(tmp, s[n] ? s + n + 1 : "");
			return tmp->buf;
		}
	}
	return NULL;
}

static int next_token(const char **p, struct strbuf *tok)
{
	const char *s = *p;
	size_t n;

	s += strspn(s, ", \t");
	n = strcspn(s, ", \t");
	strbuf_reset(tok);
	if (!n)
		return 0;
	strbuf_add(tok, s, n);
	*p = s + n;
	return 1;
}

static int parse_allow(struct lint *L, yaml_node_t *svc, struct errbuf *e)
{
	struct strbuf tmp = STRBUF_INIT, tok = STRBUF_INIT;
	yaml_node_t *at = NULL;
	const char *v = label_get(L, svc, LABEL_ALLOW, &at, &tmp);
	int rc = 0;

	L->allow = 0;
	while (v && next_token(&v, &tok)) {
		int i, best = -1, bestd = 1000;

		for (i = 0; i < R_COUNT; i++) {
			int dist = config_edit_distance(tok.buf, rules[i].id);

			if (!dist)
				break;
			if (dist < bestd) {
				bestd = dist;
				best = i;
			}
		}
		if (i < R_COUNT) {
			L->allow |= 1u << i;
			continue;
		}
		/* A typo in an exemption must not pass silently as "no exemption"
		 * on one day and as a rule nobody checks on another. */
		if (best >= 0 && bestd <= 3)
			rc = errbuf_set(e, BL_EUSAGE,
					"%s:%d: services.%s.labels.%s: unknown rule '%s' (did you mean \"%s\"?)",
					L->file, line_of(at), L->svc, LABEL_ALLOW, tok.buf,
					rules[best].id);
		else
			rc = errbuf_set(e, BL_EUSAGE,
					"%s:%d: services.%s.labels.%s: unknown rule '%s' (see 'ballast-deploy lint --help')",
					L->file, line_of(at), L->svc, LABEL_ALLOW, tok.buf);
		break;
	}
	strbuf_release(&tmp);
	strbuf_release(&tok);
	return rc;
}

/* ---- mounts ---- */

enum mount_kind { M_VOLUME, M_BIND, M_TMPFS, M_ANON, M_UNKNOWN };

struct mount {
	enum mount_kind kind;
	char source[512];
	char target[512];
	int ro;
	yaml_node_t *at;
};

static enum mount_kind source_kind(const char *src)
{
	if (!*src)
		return M_ANON;
	if (src[0] == '/' || src[0] == '.' || src[0] == '~')
		return M_BIND;
	if (strstr(src, "${") || src[0] == '$')
		return M_UNKNOWN;
	return M_VOLUME;
}

static int mode_has_ro(const char *mode)
{
	struct strbuf tok = STRBUF_INIT;
	int ro = 0;

	while (next_token(&mode, &tok))
		if (!strcmp(tok.buf, "ro"))
			ro = 1;
	strbuf_release(&tok);
	return ro;
}

/* One `volumes:` entry of a service, short ("src:dst:mode") or long form. */
static int parse_volume(struct lint *L, yaml_node_t *it, struct mount *m)
{
	memset(m, 0, sizeof(*m));
	m->at = it;
	if (is_scalar(it)) {
		const char *s = sval(it), *c1 = strchr(s, ':'), *c2;

		if (!c1) {
			m->kind = M_ANON;
			snprintf(m->target, sizeof(m->target), "%s", s);
			return 0;
		}
		snprintf(m->source, sizeof(m->source), "%.*s", (int)(c1 - s), s);
		c2 = strchr(c1 + 1, ':');
		snprintf(m->target, sizeof(m->target), "%.*s",
			 (int)(c2 ? c2 - c1 - 1 : (long)strlen(c1 + 1)), c1 + 1);
		m->ro = c2 ? mode_has_ro(c2 + 1) : 0;
		m->kind = source_kind(m->source);
		return 0;
	}
	if (is_map(it)) {
		const char *type = sval(map_get(L->doc, it, "type"));
		const char *src = sval(map_get(L->doc, it, "source"));
		const char *dst = sval(map_get(L->doc, it, "target"));

		snprintf(m->source, sizeof(m->source), "%s", src ? src : "");
		snprintf(m->target, sizeof(m->target), "%s", dst ? dst : "");
		m->ro = is_true(map_get(L->doc, it, "read_only"));
		if (type && !strcmp(type, "tmpfs"))
			m->kind = M_TMPFS;
		else if (type && !strcmp(type, "bind"))
			m->kind = M_BIND;
		else
			m->kind = source_kind(m->source);
		return 0;
	}
	return -1;
}

/* "/tmp:size=64m,noexec" -> "/tmp" */
static void tmpfs_target(const char *s, char *out, size_t n)
{
	snprintf(out, n, "%.*s", (int)strcspn(s, ":"), s);
}

/* Is path equal to dir or below it? Both absolute, no trailing slash games. */
static int path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/' ||
					  (n == 1 && dir[0] == '/'));
}

/* ---- rules ---- */

static void check_user(struct lint *L, yaml_node_t *svc)
{
	yaml_node_t *u = map_get(L->doc, svc, "user");
	const char *v = sval(u);
	static const char fix[] = "run as an unprivileged uid:gid, e.g. user: \"10001:10001\", "
				  "and make the image's writable paths owned by it";

	if (!u) {
		add_finding(L, R_NON_ROOT, NULL, fix, "runs as the image's default user, "
			    "usually root (no user:)");
		return;
	}
	if (!v) {
		add_finding(L, R_NON_ROOT, u, fix, "user: is not a string");
		return;
	}
	/* A uid of 0 or the name root, with or without a group. */
	if (!strcmp(v, "0") || !strncmp(v, "0:", 2) || !strcmp(v, "root") ||
	    !strncmp(v, "root:", 5))
		add_finding(L, R_NON_ROOT, u, fix, "runs as root (user: \"%s\")", v);
}

static void check_privileges(struct lint *L, yaml_node_t *svc)
{
	yaml_node_t *so = map_get(L->doc, svc, "security_opt");
	yaml_node_t *priv = map_get(L->doc, svc, "privileged");
	int found = 0;

	if (is_seq(so)) {
		for (yaml_node_item_t *i = so->data.sequence.items.start;
		     i < so->data.sequence.items.top; i++) {
			const char *s = sval(yget(L->doc, *i));

			if (s && (!strcmp(s, "no-new-privileges") ||
				  !strcmp(s, "no-new-privileges:true") ||
				  !strcmp(s, "no-new-privileges=true")))
				found = 1;
		}
	}
	if (!found)
		add_finding(L, R_NO_NEW_PRIVS, so, "add security_opt: [\"no-new-privileges:true\"]",
			    "%s", so ? "security_opt lacks no-new-privileges:true"
				     : "processes may gain privileges through setuid binaries "
				       "(no security_opt)");
	if (is_true(priv))
		add_finding(L, R_PRIVILEGED, priv, "remove privileged: true; grant single "
			    "capabilities with cap_add if one is really needed",
			    "runs privileged (privileged: true): every host device and "
			    "capability");
}

static int has_tmpfs_at(struct lint *L, yaml_node_t *svc, const char *target)
{
	yaml_node_t *t = map_get(L->doc, svc, "tmpfs");
	yaml_node_t *vols = map_get(L->doc, svc, "volumes");
	char buf[512];

	if (is_scalar(t)) {
		tmpfs_target(sval(t), buf, sizeof(buf));
		if (!strcmp(buf, target))
			return 1;
	} else if (is_seq(t)) {
		for (yaml_node_item_t *i = t->data.sequence.items.start;
		     i < t->data.sequence.items.top; i++) {
			const char *s = sval(yget(L->doc, *i));

			if (!s)
				continue;
			tmpfs_target(s, buf, sizeof(buf));
			if (!strcmp(buf, target))
				return 1;
		}
	}
	if (is_seq(vols)) {
		for (yaml_node_item_t *i = vols->data.sequence.items.start;
		     i < vols->data.sequence.items.top; i++) {
			struct mount m;

			if (!parse_volume(L, yget(L->doc, *i), &m) && m.kind == M_TMPFS &&
			    !strcmp(m.target, target))
				return 1;
		}
	}
	return 0;
}

static void check_read_only(struct lint *L, yaml_node_t *svc)
{
	yaml_node_t *ro = map_get(L->doc, svc, "read_only");

	if (!is_true(ro)) {
		add_finding(L, R_READ_ONLY, ro,
			    "set read_only: true and mount what the process must write: "
			    "tmpfs for scratch (/tmp), named volumes for data",
			    "the root filesystem is writable (%s)",
			    ro ? "read_only is not true" : "no read_only:");
		return;
	}
	if (!has_tmpfs_at(L, svc, "/tmp"))
		add_finding(L, R_TMP_TMPFS, ro, "add tmpfs: [\"/tmp:size=64m,noexec,nosuid\"]",
			    "read-only root filesystem without a tmpfs at /tmp: temporary "
			    "files will fail");
}

static void check_limits(struct lint *L, yaml_node_t *svc)
{
	static const char *const cpus[] = { "deploy", "resources", "limits", "cpus", NULL };
	static const char *const mem[] = { "deploy", "resources", "limits", "memory", NULL };

	if (!map_path(L->doc, svc, cpus) && !map_get(L->doc, svc, "cpus"))
		add_finding(L, R_CPU_LIMIT, NULL,
			    "add deploy: {resources: {limits: {cpus: \"1.0\"}}}",
			    "no CPU limit: one runaway container can starve the host");
	if (!map_path(L->doc, svc, mem) && !map_get(L->doc, svc, "mem_limit"))
		add_finding(L, R_MEMORY_LIMIT, NULL,
			    "add deploy: {resources: {limits: {memory: 512M}}}",
			    "no memory limit: one leak can push the host into the OOM killer");
}

static void check_healthcheck(struct lint *L, yaml_node_t *svc)
{
	yaml_node_t *hc = map_get(L->doc, svc, "healthcheck");
	yaml_node_t *test = map_get(L->doc, hc, "test");
	static const char fix[] = "add healthcheck: {test: [\"CMD\", ...], interval: 10s, "
				  "timeout: 5s, retries: 5}";

	if (!hc) {
		add_finding(L, R_HEALTHCHECK, NULL, fix,
			    "no healthcheck: a deploy cannot tell a started container from a "
			    "working one");
		return;
	}
	if (is_true(map_get(L->doc, hc, "disable"))) {
		add_finding(L, R_HEALTHCHECK, hc, fix, "healthcheck is disabled");
		return;
	}
	if (!test) {
		add_finding(L, R_HEALTHCHECK, hc, fix, "healthcheck has no test");
		return;
	}
	if (scalar_is(test, "NONE") ||
	    (is_seq(test) && test->data.sequence.items.top > test->data.sequence.items.start &&
	     scalar_is(yget(L->doc, *test->data.sequence.items.start), "NONE")))
		add_finding(L, R_HEALTHCHECK, test, fix, "healthcheck test is NONE (disabled)");
}

static void check_restart(struct lint *L, yaml_node_t *svc)
{
	static const char *const cond[] = { "deploy", "restart_policy", "condition", NULL };
	yaml_node_t *r = map_get(L->doc, svc, "restart");
	yaml_node_t *c = map_path(L->doc, svc, cond);
	const char *v = sval(r), *cv = sval(c);
	static const char fix[] = "add restart: unless-stopped";

	if (v && (!strcmp(v, "always") || !strcmp(v, "unless-stopped") ||
		  !strncmp(v, "on-failure", 10)))
		return;
	if (cv && (!strcmp(cv, "any") || !strcmp(cv, "on-failure")))
		return;
	if (r || c)
		add_finding(L, R_RESTART, r ? r : c, fix, "restart policy \"%s\" never restarts "
			    "the container", v ? v : cv ? cv : "?");
	else
		add_finding(L, R_RESTART, NULL, fix,
			    "no restart policy: a crash or a reboot leaves it down");
}

static void check_logging(struct lint *L, yaml_node_t *svc)
{
	yaml_node_t *lg = map_get(L->doc, svc, "logging");
	yaml_node_t *drv = map_get(L->doc, lg, "driver");
	yaml_node_t *opts = map_get(L->doc, lg, "options");
	const char *d = sval(drv);
	static const char fix[] = "add logging: {driver: json-file, options: {max-size: \"10m\", "
				  "max-file: \"5\"}}";

	if (!lg) {
		add_finding(L, R_LOGGING, NULL, fix,
			    "no logging: the daemon default may keep logs until the disk is full");
		return;
	}
	if (!d) {
		add_finding(L, R_LOGGING, lg, fix, "logging has no driver: the daemon default "
			    "may not rotate");
		return;
	}
	if (!strcmp(d, "local"))
		return; /* rotates by default (5 x 20 MB) */
	if (strcmp(d, "json-file")) {
		add_finding(L, R_LOGGING, drv, fix, "logging driver \"%s\" is not json-file", d);
		return;
	}
	if (!map_get(L->doc, opts, "max-size") || !map_get(L->doc, opts, "max-file"))
		add_finding(L, R_LOGGING, opts ? opts : drv, fix,
			    "json-file logging without rotation (options max-size and max-file)");
}

static int port_allowed(const char *p)
{
	return !strcmp(p, "80") || !strcmp(p, "443");
}

/* A short-syntax port "[ip:][host:]container[/proto]": copied into buf
 * and split at the colons into parts (at most 8), a bracketed IPv6 address
 * kept whole so it stays in the ip part; *proto (when asked) is what
 * follows '/', or NULL. Returns the number of parts. */
static int port_parts(const char *spec, char *buf, size_t size, char **parts,
		      const char **proto)
{
	char *slash, *s;
	int n = 0;

	snprintf(buf, size, "%s", spec);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (proto)
		*proto = slash ? slash + 1 : NULL;
	for (s = buf; n < 8;) {
		parts[n++] = s;
		if (*s == '[') {
			char *close = strchr(s, ']');

			s = close ? close : s;
		}
		s = strchr(s, ':');
		if (!s)
			break;
		*s++ = '\0';
	}
	return n;
}

static void check_one_port(struct lint *L, yaml_node_t *it)
{
	static const char fix[] = "publish only 80 and 443 (the reverse proxy); reach other "
				  "services over the compose network, or use expose:";
	char buf[512], *parts[8];
	int n;

	if (is_map(it)) {
		const char *pub = sval(map_get(L->doc, it, "published"));
		const char *tgt = sval(map_get(L->doc, it, "target"));

		if (!pub)
			add_finding(L, R_PORTS, it, fix, "publishes container port %s on a "
				    "random host port", tgt ? tgt : "?");
		else if (!port_allowed(pub))
			add_finding(L, R_PORTS, it, fix, "publishes host port %s", pub);
		return;
	}
	if (!is_scalar(it))
		return;
	n = port_parts(sval(it), buf, sizeof(buf), parts, NULL);
	if (n == 1)
		add_finding(L, R_PORTS, it, fix, "publishes container port %s on a random host "
			    "port", parts[0]);
	else if (!port_allowed(parts[n - 2]))
		add_finding(L, R_PORTS, it, fix, "publishes host port %s (\"%s\")",
			    *parts[n - 2] ? parts[n - 2] : "random", sval(it));
}

static void check_ports(struct lint *L, yaml_node_t *svc)
{
	yaml_node_t *ports = map_get(L->doc, svc, "ports");
	yaml_node_t *nm = map_get(L->doc, svc, "network_mode");

	if (scalar_is(nm, "host"))
		add_finding(L, R_PORTS, nm, "remove network_mode: host and publish 80/443 with "
			    "ports:", "network_mode: host exposes every port the process opens");
	if (!is_seq(ports))
		return;
	for (yaml_node_item_t *i = ports->data.sequence.items.start;
	     i < ports->data.sequence.items.top; i++)
		check_one_port(L, yget(L->doc, *i));
}

static int writable_ok(const char *target, const char *allowed)
{
	struct strbuf tok = STRBUF_INIT;
	int ok = 0;

	while (!ok && next_token(&allowed, &tok))
		ok = path_under(target, tok.buf);
	strbuf_release(&tok);
	return ok;
}

static void writable_tmpfs(struct lint *L, yaml_node_t *n, const char *allowed,
			   const char *fix)
{
	char buf[512];

	if (!is_scalar(n))
		return;
	tmpfs_target(sval(n), buf, sizeof(buf));
	if (!writable_ok(buf, allowed))
		add_finding(L, R_WRITABLE_PATHS, n, fix, "writable tmpfs at %s outside %s=%s", buf,
			    LABEL_WRITABLE, allowed);
}

static void check_writable(struct lint *L, yaml_node_t *svc)
{
	struct strbuf tmp = STRBUF_INIT;
	yaml_node_t *at = NULL;
	const char *allowed = label_get(L, svc, LABEL_WRITABLE, &at, &tmp);
	yaml_node_t *vols, *t;
	char fix[1024];

	if (!allowed)
		goto out;
	snprintf(fix, sizeof(fix), "mount it read-only (\":ro\") or drop it; this service may "
		 "write only to %s", allowed);
	vols = map_get(L->doc, svc, "volumes");
	if (is_seq(vols)) {
		for (yaml_node_item_t *i = vols->data.sequence.items.start;
		     i < vols->data.sequence.items.top; i++) {
			struct mount m;

			if (parse_volume(L, yget(L->doc, *i), &m) || m.ro)
				continue;
			if (!writable_ok(m.target, allowed))
				add_finding(L, R_WRITABLE_PATHS, m.at, fix,
					    "writable mount at %s outside %s=%s", m.target,
					    LABEL_WRITABLE, allowed);
		}
	}
	t = map_get(L->doc, svc, "tmpfs");
	if (is_scalar(t)) {
		writable_tmpfs(L, t, allowed, fix);
	} else if (is_seq(t)) {
		for (yaml_node_item_t *i = t->data.sequence.items.start;
		     i < t->data.sequence.items.top; i++)
			writable_tmpfs(L, yget(L->doc, *i), allowed, fix);
	}
out:
	strbuf_release(&tmp);
}

/* The official image (any registry/tag) and PostGIS, which shares its layout. */
static int is_postgres_image(const char *img)
{
	char name[512];
	const char *slash, *base;
	size_t n;

	if (!img)
		return 0;
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(img, "@"), img);
	slash = strrchr(name, '/');
	base = slash ? slash + 1 : name;
	n = strcspn(base, ":");
	return (n == 8 && !strncmp(base, "postgres", 8)) || (n == 7 && !strncmp(base, "postgis", 7));
}

static const char *env_get(struct lint *L, yaml_node_t *svc, const char *name,
			   struct strbuf *tmp)
{
	yaml_node_t *env = map_get(L->doc, svc, "environment");
	size_t n = strlen(name);

	if (is_map(env))
		return sval(map_get(L->doc, env, name));
	if (!is_seq(env))
		return NULL;
	for (yaml_node_item_t *i = env->data.sequence.items.start;
	     i < env->data.sequence.items.top; i++) {
		const char *s = sval(yget(L->doc, *i));

		if (s && !strncmp(s, name, n) && s[n] == '=') {
			strbuf_reset(tmp);
			strbuf_addstr(tmp, s + n + 1);
			return tmp->buf;
		}
	}
	return NULL;
}

static void check_pg_data(struct lint *L, yaml_node_t *svc)
{
	yaml_node_t *img = map_get(L->doc, svc, "image"), *vols;
	struct strbuf tmp = STRBUF_INIT;
	const char *pgdata;
	char fix[1024];
	int found = 0;

	if (!is_postgres_image(sval(img)))
		return;
	pgdata = env_get(L, svc, "PGDATA", &tmp);
	if (!pgdata || !*pgdata || strstr(pgdata, "${"))
		pgdata = "/var/lib/postgresql/data";
	snprintf(fix, sizeof(fix), "mount a named volume there: volumes: [\"postgres_data:%s\"] "
		 "and declare postgres_data under the top-level volumes:", pgdata);
	vols = map_get(L->doc, svc, "volumes");
	if (is_seq(vols)) {
		for (yaml_node_item_t *i = vols->data.sequence.items.start;
		     i < vols->data.sequence.items.top; i++) {
			struct mount m;

			if (parse_volume(L, yget(L->doc, *i), &m) || !path_under(pgdata, m.target))
				continue;
			found = 1;
			if (m.kind != M_VOLUME)
				add_finding(L, R_PG_DATA_VOLUME, m.at, fix,
					    "database files at %s are in a %s, not a named volume",
					    pgdata, m.kind == M_BIND ? "bind mount" :
					    m.kind == M_TMPFS ? "tmpfs" :
					    m.kind == M_ANON ? "anonymous volume" :
					    "mount whose source is a variable");
		}
	}
	if (!found)
		add_finding(L, R_PG_DATA_VOLUME, img, fix, "database files at %s are in the "
			    "container's writable layer: a re-create loses them", pgdata);
	strbuf_release(&tmp);
}

/* ---- container escapes: each one hands a process in the container the host ---- */

/* Capabilities that reach the host from inside a container (mount, module
 * loading, ptrace of other processes, raw devices, the network stack,
 * reading any file): docker's default set has none of them. */
static const char *const escape_caps[] = {
	"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "SYS_BOOT", "NET_ADMIN",
	"DAC_READ_SEARCH", "DAC_OVERRIDE", "SYS_TIME", "MAC_ADMIN", "BPF", "PERFMON", NULL
};

static void check_capabilities(struct lint *L, yaml_node_t *svc)
{
	yaml_node_t *caps = map_get(L->doc, svc, "cap_add");

	if (!is_seq(caps))
		return;
	for (yaml_node_item_t *i = caps->data.sequence.items.start;
	     i < caps->data.sequence.items.top; i++) {
		yaml_node_t *n = yget(L->doc, *i);
		const char *c = sval(n);

		if (!c)
			continue;
		if (!strncasecmp(c, "CAP_", 4))
			c += 4;
		for (const char *const *x = escape_caps; *x; x++)
			if (!strcasecmp(c, *x))
				add_finding(L, R_CAPABILITIES, n, "drop it from cap_add; if the "
					    "process needs one operation, give that operation to "
					    "a separate, short-lived tool",
					    "cap_add: %s lets the container reach the host", c);
	}
}

static void check_namespaces(struct lint *L, yaml_node_t *svc)
{
	static const char *const keys[] = { "pid", "ipc", "network_mode", "uts", "userns_mode",
					    "cgroup", NULL };

	for (const char *const *k = keys; *k; k++) {
		yaml_node_t *n = map_get(L->doc, svc, *k);
		const char *v = sval(n);

		if (v && !strcmp(v, "host"))
			add_finding(L, R_HOST_NAMESPACES, n, "remove it: the container then gets "
				    "its own namespace (publish ports instead of network_mode: host)",
				    "%s: host shares the host's namespace with the container", *k);
	}
}

/* Host paths whose bind mount hands the container the host: the root, the
 * system directories, the container runtime's own state. */
static int host_system_path(const char *src)
{
	static const char *const dirs[] = { "/", "/etc", "/proc", "/sys", "/dev", "/boot", "/root",
					    "/var/lib/docker", "/var/run", "/run", "/usr", "/lib",
					    "/bin", "/sbin", NULL };
	char norm[512];
	size_t n;

	snprintf(norm, sizeof(norm), "%s", src);
	n = strlen(norm);
	while (n > 1 && norm[n - 1] == '/')
		norm[--n] = '\0';
	for (const char *const *d = dirs; *d; d++)
		if (!strcmp(norm, *d))
			return 1;
	return 0;
}

static void check_host_mounts(struct lint *L, yaml_node_t *svc)
{
	yaml_node_t *vols = map_get(L->doc, svc, "volumes");

	if (!is_seq(vols))
		return;
	for (yaml_node_item_t *i = vols->data.sequence.items.start;
	     i < vols->data.sequence.items.top; i++) {
		struct mount m;
		const char *base;

		if (parse_volume(L, yget(L->doc, *i), &m) || m.kind != M_BIND)
			continue;
		base = strrchr(m.source, '/');
		if (base && !strcmp(base, "/docker.sock"))
			add_finding(L, R_DOCKER_SOCKET, m.at, "do not mount the Docker socket; a "
				    "tool that must talk to Docker belongs on the host or behind a "
				    "filtering proxy",
				    "mounts %s: root on the host for anyone in the container",
				    m.source);
		else if (host_system_path(m.source))
			add_finding(L, R_HOST_MOUNTS, m.at, "mount only the application's own "
				    "directory, read-only where it can be",
				    "bind-mounts the host's %s at %s%s", m.source, m.target,
				    m.ro ? " (read-only still exposes it)" : "");
	}
}

static void check_devices(struct lint *L, yaml_node_t *svc)
{
	yaml_node_t *dev = map_get(L->doc, svc, "devices");

	if (is_seq(dev) && dev->data.sequence.items.top > dev->data.sequence.items.start)
		add_finding(L, R_DEVICES, dev, "remove devices:; a service that needs a device "
			    "must say so with the ballast.lint.allow label",
			    "passes host devices into the container (%s)",
			    sval(yget(L->doc, *dev->data.sequence.items.start)) ?
			    sval(yget(L->doc, *dev->data.sequence.items.start)) : "devices:");
}

/* ---- correctness: what `docker compose up` refuses or gets wrong ---- */

/* Can both run at once? A service without profiles always runs; two with
 * profiles only when they share one. */
static int profiles_meet(const char *a, const char *b)
{
	struct strbuf tok = STRBUF_INIT;
	int meet = 0;

	if (!a || !b)
		return 1;
	while (!meet && next_token(&a, &tok)) {
		const char *bb = b;
		struct strbuf t2 = STRBUF_INIT;

		while (!meet && next_token(&bb, &t2))
			meet = !strcmp(tok.buf, t2.buf);
		strbuf_release(&t2);
	}
	strbuf_release(&tok);
	return meet;
}

static int port_number(const char *s, const char *end, long *out)
{
	char *stop;
	long v;

	if (s == end || *s < '0' || *s > '9')
		return -1;
	v = strtol(s, &stop, 10);
	if (stop != end || v < 0 || v > 65535)
		return -1;
	*out = v;
	return 0;
}

/* "8000" or "8000-8010"; -1 for what is not a port (a variable, empty). */
static int port_range(const char *s, long *lo, long *hi)
{
	const char *dash = strchr(s, '-');

	if (!dash) {
		if (port_number(s, s + strlen(s), lo))
			return -1;
		*hi = *lo;
		return 0;
	}
	if (port_number(s, dash, lo) || port_number(dash + 1, dash + 1 + strlen(dash + 1), hi) ||
	    *hi < *lo)
		return -1;
	return 0;
}

/* An address that binds every interface collides with any other. */
static int ip_any(const char *ip)
{
	return !*ip || !strcmp(ip, "0.0.0.0") || !strcmp(ip, "::") || !strcmp(ip, "[::]");
}

/* One `ports:` entry as host ip, host port range and protocol; -1 when it
 * publishes no fixed host port (container-only, random, a variable). */
static int parse_published(struct lint *L, yaml_node_t *it, struct published *p)
{
	char buf[512], *parts[8];
	const char *v, *proto;
	int n;

	memset(p, 0, sizeof(*p));
	snprintf(p->proto, sizeof(p->proto), "tcp");
	if (is_map(it)) {
		const char *ip = sval(map_get(L->doc, it, "host_ip"));

		proto = sval(map_get(L->doc, it, "protocol"));
		v = sval(map_get(L->doc, it, "published"));
		if (!v || port_range(v, &p->lo, &p->hi))
			return -1;
		snprintf(p->ip, sizeof(p->ip), "%s", ip ? ip : "");
		if (proto)
			snprintf(p->proto, sizeof(p->proto), "%s", proto);
		return 0;
	}
	if (!(v = sval(it)))
		return -1;
	n = port_parts(v, buf, sizeof(buf), parts, &proto);
	if (proto)
		snprintf(p->proto, sizeof(p->proto), "%s", proto);
	if (n < 2 || port_range(parts[n - 2], &p->lo, &p->hi))
		return -1;
	if (n > 2)
		snprintf(p->ip, sizeof(p->ip), "%s", parts[n - 3]);
	return 0;
}

static void check_duplicate_ports(struct lint *L, yaml_node_t *svc)
{
	struct lint_run *run = L->run;
	yaml_node_t *ports = map_get(L->doc, svc, "ports");

	if (!is_seq(ports))
		return;
	for (yaml_node_item_t *i = ports->data.sequence.items.start;
	     i < ports->data.sequence.items.top; i++) {
		yaml_node_t *it = yget(L->doc, *i);
		struct published p, *q = NULL;

		if (parse_published(L, it, &p))
			continue;
		for (size_t k = 0; k < run->nports && !q; k++) {
			struct published *o = &run->ports[k];

			if (!strcasecmp(o->proto, p.proto) && o->lo <= p.hi && p.lo <= o->hi &&
			    (ip_any(o->ip) || ip_any(p.ip) || !strcmp(o->ip, p.ip)) &&
			    profiles_meet(o->profiles, L->profiles))
				q = o;
		}
		if (q) {
			char fix[256], port[64];

			if (p.hi > p.lo)
				snprintf(port, sizeof(port), "%ld-%ld/%s", p.lo, p.hi, p.proto);
			else
				snprintf(port, sizeof(port), "%ld/%s", p.lo, p.proto);
			snprintf(fix, sizeof(fix), "publish another host port, or publish it once "
				 "(in %s) and reach it over the compose network", q->service);
			add_finding(L, R_DUPLICATE_PORTS, it, fix, "host port %s%s%s is already "
				    "published by service %s (%s:%d): one of the containers will not "
				    "start", port, *p.ip ? " on " : "", p.ip, q->service, q->file,
				    q->line);
		}
		if (run->nports == run->aports) {
			run->aports = run->aports ? run->aports * 2 : 16;
			run->ports = xrealloc(run->ports, run->aports * sizeof(*run->ports));
		}
		p.file = xstrdup(L->file);
		p.service = xstrdup(L->svc);
		p.profiles = L->profiles ? xstrdup(L->profiles) : NULL;
		p.line = line_of(it);
		run->ports[run->nports++] = p;
	}
}

/* Remember name for service L->svc; the earlier holder when it is taken
 * (by_profile: only by a service that can run beside this one). */
static const struct taken *take_name(struct lint *L, struct taken **arr, size_t *nr,
				     size_t *alloc, const char *name, int line, int by_profile)
{
	for (size_t i = 0; i < *nr; i++)
		if (!strcmp((*arr)[i].name, name) &&
		    (!by_profile || profiles_meet((*arr)[i].profiles, L->profiles)))
			return &(*arr)[i];
	if (*nr == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 16;
		*arr = xrealloc(*arr, *alloc * sizeof(**arr));
	}
	(*arr)[*nr].name = xstrdup(name);
	(*arr)[*nr].file = xstrdup(L->file);
	(*arr)[*nr].service = xstrdup(L->svc);
	(*arr)[*nr].profiles = L->profiles ? xstrdup(L->profiles) : NULL;
	(*arr)[*nr].line = line;
	(*nr)++;
	return NULL;
}

/* Docker's own pattern for container names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
static int valid_container_name(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
		return 0;
	if (!s[1])
		return 0;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
			return 0;
	return 1;
}

static void check_container_name(struct lint *L, yaml_node_t *svc)
{
	struct lint_run *run = L->run;
	yaml_node_t *n = map_get(L->doc, svc, "container_name");
	const char *v = sval(n);
	const struct taken *t;
	char fix[256];

	if (!v || strstr(v, "${"))
		return;
	if (!valid_container_name(v)) {
		add_finding(L, R_CONTAINER_NAME, n, "use letters, digits, '_', '.' and '-', "
			    "starting with a letter or digit (or drop container_name: compose "
			    "names the container itself)",
			    "container_name \"%s\" is not a valid Docker container name", v);
		return;
	}
	t = take_name(L, &run->names, &run->nnames, &run->anames, v, line_of(n), 1);
	if (!t)
		return;
	snprintf(fix, sizeof(fix), "give it another name, or drop container_name: (compose "
		 "then names each container after its project and service)");
	add_finding(L, R_CONTAINER_NAME, n, fix, "container_name \"%s\" is already used by "
		    "service %s (%s:%d): one of the containers will not start", v, t->service,
		    t->file, t->line);
}

/* Tags that name whatever was pushed last: the same release may mean other
 * bytes tomorrow. */
static const char *const moving_tags[] = {
	"latest", "stable", "edge", "nightly", "canary", "dev", "beta", "test", "lts", NULL
};

static void check_image_tag(struct lint *L, yaml_node_t *svc)
{
	yaml_node_t *n = map_get(L->doc, svc, "image");
	const char *img = sval(n), *last, *colon;
	int built = map_get(L->doc, svc, "build") != NULL, warn;
	static const char fix[] = "pin a version tag (redis:7.2.5) or a digest "
				  "(redis@sha256:...); ballast-deploy pins digests per release";

	if (!img || strchr(img, '@'))
		return; /* no image (build: only) or a digest: immutable */
	last = strrchr(img, '/');
	last = last ? last + 1 : img;
	colon = strchr(last, ':');
	/* A variable may carry the tag ("${BACKEND_IMAGE}", "app:${TAG}"). */
	if (colon ? strstr(colon, "${") != NULL : strstr(last, "${") != NULL)
		return;
	/* A built image is named, not pulled: its tag says nothing about what
	 * runs, so it is never more than a warning. */
	warn = !L->run->opts->immutable || built;
	if (colon) {
		for (const char *const *m = moving_tags; *m; m++)
			if (!strcmp(colon + 1, *m))
				add_finding_as(L, R_IMAGE_TAG, warn, n, fix, "image \"%s\" has the "
					       "moving tag \"%s\"%s", img, *m,
					       warn ? "" : " in an immutable environment");
		return;
	}
	add_finding_as(L, R_IMAGE_TAG, warn, n, fix, "image \"%s\" has no tag (:latest)%s", img,
		       warn ? "" : " in an immutable environment");
}

/* ---- unknown keys, against the compose specification ---- */

static const char *const k_top[] = {
	"version", "name", "include", "services", "networks", "volumes", "secrets", "configs",
	"models", NULL
};
static const char *const k_service[] = {
	"annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup",
	"cgroup_parent", "command", "configs", "container_name", "cpu_count", "cpu_percent",
	"cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus",
	"cpuset", "credential_spec", "depends_on", "deploy", "develop", "device_cgroup_rules",
	"devices", "dns", "dns_opt", "dns_search", "domainname", "entrypoint", "env_file",
	"environment", "expose", "extends", "external_links", "extra_hosts", "gpus", "group_add",
	"healthcheck", "hostname", "image", "init", "ipc", "isolation", "label_file", "labels",
	"links", "logging", "mac_address", "mem_limit", "mem_reservation", "mem_swappiness",
	"memswap_limit", "models", "network_mode", "networks", "oom_kill_disable",
	"oom_score_adj", "pid", "pids_limit", "platform", "ports", "post_start", "pre_stop",
	"privileged", "profiles", "provider", "pull_policy", "pull_refresh_after", "read_only",
	"restart", "runtime", "scale", "secrets", "security_opt", "shm_size", "stdin_open",
	"stop_grace_period", "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits",
	"use_api_socket", "user", "userns_mode", "uts", "volumes", "volumes_from", "working_dir",
	NULL
};
static const char *const k_deploy[] = {
	"endpoint_mode", "labels", "mode", "placement", "replicas", "resources", "restart_policy",
	"rollback_config", "update_config", NULL
};
static const char *const k_resources[] = { "limits", "reservations", NULL };
static const char *const k_limits[] = { "cpus", "memory", "pids", NULL };
static const char *const k_reservations[] = { "cpus", "devices", "generic_resources", "memory",
					      NULL };
static const char *const k_restart_policy[] = { "condition", "delay", "max_attempts", "window",
						NULL };
static const char *const k_update_config[] = { "delay", "failure_action", "max_failure_ratio",
					       "monitor", "order", "parallelism", NULL };
static const char *const k_placement[] = { "constraints", "max_replicas_per_node",
					   "preferences", NULL };
static const char *const k_healthcheck[] = { "disable", "interval", "retries", "start_interval",
					     "start_period", "test", "timeout", NULL };
static const char *const k_logging[] = { "driver", "options", NULL };
static const char *const k_build[] = {
	"additional_contexts", "args", "cache_from", "cache_to", "context", "dockerfile",
	"dockerfile_inline", "entitlements", "extra_hosts", "isolation", "labels", "network",
	"no_cache", "platforms", "privileged", "pull", "secrets", "shm_size", "ssh", "tags",
	"target", "ulimits", NULL
};
static const char *const k_port[] = { "app_protocol", "host_ip", "mode", "name", "protocol",
				      "published", "target", NULL };
static const char *const k_mount[] = { "bind", "consistency", "image", "read_only", "source",
				       "target", "tmpfs", "type", "volume", NULL };
static const char *const k_network[] = { "attachable", "driver", "driver_opts", "enable_ipv4",
					 "enable_ipv6", "external", "internal", "ipam", "labels",
					 "name", NULL };
static const char *const k_volume[] = { "driver", "driver_opts", "external", "labels", "name",
					NULL };
static const char *const k_config[] = { "content", "environment", "external", "file", "labels",
					"name", "template_driver", NULL };
static const char *const k_secret[] = { "driver", "driver_opts", "environment", "external",
					"file", "labels", "name", "template_driver", NULL };
static const char *const k_include[] = { "path", "env_file", "project_directory", NULL };

/* The nearest of names to typed, for a did-you-mean hint; NULL when none
 * is near enough to be a typo. */
static const char *closest(const char *typed, const char *const *names)
{
	const char *best = NULL;
	int bestd = 3;

	for (; *names; names++) {
		int d = config_edit_distance(typed, *names);

		if (d < bestd) {
			bestd = d;
			best = *names;
		}
	}
	return best;
}

static void check_keys_depth(struct lint *L, yaml_node_t *m, const char *const *known,
			     const char *where, int depth)
{
	if (!is_map(m) || depth > MERGE_DEPTH)
		return;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yget(L->doc, p->key);
		const char *key = sval(k), *near;
		const char *const *x;
		char fix[256];

		if (!key)
			continue;
		if (!strcmp(key, "<<")) {
			yaml_node_t *v = yget(L->doc, p->value);

			/* Merged keys land here: they must be valid here too. */
			if (is_map(v))
				check_keys_depth(L, v, known, where, depth + 1);
			else if (is_seq(v))
				for (yaml_node_item_t *i = v->data.sequence.items.start;
				     i < v->data.sequence.items.top; i++)
					check_keys_depth(L, yget(L->doc, *i), known, where, depth + 1);
			continue;
		}
		if (!strncmp(key, "x-", 2))
			continue;
		for (x = known; *x && strcmp(*x, key); x++)
			;
		if (*x)
			continue;
		near = closest(key, known);
		if (near)
			snprintf(fix, sizeof(fix), "did you mean \"%s\"? (extensions start with x-)",
				 near);
		else
			snprintf(fix, sizeof(fix), "remove it, or prefix it with x- if it is an "
				 "extension for another tool");
		add_finding(L, R_UNKNOWN_KEY, k, fix, "%s%s%s: unknown key (compose refuses the "
			    "file)", where, *where ? "." : "", key);
	}
}

static void check_keys(struct lint *L, yaml_node_t *m, const char *const *known,
		       const char *where)
{
	check_keys_depth(L, m, known, where, 0);
}

/* Each list item that is a mapping (the long syntax) against known. */
static void check_item_keys(struct lint *L, yaml_node_t *seq, const char *const *known,
			    const char *where)
{
	if (!is_seq(seq))
		return;
	for (yaml_node_item_t *i = seq->data.sequence.items.start;
	     i < seq->data.sequence.items.top; i++)
		check_keys(L, yget(L->doc, *i), known, where);
}

static void check_service_keys(struct lint *L, yaml_node_t *svc)
{
	struct strbuf w = STRBUF_INIT;
	yaml_node_t *dep = map_get(L->doc, svc, "deploy");
	yaml_node_t *res = map_get(L->doc, dep, "resources");
	size_t n;

	strbuf_addf(&w, "services.%s", L->svc);
	n = w.len;
	check_keys(L, svc, k_service, w.buf);
#define SUB(key, node, known)                                  \
	do {                                                   \
		strbuf_setlen(&w, n);                          \
		strbuf_addstr(&w, key);                        \
		check_keys(L, node, known, w.buf);             \
	} while (0)
	SUB(".deploy", dep, k_deploy);
	SUB(".deploy.resources", res, k_resources);
	SUB(".deploy.resources.limits", map_get(L->doc, res, "limits"), k_limits);
	SUB(".deploy.resources.reservations", map_get(L->doc, res, "reservations"),
	    k_reservations);
	SUB(".deploy.restart_policy", map_get(L->doc, dep, "restart_policy"), k_restart_policy);
	SUB(".deploy.update_config", map_get(L->doc, dep, "update_config"), k_update_config);
	SUB(".deploy.rollback_config", map_get(L->doc, dep, "rollback_config"), k_update_config);
	SUB(".deploy.placement", map_get(L->doc, dep, "placement"), k_placement);
	SUB(".healthcheck", map_get(L->doc, svc, "healthcheck"), k_healthcheck);
	SUB(".logging", map_get(L->doc, svc, "logging"), k_logging);
	SUB(".build", map_get(L->doc, svc, "build"), k_build);
#undef SUB
	strbuf_setlen(&w, n);
	strbuf_addstr(&w, ".ports");
	check_item_keys(L, map_get(L->doc, svc, "ports"), k_port, w.buf);
	strbuf_setlen(&w, n);
	strbuf_addstr(&w, ".volumes");
	check_item_keys(L, map_get(L->doc, svc, "volumes"), k_mount, w.buf);
	strbuf_release(&w);
}

/* The top level and its networks, volumes, configs and secrets: no
 * service, so no label can exempt them. */
static void check_top_keys(struct lint *L, yaml_node_t *root)
{
	static const struct {
		const char *key;
		const char *const *known;
	} sections[] = {
		{ "networks", k_network }, { "volumes", k_volume }, { "configs", k_config },
		{ "secrets", k_secret }, { NULL, NULL }
	};
	struct strbuf w = STRBUF_INIT;

	L->svc = NULL;
	L->svc_line = 1;
	L->allow = 0;
	check_keys(L, root, k_top, "");
	for (int s = 0; sections[s].key; s++) {
		yaml_node_t *sec = map_get(L->doc, root, sections[s].key);

		if (!is_map(sec))
			continue;
		for (yaml_node_pair_t *p = sec->data.mapping.pairs.start;
		     p < sec->data.mapping.pairs.top; p++) {
			const char *name = sval(yget(L->doc, p->key));

			if (!name || !strncmp(name, "x-", 2))
				continue;
			strbuf_reset(&w);
			strbuf_addf(&w, "%s.%s", sections[s].key, name);
			check_keys(L, yget(L->doc, p->value), sections[s].known, w.buf);
		}
	}
	strbuf_release(&w);
}

/* The service's profiles as "a,b" (the caller frees it), NULL for none:
 * services of disjoint profiles never run together, so they may share a
 * host port or a container_name. */
static char *service_profiles(struct lint *L, yaml_node_t *svc)
{
	yaml_node_t *pr = map_get(L->doc, svc, "profiles");
	struct strbuf sb = STRBUF_INIT;

	if (!is_seq(pr))
		return NULL;
	for (yaml_node_item_t *i = pr->data.sequence.items.start;
	     i < pr->data.sequence.items.top; i++) {
		const char *v = sval(yget(L->doc, *i));

		if (v)
			strbuf_addf(&sb, "%s%s", sb.len ? "," : "", v);
	}
	if (!sb.len) {
		strbuf_release(&sb);
		return NULL;
	}
	return strbuf_detach(&sb, NULL);
}

static int lint_service(struct lint *L, yaml_node_t *key, yaml_node_t *svc, struct errbuf *e)
{
	const struct taken *t;
	int rc;

	L->svc = sval(key);
	L->svc_line = line_of(key);
	L->allow = 0;
	free(L->profiles);
	L->profiles = service_profiles(L, svc);
	if (!is_null(svc) && !is_map(svc))
		return errbuf_set(e, BL_EUSAGE, "%s:%d: services.%s: expected a mapping",
				  L->file, line_of(svc), L->svc);
	/* Two files of one project defining the same service: compose refuses
	 * the include, and the lint must not judge one of them at random. */
	t = take_name(L, &L->run->services, &L->run->nservices, &L->run->aservices, L->svc,
		      L->svc_line, 0);
	if (t)
		return errbuf_set(e, BL_EUSAGE, "%s:%d: services.%s: already defined in %s:%d "
				  "(an included file may not redefine a service)", L->file,
				  L->svc_line, L->svc, t->file, t->line);
	if (map_get_depth(L->doc, svc, "extends", 0))
		return errbuf_set(e, BL_EUSAGE,
				  "%s:%d: services.%s.extends: not resolved (the lint would judge "
				  "the service without what it inherits); lint the merged file "
				  "('docker compose config > merged.yml')",
				  L->file, line_of(svc), L->svc);
	rc = parse_allow(L, svc, e);
	if (rc)
		return rc;
	check_service_keys(L, svc);
	check_user(L, svc);
	check_privileges(L, svc);
	check_read_only(L, svc);
	check_limits(L, svc);
	check_healthcheck(L, svc);
	check_restart(L, svc);
	check_logging(L, svc);
	check_ports(L, svc);
	check_writable(L, svc);
	check_pg_data(L, svc);
	check_capabilities(L, svc);
	check_namespaces(L, svc);
	check_host_mounts(L, svc);
	check_devices(L, svc);
	check_duplicate_ports(L, svc);
	check_container_name(L, svc);
	check_image_tag(L, svc);
	L->r->services++;
	return 0;
}

/* YAML says a mapping's keys are unique; PyYAML keeps the last, go-yaml
 * refuses. Refuse too, so lint never judges a different value than the
 * engine that runs the file. Two "<<" keys are refused as well: engines
 * disagree on which merge wins. */
static int key_cmp(const void *pa, const void *pb)
{
	const yaml_node_t *a = *(yaml_node_t *const *)pa, *b = *(yaml_node_t *const *)pb;
	int c;

	if (a->data.scalar.length != b->data.scalar.length)
		return a->data.scalar.length < b->data.scalar.length ? -1 : 1;
	c = memcmp(a->data.scalar.value, b->data.scalar.value, a->data.scalar.length);
	if (c)
		return c;
	/* Equal keys in file order, so the message names the first one. */
	return a->start_mark.index < b->start_mark.index ? -1 :
	       a->start_mark.index > b->start_mark.index;
}

/* Sorted, not pairwise: a 4 MiB file of one flat mapping stays fast. */
static int check_duplicates(yaml_document_t *d, const char *file, struct errbuf *e)
{
	yaml_node_t **keys = NULL;
	size_t cap = 0;
	int rc = 0;

	for (yaml_node_t *n = d->nodes.start; n < d->nodes.top && !rc; n++) {
		size_t nk = 0;

		if (n->type != YAML_MAPPING_NODE)
			continue;
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yget(d, p->key);

			if (!is_scalar(k))
				continue;
			if (nk == cap) {
				size_t ncap = cap ? cap * 2 : 64;

				keys = xrealloc(keys, ncap * sizeof(*keys));
				cap = ncap;
			}
			keys[nk++] = k;
		}
		if (nk < 2)
			continue;
		qsort(keys, nk, sizeof(*keys), key_cmp);
		for (size_t i = 1; i < nk; i++) {
			yaml_node_t *ka = keys[i - 1], *kb = keys[i];

			if (ka->data.scalar.length == kb->data.scalar.length &&
			    !memcmp(ka->data.scalar.value, kb->data.scalar.value,
				    ka->data.scalar.length)) {
				rc = errbuf_set(e, BL_EUSAGE, "%s:%d: duplicate key '%s' (first at line %d)",
						file, line_of(kb), sval(kb), line_of(ka));
				break;
			}
		}
	}
	free(keys);
	return rc;
}

/* libyaml's problem and context are fixed descriptions, never a quote of
 * the text (which may hold the env file's values, see
 * compose_service_images). */
static int yaml_load(const char *text, size_t len, const char *name, yaml_document_t *doc,
		     struct errbuf *e)
{
	yaml_parser_t parser;
	int rc = 0;

	if (!yaml_parser_initialize(&parser))
		return errbuf_set(e, BL_EFAIL, "%s: cannot initialise the YAML parser", name);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, doc))
		rc = errbuf_set(e, BL_EUSAGE, "%s:%zu:%zu: invalid YAML: %s%s%s", name,
				parser.problem_mark.line + 1, parser.problem_mark.column + 1,
				parser.problem ? parser.problem : "parse error",
				parser.context ? " " : "", parser.context ? parser.context : "");
	yaml_parser_delete(&parser);
	return rc;
}

static int read_local(void *ctx, const char *path, struct strbuf *out, size_t max, int *exists,
		      struct errbuf *e)
{
	char buf[65536];
	FILE *f;
	int rc = 0;

	(void)ctx;
	*exists = 0;
	f = fopen(path, "rb");
	if (!f) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return errbuf_errno(e, errno == EACCES ? BL_EUSAGE : BL_EFAIL, errno,
				    "lint: cannot open %s", path);
	}
	*exists = 1;
	out->max = max;
	for (;;) {
		size_t n = fread(buf, 1, sizeof(buf), f);

		if (n && strbuf_add(out, buf, n) < 0) {
			rc = errbuf_set(e, BL_EUSAGE, "%s: larger than %zu bytes, too large for a "
					"compose file", path, max);
			goto out;
		}
		if (n < sizeof(buf))
			break;
	}
	if (ferror(f))
		rc = errbuf_errno(e, BL_EFAIL, errno, "lint: cannot read %s", path);
out:
	fclose(f);
	return rc;
}

/* path relative to the directory of from, with "." and "dir/.." removed
 * so a cycle through "./a.yml" and "sub/../a.yml" is seen as one. */
static void include_path(const char *from, const char *path, struct strbuf *out)
{
	struct strbuf joined = STRBUF_INIT;
	const char *slash = strrchr(from, '/'), *s;
	size_t keep[256], nkeep = 0, base;

	if (path[0] == '/' || !slash)
		strbuf_addstr(&joined, path);
	else
		strbuf_addf(&joined, "%.*s/%s", (int)(slash - from), from, path);
	strbuf_reset(out);
	if (joined.buf[0] == '/')
		strbuf_addch(out, '/');
	base = out->len;
	for (s = joined.buf; *s; s += *s == '/') {
		size_t n = strcspn(s, "/");
		int up = n == 2 && s[0] == '.' && s[1] == '.';
		const char *last = nkeep ? out->buf + keep[nkeep - 1] : NULL;

		if (!n || (n == 1 && s[0] == '.')) {
			s += n;
			continue;
		}
		if (up && last && strcmp(last, "..")) {
			/* drop the last component and its separator */
			strbuf_setlen(out, keep[--nkeep] > base ? keep[nkeep] - 1 : base);
		} else if (!(up && base && !nkeep) && nkeep < sizeof(keep) / sizeof(*keep)) {
			if (out->len > base)
				strbuf_addch(out, '/');
			keep[nkeep++] = out->len;
			strbuf_add(out, s, n);
		}
		s += n;
	}
	if (!out->len)
		strbuf_addch(out, '.');
	strbuf_release(&joined);
}

static int lint_text(struct lint_run *run, const char *text, size_t len, const char *name,
		     struct errbuf *e);

/* One include: entry's file, linted with its own file:line. */
static int lint_include(struct lint *L, yaml_node_t *at, const char *path, struct errbuf *e)
{
	struct lint_run *run = L->run;
	struct strbuf full = STRBUF_INIT, text = STRBUF_INIT, chain = STRBUF_INIT;
	compose_lint_read_fn rd = run->opts->read ? run->opts->read : read_local;
	int rc = 0, exists = 0;

	if (strstr(path, "://") || !strncmp(path, "git@", 4)) {
		rc = errbuf_set(e, BL_EUSAGE, "%s:%d: include: %s: a remote include is not "
				"followed; lint that project's files separately", L->file,
				line_of(at), path);
		goto out;
	}
	include_path(L->file, path, &full);
	for (int i = 0; i < run->depth; i++)
		strbuf_addf(&chain, "%s -> ", run->stack[i]);
	strbuf_addstr(&chain, full.buf);
	for (int i = 0; i < run->depth; i++) {
		if (!strcmp(run->stack[i], full.buf)) {
			rc = errbuf_set(e, BL_EUSAGE, "%s:%d: include: %s is included again (a "
					"cycle: %s)", L->file, line_of(at), full.buf, chain.buf);
			goto out;
		}
	}
	if (run->depth >= COMPOSE_LINT_INCLUDE_DEPTH) {
		rc = errbuf_set(e, BL_EUSAGE, "%s:%d: include: more than %d levels of includes "
				"(%s)", L->file, line_of(at), COMPOSE_LINT_INCLUDE_DEPTH, chain.buf);
		goto out;
	}
	rc = rd(run->opts->read_ctx, full.buf, &text, COMPOSE_LINT_MAX_BYTES, &exists, e);
	if (rc)
		goto out;
	if (!exists) {
		rc = errbuf_set(e, BL_EUSAGE, "%s:%d: include: %s: no such file", L->file,
				line_of(at), full.buf);
		goto out;
	}
	rc = lint_text(run, text.buf, text.len, full.buf, e);
out:
	strbuf_release(&full);
	strbuf_release(&text);
	strbuf_release(&chain);
	return rc;
}

/* include: ["a.yml", {path: b.yml}, {path: [c.yml]}] */
static int lint_includes(struct lint *L, yaml_node_t *inc, struct errbuf *e)
{
	int rc = 0;

	if (!is_seq(inc))
		return errbuf_set(e, BL_EUSAGE, "%s:%d: include: expected a list of files",
				  L->file, line_of(inc));
	for (yaml_node_item_t *i = inc->data.sequence.items.start;
	     i < inc->data.sequence.items.top && !rc; i++) {
		yaml_node_t *it = yget(L->doc, *i), *path = it;

		if (is_map(it))
			path = map_get(L->doc, it, "path");
		if (is_seq(path)) {
			size_t n = (size_t)(path->data.sequence.items.top -
					    path->data.sequence.items.start);

			/* Several paths are one project merged with override rules:
			 * judging each alone would judge services nobody runs. */
			if (n != 1)
				return errbuf_set(e, BL_EUSAGE, "%s:%d: include: a path list of %zu "
						  "files is merged as overrides, which lint does not "
						  "resolve; lint 'docker compose config' of them",
						  L->file, line_of(path), n);
			path = yget(L->doc, *path->data.sequence.items.start);
		}
		if (!sval(path) || !*sval(path))
			return errbuf_set(e, BL_EUSAGE, "%s:%d: include: expected a file name or "
					  "{path: FILE}", L->file, line_of(it));
		rc = lint_include(L, path, sval(path), e);
	}
	return rc;
}

static int lint_text(struct lint_run *run, const char *text, size_t len, const char *name,
		     struct errbuf *e)
{
	yaml_document_t doc;
	int have_doc = 0, rc = 0;
	yaml_node_t *root, *services, *inc;
	struct lint L;

	if (len > COMPOSE_LINT_MAX_BYTES) {
		rc = errbuf_set(e, BL_EUSAGE, "%s: %zu bytes is too large for a compose file "
				"(at most %d)", name, len, COMPOSE_LINT_MAX_BYTES);
		goto out;
	}
	if ((rc = yaml_load(text, len, name, &doc, e)))
		goto out;
	have_doc = 1;
	run->stack[run->depth++] = name;
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		rc = errbuf_set(e, BL_EUSAGE, "%s: empty file, expected a compose file with "
				"services:", name);
		goto out;
	}
	if (!is_map(root)) {
		rc = errbuf_set(e, BL_EUSAGE, "%s:%d: expected a mapping at the top level",
				name, line_of(root));
		goto out;
	}
	rc = check_duplicates(&doc, name, e);
	if (rc)
		goto out;
	services = map_get(&doc, root, "services");
	inc = map_get(&doc, root, "include");
	/* A file may only include others; an included one may hold only
	 * networks or volumes. */
	if (!is_map(services) && (services || (!inc && run->depth == 1))) {
		rc = errbuf_set(e, BL_EUSAGE, "%s:%d: services: expected a mapping of services "
				"(compose v2/v3 syntax)", name, services ? line_of(services) : 1);
		goto out;
	}
	memset(&L, 0, sizeof(L));
	L.doc = &doc;
	L.r = run->r;
	L.run = run;
	L.file = name;
	check_top_keys(&L, root);
	for (yaml_node_pair_t *p = is_map(services) ? services->data.mapping.pairs.start : NULL;
	     p && p < services->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yget(&doc, p->key);

		if (!is_scalar(k)) {
			rc = errbuf_set(e, BL_EUSAGE, "%s:%d: services: a service name must be "
					"a string", name, line_of(k));
			goto out;
		}
		rc = lint_service(&L, k, yget(&doc, p->value), e);
		free(L.profiles);
		L.profiles = NULL;
		if (rc)
			goto out;
	}
	if (inc) {
		L.svc = NULL;
		if (is_seq(inc)) {
			for (yaml_node_item_t *i = inc->data.sequence.items.start;
			     i < inc->data.sequence.items.top; i++)
				check_keys(&L, yget(&doc, *i), k_include, "include[]");
		}
		rc = lint_includes(&L, inc, e);
	}
out:
	if (have_doc) {
		run->depth--;
		yaml_document_delete(&doc);
	}
	return rc;
}

static void taken_release(struct taken *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(t[i].name);
		free(t[i].file);
		free(t[i].service);
		free(t[i].profiles);
	}
	free(t);
}

static void run_release(struct lint_run *run)
{
	for (size_t i = 0; i < run->nports; i++) {
		free(run->ports[i].file);
		free(run->ports[i].service);
		free(run->ports[i].profiles);
	}
	free(run->ports);
	taken_release(run->names, run->nnames);
	taken_release(run->services, run->nservices);
}

int compose_lint_string(const char *text, size_t len, const char *name,
			const struct compose_lint_opts *opts, struct compose_lint *out,
			struct errbuf *e)
{
	static const struct compose_lint_opts defaults = { 0, NULL, NULL };
	struct lint_run run;
	int rc;

	free(out->file);
	out->file = xstrdup(name ? name : "compose file");
	memset(&run, 0, sizeof(run));
	run.opts = opts ? opts : &defaults;
	run.r = out;
	rc = lint_text(&run, text, len, out->file, e);
	if (!rc && out->violations) {
		const struct compose_finding *f = NULL;

		for (size_t i = 0; i < out->nr && !f; i++)
			if (!out->findings[i].allowed && !out->findings[i].warning)
				f = &out->findings[i];
		rc = errbuf_set(e, BL_EVERIFY, "lint: %s: %zu violation%s in %zu service%s "
				"(first: %s%s%s)", out->file, out->violations,
				out->violations == 1 ? "" : "s", out->services,
				out->services == 1 ? "" : "s", f->service ? f->service : "",
				f->service ? ": " : "", f->rule);
	}
	run_release(&run);
	return rc;
}

int compose_service_images(const char *text, size_t len, const char *name, json_t **services,
			   struct errbuf *e)
{
	yaml_document_t doc;
	int have_doc = 0, rc = 0;
	yaml_node_t *root, *svcs;

	*services = NULL;
	if (len > COMPOSE_LINT_MAX_BYTES)
		return errbuf_set(e, BL_EUSAGE, "%s: %zu bytes is too large for a compose file", name,
				  len);
	if ((rc = yaml_load(text, len, name, &doc, e)))
		goto out;
	have_doc = 1;
	root = yaml_document_get_root_node(&doc);
	svcs = is_map(root) ? map_get(&doc, root, "services") : NULL;
	if (!is_map(svcs)) {
		rc = errbuf_set(e, BL_EUSAGE, "%s: expected a compose file with a services mapping",
				name);
		goto out;
	}
	*services = json_object();
	for (yaml_node_pair_t *p = svcs->data.mapping.pairs.start;
	     p < svcs->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yget(&doc, p->key), *v = yget(&doc, p->value);
		const char *img = sval(map_get(&doc, v, "image"));

		if (!sval(k))
			continue;
		json_object_set_new(*services, sval(k),
				    json_pack("{s:s?, s:b}", "image", img, "build",
					      map_get(&doc, v, "build") != NULL));
	}
out:
	if (have_doc)
		yaml_document_delete(&doc);
	return rc;
}

int compose_lint_file(const char *path, const struct compose_lint_opts *opts,
		      struct compose_lint *out, struct errbuf *e)
{
	struct strbuf sb = STRBUF_INIT;
	compose_lint_read_fn rd = opts && opts->read ? opts->read : read_local;
	int rc, exists = 0;

	rc = rd(opts ? opts->read_ctx : NULL, path, &sb, COMPOSE_LINT_MAX_BYTES, &exists, e);
	if (!rc && !exists)
		rc = errbuf_set(e, BL_EUSAGE, "lint: cannot open %s: No such file or directory",
				path);
	if (rc) {
		free(out->file);
		out->file = xstrdup(path);
		goto out;
	}
	rc = compose_lint_string(sb.buf, sb.len, path, opts, out, e);
out:
	strbuf_release(&sb);
	return rc;
}

void compose_lint_release(struct compose_lint *r)
{
	for (size_t i = 0; i < r->nr; i++) {
		free(r->findings[i].file);
		free(r->findings[i].service);
		free(r->findings[i].problem);
		free(r->findings[i].fix);
	}
	free(r->findings);
	free(r->file);
	memset(r, 0, sizeof(*r));
}

static size_t count_allowed(const struct compose_lint *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nr; i++)
		n += !!r->findings[i].allowed;
	return n;
}

void compose_lint_format(const struct compose_lint *r, struct strbuf *out)
{
	size_t allowed = count_allowed(r);

	for (size_t i = 0; i < r->nr; i++) {
		const struct compose_finding *f = &r->findings[i];

		strbuf_addf(out, "%s:%d: %s%s%s: %s%s\n", f->file ? f->file : "", f->line,
			    f->service ? f->service : "", f->service ? ": " : "", f->rule,
			    f->problem, f->allowed ? " (allowed by label " LABEL_ALLOW ")" :
			    f->warning ? " (warning)" : "");
		if (!f->allowed)
			strbuf_addf(out, "    fix: %s\n", f->fix);
	}
	if (r->violations)
		strbuf_addf(out, "%s: %zu violation%s in %zu service%s", r->file, r->violations,
			    r->violations == 1 ? "" : "s", r->services,
			    r->services == 1 ? "" : "s");
	else
		strbuf_addf(out, "%s: clean, %zu service%s checked", r->file, r->services,
			    r->services == 1 ? "" : "s");
	if (r->warnings)
		strbuf_addf(out, ", %zu warning%s", r->warnings, r->warnings == 1 ? "" : "s");
	if (allowed)
		strbuf_addf(out, " (%zu allowed by label)", allowed);
	strbuf_addch(out, '\n');
}

json_t *compose_lint_json(const struct compose_lint *r)
{
	json_t *arr = json_array();
	json_t *o;

	for (size_t i = 0; i < r->nr; i++) {
		const struct compose_finding *f = &r->findings[i];

		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s?, s:i, s:s, s:s, s:b}",
						     "rule", f->rule, "severity",
						     f->warning ? "warning" : "error", "file",
						     f->file ? f->file : "", "service", f->service,
						     "line", f->line, "problem", f->problem,
						     "fix", f->fix, "allowed", f->allowed));
	}
	o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:b, s:o}", "file", r->file ? r->file : "",
		      "services", (json_int_t)r->services, "violations",
		      (json_int_t)r->violations, "warnings", (json_int_t)r->warnings, "allowed",
		      (json_int_t)count_allowed(r), "clean", r->violations == 0, "findings", arr);
	return o;
}
