#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "config_schema.h"
#include "fsutil.h"
#include "openssh.h"
#include "proc.h"
#include "shquote.h"
#include "ssh.h"
#include "xalloc.h"

struct transport {
	int local;
	struct ssh_session *ssh;     /* type "ssh" (libssh2) */
	struct openssh *os;          /* type "openssh" (the system ssh client) */
	struct ssh_opts opts;
	/* owned copies of the strings opts points at */
	char *host, *user, *key, *passphrase, *known_hosts;
	char describe[300];
	unsigned tmp_counter;
};

static void tmp_name(struct transport *t, const char *path, struct strbuf *out)
{
	strbuf_reset(out);
	strbuf_addf(out, "%s.tmp-%ld-%u", path, (long)getpid(), ++t->tmp_counter);
}

static const char *const openssh_only[] = { "config_file", "identity", "options", NULL };

/* A word ssh would take for an option, or one with a line break: refused
 * before it reaches ssh's command line. */
static int bad_ssh_word(const char *v)
{
	return *v == '-' || strpbrk(v, "\n\r \t") != NULL;
}

static int open_openssh(struct transport *t, json_t *spec, const struct config *cfg, int port,
			struct errbuf *e)
{
	static const char *const libssh2_only[] = { "key", "passphrase_env", NULL };
	struct openssh_opts o;
	struct strbuf cf = STRBUF_INIT, id = STRBUF_INIT, kh = STRBUF_INIT;
	struct strvec opts = STRVEC_INIT;
	json_t *v;
	size_t i;
	int rc = 0;

	memset(&o, 0, sizeof(o));
	for (const char *const *k = libssh2_only; *k; k++)
		if (json_object_get(spec, *k)) {
			rc = errbuf_set(e, BL_EUSAGE, "transport.%s: not for type \"openssh\" (%s)", *k,
					!strcmp(*k, "key") ? "use identity, or IdentityFile in the ssh config"
							   : "ssh runs with BatchMode: load the key into ssh-agent");
			goto out;
		}
	o.host = json_string_value(json_object_get(spec, "host"));
	o.user = json_string_value(json_object_get(spec, "user"));
	if (bad_ssh_word(o.host) || (o.user && (!*o.user || bad_ssh_word(o.user)))) {
		rc = errbuf_set(e, BL_EUSAGE, "transport.%s: expected a name without spaces, not starting with '-'",
				bad_ssh_word(o.host) ? "host" : "user");
		goto out;
	}
	o.port = port;
	if (json_is_string(json_object_get(spec, "config_file"))) {
		config_path(cfg, json_string_value(json_object_get(spec, "config_file")), &cf);
		o.config_file = cf.buf;
	}
	if (json_is_string(json_object_get(spec, "identity"))) {
		config_path(cfg, json_string_value(json_object_get(spec, "identity")), &id);
		o.identity = id.buf;
	}
	if (json_is_string(json_object_get(spec, "known_hosts"))) {
		config_path(cfg, json_string_value(json_object_get(spec, "known_hosts")), &kh);
		o.known_hosts = kh.buf;
	}
	o.host_key_policy = json_string_value(json_object_get(spec, "host_key_policy"));
	/* checked again as expanded: the schema skips values with ${...} */
	json_array_foreach(json_object_get(spec, "options"), i, v) {
		const char *why = json_is_string(v) ? config_ssh_option_refused(json_string_value(v))
						    : "expected a string";

		if (why) {
			rc = errbuf_set(e, BL_EUSAGE, "transport.options[%zu]: %s", i, why);
			goto out;
		}
		strvec_push(&opts, json_string_value(v));
	}
	o.options = opts.n ? strvec_argv(&opts) : NULL;
	rc = openssh_open(&o, &t->os, e);
	if (!rc)
		snprintf(t->describe, sizeof(t->describe), "%s", openssh_describe(t->os));
out:
	strbuf_release(&cf);
	strbuf_release(&id);
	strbuf_release(&kh);
	strvec_clear(&opts);
	return rc;
}

int transport_open(json_t *spec, const struct config *cfg, struct transport **out,
		   struct errbuf *e)
{
	struct transport *t = xcalloc(1, sizeof(*t));
	struct strbuf sb = STRBUF_INIT;
	const char *type = json_string_value(json_object_get(spec, "type"));
	long long port = 22;
	int rc = 0;

