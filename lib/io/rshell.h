/*
 * rshell: one long-lived remote POSIX shell carrying many commands, each one
 * request and one answer over the shell's stdin, stdout and stderr
 * ("pipelining", as Ansible and SSHKit do it), so a command costs a round
 * trip and a fork on the far side instead of a new local ssh process and a
 * new ssh channel.
 *
 * Contract:
 * - The far side runs rshell_loop as `sh -c RSHELL_LOOP ballast-rsh TAG`
 *   (POSIX sh: dash, bash, BusyBox ash; TAG, the caller's pid, only marks
 *   the process). It keeps nothing on disk. It greets with one line on
 *   stdout; rshell_open() skips what a login script printed before it (at
 *   most 64 KiB) and fails when the greeting does not come within
 *   timeout_ms (0: 30 s).
 * - The protocol (counts in decimal):
 *     greeting  "ballast-rshell 1 input\n" or "ballast-rshell 1 noinput\n"
 *     request   "NONCE LINES INLEN\n" SCRIPT INPUT
 *     answer    stdout: OUT "NONCE STATUS\n"   stderr: ERR "NONCE\n"
 *   NONCE is 32 random hex digits, new for every request; SCRIPT is LINES
 *   lines (a newline is added when it lacks the last one), read with the
 *   `read` builtin, which takes a pipe byte by byte and so never consumes
 *   past its line; INPUT is INLEN bytes of anything, read by
 *   `dd iflag=count_bytes,fullblock`, which stops at the count (GNU
 *   coreutils and BusyBox; the loop checks it at start and greets with
 *   "noinput" when it does not hold). The loop evaluates SCRIPT in a
 *   subshell (cd, umask, variables and exit stay there) with stdin from
 *   INPUT through a pipe (the rest is drained should the command not read
 *   it all) or /dev/null, and stdout and stderr straight on its own, so
 *   output streams; then it writes the markers. STATUS is $?: 128+N for a
 *   signal. OUT and ERR are never escaped, so they may hold anything (NUL
 *   bytes, lines that look like a header): a marker is recognised only by
 *   the nonce, which no earlier output can know and the command cannot
 *   read (its subshell empties the loop's variable first).
 * - rshell_call() is one command: script, input from in_fd (in_len bytes
 *   from its current offset; in_fd -1 for none), OUT to sink in chunks of
 *   at most PROC_CHUNK (NULL: dropped), the last PROC_ERR_TAIL bytes of ERR
 *   appended to err_tail (may be NULL). Non-zero is a failure of the call:
 *   *status is -1 and e says why (a sink's own error when it refuses,
 *   e.g. output too large). A refusing sink (reading the rest of the
 *   answer only to drop it could mean gigabytes), a timeout (timeout_ms
 *   for the whole round trip; 0 = none), the end of the far side's
 *   output, output between two answers (a background process still
 *   writing there), a malformed answer or an
 *   in_fd that ends before in_len break the session: rshell_broken() is
 *   then true and every later call fails, and the caller ends the far side
 *   (a command still running there goes on until it finishes, as with a
 *   killed ssh).
 * - The descriptors stay the caller's: `to` is made non-blocking, nothing
 *   is closed. diag is the far side's stderr; what arrives there outside a
 *   call (and what ssh itself says) is kept, its last PROC_ERR_TAIL bytes,
 *   for messages (rshell_diag). A write to a far side that ended fails
 *   with EPIPE: rshell_call ignores SIGPIPE while it runs and then puts
 *   back what the caller had.
 * - rshell_idle_ended() says, without waiting, whether the far side ended
 *   (or wrote) while no call was running, so a caller can start a new one
 *   before sending anything.
 */
#ifndef BALLAST_RSHELL_H
#define BALLAST_RSHELL_H

#include <stddef.h>

#include "errbuf.h"
#include "proc.h"
#include "strbuf.h"

/* The loop, one line of POSIX sh. */
extern const char rshell_loop[];

/* Larger inputs go another way (the caller's choice): the far side's dd
 * copies in 64 KiB blocks, so only the time grows with the size. */
#define RSHELL_INPUT_MAX (64ull * 1024 * 1024)

struct rshell;

int rshell_open(int to, int from, int diag, long timeout_ms, struct rshell **out,
		struct errbuf *e);
void rshell_free(struct rshell *r);

int rshell_call(struct rshell *r, const char *script, int in_fd, size_t in_len,
		proc_sink_fn sink, void *ctx, struct strbuf *err_tail, int *status,
		long timeout_ms, struct errbuf *e);

/* The far side can take INPUT (its dd stops at a byte count). */
int rshell_takes_input(const struct rshell *r);
int rshell_broken(const struct rshell *r);
int rshell_idle_ended(struct rshell *r);
const struct strbuf *rshell_diag(const struct rshell *r);

#endif
