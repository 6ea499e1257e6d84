#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fsutil.h"
#include "timeutil.h"
#include "xalloc.h"

struct lock {
	int fd;
	char *path;
};

static int write_holder(int fd, const char *what)
{
	char host[256] = "", when[32];
	json_t *o;
	char *s;
	int rc = -1;

	gethostname(host, sizeof(host) - 1);
	time_utc_format(time(NULL), when);
	o = json_pack("{s:i, s:s, s:s, s:s}", "pid", (int)getpid(), "host", host, "started",
		      when, "what", what);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (s && ftruncate(fd, 0) == 0) {
		size_t len = strlen(s);

		s[len] = '\n'; /* json_dumps' NUL replaced; we write len + 1 bytes */
		if (pwrite(fd, s, len + 1, 0) == (ssize_t)(len + 1))
			rc = 0;
	}
	free(s);
	json_decref(o);
	return rc;
}

static int parse_holder(const char *text, size_t len, struct lock_holder *h)
{
	json_t *o = json_loadb(text, len, JSON_DISABLE_EOF_CHECK, NULL);
	int rc = -1;

	memset(h, 0, sizeof(*h));
	if (json_is_object(o) && json_is_integer(json_object_get(o, "pid"))) {
		const char *host = json_string_value(json_object_get(o, "host"));
		const char *what = json_string_value(json_object_get(o, "what"));

		h->pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
		snprintf(h->host, sizeof(h->host), "%s", host ? host : "?");
		snprintf(h->what, sizeof(h->what), "%s", what ? what : "?");
		h->started = time_utc_parse(json_string_value(json_object_get(o, "started")));
		rc = 0;
	}
	json_decref(o);
	return rc;
}

int lock_read_holder(const char *path, struct lock_holder *h)
{
	char buf[1024];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	return parse_holder(buf, (size_t)n, h);
}

int lock_holder_stale(const struct lock_holder *h)
{
	char host[256] = "";

	gethostname(host, sizeof(host) - 1);
	if (strcmp(host, h->host) || h->pid <= 0)
		return 0;
	return kill(h->pid, 0) && errno == ESRCH;
}

static int locked_error(const char *path, struct errbuf *e)
{
	struct lock_holder h;
	char when[32] = "an unknown time";

	if (lock_read_holder(path, &h))
		return errbuf_set(e, BL_ELOCKED, "locked: another run holds %s (holder not "
				  "recorded yet)", path);
	if (h.started > 0)
		time_utc_format(h.started, when);
	return errbuf_set(e, BL_ELOCKED, "locked: another %s run holds %s (pid %d on %s, "
			  "started %s)", h.what, path, (int)h.pid, h.host, when);
}

int lock_acquire(const char *path, const char *what, long long wait_ms, struct lock **out,
		 struct errbuf *e)
{
	struct timespec nap = { 0, 200 * 1000 * 1000 };
	long long waited = 0;
	struct lock *l;
	int fd;

	*out = NULL;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return errbuf_errno(e, BL_EFAIL, errno, "lock: cannot open %s", path);
	while (flock(fd, LOCK_EX | LOCK_NB)) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			int err = errno;

			close(fd);
			return errbuf_errno(e, BL_EFAIL, err, "lock: cannot lock %s", path);
		}
		if (waited >= wait_ms) {
			close(fd);
			return locked_error(path, e);
		}
		nanosleep(&nap, NULL);
		waited += 200;
	}
	if (write_holder(fd, what)) {
		int err = errno;

		close(fd);
		return errbuf_errno(e, BL_EFAIL, err, "lock: cannot record the holder in %s", path);
	}
	l = xcalloc(1, sizeof(*l));
	l->path = xstrdup(path);
	l->fd = fd;
	*out = l;
	return 0;
}

void lock_release(struct lock *l)
{
	if (!l)
		return;
	/* Clear the record first so a reader never blames a finished run. */
	if (ftruncate(l->fd, 0)) {
		/* harmless: the next holder overwrites it */
	}
	flock(l->fd, LOCK_UN);
	close(l->fd);
	free(l->path);
	free(l);
}

static int mkdir_p(const char *dir, struct errbuf *e)
{
	struct strbuf failed = STRBUF_INIT;
	int rc = 0;

	if (fs_mkdir_p(dir, 0700, &failed))
		rc = errbuf_errno(e, BL_EFAIL, errno, "state_dir: cannot create %s", failed.buf);
	strbuf_release(&failed);
	return rc;
}

int lock_state_dir(const struct config *cfg, struct strbuf *out, struct errbuf *e)
{
	const char *conf = cfg ? config_str(cfg, "state_dir", NULL) : NULL;
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	const char *env = getenv("BALLAST_STATE_DIR");

	strbuf_reset(out);
	if (conf && *conf)
		config_path(cfg, conf, out);
	else if (env && *env)
		strbuf_addstr(out, env);
	else if (geteuid() == 0)
		strbuf_addstr(out, "/var/lib/ballast");
	else if (xdg && *xdg)
		strbuf_addf(out, "%s/ballast", xdg);
	else if (home && *home)
		strbuf_addf(out, "%s/.local/state/ballast", home);
	else
		return errbuf_set(e, BL_EUSAGE, "state_dir: not set and $HOME is unknown");
	return mkdir_p(out->buf, e);
}
