/*
 * deploy_state: what ballast-deploy keeps on the target, under
 * <app_dir>/.ballast/:
 *
 *   state.json     {"release","images":{VAR:ref},"schema_version",
 *                   "previous_release","previous_images",
 *                   "previous_schema_version","backup_id","deployed_at",
 *                   "deployed_by", "bundle" and "previous_bundle"
 *                   ({"dir","sha256"}: the release bundles, see
 *                   deploy_bundle.h), and while a deploy is changing things
 *                   "pending":{"release","images","backup_id","bundle",
 *                   "schema_before","started_at","by","host","pid"}}
 *                  replaced atomically (temporary file + rename), so a
 *                  reader sees the old or the new state, never a mix. A
 *                  "pending" member left behind means a deploy was
 *                  interrupted after it began changing the environment:
 *                  the next deploy or rollback completes the recovery.
 *   history.jsonl  one JSON object per line per deploy or rollback,
 *                  appended; unparsable lines (a crash mid-append) are
 *                  skipped when read.
 *
 * Contract: deploy_state_read() gives an empty object when there is no
 * state yet (a first deploy); a state file that is not a JSON object is
 * BL_EFAIL naming it (an operator must look: ballast will not guess).
 */
#ifndef BALLAST_DEPLOY_STATE_H
#define BALLAST_DEPLOY_STATE_H

#include <jansson.h>

#include "deploy_env.h"
#include "errbuf.h"

int deploy_state_read(struct deploy_env *env, json_t **state, struct errbuf *e);
int deploy_state_write(struct deploy_env *env, json_t *state, struct errbuf *e);

int deploy_history_append(struct deploy_env *env, json_t *entry, struct errbuf *e);
/* Every entry, oldest first. */
int deploy_history_read(struct deploy_env *env, json_t **entries, struct errbuf *e);

/* "2026-11-27T02:15:00Z" for now. */
void deploy_now_iso(char *buf, size_t n);
/* The user running ballast-deploy ($SUDO_USER, $USER, the uid's name). */
const char *deploy_whoami(void);
/* This machine's host name. */
const char *deploy_hostname(void);

#endif
