/* openssh: the system ssh client with a multiplexed master (contract in
 * openssh.h). */
#include "openssh.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rshell.h"
#include "shquote.h"
#include "xalloc.h"

#define OPENSSH_DEFAULT_TIMEOUT_MS 30000L
/* How long an idle master waits for the next command before it ends by
 * itself: bounds what a killed run leaves behind, while a run that pauses
 * longer (a slow health check) just gets a new master from its next ssh. */
#define OPENSSH_PERSIST "60s"
/* sun_path holds 108 bytes and ssh binds "<ControlPath>.<16 random>" first. */
#define OPENSSH_SOCK_MAX 80
/* A connection that stops answering is dropped after 4 * 15 s. */
#define OPENSSH_ALIVE "ServerAliveInterval=15"
#define OPENSSH_ALIVE_MAX "ServerAliveCountMax=4"

struct openssh {
	char *host, *user, *config_file, *identity, *known_hosts, *policy;
	struct strvec options;
	int port;
	long timeout_ms;
	char *dir;      /* the private directory of the socket */
	char *sock;     /* dir + "/m" */
	int started;    /* a master was started and not exited since */
	int lost;       /* the connection dropped; calls fail until reconnect */
	char desc[512];
	/* the remote shell carrying the commands (rshell.h), started at the
	 * first command; sess.pid > 0 while its ssh runs */
	struct child sess;
	struct strvec sess_argv;
	struct rshell *rsh;
	int no_session; /* the far side would not run it: one ssh per command */
};

/* A path for "-o Key=Value": ssh expands %-tokens in paths, so % is
 * doubled, and splits the value on spaces (honouring double quotes), so
 * the path is quoted when it has to be. */
static void ssh_value(struct strbuf *out, const char *v)
{
	int quote = strpbrk(v, " \t\"\\'") != NULL;

	if (quote)
		strbuf_addch(out, '"');
	for (const char *p = v; *p; p++) {
		if (*p == '%')
			strbuf_addch(out, '%');
		else if (quote && (*p == '"' || *p == '\\'))
			strbuf_addch(out, '\\');
		strbuf_addch(out, *p);
	}
	if (quote)
		strbuf_addch(out, '"');
}

static void push_opt(struct strvec *av, const char *key, const char *path)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_addf(&sb, "%s=", key);
	ssh_value(&sb, path);
	strvec_push(av, "-o");
	strvec_push(av, sb.buf);
	strbuf_release(&sb);
}

/* What every ssh of the transport is given, up to the host. master is the
 * ControlMaster value; NULL leaves out the multiplexing (ssh -G). */
static void base_argv(const struct openssh *s, struct strvec *av, const char *master)
{
	strvec_push(av, "ssh");
	if (s->config_file) {
		strvec_push(av, "-F");
		strvec_push(av, s->config_file);
	}
	strvec_push(av, "-o");
	strvec_push(av, "BatchMode=yes");
	if (master) {
		strvec_push(av, "-o");
		strvec_pushf(av, "ControlMaster=%s", master);
		push_opt(av, "ControlPath", s->sock);
		strvec_push(av, "-o");
		strvec_push(av, "ControlPersist=" OPENSSH_PERSIST);
	}
	strvec_push(av, "-o");
	strvec_pushf(av, "ConnectTimeout=%ld", (s->timeout_ms + 999) / 1000);
	strvec_push(av, "-o");
	strvec_push(av, OPENSSH_ALIVE);
	strvec_push(av, "-o");
	strvec_push(av, OPENSSH_ALIVE_MAX);
	strvec_push(av, "-o");
	strvec_push(av, "ClearAllForwardings=yes");
	strvec_push(av, "-o");
	strvec_push(av, "PermitLocalCommand=no");
	strvec_push(av, "-o");
	strvec_push(av, "RemoteCommand=none");
	if (s->policy) {
		strvec_push(av, "-o");
		strvec_pushf(av, "StrictHostKeyChecking=%s",
			     !strcmp(s->policy, "accept-new") ? "accept-new" : "yes");
	}
	if (s->known_hosts)
		push_opt(av, "UserKnownHostsFile", s->known_hosts);
	/* not -i, which wants the path to exist as written before it
	 * expands %-tokens in it */
	if (s->identity)
		push_opt(av, "IdentityFile", s->identity);
	for (size_t i = 0; i < s->options.n; i++) {
		strvec_push(av, "-o");
		strvec_push(av, s->options.v[i]);
	}
	if (s->port) {
		strvec_push(av, "-p");
		strvec_pushf(av, "%d", s->port);
	}
	if (s->user) {
		strvec_push(av, "-l");
		strvec_push(av, s->user);
	}
}