	*out = NULL;
	if (!spec || !type || !strcmp(type, "local")) {
		t->local = 1;
		snprintf(t->describe, sizeof(t->describe), "local");
		*out = t;
		return 0;
	}
	if (strcmp(type, "ssh") && strcmp(type, "openssh")) {
		rc = errbuf_set(e, BL_EUSAGE,
				"transport.type: expected \"local\", \"ssh\" or \"openssh\", got \"%s\"",
				type);
		goto out;
	}
	if (!json_is_string(json_object_get(spec, "host")) ||
	    !*json_string_value(json_object_get(spec, "host"))) {
		rc = errbuf_set(e, BL_EUSAGE, "transport.host: expected a host name for type \"%s\"",
				type);
		goto out;
	}
	if (json_object_get(spec, "port") && (config_json_int(json_object_get(spec, "port"), &port) ||
					      port < 1 || port > 65535)) {
		rc = errbuf_set(e, BL_EUSAGE, "transport.port: expected a port number 1-65535");
		goto out;
	}
	if (!strcmp(type, "openssh")) {
		rc = open_openssh(t, spec, cfg, (int)(json_object_get(spec, "port") ? port : 0), e);
		goto out;
	}
	for (const char *const *k = openssh_only; *k; k++)
		if (json_object_get(spec, *k)) {
			rc = errbuf_set(e, BL_EUSAGE,
					"transport.%s: only for type \"openssh\" (the system ssh client)",
					*k);
			goto out;
		}
	t->host = xstrdup_or_null(json_string_value(json_object_get(spec, "host")));
	t->user = xstrdup_or_null(json_string_value(json_object_get(spec, "user")));
	if (json_is_string(json_object_get(spec, "key"))) {
		config_path(cfg, json_string_value(json_object_get(spec, "key")), &sb);
		t->key = xstrdup(sb.buf);
	}
	if (json_is_string(json_object_get(spec, "known_hosts"))) {
		config_path(cfg, json_string_value(json_object_get(spec, "known_hosts")), &sb);
		t->known_hosts = xstrdup(sb.buf);
	}
	if (json_is_string(json_object_get(spec, "passphrase_env"))) {
		const char *name = json_string_value(json_object_get(spec, "passphrase_env"));
		const char *v = getenv(name);

		if (!v) {
			rc = errbuf_set(e, BL_EUSAGE,
					"transport.passphrase_env: variable %s is not set", name);
			goto out;
		}
		t->passphrase = xstrdup(v);
	}
	t->opts.host = t->host;
	t->opts.port = (int)port;
	t->opts.user = t->user;
	t->opts.key_path = t->key;
	t->opts.passphrase = t->passphrase;
	t->opts.known_hosts = t->known_hosts;
	{
		const char *pol = json_string_value(json_object_get(spec, "host_key_policy"));

		t->opts.accept_new = pol && !strcmp(pol, "accept-new");
	}
	snprintf(t->describe, sizeof(t->describe), "%s@%s:%d",
		 t->user ? t->user : (getenv("USER") ? getenv("USER") : "?"), t->host, (int)port);
	rc = ssh_connect(&t->opts, &t->ssh, e);
out:
	strbuf_release(&sb);
	if (rc) {
		transport_close(t);
		return rc;
	}
	*out = t;
	return 0;
}

void transport_close(struct transport *t)
{
	if (!t)
		return;
	if (t->ssh)
		ssh_close(t->ssh);
	openssh_close(t->os);
	free(t->host);
	free(t->user);
	free(t->key);
	if (t->passphrase) {
		memset(t->passphrase, 0, strlen(t->passphrase));
		free(t->passphrase);
	}
	free(t->known_hosts);
	free(t);
}

const char *transport_describe(const struct transport *t)
{
	return t->describe;
}

int transport_is_local(const struct transport *t)
{
	return t->local;
}

int transport_reconnect(struct transport *t, struct errbuf *e)
{
	if (t->local)
		return 0;
	if (t->os)
		return openssh_reconnect(t->os, e);
	if (t->ssh)
		ssh_close(t->ssh);
	t->ssh = NULL;
	return ssh_connect(&t->opts, &t->ssh, e);
}

static int need_ssh(struct transport *t, struct errbuf *e)
{
	if (!t->ssh && !t->os)
		return errbuf_set(e, BL_EFAIL, "%s: not connected", t->describe);
	return 0;
}

static void render_remote(const char *const *argv, const char *const *env, const char *dir,
			  struct strbuf *out)
{
	if (dir) {
		strbuf_addstr(out, "cd ");
		shquote_word(out, dir);
		strbuf_addstr(out, " && ");
	}
	for (const char *const *v = env; v && *v; v++) {
		if (shquote_assign(out, *v) == 0)
			strbuf_addch(out, ' ');
	}
	shquote_argv(out, argv);
}

