/*
 * hooks: user scripts run at the phase boundaries of a deploy.
 *
 * Contract: hooks_run() runs, in order, every hook configured for `phase`
 * in a "hooks" object ({"pre-deploy": "hooks/notify" or ["a", "b"]}): each
 * entry is one executable (a path, relative ones resolved from the config
 * file's directory), run on the machine running ballast-deploy, without a
 * shell and without arguments, with the documented environment added:
 * BALLAST_PHASE plus whatever the caller passes (BALLAST_ENV,
 * BALLAST_RELEASE, BALLAST_PREVIOUS_RELEASE, BALLAST_BACKUP_ID). Its stdout
 * and stderr go to ballast's stderr, so --json output stays parseable. A hook
 * that exits non-zero, is killed, or outlives timeout_ms fails the call with
 * BL_EFAIL naming the phase and the hook; later hooks of that phase are not
 * run. No hooks for a phase is success.
 */
#ifndef BALLAST_HOOKS_H
#define BALLAST_HOOKS_H

#include <jansson.h>

#include "errbuf.h"

struct config;

#define HOOKS_DEFAULT_TIMEOUT_MS (5 * 60 * 1000)

/* env: "NAME=value" entries, NULL-terminated (may be NULL). *ran counts
 * the hooks started (may be NULL). */
int hooks_run(const struct config *cfg, json_t *hooks, const char *phase,
	      const char *const *env, long timeout_ms, int *ran, struct errbuf *e);

#endif