/* The line of ssh's stderr worth showing: the last non-empty one, with the
 * server key's fingerprint when ssh printed one (a refused host key). */
static void ssh_reason(const struct strbuf *err, struct strbuf *out)
{
	const char *end = err->buf + err->len, *line, *fp;

	while (end > err->buf && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	line = end;
	while (line > err->buf && line[-1] != '\n')
		line--;
	if (line == end)
		strbuf_addstr(out, "ssh failed");
	else
		strbuf_add(out, line, (size_t)(end - line));
	for (fp = strstr(err->buf, "SHA256:"); fp && fp < line; fp = strstr(fp + 1, "SHA256:")) {
		size_t n = strcspn(fp, " \t\r\n.");

		if (fp + n <= line && !strstr(line, "SHA256:")) {
			strbuf_addstr(out, " (the server's key is ");
			strbuf_add(out, fp, n);
			strbuf_addch(out, ')');
			break;
		}
	}
}

/* Run ssh, its stdout to sink (NULL: dropped), its stderr kept in
 * c->err_tail. *ran (may be NULL) says whether ssh started at all. */
static int run_ssh(struct strvec *av, int in_fd, proc_sink_fn sink, void *ctx,
		   struct child *c, long timeout_ms, int *ran, struct errbuf *e)
{
	struct proc_capture drop = { NULL, "ssh" };

	if (ran)
		*ran = 0;

	c->argv = strvec_argv(av);
	c->in_mode = in_fd >= 0 ? PROC_FD : PROC_NULL;
	c->in = in_fd;
	c->out_mode = PROC_PIPE;
	c->err_mode = PROC_PIPE;
	c->timeout_ms = timeout_ms;
	if (proc_start(c, e))
		return e->code;
	if (ran)
		*ran = 1;
	return proc_stream(c, sink ? sink : proc_capture_sink, sink ? ctx : &drop, e);
}

/* The master's pid from `ssh -O check`, 0 when none answers. */
static pid_t master_pid(struct openssh *s)
{
	struct strvec av = STRVEC_INIT;
	struct child c = CHILD_INIT;
	struct errbuf ignore = ERRBUF_INIT;
	const char *p;
	pid_t pid = 0;

	base_argv(s, &av, "no");
	strvec_push(&av, "-O");
	strvec_push(&av, "check");
	strvec_push(&av, s->host);
	/* "Master running (pid=N)" goes to stderr */
	if (!run_ssh(&av, -1, NULL, NULL, &c, 10000, NULL, &ignore) &&
	    (p = strstr(c.err_tail.buf ? c.err_tail.buf : "", "(pid=")))
		pid = (pid_t)strtol(p + 5, NULL, 10);
	proc_release(&c);
	strvec_clear(&av);
	return pid;
}

/* The master runs: it exists and is not a zombie. It is not our child
 * (ssh -f forks it off), so init reaps it, and some inits (containers) do
 * that only every second or two: waiting for the pid to vanish cost a run
 * that long. */
static int master_running(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	int running = 1;

	if (kill(pid, 0) != 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return 1; /* no /proc: the pid is all there is to go by */
	/* "pid (comm) S ...": the state follows the last ')' */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] == ' ')
		running = p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return running;
}

/* Ask the master to exit and wait until it has, so that no ssh outlives the
 * run; a master that does not go within 5 s is killed. */
