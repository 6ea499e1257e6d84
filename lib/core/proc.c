#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "interrupt.h"
#include "xalloc.h"

/* batch_reads. pg_dump writes its archive through stdio, 4 KiB per
 * write(); a reader blocked in poll() wakes for each one, two context
 * switches per 4 KiB (about 235,000 writes for a 1 GB dump). Once a read
 * finds the pipe nearly empty (under PROC_BATCH_BELOW), the reader sleeps
 * PROC_BATCH_NAP_US and lets the writes pile up in a 1 MiB pipe: pg_dump
 * (about 150 MB/s) fills 300 KiB of it meanwhile and never waits for room.
 * On a 2-core machine this halved the context switches (203,000 to 92,000)
 * and took the benchmark's backup from 8.7 to 7.7 s (docs/BENCHMARKS.md,
 * "Backup per stage"). A pipe the kernel would not enlarge (pipe-max-size)
 * gets no nap: 64 KiB fill in under 1 ms, and the writer would block on a
 * full pipe instead. The same nap on the write side (feeding pg_restore)
 * gained nothing measurable, so proc has none there. */
#define PROC_BATCH_BELOW (64 * 1024)
#define PROC_BATCH_NAP_US 2000

static const char *prog_name(const struct child *c)
{
	const char *p = c->argv && c->argv[0] ? c->argv[0] : "child";
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

void proc_describe_status(int status, char *buf, size_t n)
{
	if (WIFEXITED(status))
		snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, n, "ended with wait status %d", status);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* In the child after fork: only async-signal-safe calls until exec. */
static void child_setup_fd(enum proc_io mode, int target, int pipe_end, int given)
{
	int fd;

	switch (mode) {
	case PROC_INHERIT:
		return;
	case PROC_PIPE:
		dup2(pipe_end, target);
		return;
	case PROC_NULL:
		fd = open("/dev/null", target == 0 ? O_RDONLY : O_WRONLY);
		if (fd >= 0 && fd != target) {
			dup2(fd, target);
			close(fd);
		}
		return;
	case PROC_FD:
		if (given != target)
			dup2(given, target);
		return;
	}
}

/* A larger pipe means fewer wakeups for a child that reads a stream as
 * fast as we write it. An unprivileged process may not go past
 * pipe-max-size (EPERM), so ask for at most that; a kernel or a user
 * over its pipe quota that refuses leaves the default, which works. */
static void set_pipe_size(int fd, int want)
{
	FILE *f = fopen("/proc/sys/fs/pipe-max-size", "re");
	long max = 0;

	if (f) {
		if (fscanf(f, "%ld", &max) != 1)
			max = 0;
		fclose(f);
	}
	if (max > 0 && want > max)
		want = (int)max;
	(void)fcntl(fd, F_SETPIPE_SZ, want);
}

int proc_start(struct child *c, struct errbuf *e)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	int pexec[2] = { -1, -1 };
	int child_errno = 0;
	ssize_t n;
	pid_t pid, parent;
	int rc = BL_EFAIL;

	strbuf_init(&c->err_tail, 0);
	c->pid = -1;
	c->status = 0;
	c->timed_out = 0;
	if (!c->argv || !c->argv[0])
		return errbuf_set(e, BL_EUSAGE, "proc: empty command");
	if ((c->in_mode == PROC_PIPE && pipe2(pin, O_CLOEXEC)) ||
	    (c->out_mode == PROC_PIPE && pipe2(pout, O_CLOEXEC)) ||
	    (c->err_mode == PROC_PIPE && pipe2(perr, O_CLOEXEC)) ||
	    pipe2(pexec, O_CLOEXEC)) {
		errbuf_errno(e, BL_EFAIL, errno, "proc: cannot create pipe for %s", prog_name(c));
		goto out;
	}
	if (c->in_mode == PROC_PIPE && c->pipe_size > 0)
		set_pipe_size(pin[1], c->pipe_size);
	if (c->out_mode == PROC_PIPE && c->pipe_size > 0)
		set_pipe_size(pout[0], c->pipe_size);
	c->started_ms = time_mono_ms();
	parent = getpid();
	pid = fork();
	if (pid < 0) {
		errbuf_errno(e, BL_EFAIL, errno, "proc: cannot fork for %s", prog_name(c));
		goto out;
	}
	if (pid == 0) {
		const char *const *v;
		int err;

		setpgid(0, 0);
		/* Its own process group keeps the child out of a terminal's
		 * signals, so nothing would stop it when we die by SIGKILL or
		 * the OOM killer: a `compose up` left running races the
		 * rollback that follows. Ask the kernel to end it with us; a
		 * parent already gone before the request is checked by hand.
		 * The signal comes when the forking thread ends (a volume's
		 * producer thread runs its before/after commands to their
		 * end, so they are done by then). */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
			goto fail;
		if (getppid() != parent)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		child_setup_fd(c->in_mode, 0, pin[0], c->in);
		child_setup_fd(c->out_mode, 1, pout[1], c->out);
		child_setup_fd(c->err_mode, 2, perr[1], c->err);
		if (c->dir && chdir(c->dir) < 0)
			goto fail;
		for (v = c->env; v && *v; v++) {
			if (strchr(*v, '='))
				putenv((char *)*v);
			else
				unsetenv(*v);
		}
		execvp(c->argv[0], (char *const *)c->argv);
fail:
		err = errno;
		if (write(pexec[1], &err, sizeof(err)) < 0)
			_exit(127);
		_exit(127);
	}
	c->pid = pid;
	/* Also set it from the parent: kill(-pid) must work even if the child
	 * has not run yet. */
	setpgid(pid, pid);
	close_fd(&pexec[1]);
	do {
		n = read(pexec[0], &child_errno, sizeof(child_errno));
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(child_errno)) {
		waitpid(pid, NULL, 0);
		c->pid = -1;
		if (c->dir && child_errno != ENOENT)
			errbuf_errno(e, BL_EFAIL, child_errno, "cannot run %s in %s", c->argv[0], c->dir);
		else
			errbuf_errno(e, BL_EFAIL, child_errno, "cannot run %s", c->argv[0]);
		goto out;
	}
	if (c->in_mode == PROC_PIPE) {
		c->in = pin[1];
		pin[1] = -1;
	}
	if (c->out_mode == PROC_PIPE) {
		c->out = pout[0];
		pout[0] = -1;
	}
	if (c->err_mode == PROC_PIPE) {
		c->err = perr[0];
		perr[0] = -1;
	}
	rc = 0;
out:
	close_fd(&pin[0]);
	close_fd(&pin[1]);
	close_fd(&pout[0]);
	close_fd(&pout[1]);
	close_fd(&perr[0]);
	close_fd(&perr[1]);
	close_fd(&pexec[0]);
	close_fd(&pexec[1]);
	return rc;
}

