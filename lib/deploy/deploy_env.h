/*
 * deploy_env: one environment of ballast.json ("environments.<name>"),
 * resolved for a run: its settings parsed with defaults, its transport
 * connected, its env file read from the target and its strings expanded.
 *
 * Contract: deploy_env_open() needs the transport settings, app_dir and
 * env_file to be expandable from the process environment alone (they are
 * needed to reach the env file); everything else in the environment and in
 * "images" may also use the env file's variables, which win over the
 * process environment. Values of env-file variables whose names look
 * secret (PASSWORD, SECRET, TOKEN, PASSPHRASE, KEY) are registered with
 * log_add_secret() and never leave the target otherwise: compose reads the
 * env file itself. An unknown environment is BL_EUSAGE listing the known
 * ones. With connect = 0 nothing is opened (for commands that only print).
 *
 * Without compose_command, a connected open asks the target: `docker
 * compose version`, else `docker-compose version` (one or two commands).
 *
 * deploy_env_argv_*() build the exact argv of every command deploy runs on
 * the target, from the configured argv prefixes (compose_command,
 * backup_command, migrate_command) plus --config of the target's config.
 */
#ifndef BALLAST_DEPLOY_ENV_H
#define BALLAST_DEPLOY_ENV_H

#include <jansson.h>

#include "config.h"
#include "errbuf.h"
#include "http.h"
#include "strbuf.h"
#include "transport.h"

/* Release bundles kept on the target by default (releases_keep). */
#define DEPLOY_RELEASES_KEEP_DEFAULT 5

enum deploy_restore { DEPLOY_RESTORE_NEVER, DEPLOY_RESTORE_IF_IRREVERSIBLE, DEPLOY_RESTORE_ALWAYS };
/* What "snapshot" takes before anything changes: nothing, a backup
 * (ballast-backup run), or a restore point in the WAL of a physical
 * database (ballast-backup restore-point, docs/ballast-deploy.md). */
enum deploy_snapshot { DEPLOY_SNAPSHOT_NONE, DEPLOY_SNAPSHOT_BACKUP, DEPLOY_SNAPSHOT_POINT };

/* Push every string of a JSON array (struct strvec is in strbuf.h). */
void strvec_push_json(struct strvec *sv, json_t *arr);

struct deploy_env {
	char *name;
	struct config *cfg;
	json_t *node;             /* environments.<name>, expanded */
	json_t *raw_node;         /* the same as written: ${VAR}s, never the env file's values */
	long long releases_keep;  /* release bundles kept on the target */
	int immutable;            /* a release name always means the same image bytes */
	char *app_dir;
	char *compose_file;       /* as configured (relative to app_dir or absolute) */
	char *env_file;           /* idem, may be NULL */
	char *project_name;       /* may be NULL */
	json_t *compose_command;  /* array of strings */
	json_t *docker_command;   /* array of strings: inspects containers for compose v1 */
	json_t *images;           /* VAR -> repository */
	json_t *backup_command, *migrate_command;
	char *target_config;      /* the config file on the target */
	enum deploy_snapshot snapshot;
	/* with DEPLOY_SNAPSHOT_POINT: the physical database (NULL: the
	 * migrations database), where a rollback restores it, and how the
	 * server stops and starts: a compose service, or two argv */
	char *pitr_db, *pitr_service;
	/* where a rollback restores: pitr_into is the value of the restore
	 * option pitr_into_opt ("--data-dir" or "--docker-volume") */
	const char *pitr_into_opt;
	char *pitr_into;
	json_t *pitr_stop, *pitr_start;
	long long pitr_archive_wait_ms;
	int rollback_on_failure;
	enum deploy_restore data_restore;
	long long lock_ttl_ms;
	long long min_free_bytes;
	long long hook_timeout_ms;
	long long compose_timeout_ms; /* every compose and docker command */
	long long stop_grace_ms;  /* -1: compose's own default (10 s) */
	/* the services a rollback's data restore stops (array of names);
	 * NULL: those whose image is one of images */
	json_t *restore_stop_services;
	struct http_check *health;
	size_t nhealth;
	json_t *hooks;
	json_t *envvars;          /* the env file's variables ({} when none) */
	int env_file_exists;
	struct transport *t;      /* NULL when opened without connecting */
};

int deploy_env_open(struct config *cfg, const char *name, int connect,
		    struct deploy_env **out, struct errbuf *e);
void deploy_env_close(struct deploy_env *env);

/* <app_dir>/<rel> unless rel is absolute. */
void deploy_env_path(const struct deploy_env *env, const char *rel, struct strbuf *out);
/* <app_dir>/.ballast/<rel> */
void deploy_env_state_path(const struct deploy_env *env, const char *rel, struct strbuf *out);

/* Image references of a release: {VAR: "<repository>:<tag>"}. */
json_t *deploy_env_images_for(const struct deploy_env *env, const char *tag);
/* "VAR=ref" entries for a command's environment, from an images object. */
void deploy_env_image_vars(json_t *images, struct strvec *out);

/* compose_command -f FILE [--env-file FILE] [-p NAME] <args...> */
void deploy_env_compose_argv(const struct deploy_env *env, const char *const *args,
			     struct strvec *out);
/* backup_command --config CFG <args...>; migrate likewise. */
void deploy_env_backup_argv(const struct deploy_env *env, const char *const *args,
			    struct strvec *out);
void deploy_env_migrate_argv(const struct deploy_env *env, const char *const *args,
			     struct strvec *out);

/* Does a release name look like an image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})? */
int deploy_tag_valid(const char *tag);

#endif