static void stop_master(struct openssh *s)
{
	struct strvec av = STRVEC_INIT;
	struct child c = CHILD_INIT;
	struct errbuf ignore = ERRBUF_INIT;
	pid_t pid;

	if (!s->started)
		return;
	s->started = 0;
	pid = master_pid(s);
	if (pid <= 0)
		goto out;
	base_argv(s, &av, "no");
	strvec_push(&av, "-O");
	strvec_push(&av, "exit");
	strvec_push(&av, s->host);
	run_ssh(&av, -1, NULL, NULL, &c, 10000, NULL, &ignore);
	proc_release(&c);
	for (int i = 0; i < 500 && master_running(pid); i++)
		usleep(10000);
	if (master_running(pid))
		kill(pid, SIGKILL);
out:
	unlink(s->sock);
	strvec_clear(&av);
}

/* End the remote shell: EOF on its input ends the loop, and with it that
 * ssh; one that does not go within 5 s (or at once when force: it may be
 * in the middle of a command) is killed. */
static void session_end(struct openssh *s, int force)
{
	int i;

	rshell_free(s->rsh);
	s->rsh = NULL;
	if (s->sess.pid > 0) {
		if (s->sess.in >= 0)
			close(s->sess.in);
		s->sess.in = -1;
		if (force)
			proc_kill(&s->sess, SIGTERM);
		for (i = 0; i < (force ? 100 : 500); i++) {
			if (waitpid(s->sess.pid, &s->sess.status, WNOHANG) == s->sess.pid)
				break;
			usleep(10000);
		}
		if (i == (force ? 100 : 500)) {
			proc_kill(&s->sess, SIGKILL);
			waitpid(s->sess.pid, &s->sess.status, 0);
		}
		s->sess.pid = -1;
		proc_release(&s->sess);
	}
	strvec_clear(&s->sess_argv);
}

static int session_start(struct openssh *s, struct errbuf *e)
{
	struct child init = CHILD_INIT;
	struct strbuf cmd = STRBUF_INIT;
	char tag[32];
	const char *loop[] = { "exec", "sh", "-c", rshell_loop, "ballast-rsh", tag, NULL };
	int rc;

	snprintf(tag, sizeof(tag), "%ld", (long)getpid());
	shquote_argv(&cmd, loop);
	base_argv(s, &s->sess_argv, "auto");
	strvec_push(&s->sess_argv, "-T");
	strvec_push(&s->sess_argv, s->host);
	strvec_push(&s->sess_argv, "--");
	strvec_push(&s->sess_argv, cmd.buf);
	s->sess = init;
	s->sess.argv = strvec_argv(&s->sess_argv);
	s->sess.in_mode = PROC_PIPE;
	s->sess.out_mode = PROC_PIPE;
	s->sess.err_mode = PROC_PIPE;
	rc = proc_start(&s->sess, e);
	if (!rc)
		rc = rshell_open(s->sess.in, s->sess.out, s->sess.err, s->timeout_ms, &s->rsh, e);
	if (rc)
		session_end(s, 1);
	strbuf_release(&cmd);
	return rc;
}

static int start_master(struct openssh *s, struct errbuf *e)
{
	struct strvec av = STRVEC_INIT;
	struct child c = CHILD_INIT;
	struct errbuf ce = ERRBUF_INIT;
	int rc;

	base_argv(s, &av, "yes");
	strvec_push(&av, "-N");
	strvec_push(&av, "-f");
	strvec_push(&av, s->host);
	/* -f: ssh goes to the background once authenticated, so this returns
	 * when the master is ready or has failed. ProxyJump hops each get
	 * ConnectTimeout. */
	rc = run_ssh(&av, -1, NULL, NULL, &c, 2 * s->timeout_ms + 10000, NULL, &ce);
	if (rc) {
		struct strbuf why = STRBUF_INIT;

		if (c.timed_out)
			strbuf_addf(&why, "no answer within %ld ms", 2 * s->timeout_ms + 10000);
		else
			ssh_reason(&c.err_tail, &why);
		rc = errbuf_set(e, BL_EFAIL, "%s: cannot connect: %s", s->desc, why.buf);
		strbuf_release(&why);
	} else {
		s->started = 1;
		s->lost = 0;
	}
	proc_release(&c);
	strvec_clear(&av);
	return rc;
}

