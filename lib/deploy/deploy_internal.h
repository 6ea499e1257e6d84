/*
 * deploy_internal: what the files of the deploy engine share (struct run,
 * struct target and the steps), for lib/deploy/ only; callers use
 * deploy_steps.h. The engine is split by phase: deploy_run.c (a run: steps,
 * hooks, compose calls, state and history), deploy_target.c (what happens
 * on the target: migrate, verify, snapshot and restore), deploy_preflight.c,
 * deploy_rollback.c (rollback and the rollback command) and deploy_steps.c
 * (deploy and plan).
 */
#ifndef BALLAST_DEPLOY_INTERNAL_H
#define BALLAST_DEPLOY_INTERNAL_H

#include <jansson.h>

#include "deploy_bundle.h"
#include "deploy_env.h"
#include "deploy_incoming.h"
#include "deploy_lock.h"
#include "deploy_steps.h"
#include "errbuf.h"
#include "strbuf.h"

struct run {
	struct deploy_env *env;
	const char *action;        /* "deploy", "rollback", "recover" */
	const char *release;       /* what this run brings up */
	json_t *state;
	json_t *steps;             /* [{"step","ms","ok"}] */
	char *backup_id;
	char *restore_point;       /* "snapshot": "restore-point": the point's name */
	char *prev_release;
	json_t *prev_images;
	json_t *new_images;
	long long schema_before;
	int schema_known;
	long long schema_after;
	int use_migrate;
	int changed;
	int restored;
	char *local_migrations;
	struct strbuf remote_dir;  /* <app_dir>/.ballast/releases/<TAG>/migrations */
	struct deploy_lock lock;
	char started_at[40];
	long long t0;
	char failed_step[32];
	json_t *verify_images;     /* borrowed: the release being verified */
	int ps_no_json;            /* compose refused `ps --format json` (1.x): ask the v1 way */
	const char *error;         /* borrowed: why the run failed, for on-failure hooks */
	struct deploy_bundle bundle;      /* the release this run brings up (deploy) */
	struct deploy_bundle prev_bundle; /* the release a failure goes back to */
	int have_bundle, have_prev_bundle;
	/* borrowed: the bundle compose runs from; NULL: app_dir's compose file
	 * and env file (a release deployed before bundles existed) */
	const struct deploy_bundle *compose_bundle;
	json_t *history_bundle;    /* the bundle this run's history line names */
	/* borrowed: the release whose containers run while a rollback may
	 * restore the data (its application services are stopped for the
	 * restore): its bundle (NULL: app_dir's compose and env files) and
	 * image references */
	const struct deploy_bundle *running_bundle;
	json_t *running_images;
	/* deploy --bundle: the staged upload, and the compose file in it
	 * (NULL: app_dir's) that preflight checks and the bundle step copies */
	struct deploy_incoming incoming;
	int have_incoming;
	struct strbuf compose_src;
	const char *compose_path;
};

/* "up -d --remove-orphans [--timeout S]". stop_grace is how long a replaced
 * container gets between SIGTERM and SIGKILL: an app that ignores SIGTERM
 * as PID 1 otherwise costs compose's default 10 s per container. */
struct up_args {
	char grace[24];
	const char *v[6];
};

struct target {
	const char *release;
	json_t *images;
	long long schema;
	int schema_known;
	const char *backup_id;
	const char *restore_point;
	const char *migrate_dir;   /* --dir for goto/plan, may be NULL */
	const struct deploy_bundle *bundle; /* NULL: tags and app_dir's files */
};

int drun_complete_pending(struct run *outer, enum deploy_result *res, struct errbuf *e);
int drun_migrate_json(struct run *r, const char *const *args, json_t **result, struct errbuf *e);
int drun_release_dir(struct run *r, const char *release, struct strbuf *out, struct errbuf *e);
int drun_schema_status(struct run *r, const char *dir, long long *version, struct errbuf *e);
void drun_run_init(struct run *r, struct deploy_env *env, const char *action);
void drun_run_release(struct run *r);
long long drun_step_begin(const char *step, const char *what);
void drun_step_end(struct run *r, const char *step, long long t, int rc, struct errbuf *e);
int drun_target_run(struct deploy_env *env, struct strvec *argv, struct strvec *vars,
		      const char *dir, struct strbuf *out, long timeout_ms, struct errbuf *e);
/* drun_target_run in two halves, for a caller that reads the output of a
 * command that failed: the run (non-zero only when the transport failed;
 * the exit status in *status, stderr in err), then the error a non-zero
 * status makes (err's last line, redacted). */
int drun_target_exec(struct deploy_env *env, struct strvec *argv, struct strvec *vars,
		     const char *dir, struct strbuf *out, struct strbuf *err, int *status,
		     long timeout_ms, struct errbuf *e);