void transport_render(const struct transport *t, const char *const *argv,
		      const char *const *env, const char *dir, struct strbuf *out)
{
	struct strbuf cmd = STRBUF_INIT;

	if (!t || !t->os) {
		render_remote(argv, env, dir, out);
		return;
	}
	render_remote(argv, env, dir, &cmd);
	openssh_render(t->os, cmd.buf, out);
	strbuf_release(&cmd);
}

static int run_local(struct transport *t, const char *const *argv, const char *const *env,
		     const char *dir, struct strbuf *out, struct strbuf *err, int *exit_status,
		     long timeout_ms, struct errbuf *e)
{
	struct child c = CHILD_INIT;
	struct proc_capture cap = { out, argv[0] };
	struct errbuf ce = ERRBUF_INIT;
	int rc;

	c.argv = argv;
	c.env = env;
	c.dir = dir;
	c.in_mode = PROC_NULL;
	c.out_mode = PROC_PIPE;
	c.err_mode = PROC_PIPE;
	c.timeout_ms = timeout_ms;
	if (proc_start(&c, &ce)) {
		/* Like a shell: the command could not be run. */
		*exit_status = 127;
		if (err)
			strbuf_addstr(err, ce.msg);
		proc_release(&c);
		return 0;
	}
	rc = proc_stream(&c, proc_capture_sink, &cap, &ce);
	if (err)
		strbuf_add(err, c.err_tail.buf, c.err_tail.len);
	if (c.timed_out) {
		proc_release(&c);
		return errbuf_set(e, BL_EFAIL, "%s", ce.msg);
	}
	if (WIFEXITED(c.status))
		*exit_status = WEXITSTATUS(c.status);
	else
		*exit_status = -1;
	if (rc && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0) {
		/* the sink failed (output too large) */
		proc_release(&c);
		return errbuf_set(e, BL_EFAIL, "%s", ce.msg);
	}
	proc_release(&c);
	(void)t;
	return 0;
}

int transport_run(struct transport *t, const char *const *argv, const char *const *env,
		  const char *dir, struct strbuf *out, struct strbuf *err, int *exit_status,
		  long timeout_ms, struct errbuf *e)
{
	struct strbuf cmd = STRBUF_INIT;
	struct proc_capture cap = { out, argv && argv[0] ? argv[0] : "command" };
	int rc;

	*exit_status = -1;
	if (!argv || !argv[0])
		return errbuf_set(e, BL_EUSAGE, "transport: empty command");
	if (t->local)
		return run_local(t, argv, env, dir, out, err, exit_status, timeout_ms, e);
	if ((rc = need_ssh(t, e)))
		return rc;
	for (const char *const *v = env; v && *v; v++) {
		struct strbuf probe = STRBUF_INIT;
		int bad = shquote_assign(&probe, *v);

		strbuf_release(&probe);
		if (bad)
			return errbuf_set(e, BL_EUSAGE, "transport: bad environment entry for %s",
					  argv[0]);
	}
	render_remote(argv, env, dir, &cmd);
	if (t->os)
		rc = openssh_exec(t->os, cmd.buf, -1, proc_capture_sink, &cap, err, exit_status,
				  timeout_ms, e);
	else
		rc = ssh_exec(t->ssh, cmd.buf, NULL, 0, proc_capture_sink, &cap, err, exit_status,
			      timeout_ms, e);
	if (rc)
		errbuf_prefix(e, "%s: running %s: ", t->describe, argv[0]);
	strbuf_release(&cmd);
	return rc;
}

/* ---- files over the system ssh client ----
 *
 * Each file operation is one small sh script (openssh_exec_script: run by
 * the remote shell itself, or by `sh -c` over one ssh), its operands given
 * as positional parameters (never pasted into the script), file contents
 * on stdin. A directory is its path with the last part cut off by the
 * shell (${p%/...}), not dirname: one process less per call. */

/* The remote half of append: O_APPEND through the shell, then a flush (both
 * ssh transports). */
static const char append_script[] =
	"umask 077; cat >> \"$1\" || exit 1; sync \"$1\" 2>/dev/null; exit 0";

/* stat(2) following links: "none", or "d|f SIZE MTIME". */
static const char os_stat_script[] =
	"[ -e \"$1\" ] || { echo none; exit 0; }; "
	"if [ -d \"$1\" ]; then printf 'd '; else printf 'f '; fi; "
	"exec stat -L -c '%s %Y' -- \"$1\"";

/* exit 44: missing (the max is enforced on this side) */
#define OS_MISSING 44
static const char os_read_script[] = "[ -e \"$1\" ] || exit 44; exec cat -- \"$1\"";