/* user and port as ssh will use them (the config may set both), for
 * messages; a config ssh cannot read fails here, before anything runs. */
static int resolve(struct openssh *s, struct errbuf *e)
{
	struct strvec av = STRVEC_INIT;
	struct strbuf out = STRBUF_INIT;
	struct proc_capture cap = { &out, "ssh -G" };
	struct child c = CHILD_INIT;
	struct errbuf ce = ERRBUF_INIT;
	char user[256] = "?";
	int port = 22, rc;

	base_argv(s, &av, NULL);
	strvec_push(&av, "-G");
	strvec_push(&av, s->host);
	rc = run_ssh(&av, -1, proc_capture_sink, &cap, &c, 10000, NULL, &ce);
	if (rc) {
		struct strbuf why = STRBUF_INIT;

		ssh_reason(&c.err_tail, &why);
		rc = errbuf_set(e, BL_EUSAGE, "ssh %s: %s", s->host, c.err_tail.len ? why.buf : ce.msg);
		strbuf_release(&why);
		goto out;
	}
	for (char *line = out.buf; line && *line;) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = 0;
		if (!strncmp(line, "user ", 5))
			snprintf(user, sizeof(user), "%s", line + 5);
		else if (!strncmp(line, "port ", 5))
			port = atoi(line + 5);
		line = nl ? nl + 1 : NULL;
	}
	snprintf(s->desc, sizeof(s->desc), "%s@%s:%d", user, s->host, port);
out:
	proc_release(&c);
	strbuf_release(&out);
	strvec_clear(&av);
	return rc;
}

static int make_dir(struct openssh *s, struct errbuf *e)
{
	const char *tmp = getenv("TMPDIR");
	struct strbuf sb = STRBUF_INIT;
	int rc = 0;

	/* Another user's socket directory is never reused: mkdtemp makes a
	 * fresh one, 0700. */
	if (!tmp || *tmp != '/' || strlen(tmp) + sizeof("/ballast-ssh-XXXXXX/m") > OPENSSH_SOCK_MAX)
		tmp = "/tmp";
	strbuf_addf(&sb, "%s/ballast-ssh-XXXXXX", tmp);
	if (!mkdtemp(sb.buf)) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot create a directory %s", sb.buf);
		goto out;
	}
	s->dir = xstrdup(sb.buf);
	strbuf_addstr(&sb, "/m");
	s->sock = strbuf_detach(&sb, NULL);
out:
	strbuf_release(&sb);
	return rc;
}

