/*
 * deploy_bundle: a release as it was deployed, kept on the target so that a
 * rollback brings back exactly what ran (compose files, env file, image
 * digests, migrations), not what a tag or app_dir say today.
 *
 *   <app_dir>/.ballast/releases/<release>/
 *     bundle.json          the index, written last (the commit): every file
 *                          below with its sha256 and size, the image
 *                          references and the digest each service runs
 *     compose/<name>       the compose file as deployed (from app_dir, or
 *                          from the CI bundle of deploy --bundle)
 *     env                  the env file as deployed (0600; its values are
 *                          never read into logs, events or the index: only
 *                          its sha256)
 *     environment.json     the config's environments.<env> section as
 *                          written (unexpanded: ${VAR}s, not their values)
 *     pinned.yml           generated compose override: every service's
 *                          image: repo@sha256:... (absent when no service
 *                          could be pinned)
 *     migrations/          the release's migrations (deploy's upload)
 *
 * Contract: a bundle is usable only when bundle.json is there and every
 * file it lists has its recorded sha256 (deploy_bundle_load). Staging
 * removes bundle.json first, so a half-written bundle (a crash, a full
 * disk) is never taken for a complete one. Every file is written atomically
 * by the transport (temporary name, fsync, rename). The bundle's compose
 * runs use --project-directory app_dir, so relative paths in the compose
 * file (bind mounts, build contexts, env_file:) still resolve in app_dir.
 * Errors name the bundle's directory and the file. Missing bundle directory:
 * BL_EUSAGE ("not kept"); incomplete or altered: BL_EVERIFY.
 */
#ifndef BALLAST_DEPLOY_BUNDLE_H
#define BALLAST_DEPLOY_BUNDLE_H

#include <jansson.h>

#include "deploy_env.h"
#include "errbuf.h"
#include "strbuf.h"

#define DEPLOY_BUNDLE_INDEX "bundle.json"
#define DEPLOY_BUNDLE_OVERRIDE "pinned.yml"

struct deploy_bundle {
	char *release;
	struct strbuf dir;    /* <app_dir>/.ballast/releases/<release> */
	json_t *files;        /* "rel/path" -> {"sha256","size"} */
	json_t *compose;      /* ["compose/<name>", ...] relative to dir */
	int has_env;
	int pinned;           /* pinned.yml exists and is used */
	json_t *index;        /* bundle.json once committed or loaded */
	char sha256[65];      /* of bundle.json */
	json_t *proven;       /* NULL, or the files of this directory as
	                       * deploy_bundle_load proved them in this run,
	                       * under the lock (a redeploy of the running
	                       * release): stage and commit leave a file with
	                       * the same sha256 as it is */
};

/* Paths only (for plan, and before staging). */
void deploy_bundle_init(struct deploy_bundle *b, const struct deploy_env *env,
			const char *release);
void deploy_bundle_release(struct deploy_bundle *b);
/* The files a bundle of this environment has once staged (and, with
 * pinned, committed with digests), without reading anything: for plan. */
void deploy_bundle_expect(const struct deploy_env *env, struct deploy_bundle *b, int pinned);

/* Remove bundle.json (the bundle is incomplete from here on), then copy the
 * compose file (compose_path on the target: a CI bundle's staged upload;
 * NULL: app_dir's) and the env file from app_dir into the bundle and write
 * environment.json. Reads nothing outside the target but the config. A
 * file b->proven lists with the content's sha256 is not written again
 * (nor is a proven pinned.yml removed: commit rewrites or removes it). */
int deploy_bundle_stage(struct deploy_env *env, struct deploy_bundle *b, const char *compose_path,
			struct errbuf *e);
/* Record the sha256 of every regular file under local_dir as rel/... (the
 * migrations deploy uploaded from there). */
int deploy_bundle_add_local_tree(struct deploy_bundle *b, const char *local_dir,
				 const char *rel, struct errbuf *e);
/* Record files ({"rel": {"sha256","size"}}, hashed where they came from)
 * whose path is under prefix/ (the migrations a staged upload brought). */
void deploy_bundle_add_files(struct deploy_bundle *b, json_t *files, const char *prefix);
/* Write pinned.yml from services ({"svc": {"image","digest"?,"id"?,...}}:
 * a service with a "digest" is pinned to it) and then bundle.json with
 * images (VAR -> reference) and services. */
int deploy_bundle_commit(struct deploy_env *env, struct deploy_bundle *b, json_t *images,
			 json_t *services, struct errbuf *e);
/* bundle.json as it is, unproven (NULL when there is none or it does not
 * parse): for listing and comparing, never for running. */
int deploy_bundle_read_index(struct deploy_env *env, const struct deploy_bundle *b,
			     json_t **index, struct errbuf *e);
/* Read bundle.json and prove every file it lists. */
int deploy_bundle_load(struct deploy_env *env, struct deploy_bundle *b, struct errbuf *e);

/* compose_command -f <bundle compose files> [-f pinned.yml] [--env-file
 * <bundle env>] --project-directory APP_DIR [-p NAME] args... */
void deploy_bundle_compose_argv(const struct deploy_env *env, const struct deploy_bundle *b,
				const char *const *args, struct strvec *out);

/* {"dir": ..., "sha256": <of bundle.json>} for state.json and history. */
json_t *deploy_bundle_ref(const struct deploy_bundle *b);

/* Every bundle directory under releases/, oldest first: an array of
 * {"release", "complete": bool, "index": bundle.json or absent}. */
int deploy_bundle_list(struct deploy_env *env, json_t **bundles, struct errbuf *e);

/* What `ballast-deploy releases` shows: every bundle directory, oldest
 * first, as {"release", "complete", "current", "previous", "created_at",
 * "services" (name -> image, digest or unpinned), "images",
 * "schema_version", "deployed_at", "result"}, the last three from the
 * newest history line that went to the release. */
int deploy_releases(struct deploy_env *env, json_t **releases, struct errbuf *e);

/* Keep `keep` complete bundles: current and previous always (whatever
 * their age), then the newest others; remove the rest. Incomplete directories (an old release's
 * migrations only, a run in progress) are left alone. Names of the removed
 * releases are appended to removed. */
int deploy_bundle_prune(struct deploy_env *env, long long keep, const char *current,
			const char *previous, json_t *removed, struct errbuf *e);

#endif
