/*
 * compose_lint: check a Docker Compose file against ballast's hardening
 * rules (issue #9), for `ballast-deploy lint` and deploy's preflight.
 *
 * Contract: compose_lint_file() / compose_lint_string() parse one compose
 * file (compose v2/v3 or the compose spec, without `extends`) with libyaml
 * and check every service under `services` against every rule in
 * compose_lint_rules(). `${VAR}` references are not resolved: a value that
 * is a variable is judged as written (see docs/lint.md for how each rule
 * treats one). YAML anchors, aliases and `<<` merge keys are followed.
 *
 * A service may exempt itself from named rules with the label
 *   ballast.lint.allow: "rule[,rule...]"
 * and a service that declares
 *   ballast.lint.writable: "/path[,/path...]"
 * may only write there (rule writable-paths). Exempted findings are still
 * reported, with allowed = 1, and do not count as violations.
 *
 * Returns 0 when no service breaks a rule; BL_EVERIFY when some do (the
 * message counts them and names the first); BL_EUSAGE for a file that
 * cannot be linted (missing, not YAML, no `services` mapping, `extends`,
 * duplicate keys), naming the file, line and key. BL_EFAIL for I/O errors.
 * `out` is filled as far as linting got and must always be released with
 * compose_lint_release(), whatever the return value.
 */
#ifndef BALLAST_COMPOSE_LINT_H
#define BALLAST_COMPOSE_LINT_H

#include <stddef.h>

#include <jansson.h>

#include "errbuf.h"
#include "strbuf.h"

/* A compose file larger than this is refused: real ones are a few KiB. */
#define COMPOSE_LINT_MAX_BYTES (4 * 1024 * 1024)

struct compose_rule {
	const char *id;       /* "no-new-privileges" */
	const char *summary;  /* one line: what the rule requires */
};

struct compose_finding {
	const char *rule;  /* a compose_rule id (static) */
	char *service;
	int line;          /* 1-based line in the file: the offending key, else the service */
	char *problem;     /* what is wrong: "runs as root (no user:)" */
	char *fix;         /* how to fix it, in compose syntax */
	int allowed;       /* exempted by the service's ballast.lint.allow label */
};

struct compose_lint {
	char *file;                        /* name used in messages */
	size_t services;                   /* services checked */
	struct compose_finding *findings;  /* in file order, then rule order */
	size_t nr, alloc;
	size_t violations;                 /* findings with allowed == 0 */
};

#define COMPOSE_LINT_INIT { NULL, 0, NULL, 0, 0, 0 }

/* The rules, terminated by an entry with id == NULL. */
const struct compose_rule *compose_lint_rules(void);

int compose_lint_file(const char *path, struct compose_lint *out, struct errbuf *e);
/* name is used in messages ("docker-compose.prod.yml"). */
int compose_lint_string(const char *text, size_t len, const char *name,
			struct compose_lint *out, struct errbuf *e);
void compose_lint_release(struct compose_lint *r);

/* Human report, one finding per line plus its fix, and a summary line:
 *   docker-compose.dev.yml:14: backend: no-new-privileges: ...
 *       fix: ...                                                    */
void compose_lint_format(const struct compose_lint *r, struct strbuf *out);

/* {"file":..., "services":N, "violations":N, "allowed":N, "clean":bool,
 *  "findings":[{"rule","service","line","problem","fix","allowed"}]} */
json_t *compose_lint_json(const struct compose_lint *r);

/* The services of a compose file as `compose config` prints it (resolved,
 * interpolated): *services = {"name": {"image": "repo:tag" or null,
 * "build": true|false}}. For the deploy's digest pinning, which needs every
 * service's image after compose resolved it. The text is only parsed here:
 * nothing of it is logged (it may hold the env file's values). BL_EUSAGE
 * for text that is not a compose file, naming `name`. */
int compose_service_images(const char *text, size_t len, const char *name, json_t **services,
			   struct errbuf *e);

#endif