int openssh_open(const struct openssh_opts *o, struct openssh **out, struct errbuf *e)
{
	struct openssh *s = xcalloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	s->host = xstrdup(o->host);
	s->user = xstrdup_or_null(o->user);
	s->config_file = xstrdup_or_null(o->config_file);
	s->identity = xstrdup_or_null(o->identity);
	s->known_hosts = xstrdup_or_null(o->known_hosts);
	s->policy = xstrdup_or_null(o->host_key_policy);
	for (const char *const *p = o->options; p && *p; p++)
		strvec_push(&s->options, *p);
	s->port = o->port;
	s->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : OPENSSH_DEFAULT_TIMEOUT_MS;
	s->sess.pid = -1;
	snprintf(s->desc, sizeof(s->desc), "%s", s->host);
	if ((rc = resolve(s, e)) || (rc = make_dir(s, e)) || (rc = start_master(s, e))) {
		openssh_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void openssh_close(struct openssh *s)
{
	if (!s)
		return;
	session_end(s, 0);
	if (s->sock)
		stop_master(s);
	if (s->dir)
		rmdir(s->dir);
	free(s->host);
	free(s->user);
	free(s->config_file);
	free(s->identity);
	free(s->known_hosts);
	free(s->policy);
	strvec_clear(&s->options);
	free(s->dir);
	free(s->sock);
	free(s);
}

int openssh_reconnect(struct openssh *s, struct errbuf *e)
{
	/* a master that is still up (the caller only suspected a drop) goes,
	 * so the new connection is the only one */
	session_end(s, 1);
	s->started = 1;
	/* a remote shell that would not start (a greeting lost to a slow
	 * host) gets another chance on the new connection */
	s->no_session = 0;
	stop_master(s);
	return start_master(s, e);
}

const char *openssh_describe(const struct openssh *s)
{
	return s->desc;
}

static void exec_argv(const struct openssh *s, const char *command, struct strvec *av)
{
	base_argv(s, av, "auto");
	strvec_push(av, "-T");
	strvec_push(av, s->host);
	strvec_push(av, "--");
	strvec_push(av, command);
}

void openssh_render(const struct openssh *s, const char *command, struct strbuf *out)
{
	struct strvec av = STRVEC_INIT;

	exec_argv(s, command, &av);
	shquote_argv(out, strvec_argv(&av));
	strvec_clear(&av);
}

/* The connection is gone: every later call fails until reconnect. */
static int mark_lost(struct openssh *s, const struct strbuf *ssh_err, struct errbuf *e)
{
	struct strbuf why = STRBUF_INIT;
	int rc;

	s->lost = 1;
	if (ssh_err->len)
		ssh_reason(ssh_err, &why);
	rc = errbuf_set(e, BL_EFAIL, "connection lost: %s",
			why.len ? why.buf : "the master connection ended");
	strbuf_release(&why);
	return rc;
}

/* stdin the remote shell can take: a regular file (a memfd too) of at most
 * RSHELL_INPUT_MAX bytes from its offset. */
static int input_size(int fd, size_t *len)
{
	struct stat st;
	off_t at;

	*len = 0;
	if (fd < 0)
		return 1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (at = lseek(fd, 0, SEEK_CUR)) < 0 ||
	    at > st.st_size || (unsigned long long)(st.st_size - at) > RSHELL_INPUT_MAX)
		return 0;
	*len = (size_t)(st.st_size - at);
	return 1;
}

/* The command through the remote shell; *used 0: run it with exec_once. */
static int session_exec(struct openssh *s, const char *command, int stdin_fd,
			proc_sink_fn out_sink, void *ctx, struct strbuf *err_tail,
			int *exit_status, long timeout_ms, int *used, struct errbuf *e)
{
	struct strbuf diag = STRBUF_INIT;
	size_t in_len;
	int rc = 0;

	*used = 0;
	if (s->no_session || !input_size(stdin_fd, &in_len))
		return 0;
	if (s->rsh && rshell_idle_ended(s->rsh)) {
		/* nothing was sent: a new shell is safe, unless the
		 * connection is what ended */
		strbuf_add(&diag, rshell_diag(s->rsh)->buf, rshell_diag(s->rsh)->len);
		session_end(s, 1);
		if (master_pid(s) <= 0) {
			*used = 1;
			rc = mark_lost(s, &diag, e);
			goto out;
		}
	}
	if (!s->rsh) {
		struct errbuf se = ERRBUF_INIT;

		if (session_start(s, &se)) {
			if (master_pid(s) <= 0) {
				*used = 1;
				rc = mark_lost(s, &diag, e);
			} else {
				s->no_session = 1;
			}
			goto out;
		}
	}
	if (in_len && !rshell_takes_input(s->rsh))
		goto out;
	*used = 1;
	rc = rshell_call(s->rsh, command, stdin_fd, in_len, out_sink, ctx, err_tail, exit_status,
			 timeout_ms, e);
	if (rc && rshell_broken(s->rsh)) {
		strbuf_add(&diag, rshell_diag(s->rsh)->buf, rshell_diag(s->rsh)->len);
		session_end(s, 1);
		if (master_pid(s) <= 0) {
			rc = mark_lost(s, &diag, e);
		} else if (diag.len) {
			struct strbuf why = STRBUF_INIT;

			ssh_reason(&diag, &why);
			errbuf_set(e, rc, "%s (%s)", e->msg, why.buf);
			strbuf_release(&why);
		}
	}
out:
	strbuf_release(&diag);
	return rc;
}


/* One ssh for the command (the far side cannot run the remote shell, or
 * stdin is not a file it can take). */
static int exec_once(struct openssh *s, const char *command, int stdin_fd,
		     proc_sink_fn out_sink, void *ctx, struct strbuf *err_tail, int *exit_status,
		     long timeout_ms, struct errbuf *e)
{
	struct strvec av = STRVEC_INIT;
	struct child c = CHILD_INIT;
	struct errbuf ce = ERRBUF_INIT;
	int rc, ran;

	exec_argv(s, command, &av);
	rc = run_ssh(&av, stdin_fd, out_sink, ctx, &c, timeout_ms, &ran, &ce);
	if (err_tail)
		strbuf_add(err_tail, c.err_tail.buf, c.err_tail.len);
	if (c.timed_out) {
		rc = errbuf_set(e, BL_EFAIL, "timed out after %ld ms", timeout_ms);
		goto out;
	}
	/* ssh could not be started, or was killed (also when the sink
	 * refused the output, too large: then ce says so) */
	if (!ran || !WIFEXITED(c.status) || (rc && WEXITSTATUS(c.status) == 0)) {
		rc = errbuf_set(e, BL_EFAIL, "%s", ce.msg);
		goto out;
	}
	rc = 0;
	*exit_status = WEXITSTATUS(c.status);
	if (*exit_status == 255 && master_pid(s) <= 0) {
		*exit_status = -1;
		rc = mark_lost(s, &c.err_tail, e);
	}
out:
	proc_release(&c);
	strvec_clear(&av);
	return rc;
}

/* rsh_command through the remote shell, or exec_command with one ssh. */
static int run(struct openssh *s, const char *rsh_command, const char *exec_command,
	       int stdin_fd, proc_sink_fn out_sink, void *ctx, struct strbuf *err_tail,
	       int *exit_status, long timeout_ms, struct errbuf *e)
{
	int rc, used;

	*exit_status = -1;
	if (s->lost)
		return errbuf_set(e, BL_EFAIL, "the connection was lost earlier");
	rc = session_exec(s, rsh_command, stdin_fd, out_sink, ctx, err_tail, exit_status,
			  timeout_ms, &used, e);
	if (used)
		return rc;
	return exec_once(s, exec_command, stdin_fd, out_sink, ctx, err_tail, exit_status,
			 timeout_ms, e);
}

int openssh_exec(struct openssh *s, const char *command, int stdin_fd,
		 proc_sink_fn out_sink, void *ctx, struct strbuf *err_tail, int *exit_status,
		 long timeout_ms, struct errbuf *e)
{
	return run(s, command, command, stdin_fd, out_sink, ctx, err_tail, exit_status,
		   timeout_ms, e);
}

int openssh_exec_script(struct openssh *s, const char *script, const char *const *args,
			int stdin_fd, proc_sink_fn out_sink, void *ctx, struct strbuf *err_tail,
			int *exit_status, long timeout_ms, struct errbuf *e)
{
	struct strvec av = STRVEC_INIT;
	struct strbuf rsh = STRBUF_INIT, one = STRBUF_INIT;
	int rc;

	/* the remote shell is sh already and runs each command in a
	 * subshell: no sh of its own */
	strbuf_addstr(&rsh, "set --");
	for (const char *const *a = args; a && *a; a++) {
		strbuf_addch(&rsh, ' ');
		shquote_word(&rsh, *a);
	}
	strbuf_addch(&rsh, '\n');
	strbuf_addstr(&rsh, script);
	strvec_push(&av, "sh");
	strvec_push(&av, "-c");
	strvec_push(&av, script);
	strvec_push(&av, "sh");
	for (const char *const *a = args; a && *a; a++)
		strvec_push(&av, *a);
	shquote_argv(&one, strvec_argv(&av));
	rc = run(s, rsh.buf, one.buf, stdin_fd, out_sink, ctx, err_tail, exit_status, timeout_ms,
		 e);
	strvec_clear(&av);
	strbuf_release(&rsh);
	strbuf_release(&one);
	return rc;
}