void proc_kill(struct child *c, int sig)
{
	if (c->pid > 0) {
		kill(-c->pid, sig);
		kill(c->pid, sig);
	}
}

void proc_tail_add(struct strbuf *tail, const char *buf, size_t n)
{
	if (!tail)
		return;
	if (n >= PROC_ERR_TAIL) {
		strbuf_reset(tail);
		strbuf_add(tail, buf + n - PROC_ERR_TAIL, PROC_ERR_TAIL);
		return;
	}
	if (tail->len + n > PROC_ERR_TAIL) {
		size_t drop = tail->len + n - PROC_ERR_TAIL;

		memmove(tail->buf, tail->buf + drop, tail->len - drop);
		strbuf_setlen(tail, tail->len - drop);
	}
	strbuf_add(tail, buf, n);
}

static long remaining_ms(const struct child *c)
{
	long long left;

	if (c->timeout_ms <= 0)
		return -1;
	left = c->started_ms + c->timeout_ms - time_mono_ms();
	return left > 0 ? (long)left : 0;
}

/* Last non-empty line of the captured stderr, for error messages. */
static void last_line(const struct strbuf *tail, char *buf, size_t n)
{
	size_t end = tail->len, start;

	while (end && (tail->buf[end - 1] == '\n' || tail->buf[end - 1] == '\r' ||
		       tail->buf[end - 1] == ' '))
		end--;
	start = end;
	while (start && tail->buf[start - 1] != '\n')
		start--;
	if (end - start >= n)
		start = end - (n - 1);
	memcpy(buf, tail->buf + start, end - start);
	buf[end - start] = '\0';
}

