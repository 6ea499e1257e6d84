/*
 * proc: child processes from argv, never through a shell (git's run-command).
 *
 * Contract: fill a `struct child` (CHILD_INIT), proc_start() it, then either
 * proc_stream() its stdout into a callback or proc_finish() it. The child
 * runs in its own process group so a timeout (or proc_kill) reaches
 * everything it started, and it gets SIGTERM when this process dies,
 * however it dies (PR_SET_PDEATHSIG: nothing ballast starts outlives it;
 * a set-user-ID program or a child that changes its credentials loses
 * that, see setpriv in pitr.c). The kernel sends it when the thread that
 * called proc_start() ends: a thread other than the main one must finish
 * its children before it returns. Any failure (cannot exec, non-zero exit, signal,
 * timeout) becomes one error line naming the program, with the last line
 * of its stderr when stderr was captured. Environment additions ("NAME=v")
 * are how secrets reach children: argv never carries them.
 *
 * proc_stream() has two opt-in behaviours, both for the dump of a database
 * (pg_dump's stdout): `interruptible` makes it look at interrupt_signal at
 * least every PROC_INTERRUPT_POLL_MS, so SIGTERM/SIGINT stops the stream
 * while the child is silent (pg_dump waiting for a table lock), not when
 * its next chunk arrives; the child is then killed and interrupt_check()'s
 * error returned. `batch_reads` lets a child that writes in small pieces
 * fill the pipe between reads: one read per wake-up, and after a read that
 * found under 64 KiB the reader sleeps 2 ms, only when the stdout pipe
 * really holds PROC_BATCH_PIPE_SIZE (set pipe_size to that; a pipe the
 * kernel keeps smaller gets no nap). Neither changes the bytes the sink sees, their
 * order or the errors; proc.c says why and what it measured.
 */
#ifndef BALLAST_PROC_H
#define BALLAST_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include "errbuf.h"
#include "strbuf.h"
#include "timeutil.h"

enum proc_io {
	PROC_INHERIT = 0, /* share the parent's descriptor */
	PROC_PIPE,        /* a pipe; the parent's end is left in the fd field */
	PROC_NULL,        /* /dev/null */
	PROC_FD           /* dup2 the descriptor given in the fd field */
};

/* Most stderr kept for error messages; older bytes are dropped. */
#define PROC_ERR_TAIL 4096
/* Chunk size handed to stream callbacks. */
#define PROC_CHUNK (128 * 1024)
/* How long an interruptible proc_stream() may go without looking at
 * interrupt_signal. */
#define PROC_INTERRUPT_POLL_MS 500
/* The stdout pipe that batch_reads needs (pipe_size) before it naps. */
#define PROC_BATCH_PIPE_SIZE (1024 * 1024)

struct child {
	const char *const *argv;  /* argv[0] is looked up in PATH */
	const char *const *env;   /* extra "NAME=value"; "NAME" alone unsets */
	const char *dir;          /* chdir before exec, NULL = stay */
	enum proc_io in_mode, out_mode, err_mode;
	int in, out, err;
	long timeout_ms;          /* 0 = none; counted from proc_start */
	int pipe_size;            /* the PROC_PIPE stdin and stdout: ask for
				     this capacity (F_SETPIPE_SZ, at most
				     /proc/sys/fs/pipe-max-size); 0 = the
				     default 64 KiB; a refusal is ignored */
	int interruptible;        /* proc_stream: a set interrupt_signal kills
				     the child and fails the stream, within
				     PROC_INTERRUPT_POLL_MS; 0 = not looked at */
	int batch_reads;          /* proc_stream: nap after a short read so
				     the child fills the pipe (needs a stdout
				     pipe of PROC_BATCH_PIPE_SIZE); 0 = read
				     as soon as anything arrives */

	/* filled by proc_start */
	pid_t pid;
	long long started_ms;
	struct strbuf err_tail;   /* captured stderr (err_mode == PROC_PIPE) */
	int status;               /* raw wait status after finish */
	int timed_out;
};

#define CHILD_INIT { NULL, NULL, NULL, PROC_INHERIT, PROC_INHERIT, PROC_INHERIT, \
		     -1, -1, -1, 0, 0, 0, 0, 0, 0, STRBUF_INIT, 0, 0 }

typedef int (*proc_sink_fn)(void *ctx, const void *buf, size_t len, struct errbuf *e);

int proc_start(struct child *c, struct errbuf *e);

/* Wait for the child (honouring the timeout), close the parent's pipe ends,
 * draining stderr into err_tail. Non-zero exit, a signal or a timeout is a
 * BL_EFAIL error naming argv[0]. */
int proc_finish(struct child *c, struct errbuf *e);

/* Feed the child's stdout (out_mode must be PROC_PIPE) to sink in chunks of
 * at most PROC_CHUNK bytes, collecting stderr meanwhile, then finish. If
 * sink fails, or reading fails, or (interruptible) a signal was caught, the
 * child's process group is killed with SIGKILL, it is reaped, and that
 * first error is returned (not the child's "killed by signal 9"). */
int proc_stream(struct child *c, proc_sink_fn sink, void *ctx, struct errbuf *e);

/* A proc_sink_fn that appends to out (NULL: discard), refusing to grow it
 * past 64 MiB: a child that floods its stdout fails instead of eating the
 * host's memory. name goes into that error. */
struct proc_capture {
	struct strbuf *out;
	const char *name;
};
int proc_capture_sink(void *ctx, const void *buf, size_t len, struct errbuf *e);

/* Run argv to completion, capturing stdout into out (may be NULL; capped at
 * 64 MiB) and stderr into the error message on failure. */
int proc_run(const char *const *argv, const char *const *env, const char *dir,
	     struct strbuf *out, long timeout_ms, struct errbuf *e);

/* Append buf to tail (NULL: nothing), keeping only its last PROC_ERR_TAIL
 * bytes: the stderr kept for messages, here and by the ssh transports. */
void proc_tail_add(struct strbuf *tail, const char *buf, size_t n);

/* Send sig to the child's whole process group. */
void proc_kill(struct child *c, int sig);

/* Release what proc_start allocated (after finish). */
void proc_release(struct child *c);

/* Describe a wait status: "exited with status 3", "killed by signal 9 (Killed)". */
void proc_describe_status(int status, char *buf, size_t n);


#endif