/* $1 path, $2 temporary sibling, $3 mode for chmod ("": the umask $5
 * gave the file its mode already), $4 size. The size check keeps a
 * connection that dropped mid-file (cat sees the end of its input early)
 * from renaming a short file into place. A leftover temporary file of a
 * killed run is removed first: `cat >` would keep its mode. */
static const char os_write_script[] =
	"umask \"$5\"; "
	"if [ -d \"$1\" ]; then echo \"$1: Is a directory\" >&2; exit 1; fi; "
	"{ { [ ! -e \"$2\" ] && [ ! -L \"$2\" ]; } || rm -f -- \"$2\"; } && "
	"cat > \"$2\" || { rm -f -- \"$2\"; exit 1; }; "
	"n=$(wc -c < \"$2\"); "
	"[ $n -eq $4 ] || { rm -f -- \"$2\"; echo \"received $n of $4 bytes\" >&2; exit 1; }; "
	"{ [ -z \"$3\" ] || chmod -- \"$3\" \"$2\"; } && { sync -- \"$2\" 2>/dev/null || sync; } && "
	"mv -f -- \"$2\" \"$1\" "
	"|| { rm -f -- \"$2\"; exit 1; }; "
	"d=${1%/*}; [ \"$d\" = \"$1\" ] && d=.; sync -- \"${d:-/}\" 2>/dev/null; exit 0";

/* rename(2) semantics: a directory at the destination is an error, not a
 * place to move into. */
static const char os_rename_script[] =
	"if [ -d \"$2\" ] && [ ! -L \"$2\" ]; then echo \"$2: Is a directory\" >&2; exit 1; fi; "
	"mv -f -- \"$1\" \"$2\" || exit 1; "
	"d=${2%/*}; [ \"$d\" = \"$2\" ] && d=.; sync -- \"${d:-/}\" 2>/dev/null; exit 0";

static const char os_mkdir_script[] = "umask \"$2\" && mkdir -p -- \"$1\"";
static const char os_unlink_script[] = "rm -f -- \"$1\"";

/* Run script with args; a transport failure is an error naming what and
 * the target. */
static int os_script(struct transport *t, const char *script, const char *const *args,
		     int stdin_fd, struct strbuf *out, int *status, struct strbuf *err,
		     const char *what, const char *path, struct errbuf *e)
{
	struct proc_capture cap = { out, path };
	int rc;

	rc = openssh_exec_script(t->os, script, args, stdin_fd, proc_capture_sink, &cap, err,
				 status, 120000, e);
	if (rc)
		errbuf_prefix(e, "%s: cannot %s %s: ", t->describe, what, path);
	return rc;
}

/* os_script where any exit status but 0 is an error with the script's
 * stderr. */
static int os_do(struct transport *t, const char *script, const char *const *args, int stdin_fd,
		 const char *what, const char *path, struct errbuf *e)
{
	struct strbuf err = STRBUF_INIT;
	int rc, status = 0;

	rc = os_script(t, script, args, stdin_fd, NULL, &status, &err, what, path, e);
	if (!rc && status) {
		strbuf_rtrim(&err);
		rc = errbuf_set(e, BL_EFAIL, "%s: cannot %s %s: %s", t->describe, what, path,
				err.len ? err.buf : "sh failed");
	}
	strbuf_release(&err);
	return rc;
}

/* In-memory data as a descriptor for ssh's stdin: a memfd, so a secret
 * (an env file) never touches the local disk. */
static int data_fd(const void *data, size_t len, int *fd, struct errbuf *e)
{
	*fd = memfd_create("ballast-transport", MFD_CLOEXEC);
	if (*fd < 0)
		return errbuf_errno(e, BL_EFAIL, errno, "cannot create a memory file");
	if (fs_write_all(*fd, data, len) || lseek(*fd, 0, SEEK_SET) != 0) {
		int err = errno;

		close(*fd);
		*fd = -1;
		return errbuf_errno(e, BL_EFAIL, err, "cannot fill a memory file");
	}
	return 0;
}

/* Atomically replace path with what fd (positioned at its start) holds. */
static int os_put_fd(struct transport *t, int fd, const char *path, int mode,
		     struct errbuf *e)
{
	struct strbuf tmp = STRBUF_INIT;
	struct stat st;
	char modestr[16], sizestr[32], umaskstr[16];
	int rc;

