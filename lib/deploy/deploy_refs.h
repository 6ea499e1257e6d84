/*
 * deploy_refs: which environment a git ref deploys to, and as which image
 * tag (for CI: `ballast-deploy env-for-ref "$GITHUB_REF"`).
 *
 * Contract: "refs/heads/" and "refs/tags/" prefixes are ignored. When any
 * environment of the config has "refs", those decide: environments in file
 * order, each entry a shell glob (fnmatch, '*' does not cross '/') with an
 * optional ":TAG" ("main:latest", "hotfix-?:qa", "v*.*.*"); the first
 * match wins. The tag is the entry's TAG, else the environment's "tag",
 * else the built-in mapping's tag for that ref (main -> latest, vX.Y.Z ->
 * itself, vX.Y.Z-PRE -> itself), else the ref itself with '/' turned into '-'.
 * Without any "refs" in the config (or without a config), the built-in
 * mapping applies:
 *   develop -> dev/dev, qa and release/(anything) -> qa/qa, main -> prod/latest,
 *   vX.Y.Z (digits) -> prod/vX.Y.Z, vX.Y.Z-PRE (a semver pre-release such as
 *   rc1 or beta.2) -> qa/vX.Y.Z-PRE.
 * No match is BL_EFAIL ("ref X deploys nowhere"); a tag that is not a valid
 * image tag is BL_EUSAGE.
 */
#ifndef BALLAST_DEPLOY_REFS_H
#define BALLAST_DEPLOY_REFS_H

#include "config.h"
#include "errbuf.h"

/* cfg may be NULL. *env and *tag are malloc'd. */
int deploy_ref_match(const struct config *cfg, const char *ref, char **env, char **tag,
		     struct errbuf *e);

#endif
