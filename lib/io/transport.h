/*
 * transport: "run this argv / put this file / read or write that file" on
 * the machine a deploy targets: this machine (type "local") or a host
 * reached over one reused ssh connection, either libssh2's (type "ssh",
 * lib/io/ssh.h: SFTP for files) or the system ssh client's multiplexed
 * master (type "openssh", lib/io/openssh.h: the operator's ssh config
 * applies; files through small sh scripts on the target, contents on
 * stdin). One interface for all, so the deploy engine never knows which it
 * drives.
 *
 * Contract:
 * - transport_run() runs argv (never through a local shell). Over ssh (both
 *   types) the argv, the optional working directory and the "NAME=value"
 *   environment additions are quoted with shquote into one command line
 *   for the remote shell: "cd DIR && NAME='v' argv...". Only values that
 *   are not secrets may be given in env over ssh (they appear in the
 *   remote command line);
 *   secrets stay in files on the target (the compose env file). The return
 *   value is non-zero only when the transport failed (cannot start the
 *   program locally is reported as exit status 127, like a shell would;
 *   connection lost, timeout): a command that ran and failed returns 0 with
 *   *exit_status != 0 and its stderr tail in err.
 * - Files are written atomically: a temporary sibling, fsync, rename. A
 *   reader sees the old or the new content, never a mix.
 * - transport_link_excl() creates `to` as a hard link of a complete file
 *   `from`, failing with *existed = 1 when `to` already exists: the lock
 *   primitive (the lock file appears complete or not at all).
 * - Every error names the file or program and the target ("local" or
 *   "user@host:port").
 */
#ifndef BALLAST_TRANSPORT_H
#define BALLAST_TRANSPORT_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "errbuf.h"
#include "strbuf.h"

struct transport;
struct config;

/* spec: an expanded "transport" object ({"type":"local"}, ssh or openssh
 * fields; fields of the other ssh type are refused, BL_EUSAGE naming
 * them); NULL means local. cfg resolves relative key/identity/known_hosts/
 * config_file paths. */
int transport_open(json_t *spec, const struct config *cfg, struct transport **out,
		   struct errbuf *e);
void transport_close(struct transport *t);
/* "local" or "user@host:port" */
const char *transport_describe(const struct transport *t);
int transport_is_local(const struct transport *t);
/* Over ssh: drop the session and connect again (after a lost connection). */
int transport_reconnect(struct transport *t, struct errbuf *e);

/* out and err may be NULL. timeout_ms 0 = none. */
int transport_run(struct transport *t, const char *const *argv, const char *const *env,
		  const char *dir, struct strbuf *out, struct strbuf *err, int *exit_status,
		  long timeout_ms, struct errbuf *e);

/* Render the command exactly as transport_run would send it (for plan and
 * logs): over ssh the remote command line, over openssh the whole ssh
 * command line carrying it, locally the quoted argv. */
void transport_render(const struct transport *t, const char *const *argv,
		      const char *const *env, const char *dir, struct strbuf *out);

struct transport_stat {
	int exists;
	int is_dir;
	long long size;
	time_t mtime;
};
int transport_stat(struct transport *t, const char *path, struct transport_stat *st,
		   struct errbuf *e);

/* A missing file is not an error: *exists = 0 and out empty. BL_EFAIL when
 * the file is larger than max. */
int transport_read_file(struct transport *t, const char *path, struct strbuf *out,
			size_t max, int *exists, struct errbuf *e);
int transport_write_file(struct transport *t, const char *path, const void *data,
			 size_t len, int mode, struct errbuf *e);
/* Append data to path (created 0644 when missing) and flush it to disk.
 * For line-oriented logs: a crash may leave a partial last line. */
int transport_append_file(struct transport *t, const char *path, const void *data,
			  size_t len, struct errbuf *e);
/* Copy a local file to path on the target, atomically. */
int transport_put_file(struct transport *t, const char *local_path, const char *path,
		       int mode, struct errbuf *e);
/* Copy a local directory tree (regular files and directories) under path. */
int transport_put_tree(struct transport *t, const char *local_dir, const char *path,
		       struct errbuf *e);
/* The names in directory path, one per line in names ("" when it does not
 * exist or is empty; ls(1) on the target: the transport has no listing of
 * its own). A directory that cannot be read is BL_EFAIL naming it. */
int transport_list_dir(struct transport *t, const char *path, struct strbuf *names,
		       struct errbuf *e);
int transport_mkdir_p(struct transport *t, const char *path, int mode, struct errbuf *e);
/* Missing is not an error. */
int transport_unlink(struct transport *t, const char *path, struct errbuf *e);
int transport_rename(struct transport *t, const char *from, const char *to,
		     struct errbuf *e);
int transport_link_excl(struct transport *t, const char *from, const char *to,
			int *existed, struct errbuf *e);

#endif