	if (fstat(fd, &st))
		return errbuf_errno(e, BL_EFAIL, errno, "cannot stat the data for %s", path);
	tmp_name(t, path, &tmp);
	/* a mode the creating umask can give (no x or special bits) saves a
	 * chmod process; the size check reads the file, so the owner must be
	 * able to until the chmod */
	if ((mode & 07111) || !(mode & 0400)) {
		snprintf(modestr, sizeof(modestr), "%o", mode & 07777);
		snprintf(umaskstr, sizeof(umaskstr), "077");
	} else {
		modestr[0] = 0;
		snprintf(umaskstr, sizeof(umaskstr), "%03o", 0777 & ~mode);
	}
	snprintf(sizestr, sizeof(sizestr), "%lld", (long long)st.st_size);
	{
		const char *args[] = { path, tmp.buf, modestr, sizestr, umaskstr, NULL };

		rc = os_do(t, os_write_script, args, fd, "write", path, e);
	}
	strbuf_release(&tmp);
	return rc;
}

struct os_read {
	struct strbuf *out;
	size_t max;
	const char *path;
};

static int os_read_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct os_read *r = ctx;

	if (r->out->len + len > r->max)
		return errbuf_set(e, BL_EFAIL, "%s: larger than %zu bytes", r->path, r->max);
	strbuf_add(r->out, buf, len);
	return 0;
}

static int os_read_file(struct transport *t, const char *path, struct strbuf *out, size_t max,
			int *exists, struct errbuf *e)
{
	struct strbuf err = STRBUF_INIT;
	struct os_read r = { out, max, path };
	const char *args[] = { path, NULL };
	int rc, status = 0;

	rc = openssh_exec_script(t->os, os_read_script, args, -1, os_read_sink, &r, &err, &status,
				 120000, e);
	if (rc) {
		errbuf_prefix(e, "%s: ", t->describe);
	} else if (status == OS_MISSING) {
		strbuf_reset(out);
	} else if (status) {
		strbuf_rtrim(&err);
		rc = errbuf_set(e, BL_EFAIL, "%s: cannot read %s: %s", t->describe, path,
				err.len ? err.buf : "cat failed");
	} else {
		*exists = 1;
	}
	if (rc)
		strbuf_reset(out);
	strbuf_release(&err);
	return rc;
}

static int os_stat(struct transport *t, const char *path, struct transport_stat *st,
		   struct errbuf *e)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	const char *args[] = { path, NULL };
	char kind = 0;
	long long size = 0, mtime = 0;
	int rc, status = 0;

	rc = os_script(t, os_stat_script, args, -1, &out, &status, &err, "stat", path, e);
	if (rc)
		goto out;
	strbuf_rtrim(&err);
	if (status) {
		rc = errbuf_set(e, BL_EFAIL, "%s: cannot stat %s: %s", t->describe, path,
				err.len ? err.buf : "stat failed");
		goto out;
	}
	if (!strncmp(out.buf ? out.buf : "", "none", 4))
		goto out;
	if (sscanf(out.buf, "%c %lld %lld", &kind, &size, &mtime) != 3 ||
	    (kind != 'd' && kind != 'f')) {
		rc = errbuf_set(e, BL_EFAIL, "%s: cannot stat %s: unexpected answer \"%.60s\"",
				t->describe, path, out.buf);
		goto out;
	}
	st->exists = 1;
	st->is_dir = kind == 'd';
	st->size = size;
	st->mtime = (time_t)mtime;
out:
	strbuf_release(&out);
	strbuf_release(&err);
	return rc;
}

/* ---- files ---- */

int transport_stat(struct transport *t, const char *path, struct transport_stat *st,
		   struct errbuf *e)
{
	struct stat sb;
	int rc;

	memset(st, 0, sizeof(*st));
	if (t->local) {
		if (stat(path, &sb)) {
			if (errno == ENOENT || errno == ENOTDIR)
				return 0;
			return errbuf_errno(e, BL_EFAIL, errno, "cannot stat %s", path);
		}
		st->exists = 1;
		st->is_dir = S_ISDIR(sb.st_mode);
		st->size = (long long)sb.st_size;
		st->mtime = sb.st_mtime;
		return 0;
	}
	if ((rc = need_ssh(t, e)))
		return rc;
	if (t->os)
		return os_stat(t, path, st, e);
	{
		struct ssh_stat ss;

		rc = ssh_sftp_stat(t->ssh, path, &ss, e);
		if (rc)
			return rc;
		st->exists = ss.exists;
		st->is_dir = ss.is_dir;
		st->size = ss.size;
		st->mtime = ss.mtime;
	}
	return 0;
}

