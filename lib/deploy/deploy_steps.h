/*
 * deploy_steps: the deploy engine of ballast-deploy.
 *
 *   lock -> preflight -> [immutable] -> snapshot -> bundle -> upload ->
 *   pull -> pin -> migrate -> up -> verify -> record -> prune bundles;  on a
 *   failure after migrate began: schema back to the previous release's
 *   version (stored down SQL, `ballast-migrate goto`), the previous
 *   release's bundle up (its compose and env files, pinned digests), verify
 *   again; a refused or failed downgrade falls
 *   back to restoring the pre-deploy snapshot when data_restore allows.
 *
 * With a CI bundle (opts->bundle) a step "stage" comes first, before the
 * lock: the bundle is checked and copied under .ballast/incoming/ on the
 * target (deploy_incoming.h); the bundle step then takes the compose file
 * from there and the upload step moves its migrations into the release
 * bundle. Under the lock every deploy removes stale staged uploads.
 *
 * Contract: every step is timed and logged (a "step" event with --json)
 * and recorded in history.jsonl. Nothing on the target changes before the
 * migrate step (bundle and upload write only under .ballast/): a failure
 * until then (hooks pre-deploy/post-snapshot/pre-up, preflight, immutable,
 * snapshot, bundle, upload, pull, pin) aborts, unlocks and returns
 * the step's status. From migrate on, state.json carries a "pending"
 * record, so an interrupted run (crash, lost connection) is completed by
 * the next deploy or rollback. The outcome is one of enum deploy_result;
 * deploy_result_status() maps it to the exit status: deployed 0,
 * rolled-back and rolled-back-with-restore 1 (the deploy failed, the
 * previous release runs and was verified), failed-needs-attention 4 (the
 * environment could not be verified on any release). The lock is released
 * on every path, including SIGINT/SIGTERM (the current step finishes, then
 * the run rolls back as for a failure).
 */
#ifndef BALLAST_DEPLOY_STEPS_H
#define BALLAST_DEPLOY_STEPS_H

#include <jansson.h>

#include "deploy_env.h"
#include "errbuf.h"
#include "strbuf.h"

enum deploy_result {
	DEPLOY_ABORTED = 0,          /* failed before anything changed */
	DEPLOY_DEPLOYED,
	DEPLOY_ROLLED_BACK,
	DEPLOY_ROLLED_BACK_RESTORE,
	DEPLOY_FAILED_ATTENTION
};

const char *deploy_result_name(enum deploy_result r);
int deploy_result_status(enum deploy_result r, int abort_status);

struct deploy_opts {
	const char *release;          /* deploy: the tag; rollback: --to (may be NULL) */
	const char *migrations_dir;   /* local directory to upload; NULL = config */
	/* a CI-built bundle (directory or tar archive, deploy_incoming.h): the
	 * release's compose file and migrations come from it, staged on the
	 * target before the lock; NULL: app_dir's compose file and migrations_dir */
	const char *bundle;
	long long lock_wait_ms;
	/* an immutable environment takes `latest`, or a release whose tag now
	 * names other bytes than its kept bundle, only with this */
	int allow_mutable;
};

/* The whole sequence. *result is always set; the return value is the exit
 * status and e explains any non-zero one. */
int deploy_run(struct deploy_env *env, const struct deploy_opts *o, enum deploy_result *result,
	       struct errbuf *e);
/* Roll back to opts->release, or the previous release; completes an
 * interrupted deploy first when one is pending. */
int deploy_rollback(struct deploy_env *env, const struct deploy_opts *o,
		    enum deploy_result *result, struct errbuf *e);

/* Preflight only: every check, reported into checks (an array of
 * {"check","ok","detail"}), and then "bundles": every kept release bundle's
 * pinned images are on the target's engine or in their registry (a
 * rollback needs them); BL_EFAIL when one failed (health: BL_EVERIFY). */
int deploy_preflight_report(struct deploy_env *env, const char *release, json_t *checks,
			    struct errbuf *e);

/* The steps and exact commands a deploy would run, nothing run: into plan
 * (an array of {"step","what","command"?}). Reads state.json only. */
int deploy_plan(struct deploy_env *env, const struct deploy_opts *o, json_t *plan,
		struct errbuf *e);

/* Print a plan: numbered lines on stdout, or with --json one result
 * object {"event":"result","env","release","steps":[...]}. */
void deploy_plan_print(struct deploy_env *env, const struct deploy_opts *o, json_t *plan);

/* Find the migrations directory to upload: explicit, else
 * environments.<env>.migrations_dir, else migrations.dir, resolved from the
 * config's directory. *dir NULL when none is configured and none exists
 * (deploy then skips upload and migrate). BL_EUSAGE when an explicitly
 * given one is missing. */
int deploy_local_migrations(struct deploy_env *env, const char *explicit_dir, char **dir,
			    struct errbuf *e);

/* The last {"event":"result"} JSON object in a tool's --json stdout. */
json_t *deploy_result_line(const char *out);

#endif