static void on_timeout(struct child *c)
{
	c->timed_out = 1;
	proc_kill(c, SIGTERM);
	/* Give it a moment to exit cleanly, then make sure. */
	for (int i = 0; i < 20; i++) {
		if (waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
			proc_kill(c, SIGKILL); /* whatever it left in its group */
			c->pid = -1;
			return;
		}
		usleep(50000);
	}
	proc_kill(c, SIGKILL);
	waitpid(c->pid, &c->status, 0);
	c->pid = -1;
}

int proc_finish(struct child *c, struct errbuf *e)
{
	char desc[128], line[512];
	pid_t r;

	close_fd(&c->in);
	/* Drain stderr (and discard remaining stdout) until both close. */
	while (c->err >= 0 || c->out >= 0) {
		struct pollfd p[2];
		int np = 0, rv;
		long left = remaining_ms(c);

		if (c->err >= 0)
			p[np++] = (struct pollfd){ .fd = c->err, .events = POLLIN };
		if (c->out >= 0)
			p[np++] = (struct pollfd){ .fd = c->out, .events = POLLIN };
		rv = poll(p, (nfds_t)np, left < 0 ? -1 : (int)left);
		if (rv < 0 && errno == EINTR)
			continue;
		if (rv == 0) {
			on_timeout(c);
			close_fd(&c->err);
			close_fd(&c->out);
			break;
		}
		for (int i = 0; i < np; i++) {
			char buf[4096];
			ssize_t n;

			if (!p[i].revents)
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0) {
				if (p[i].fd == c->err)
					close_fd(&c->err);
				else
					close_fd(&c->out);
				continue;
			}
			if (p[i].fd == c->err)
				proc_tail_add(&c->err_tail, buf, (size_t)n);
		}
	}
	if (c->pid > 0) {
		for (;;) {
			long left = remaining_ms(c);

			r = waitpid(c->pid, &c->status, left < 0 ? 0 : WNOHANG);
			if (r == c->pid)
				break;
			if (r < 0 && errno != EINTR) {
				c->pid = -1;
				return errbuf_errno(e, BL_EFAIL, errno, "%s: wait failed", prog_name(c));
			}
			if (r == 0) {
				if (left == 0) {
					on_timeout(c);
					break;
				}
				usleep(left > 20 ? 20000 : 1000);
			}
		}
	}
	c->pid = -1;
	last_line(&c->err_tail, line, sizeof(line));
	if (c->timed_out)
		return errbuf_set(e, BL_EFAIL, "%s: timed out after %ldms and was killed%s%s",
				  prog_name(c), c->timeout_ms, *line ? ": " : "", line);
	if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0)
		return 0;
	proc_describe_status(c->status, desc, sizeof(desc));
	return errbuf_set(e, BL_EFAIL, "%s %s%s%s", prog_name(c), desc, *line ? ": " : "", line);
}

