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
 *   pasting). Commands go through one remote shell per connection
 *   (rshell.h), started at the first command over the master as
 *   `ssh -T host -- exec sh -c LOOP` and kept for the run: a command is a
 *   round trip on its pipes, not a new ssh. stdin is a local descriptor
 *   (-1: /dev/null); a regular file (a memfd too) of at most
 *   RSHELL_INPUT_MAX bytes goes through the shell, anything else (a pipe, a
 *   larger file) through one ssh of its own, as does every command when the
 *   far side cannot run the loop (it never greets). The return value is
 *   non-zero only for transport failures; a command that ran is
 *   *exit_status (its own 255 too). A failed call that broke the shell
 *   (timeout, the shell ended, garbled output) ends it (a command still
 *   running there goes on until it finishes) and asks the master (`ssh -O
 *   check`): alive, the next command starts a new shell, as a timed-out
 *   command over libssh2 leaves the session; gone, the connection was lost
 *   and every later call fails until openssh_reconnect() (the libssh2
 *   transport's contract). The one-ssh path keeps its old rule: ssh exits
 *   255 both when the connection failed and when the command did, so a
 *   255 asks the master the same way.
 * - openssh_exec_script() is openssh_exec of `sh -c script sh args...`;
 *   through the remote shell it runs without that sh (the shell is one).
 * - openssh_render() shows the one-ssh form of a command (what an
 *   operator can paste), not the remote shell's framing.
 * - Nothing from the operator prompts, forwards ports or runs a local
 *   command: -T, ClearAllForwardings, PermitLocalCommand=no and
 *   RemoteCommand=none are always given; ballast's own -o values come first
 *   on the command line, so they win over the ssh config.
 * - openssh_close() ends the remote shell (end of its input; killed after
 *   5 s), then the master (`ssh -O exit`), and removes the directory; no
 *   ssh process and no remote shell outlives the run.
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
