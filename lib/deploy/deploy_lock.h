/*
 * deploy_lock: the deploy lock of an environment, <app_dir>/.ballast/lock.
 *
 * Contract: the lock is a small JSON file {"owner","host","pid","started_at",
 * "started","ttl_s","message","token","command","manual"} written
 * completely under a temporary name and then hard-linked into place, so it
 * appears whole or not at all and two runs can never both create it.
 * A lock is stale when it is older than its TTL (ttl_s > 0), or when it
 * was taken by a run (not by `lock acquire`) on this same host whose pid is
 * gone (a crash). A stale lock is reported and taken over; a live one makes
 * deploy_lock_acquire() wait up to wait_ms, then fail with BL_ELOCKED naming
 * who holds it, since when and why. Release removes the lock only when it
 * still carries our token, unless forced.
 */
#ifndef BALLAST_DEPLOY_LOCK_H
#define BALLAST_DEPLOY_LOCK_H

#include <jansson.h>

#include "deploy_env.h"
#include "errbuf.h"

struct deploy_lock {
	char token[33];
	int held;
};

/* manual: taken by `lock acquire` (no pid to watch). ttl_ms 0: no expiry. */
int deploy_lock_acquire(struct deploy_env *env, struct deploy_lock *lk, const char *command,
			const char *message, long long ttl_ms, long long wait_ms, int manual,
			struct errbuf *e);
/* Removes it when it is ours (or force). Not holding it is not an error
 * when force is set. */
int deploy_lock_release(struct deploy_env *env, struct deploy_lock *lk, int force,
			struct errbuf *e);
/* The lock as found (NULL when free). */
int deploy_lock_read(struct deploy_env *env, json_t **lock, struct errbuf *e);
/* Non-zero when stale; why gets the reason. */
int deploy_lock_is_stale(json_t *lock, char *why, size_t n);
/* "held by alice@ci-1 (pid 123) since ...: message" */
void deploy_lock_describe(json_t *lock, struct strbuf *out);

#endif
