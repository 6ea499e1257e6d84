/*
 * deploy_incoming: a release's files as CI built them (`deploy --bundle
 * PATH`), brought to the target before the deploy takes its lock.
 *
 * PATH is a directory or a tar archive (.tar, .tar.gz, .tgz: libarchive
 * decides by content, gzip or none) laid out like app_dir:
 *
 *   <compose_file>            required: environments.<env>.compose_file as
 *                             configured (its base name when absolute)
 *   <env_file>.example        optional: the env file's template (the env
 *                             file itself stays on the target)
 *   migrations/               optional: the release's migrations
 *
 * Other files are carried along and ignored. Only regular files and
 * directories are accepted: a symlink, a hard link, a device, a fifo, an
 * absolute path or a ".." component is refused naming the entry, before
 * anything is written on the target (BL_EUSAGE, as is a missing compose
 * file). An archive is extracted into a private temporary directory on this
 * machine with libarchive's secure flags (no "..", no absolute paths, no
 * writing through symlinks), streaming in bounded buffers; a file over
 * DEPLOY_INCOMING_FILE_MAX or more than DEPLOY_INCOMING_ENTRIES_MAX entries
 * is refused.
 *
 * Staged on the target under <app_dir>/.ballast/incoming/<release>-<hex>/:
 *   owner.json   who staged it (host, pid, started, ttl_s: the deploy
 *                lock's fields), written first
 *   files/...    the bundle's files (0600) and directories (0700)
 * The run that staged it removes it when it ends. One left behind by a run
 * that died is removed by the next deploy holding the lock once it is stale
 * (deploy_lock_is_stale: its process on the same host is gone, or it is
 * older than its ttl_s, the run's lock wait plus its lock TTL).
 */
#ifndef BALLAST_DEPLOY_INCOMING_H
#define BALLAST_DEPLOY_INCOMING_H

#include <jansson.h>

#include "deploy_env.h"
#include "errbuf.h"
#include "strbuf.h"

/* The largest file a bundle may hold: a kept release bundle's files are
 * proven up to this size too. */
#define DEPLOY_INCOMING_FILE_MAX (256LL * 1024 * 1024)
#define DEPLOY_INCOMING_ENTRIES_MAX 10000

struct deploy_incoming {
	char *source;            /* PATH as given */
	char *local_root;        /* the files on this machine: PATH or its extraction */
	char *tmp_root;          /* the extraction (removed by release), NULL for a directory */
	char *compose_rel;       /* the compose file's path in the bundle */
	char *env_template_rel;  /* the env file's template, NULL when the bundle has none */
	int has_migrations;      /* migrations/ is a directory of the bundle */
	json_t *entries;         /* [{"path", "dir": bool}] in walk order, parents first */
	json_t *files;           /* "rel/path" -> {"sha256", "size"} */
	struct strbuf dir;       /* on the target: .ballast/incoming/<release>-<hex> */
	struct strbuf files_dir; /* dir/files */
	int staged;              /* dir was created on the target */
};

/* Read PATH on this machine: extract an archive, check every entry, hash
 * every file, find the compose file (BL_EUSAGE naming it when missing).
 * Nothing on the target is touched. */
int deploy_incoming_prepare(const struct deploy_env *env, const char *source,
			    struct deploy_incoming *in, struct errbuf *e);
/* Write owner.json and then the files under a new incoming directory on
 * the target (app_dir must exist: BL_EFAIL otherwise). ttl_ms is how long
 * a later deploy must wait before it may take the staging for abandoned
 * when it cannot ask after the process. */
int deploy_incoming_upload(struct deploy_env *env, const char *release, long long ttl_ms,
			   struct deploy_incoming *in, struct errbuf *e);
/* <dir>/files/<rel> */
void deploy_incoming_path(const struct deploy_incoming *in, const char *rel, struct strbuf *out);
/* The names of the template's variables the target's env file lacks
 * (appended to missing); 0 without a template. */
int deploy_incoming_env_missing(const struct deploy_env *env, const struct deploy_incoming *in,
				json_t *missing, struct errbuf *e);
/* Remove the incoming directory from the target, when staged. */
int deploy_incoming_remove(struct deploy_env *env, struct deploy_incoming *in, struct errbuf *e);
/* Remove every stale staging under .ballast/incoming/ but own's (own may be
 * NULL); call with the deploy lock held. Names removed go to removed. */
int deploy_incoming_clean(struct deploy_env *env, const struct deploy_incoming *own,
			  json_t *removed, struct errbuf *e);
/* Free memory and the local extraction (not the target's directory). */
void deploy_incoming_release(struct deploy_incoming *in);

#endif
