/*
 * compose_lint: check a Docker Compose file against ballast's hardening
 * rules (issue #9), for `ballast-deploy lint` and deploy's preflight.
 *
 * Contract: compose_lint_file() / compose_lint_string() parse one compose
 * file (compose v2/v3 or the compose spec, without `extends`) with libyaml,
 * follow its `include:` files (paths relative to the including file, read
 * with opts->read), and check every service under `services` against every
 * rule in compose_lint_rules(), and the keys against the compose
 * specification. `${VAR}` references are not resolved: a value that is a
 * variable is judged as written (see docs/lint.md for how each rule treats
 * one). YAML anchors, aliases and `<<` merge keys are followed.
 *
 * Rule image-tag (an untagged or moving tag) is a warning, which is
 * reported but does not fail, unless opts->immutable: then a violation.
 *
 * A service may exempt itself from named rules with the label
 *   ballast.lint.allow: "rule[,rule...]"
 * and a service that declares
 *   ballast.lint.writable: "/path[,/path...]"
 * may only write there (rule writable-paths). Exempted findings are still
 * reported, with allowed = 1, and do not count as violations.
 *
 * Returns 0 when no service breaks a rule (warnings may be reported);
 * BL_EVERIFY when some do (the message counts them and names the first);
 * BL_EUSAGE for a file that cannot be linted (missing, not YAML, no
 * `services` mapping, `extends`, duplicate keys, an include that is missing
 * or cyclic, a service defined in two files), naming the file, line and
 * key. BL_EFAIL for I/O errors.
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
	char *file;        /* the compose file (the root or an included one) */
	char *service;     /* NULL for a top-level finding (an unknown key) */
	int line;          /* 1-based line in the file: the offending key, else the service */
	char *problem;     /* what is wrong: "runs as root (no user:)" */
	char *fix;         /* how to fix it, in compose syntax */
	int allowed;       /* exempted by the service's ballast.lint.allow label */
	int warning;       /* reported, but does not fail the lint */
};

struct compose_lint {
	char *file;                        /* name used in messages: the root file */
	size_t services;                   /* services checked, in every file */
	struct compose_finding *findings;  /* in file order, then rule order */
	size_t nr, alloc;
	size_t violations;                 /* findings neither allowed nor warnings */
	size_t warnings;                   /* warnings not allowed */
};

#define COMPOSE_LINT_INIT { NULL, 0, NULL, 0, 0, 0, 0 }

/* Reads an included compose file (at most max bytes) into out; *exists = 0
 * when it is missing. Same contract as transport_read_file(). */
typedef int (*compose_lint_read_fn)(void *ctx, const char *path, struct strbuf *out,
				    size_t max, int *exists, struct errbuf *e);

struct compose_lint_opts {
	int immutable;              /* the environment is immutable: moving image tags fail */
	compose_lint_read_fn read;  /* NULL: the local file system */
	void *read_ctx;
};

/* The rules, terminated by an entry with id == NULL. */
const struct compose_rule *compose_lint_rules(void);

/* opts may be NULL: a mutable environment, includes read locally. */
int compose_lint_file(const char *path, const struct compose_lint_opts *opts,
		      struct compose_lint *out, struct errbuf *e);
/* name is used in messages ("docker-compose.prod.yml") and is the base of
 * relative include paths. */
int compose_lint_string(const char *text, size_t len, const char *name,
			const struct compose_lint_opts *opts, struct compose_lint *out,
			struct errbuf *e);
void compose_lint_release(struct compose_lint *r);

/* Human report, one finding per line plus its fix, and a summary line:
 *   docker-compose.dev.yml:14: backend: no-new-privileges: ...
 *       fix: ...                                                    */
void compose_lint_format(const struct compose_lint *r, struct strbuf *out);

/* {"file":..., "services":N, "violations":N, "warnings":N, "allowed":N,
 *  "clean":bool, "findings":[{"rule","severity":"error"|"warning","file",
 *  "service" (null at top level),"line","problem","fix","allowed"}]} */
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
