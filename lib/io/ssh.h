/*
 * ssh: libssh2 sessions for the sftp repository driver and the deploy
 * transport.
 *
 * Contract: ssh_connect() opens one TCP connection, does the handshake,
 * verifies the server's host key against known_hosts and authenticates
 * (a key file when one is given, else the ssh-agent). Host keys are strict
 * by default: an unknown or changed key is refused with BL_EFAIL naming the
 * host and the key's SHA256 fingerprint; with accept_new an unknown key is
 * added to known_hosts (a changed key is always refused). One session is
 * reused for every exec channel and SFTP operation of a run; it is not
 * thread-safe. Every error names "user@host:port".
 */
#ifndef BALLAST_SSH_H
#define BALLAST_SSH_H

#include <stddef.h>
#include <time.h>

#include "errbuf.h"
#include "proc.h"
#include "strbuf.h"

struct ssh_session;
struct ssh_file;

struct ssh_opts {
	const char *host;
	int port;                 /* 0 = 22 */
	const char *user;         /* NULL = $USER */
	const char *key_path;     /* private key file; NULL = agent */
	const char *passphrase;   /* for the key file, may be NULL */
	const char *known_hosts;  /* NULL = ~/.ssh/known_hosts */
	int accept_new;           /* host_key_policy "accept-new" */
	long timeout_ms;          /* connect and per-operation; 0 = 30 s */
};

int ssh_connect(const struct ssh_opts *o, struct ssh_session **out, struct errbuf *e);
void ssh_close(struct ssh_session *s);
/* "user@host:port" */
const char *ssh_describe(const struct ssh_session *s);

/* Run `command` (one string for the remote shell: build it with
 * shquote_argv, never by pasting) on a new exec channel. stdin_data (may be
 * NULL) is sent and then EOF. stdout goes to out_sink (may be NULL: drop);
 * stderr is kept in err_tail (last PROC_ERR_TAIL bytes; may be NULL). The
 * remote exit status is stored in *exit_status (-1 when killed by a
 * signal). Returns non-zero only for transport failures (connection lost,
 * timeout): a command that fails is exit_status != 0. */
int ssh_exec(struct ssh_session *s, const char *command, const void *stdin_data,
	     size_t stdin_len, proc_sink_fn out_sink, void *ctx, struct strbuf *err_tail,
	     int *exit_status, long timeout_ms, struct errbuf *e);

/* SFTP. Paths are remote absolute paths (or relative to the login dir). */
int ssh_sftp_open_write(struct ssh_session *s, const char *path, int mode,
			struct ssh_file **out, struct errbuf *e);
int ssh_sftp_open_read(struct ssh_session *s, const char *path, struct ssh_file **out,
		       struct errbuf *e);
int ssh_sftp_write(struct ssh_file *f, const void *buf, size_t len, struct errbuf *e);
/* *got = 0 at end of file. */
int ssh_sftp_read(struct ssh_file *f, void *buf, size_t cap, size_t *got, struct errbuf *e);
/* fsync (when the server offers fsync@openssh.com) then close; frees f. */
int ssh_sftp_close(struct ssh_file *f, struct errbuf *e);
/* Atomic replace (posix-rename@openssh.com when offered). */
int ssh_sftp_rename(struct ssh_session *s, const char *from, const char *to, struct errbuf *e);
/* Missing is not an error. */
int ssh_sftp_unlink(struct ssh_session *s, const char *path, struct errbuf *e);
int ssh_sftp_rmdir(struct ssh_session *s, const char *path, struct errbuf *e);
/* Create path and its parents with mode (existing directories are fine). */
int ssh_sftp_mkdir_p(struct ssh_session *s, const char *path, int mode, struct errbuf *e);

struct ssh_stat {
	int exists;
	int is_dir;
	long long size;
	time_t mtime;
};
int ssh_sftp_stat(struct ssh_session *s, const char *path, struct ssh_stat *st,
		  struct errbuf *e);

/* Every entry of a directory except "." and ".."; name is the entry name. */
typedef int (*ssh_dir_fn)(void *ctx, const char *name, const struct ssh_stat *st,
			  struct errbuf *e);
int ssh_sftp_readdir(struct ssh_session *s, const char *path, ssh_dir_fn fn, void *ctx,
		     struct errbuf *e);

#endif