int transport_read_file(struct transport *t, const char *path, struct strbuf *out,
			size_t max, int *exists, struct errbuf *e)
{
	char buf[16384];
	int rc = 0;

	strbuf_reset(out);
	*exists = 0;
	if (t->local) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n;

		if (fd < 0) {
			if (errno == ENOENT)
				return 0;
			return errbuf_errno(e, BL_EFAIL, errno, "cannot open %s", path);
		}
		*exists = 1;
		while ((n = read(fd, buf, sizeof(buf))) != 0) {
			if (n < 0) {
				if (errno == EINTR)
					continue;
				rc = errbuf_errno(e, BL_EFAIL, errno, "cannot read %s", path);
				break;
			}
			if (out->len + (size_t)n > max) {
				rc = errbuf_set(e, BL_EFAIL, "%s: larger than %zu bytes", path, max);
				break;
			}
			strbuf_add(out, buf, (size_t)n);
		}
		close(fd);
		return rc;
	}
	if ((rc = need_ssh(t, e)))
		return rc;
	if (t->os)
		return os_read_file(t, path, out, max, exists, e);
	{
		struct transport_stat st;
		struct ssh_file *f = NULL;
		size_t got;

		if ((rc = transport_stat(t, path, &st, e)))
			return rc;
		if (!st.exists)
			return 0;
		*exists = 1;
		if ((rc = ssh_sftp_open_read(t->ssh, path, &f, e)))
			return rc;
		for (;;) {
			rc = ssh_sftp_read(f, buf, sizeof(buf), &got, e);
			if (rc || !got)
				break;
			if (out->len + got > max) {
				rc = errbuf_set(e, BL_EFAIL, "%s:%s: larger than %zu bytes",
						t->describe, path, max);
				break;
			}
			strbuf_add(out, buf, got);
		}
		{
			struct errbuf ce = ERRBUF_INIT;

			ssh_sftp_close(f, rc ? &ce : e);
		}
	}
	return rc;
}

/* A sink that writes to a local fd or an sftp file. */
struct wtarget {
	struct transport *t;
	int fd;
	struct ssh_file *f;
	const char *path;
};

static int wt_open(struct transport *t, struct wtarget *w, const char *path, int mode,
		   struct errbuf *e)
{
	w->t = t;
	w->fd = -1;
	w->f = NULL;
	w->path = path;
	if (t->local) {
		w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (w->fd < 0)
			return errbuf_errno(e, BL_EFAIL, errno, "cannot create %s", path);
		return 0;
	}
	return ssh_sftp_open_write(t->ssh, path, mode, &w->f, e);
}