int proc_stream(struct child *c, proc_sink_fn sink, void *ctx, struct errbuf *e)
{
	char *buf = NULL;
	int rc = 0, nap;

	if (c->out < 0)
		return errbuf_set(e, BL_EUSAGE, "proc: %s has no stdout pipe", prog_name(c));
	buf = xmalloc(PROC_CHUNK);
	nap = c->batch_reads && fcntl(c->out, F_GETPIPE_SZ) >= PROC_BATCH_PIPE_SIZE;
	while (c->out >= 0) {
		struct pollfd p[2];
		int np = 0, rv;
		long left = remaining_ms(c), wait = left;

		if (c->interruptible && interrupt_signal) {
			rc = interrupt_check(e);
			break;
		}
		/* the signal's EINTR may come just before poll(), or go to
		 * another thread: look at the flag again after a while */
		if (c->interruptible && (wait < 0 || wait > PROC_INTERRUPT_POLL_MS))
			wait = PROC_INTERRUPT_POLL_MS;
		p[np++] = (struct pollfd){ .fd = c->out, .events = POLLIN };
		if (c->err >= 0)
			p[np++] = (struct pollfd){ .fd = c->err, .events = POLLIN };
		rv = poll(p, (nfds_t)np, (int)wait);
		if (rv < 0 && errno == EINTR)
			continue;
		if (rv < 0) {
			rc = errbuf_errno(e, BL_EFAIL, errno, "%s: poll failed", prog_name(c));
			break;
		}
		if (rv == 0 && left >= 0 && remaining_ms(c) == 0)
			break; /* timeout: proc_finish reports it */
		if (rv == 0)
			continue;
		if (np > 1 && p[1].revents) {
			ssize_t n = read(c->err, buf, 4096);

			if (n <= 0)
				close_fd(&c->err);
			else
				proc_tail_add(&c->err_tail, buf, (size_t)n);
		}
		if (p[0].revents) {
			size_t got = 0;
			ssize_t n;

			/* Fill the chunk as far as the pipe allows, so the sink sees
			 * large blocks rather than 64 KiB pipe-sized ones. Not when
			 * batching: a writer that keeps pace would be read 4 KiB
			 * at a time, a poll() and a read() each, and the nap below
			 * would not come (the benchmark's backup: 8.3 s instead of
			 * 7.8 s). One read per wake-up, as much as is there. */
			do {
				n = read(c->out, buf + got, PROC_CHUNK - got);
				if (n > 0)
					got += (size_t)n;
			} while (!nap && n > 0 && got < PROC_CHUNK && got % 4096 == 0 &&
				 poll(p, 1, 0) > 0);
			if (got) {
				rc = sink(ctx, buf, got, e);
				if (rc)
					break;
			}
			if (n == 0) {
				close_fd(&c->out);
			} else if (n < 0 && errno != EINTR && errno != EAGAIN) {
				rc = errbuf_errno(e, BL_EFAIL, errno, "%s: read failed", prog_name(c));
				break;
			} else if (nap && got && got < PROC_BATCH_BELOW) {
				usleep(PROC_BATCH_NAP_US);
			}
		}
	}
	free(buf);
	if (rc) {
		/* The stream is abandoned: nothing will read the rest, and a
		 * gentler SIGTERM would need a grace period on the way out of
		 * a failure or an interrupted run. */
		struct errbuf ignore = ERRBUF_INIT;

		proc_kill(c, SIGKILL);
		close_fd(&c->out);
		proc_finish(c, &ignore);
		return rc;
	}
	return proc_finish(c, e);
}

int proc_capture_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct proc_capture *cap = ctx;

	if (!cap->out)
		return 0;
	if (cap->out->len + len > 64u * 1024 * 1024)
		return errbuf_set(e, BL_EFAIL, "%s: output larger than 64 MiB", cap->name);
	strbuf_add(cap->out, buf, len);
	return 0;
}

int proc_run(const char *const *argv, const char *const *env, const char *dir,
	     struct strbuf *out, long timeout_ms, struct errbuf *e)
{
	struct child c = CHILD_INIT;
	struct proc_capture cap = { out, argv && argv[0] ? argv[0] : "child" };
	int rc;

	c.argv = argv;
	c.env = env;
	c.dir = dir;
	c.in_mode = PROC_NULL;
	c.out_mode = PROC_PIPE;
	c.err_mode = PROC_PIPE;
	c.timeout_ms = timeout_ms;
	rc = proc_start(&c, e);
	if (rc)
		return rc;
	rc = proc_stream(&c, proc_capture_sink, &cap, e);
	proc_release(&c);
	return rc;
}

void proc_release(struct child *c)
{
	close_fd(&c->in);
	close_fd(&c->out);
	close_fd(&c->err);
	strbuf_release(&c->err_tail);
}