int drun_status_error(struct strvec *argv, int status, struct strbuf *err, struct errbuf *e);
/* docker_command followed by args (image inspect, pull, ...). */
void drun_docker_argv(struct run *r, const char *const *args, struct strvec *out);
int drun_compose(struct run *r, const char *const *args, json_t *images, struct strbuf *out,
		   struct errbuf *e);
int drun_compose_step(struct run *r, const char *step, const char *what,
			const char *const *args, json_t *images, struct errbuf *e);
int drun_hook(struct run *r, const char *phase, struct errbuf *e);
void drun_hook_warn(struct run *r, const char *phase);
int drun_preflight(struct run *r, json_t *checks, int *health_ok, struct errbuf *e);
int drun_rollback_to(struct run *r, const struct target *tg, struct errbuf *e);
void drun_state_set_release(json_t *state, const char *release, json_t *images,
			      int schema_known, long long schema, const struct deploy_bundle *b);
/* Resolve every service's image to the digest the engine holds after pull
 * and commit the bundle with them (deploy_bundle_commit). A service that
 * cannot be resolved stays on its tag, with the reason in bundle.json and
 * a warning. */
int drun_pin(struct run *r, struct deploy_bundle *b, json_t *images, struct errbuf *e);
/* environments.<env>.immutable: a release whose kept bundle pinned other
 * digests than its tags name now is refused (BL_EVERIFY), before anything
 * is staged. Pulls the tags (docker pull) to know. */
int drun_check_immutable(struct run *r, struct errbuf *e);
/* Load the bundle of the release state.json names (best effort, for a
 * rollback after a failure): 0 and a warning when it is not usable. */
void drun_load_state_bundle(struct run *r, json_t *state, const char *release,
			    struct deploy_bundle *b, int *have);
enum deploy_result drun_recover(struct run *r, const struct target *tg, struct errbuf *e);
const char *drun_restore_db_name(struct deploy_env *env);
int drun_snapshot(struct run *r, struct errbuf *e);
/* The release whose containers run during a restore (running_*): with
 * bundled, its kept bundle is loaded into r->bundle (when a restore is
 * possible at all: data_restore not "never" and a snapshot); one that
 * cannot be loaded is a warning, and app_dir's files are used. */
void drun_set_running(struct run *r, const char *release, json_t *images, int bundled);
/* ballast-backup restore ID --clean into the restore database, with the
 * running release's application services stopped for it (restore_stop_services,
 * else every service whose image is one of images): the steps stop-app,
 * restore and, when the restore fails, start-app. A failed stop runs no
 * restore. */
int drun_restore(struct run *r, const char *backup_id, struct errbuf *e);
/* The step "restore": backup_command args... on the target; r->restored
 * on success. */
int drun_restore_step(struct run *r, const char *const *args, const char *what, struct errbuf *e);
/* compose stop|start SERVICES through the running release's files; the
 * stop gives the stop_grace of up. */
int drun_app_compose(struct run *r, const char *cmd, struct strvec *svcs, struct errbuf *e);
/* The steps stop-app and start-app around a data restore (see
 * drun_restore): stop fills svcs with what it stopped; a failed stop
 * starts them again and says the restore did not run. */
int drun_app_stop(struct run *r, struct strvec *svcs, struct errbuf *e);
void drun_app_start(struct run *r, struct strvec *svcs);
/* deploy_pitr.c, "snapshot": "restore-point". The snapshot step:
 * ballast-backup restore-point --wait-archived on the target, named
 * ballast-<env>-<release>-<UTC time> (r->restore_point). */
int drun_restore_point(struct run *r, struct errbuf *e);
/* pitr.database, else the database a logical restore would use */
const char *drun_point_db(struct deploy_env *env);
/* The rollback's data restore to that point: the application services
 * stopped (as drun_restore), then the server (pitr.service or
 * pitr.stop_command), ballast-backup restore --pitr --name into
 * pitr.data_dir, the server started again whatever happened, and waited
 * for until the schema status answers (when migrations are in use). */
int drun_restore_to_point(struct run *r, const char *name, struct errbuf *e);
int drun_upload_migrations(struct run *r, struct errbuf *e);
int drun_write_pending(struct run *r, struct errbuf *e);
void drun_history(struct run *r, const char *from, const char *to, json_t *images,
		    enum deploy_result res, const char *error);
int drun_verify(struct run *r, const char *step, json_t *images, struct errbuf *e);
const char *const *drun_up_args(const struct deploy_env *env, struct up_args *u);
/* Release the run's lock if it holds it; a failure is logged, not returned:
 * the outcome is already decided. */
void drun_unlock(struct run *r);

#endif