static int wt_write(struct wtarget *w, const void *data, size_t len, struct errbuf *e)
{
	const char *p = data;

	if (!w->t->local)
		return ssh_sftp_write(w->f, data, len, e);
	while (len) {
		ssize_t n = write(w->fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errbuf_errno(e, BL_EFAIL, errno, "cannot write %s", w->path);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Flush and close; on failure (or when abort is set) remove the file. */
static int wt_close(struct wtarget *w, int abort_it, struct errbuf *e)
{
	struct errbuf ignore = ERRBUF_INIT;
	int rc = 0;

	if (w->t->local) {
		if (w->fd >= 0) {
			if (!abort_it && fsync(w->fd))
				rc = errbuf_errno(e, BL_EFAIL, errno, "cannot fsync %s", w->path);
			if (close(w->fd) && !rc && !abort_it)
				rc = errbuf_errno(e, BL_EFAIL, errno, "cannot close %s", w->path);
			w->fd = -1;
		}
		if (abort_it || rc)
			unlink(w->path);
		return rc;
	}
	if (w->f) {
		rc = ssh_sftp_close(w->f, abort_it ? &ignore : e);
		w->f = NULL;
	}
	if (abort_it || rc)
		ssh_sftp_unlink(w->t->ssh, w->path, &ignore);
	return abort_it ? 0 : rc;
}

int transport_rename(struct transport *t, const char *from, const char *to,
		     struct errbuf *e)
{
	int rc;

	if (t->local) {
		if (rename(from, to))
			return errbuf_errno(e, BL_EFAIL, errno, "cannot rename %s to %s", from, to);
		fs_fsync_parent(to);
		return 0;
	}
	if ((rc = need_ssh(t, e)))
		return rc;
	if (t->os) {
		const char *args[] = { from, to, NULL };

		return os_do(t, os_rename_script, args, -1, "rename to", to, e);
	}
	return ssh_sftp_rename(t->ssh, from, to, e);
}

int transport_write_file(struct transport *t, const char *path, const void *data,
			 size_t len, int mode, struct errbuf *e)
{
	struct strbuf tmp = STRBUF_INIT;
	struct wtarget w;
	int rc;

	if (!t->local && (rc = need_ssh(t, e)))
		return rc;
	if (t->os) {
		int fd;

		if ((rc = data_fd(data, len, &fd, e)))
			return rc;
		rc = os_put_fd(t, fd, path, mode, e);
		close(fd);
		return rc;
	}
	tmp_name(t, path, &tmp);
	rc = wt_open(t, &w, tmp.buf, mode, e);
	if (rc)
		goto out;
	rc = wt_write(&w, data, len, e);
	if (rc) {
		wt_close(&w, 1, e);
		goto out;
	}
	rc = wt_close(&w, 0, e);
	if (rc)
		goto out;
	rc = transport_rename(t, tmp.buf, path, e);
	if (rc) {
		struct errbuf ignore = ERRBUF_INIT;

		transport_unlink(t, tmp.buf, &ignore);
	}
out:
	if (rc && !t->local)
		errbuf_prefix(e, "%s: ", t->describe);
	strbuf_release(&tmp);
	return rc;
}

int transport_append_file(struct transport *t, const char *path, const void *data,
			  size_t len, struct errbuf *e)
{
	struct strbuf cmd = STRBUF_INIT, err = STRBUF_INIT;
	int rc, status = 0;

	if (t->local) {
		struct wtarget w = { t, -1, NULL, path };

		w.fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (w.fd < 0)
			return errbuf_errno(e, BL_EFAIL, errno, "cannot open %s", path);
		rc = wt_write(&w, data, len, e);
		if (!rc && fsync(w.fd))
			rc = errbuf_errno(e, BL_EFAIL, errno, "cannot fsync %s", path);
		close(w.fd);
		return rc;
	}
	if ((rc = need_ssh(t, e)))
		return rc;
	if (t->os) {
		const char *args[] = { path, NULL };
		int fd;

		if ((rc = data_fd(data, len, &fd, e)))
			return rc;
		rc = os_do(t, append_script, args, fd, "append to", path, e);
		close(fd);
		return rc;
	}
	{
		/* SFTP has no portable append: let the remote shell open the file
		 * with O_APPEND and feed it on stdin. */
		const char *argv[] = { "sh", "-c", append_script, "sh", path, NULL };

		shquote_argv(&cmd, argv);
	}
	rc = ssh_exec(t->ssh, cmd.buf, data, len, NULL, NULL, &err, &status, 30000, e);
	if (rc) {
		errbuf_prefix(e, "%s: appending to %s: ", t->describe, path);
	} else if (status != 0) {
		strbuf_rtrim(&err);
		rc = errbuf_set(e, BL_EFAIL, "%s: cannot append to %s: %s", t->describe, path,
				err.len ? err.buf : "sh failed");
	}
	strbuf_release(&cmd);
	strbuf_release(&err);
	return rc;
}

int transport_put_file(struct transport *t, const char *local_path, const char *path,
		       int mode, struct errbuf *e)
{
	struct strbuf tmp = STRBUF_INIT;
	struct wtarget w;
	char *buf = NULL;
	int fd = -1, rc;
	ssize_t n;

	if (!t->local && (rc = need_ssh(t, e)))
		return rc;
	fd = open(local_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errbuf_errno(e, BL_EFAIL, errno, "cannot open %s", local_path);
	if (t->os) {
		rc = os_put_fd(t, fd, path, mode, e);
		close(fd);
		return rc;
	}
	buf = xmalloc(65536);
	tmp_name(t, path, &tmp);
	rc = wt_open(t, &w, tmp.buf, mode, e);
	if (rc)
		goto out;
	while ((n = read(fd, buf, 65536)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = errbuf_errno(e, BL_EFAIL, errno, "cannot read %s", local_path);
			break;
		}
		if ((rc = wt_write(&w, buf, (size_t)n, e)))
			break;
	}
	if (rc) {
		wt_close(&w, 1, e);
		goto out;
	}
	if ((rc = wt_close(&w, 0, e)))
		goto out;
	rc = transport_rename(t, tmp.buf, path, e);
out:
	if (rc && !t->local)
		errbuf_prefix(e, "%s: ", t->describe);
	free(buf);
	close(fd);
	strbuf_release(&tmp);
	return rc;
}

int transport_mkdir_p(struct transport *t, const char *path, int mode, struct errbuf *e)
{
	struct strbuf failed = STRBUF_INIT;
	int rc = 0;

	if (!t->local) {
		if ((rc = need_ssh(t, e)))
			return rc;
		if (t->os) {
			char mask[16];
			const char *args[] = { path, mask, NULL };

			snprintf(mask, sizeof(mask), "%03o", ~mode & 0777);
			return os_do(t, os_mkdir_script, args, -1, "create directory", path, e);
		}
		return ssh_sftp_mkdir_p(t->ssh, path, mode, e);
	}
	if (fs_mkdir_p(path, (mode_t)mode, &failed))
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot create directory %s", failed.buf);
	strbuf_release(&failed);
	return rc;
}

int transport_list_dir(struct transport *t, const char *path, struct strbuf *names,
		       struct errbuf *e)
{
	const char *argv[] = { "ls", "-1A", "--", path, NULL };
	struct strbuf err = STRBUF_INIT;
	struct transport_stat st;
	int rc, status = 0;

	strbuf_reset(names);
	if (t->os) {
		/* one round trip: the existence test on the target too */
		const char *args[] = { path, NULL };

		rc = os_script(t, "[ -e \"$1\" ] || exit 0; exec ls -1A -- \"$1\"", args, -1, names,
			       &status, &err, "list", path, e);
	} else if ((rc = transport_stat(t, path, &st, e)) || !st.exists) {
		return rc;
	} else {
		rc = transport_run(t, argv, NULL, NULL, names, &err, &status, 60000, e);
	}
	if (!rc && status) {
		strbuf_rtrim(&err);
		rc = errbuf_set(e, BL_EFAIL, "%s: cannot list %s: %s", transport_describe(t), path,
				err.len ? err.buf : "ls failed");
	}
	if (rc)
		strbuf_reset(names);
	strbuf_release(&err);
	return rc;
}

int transport_unlink(struct transport *t, const char *path, struct errbuf *e)
{
	int rc;

	if (t->local) {
		if (unlink(path) && errno != ENOENT)
			return errbuf_errno(e, BL_EFAIL, errno, "cannot remove %s", path);
		return 0;
	}
	if ((rc = need_ssh(t, e)))
		return rc;
	if (t->os) {
		const char *args[] = { path, NULL };

		return os_do(t, os_unlink_script, args, -1, "remove", path, e);
	}
	return ssh_sftp_unlink(t->ssh, path, e);
}

int transport_link_excl(struct transport *t, const char *from, const char *to,
			int *existed, struct errbuf *e)
{
	struct strbuf err = STRBUF_INIT;
	struct transport_stat st;
	int rc, status = 0;

	*existed = 0;
	if (t->local) {
		if (link(from, to) == 0) {
			fs_fsync_parent(to);
			return 0;
		}
		if (errno == EEXIST) {
			*existed = 1;
			return 0;
		}
		return errbuf_errno(e, BL_EFAIL, errno, "cannot link %s to %s", from, to);
	}
	{
		/* ln(1) uses link(2), which fails with EEXIST rather than
		 * replacing: the same atomic create-if-absent as locally. */
		const char *argv[] = { "ln", "--", from, to, NULL };

		rc = transport_run(t, argv, NULL, NULL, NULL, &err, &status, 30000, e);
	}
	if (rc)
		goto out;
	if (status != 0) {
		rc = transport_stat(t, to, &st, e);
		if (rc)
			goto out;
		if (st.exists) {
			*existed = 1;
		} else {
			strbuf_rtrim(&err);
			rc = errbuf_set(e, BL_EFAIL, "%s: cannot link %s to %s: %s", t->describe,
					from, to, err.len ? err.buf : "ln failed");
		}
	}
out:
	strbuf_release(&err);
	return rc;
}

struct put_tree {
	struct transport *t;
	const char *path;
	struct strbuf remote;
};

static int put_one(const char *lp, const char *rel, const struct stat *st, void *arg,
		   struct errbuf *e)
{
	struct put_tree *pt = arg;

	strbuf_reset(&pt->remote);
	strbuf_addf(&pt->remote, "%s/%s", pt->path, rel);
	if (S_ISDIR(st->st_mode))
		return transport_mkdir_p(pt->t, pt->remote.buf, 0700, e);
	return transport_put_file(pt->t, lp, pt->remote.buf, (int)(st->st_mode & 0777), e);
}

int transport_put_tree(struct transport *t, const char *local_dir, const char *path,
		       struct errbuf *e)
{
	struct put_tree pt = { t, path, STRBUF_INIT };
	int rc;

	if ((rc = transport_mkdir_p(t, path, 0700, e)))
		return rc;
	rc = fs_walk(local_dir, put_one, &pt, e);
	strbuf_release(&pt.remote);
	return rc;
}
