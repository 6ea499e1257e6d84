/*
 * openssh: the system `ssh` client as a deploy transport, with one
 * multiplexed master connection per run, so everything in the operator's
 * ssh configuration applies (ProxyJump, IdentityFile, CertificateFile,
 * @cert-authority in known_hosts, FIDO keys through the agent).
 *
 * Contract:
 * - openssh_open() asks `ssh -G` for the effective user and port (for
 *   messages), creates a private 0700 directory for the ControlPath socket
 *   (under $TMPDIR when the socket path fits, else /tmp) and starts the
 *   master with `ssh -M -N -f`, which returns once the host key is verified
 *   and authentication succeeded. Every ssh runs with BatchMode=yes: it
 *   never prompts, and what would need a prompt fails.
 * - openssh_exec() runs one command line (build it with shquote, never by
 *   pasting) through the master with ControlMaster=auto: should the master
 *   have ended while idle (ControlPersist), that ssh starts a new one. stdin
 *   is a local descriptor (-1: /dev/null). The return value is non-zero
 *   only for transport failures; a command that ran is *exit_status. ssh
 *   exits 255 both when the connection failed and when the command did, so
 *   a 255 asks the master (`ssh -O check`): alive means the command's own
 *   status; gone means the connection was lost, and every later call fails
 *   until openssh_reconnect() (the libssh2 transport's contract).
 * - Nothing from the operator prompts, forwards ports or runs a local
 *   command: -T, ClearAllForwardings, PermitLocalCommand=no and
 *   RemoteCommand=none are always given; ballast's own -o values come first
 *   on the command line, so they win over the ssh config.
 * - openssh_close() ends the master (`ssh -O exit`) and removes the
 *   directory; no ssh process outlives the run.
 * - Errors are one line with the last meaningful line of ssh's stderr (and
 *   the server key's SHA256 fingerprint when ssh refused it). Those of
 *   open and reconnect name "user@host:port"; those of exec leave that to
 *   the caller, which says what it was doing there.
 */
#ifndef BALLAST_OPENSSH_H
#define BALLAST_OPENSSH_H

#include <stddef.h>

#include "errbuf.h"
#include "proc.h"
#include "strbuf.h"

struct openssh;

struct openssh_opts {
	const char *host;            /* a host name or an alias of the ssh config */
	int port;                    /* 0 = the ssh config's */
	const char *user;            /* NULL = the ssh config's */
	const char *config_file;     /* -F; NULL = ~/.ssh/config */
	const char *identity;        /* IdentityFile; NULL = the ssh config's and the agent's */
	const char *known_hosts;     /* UserKnownHostsFile; NULL = the ssh config's */
	const char *host_key_policy; /* "strict" or "accept-new"; NULL = the ssh config's */
	const char *const *options;  /* extra "Key=Value"; config_ssh_option_refused()
					 decides which may be given */
	long timeout_ms;             /* connecting; 0 = 30 s */
};

int openssh_open(const struct openssh_opts *o, struct openssh **out, struct errbuf *e);
void openssh_close(struct openssh *s);
/* End the master (if any) and start a new one. */
int openssh_reconnect(struct openssh *s, struct errbuf *e);
/* "user@host:port" */
const char *openssh_describe(const struct openssh *s);

/* The ssh argv for command as openssh_exec runs it, quoted for display. */
void openssh_render(const struct openssh *s, const char *command, struct strbuf *out);

int openssh_exec(struct openssh *s, const char *command, int stdin_fd,
		 proc_sink_fn out_sink, void *ctx, struct strbuf *err_tail, int *exit_status,
		 long timeout_ms, struct errbuf *e);
/* openssh_exec of `sh -c script sh args...` (args NULL-terminated). */
int openssh_exec_script(struct openssh *s, const char *script, const char *const *args,
			int stdin_fd, proc_sink_fn out_sink, void *ctx, struct strbuf *err_tail,
			int *exit_status, long timeout_ms, struct errbuf *e);

#endif
