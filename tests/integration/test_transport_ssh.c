// services: sshd
/* The transport contract (lib/io/transport.h) over both remote types
 * against a real sshd on 127.0.0.1, the same checks for each: "ssh"
 * (libssh2) and "openssh" (the system ssh client with its master). The
 * target's files are on this machine, so the checks read them directly. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "openssh.h"
#include "strbuf.h"
#include "transport.h"
#include "tsupport.h"

static const char *const types[] = { "ssh", "openssh" };
#define NTYPES 2

static struct transport *t;
static char *dir, *ctl;

static char *fact(const char *name)
{
	char *v = tsvc_read("sshd", name);

	ck_assert_msg(v != NULL, "sshd fact %s missing", name);
	return v;
}

static json_t *spec_for(const char *type)
{
	char *port = fact("port"), *user = fact("user"), *key = fact("key");
	char *kh = fact("known_hosts_file");
	json_t *spec = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "type", type, "host", "127.0.0.1",
				 "port", atoi(port), "user", user, "known_hosts", kh,
				 !strcmp(type, "ssh") ? "key" : "identity", key);

	if (!strcmp(type, "openssh"))
		json_object_set_new(spec, "config_file", json_string("/dev/null"));
	free(port);
	free(user);
	free(key);
	free(kh);
	return spec;
}

static void open_type(int i)
{
	struct errbuf e = ERRBUF_INIT;
	json_t *spec = spec_for(types[i]);

	ck_assert_msg(transport_open(spec, NULL, &t, &e) == 0, "%s: %s", types[i], e.msg);
	json_decref(spec);
}

static void setup(void)
{
	dir = ttmp_dir("transport-ssh");
	ctl = ttmp_dir("transport-ctl");
	ck_assert_ptr_nonnull(dir);
	ck_assert_ptr_nonnull(ctl);
	/* the openssh master's socket directory goes here, to be seen */
	setenv("TMPDIR", ctl, 1);
}

static void teardown(void)
{
	transport_close(t);
	t = NULL;
	unsetenv("TMPDIR");
	ttmp_rm(dir);
	ttmp_rm(ctl);
	free(dir);
	free(ctl);
}

static int entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

START_TEST(test_run)
{
	const char *argv[] = { "sh", "-c", "printf '%s|%s' \"$IMG\" \"$(pwd)\"; echo oops >&2; exit 3", NULL };
	const char *env[] = { "IMG=ns/app:v1 x", NULL };
	const char *a255[] = { "sh", "-c", "exit 255", NULL };
	const char *sleeper[] = { "sleep", "10", NULL };
	const char *truth[] = { "true", NULL };
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, want = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	char *port = fact("port");
	int status = 0;

	open_type(_i);
	strbuf_addf(&want, "@127.0.0.1:%s", port);
	ck_assert_msg(strstr(transport_describe(t), want.buf), "%s", transport_describe(t));
	ck_assert_int_eq(transport_is_local(t), 0);
	strbuf_reset(&want);
	ck_assert_msg(transport_run(t, argv, env, dir, &out, &err, &status, 30000, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(status, 3);
	strbuf_addf(&want, "ns/app:v1 x|%s", dir);
	ck_assert_str_eq(out.buf, want.buf);
	ck_assert_ptr_nonnull(strstr(err.buf, "oops"));
	/* a command's own 255 is its status, not a lost connection */
	ck_assert_msg(transport_run(t, a255, NULL, NULL, NULL, NULL, &status, 30000, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(status, 255);
	ck_assert_int_eq(transport_run(t, sleeper, NULL, NULL, NULL, NULL, &status, 500, &e), BL_EFAIL);
	if (!strcmp(types[_i], "openssh")) {
		/* a timeout kills the one command, not the connection */
		ck_assert_msg(transport_run(t, truth, NULL, NULL, NULL, NULL, &status, 30000, &e) == 0,
			      "%s", e.msg);
		ck_assert_int_eq(status, 0);
	}
	free(port);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&want);
}
END_TEST

START_TEST(test_files)
{
	struct strbuf p = STRBUF_INIT, p2 = STRBUF_INIT, got = STRBUF_INIT, local = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct transport_stat st;
	struct stat sb;
	int exists = -1, existed = -1;
	const char *text = "line one\nit's \"quoted\" $HOME `x`\n";

	open_type(_i);
	/* write: atomic, with its mode, no temporary left */
	strbuf_addf(&p, "%s/sub dir/a file", dir);
	strbuf_addf(&p2, "%s/sub dir", dir);
	ck_assert_msg(transport_mkdir_p(t, p2.buf, 0750, &e) == 0, "%s", e.msg);
	ck_assert_msg(transport_write_file(t, p.buf, text, strlen(text), 0640, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(stat(p.buf, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0640);
	ck_assert_int_eq(entries(p2.buf), 1);
	ck_assert_msg(transport_read_file(t, p.buf, &got, 1024, &exists, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(exists, 1);
	ck_assert_str_eq(got.buf, text);
	ck_assert_int_eq(transport_read_file(t, p.buf, &got, 5, &exists, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "larger than 5 bytes"), "%s", e.msg);
	/* a replace is a replace; an empty file too */
	ck_assert_msg(transport_write_file(t, p.buf, "", 0, 0600, &e) == 0, "%s", e.msg);
	ck_assert_msg(transport_read_file(t, p.buf, &got, 1024, &exists, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(exists, 1);
	ck_assert_uint_eq(got.len, 0);
	/* missing is not an error */
	strbuf_reset(&p2);
	strbuf_addf(&p2, "%s/missing", dir);
	ck_assert_msg(transport_read_file(t, p2.buf, &got, 1024, &exists, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(exists, 0);
	ck_assert_msg(transport_stat(t, p2.buf, &st, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(st.exists, 0);
	ck_assert_msg(transport_unlink(t, p2.buf, &e) == 0, "%s", e.msg);
	/* stat */
	ck_assert_msg(transport_write_file(t, p.buf, "12345", 5, 0600, &e) == 0, "%s", e.msg);
	ck_assert_msg(transport_stat(t, p.buf, &st, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(st.exists, 1);
	ck_assert_int_eq(st.is_dir, 0);
	ck_assert_int_eq(st.size, 5);
	ck_assert_int_eq(stat(p.buf, &sb), 0);
	ck_assert_int_eq((long long)st.mtime, (long long)sb.st_mtime);
	ck_assert_msg(transport_stat(t, dir, &st, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(st.is_dir, 1);
	/* append */
	ck_assert_msg(transport_append_file(t, p.buf, "6\n", 2, &e) == 0, "%s", e.msg);
	ck_assert_msg(transport_append_file(t, p.buf, "7\n", 2, &e) == 0, "%s", e.msg);
	strbuf_reset(&got);
	ck_assert_int_eq(tread_file(p.buf, &got), 0);
	ck_assert_str_eq(got.buf, "123456\n7\n");
	/* the lock primitive */
	strbuf_reset(&p2);
	strbuf_addf(&p2, "%s/lock", dir);
	ck_assert_msg(transport_link_excl(t, p.buf, p2.buf, &existed, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(existed, 0);
	ck_assert_msg(transport_link_excl(t, p.buf, p2.buf, &existed, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(existed, 1);
	/* rename over a file; a directory in the way is an error */
	ck_assert_msg(transport_unlink(t, p2.buf, &e) == 0, "%s", e.msg);
	ck_assert_msg(transport_write_file(t, p2.buf, "renamed", 7, 0600, &e) == 0, "%s", e.msg);
	ck_assert_msg(transport_rename(t, p2.buf, p.buf, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(access(p2.buf, F_OK), -1);
	strbuf_reset(&got);
	ck_assert_int_eq(tread_file(p.buf, &got), 0);
	ck_assert_str_eq(got.buf, "renamed");
	ck_assert_msg(transport_write_file(t, p2.buf, "x", 1, 0600, &e) == 0, "%s", e.msg);
	strbuf_reset(&local);
	strbuf_addf(&local, "%s/sub dir", dir);
	ck_assert_int_eq(transport_rename(t, p2.buf, local.buf, &e), BL_EFAIL);
	/* list */
	ck_assert_msg(transport_list_dir(t, dir, &got, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(got.buf, "lock\nsub dir\n");
	ck_assert_msg(transport_unlink(t, p2.buf, &e) == 0, "%s", e.msg);
	strbuf_reset(&p2);
	strbuf_addf(&p2, "%s/nope", dir);
	ck_assert_msg(transport_list_dir(t, p2.buf, &got, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(got.len, 0);
	/* put_file, put_tree */
	strbuf_reset(&local);
	strbuf_addf(&local, "%s/local-src", ctl);
	ck_assert_int_eq(twrite_file(local.buf, "from here\n"), 0);
	strbuf_reset(&p2);
	strbuf_addf(&p2, "%s/deep/er", dir);
	ck_assert_msg(transport_mkdir_p(t, p2.buf, 0700, &e) == 0, "%s", e.msg);
	strbuf_addstr(&p2, "/put");
	ck_assert_msg(transport_put_file(t, local.buf, p2.buf, 0604, &e) == 0, "%s", e.msg);
	strbuf_reset(&got);
	ck_assert_int_eq(tread_file(p2.buf, &got), 0);
	ck_assert_str_eq(got.buf, "from here\n");
	ck_assert_int_eq(stat(p2.buf, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0604);
	strbuf_reset(&p2);
	strbuf_addf(&p2, "%s/tree", dir);
	ck_assert_msg(transport_put_tree(t, ctl, p2.buf, &e) == 0, "%s", e.msg);
	strbuf_addstr(&p2, "/local-src");
	strbuf_reset(&got);
	ck_assert_int_eq(tread_file(p2.buf, &got), 0);
	ck_assert_str_eq(got.buf, "from here\n");
	strbuf_release(&p);
	strbuf_release(&p2);
	strbuf_release(&got);
	strbuf_release(&local);
}
END_TEST

/* openssh only: the plan's rendering, one private socket directory while
 * open, nothing after close; a connection that cannot be made names the
 * host and port. */
START_TEST(test_openssh_master)
{
	const char *argv[] = { "ls", "-l", NULL };
	struct strbuf sb = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct stat st;
	json_t *spec;
	DIR *d;
	struct dirent *de;
	int found = 0;

	open_type(1);
	transport_render(t, argv, NULL, "/srv/app", &sb);
	ck_assert_msg(strstr(sb.buf, "ssh -F /dev/null -o BatchMode=yes -o ControlMaster=auto -o ControlPath=") == sb.buf,
		      "%s", sb.buf);
	ck_assert_msg(strstr(sb.buf, " -T 127.0.0.1 -- 'cd /srv/app && ls -l'"), "%s", sb.buf);
	ck_assert_int_eq(entries(ctl), 1);
	d = opendir(ctl);
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "ballast-ssh-", 12))
			continue;
		strbuf_reset(&sb);
		strbuf_addf(&sb, "%s/%s", ctl, de->d_name);
		ck_assert_int_eq(stat(sb.buf, &st), 0);
		ck_assert_int_eq(st.st_mode & 0777, 0700);
		strbuf_addstr(&sb, "/m");
		ck_assert_int_eq(stat(sb.buf, &st), 0);
		ck_assert(S_ISSOCK(st.st_mode));
		found = 1;
	}
	closedir(d);
	ck_assert(found);
	transport_close(t);
	t = NULL;
	ck_assert_int_eq(entries(ctl), 0);

	spec = spec_for("openssh");
	json_object_set_new(spec, "port", json_integer(1));
	ck_assert_int_eq(transport_open(spec, NULL, &t, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "@127.0.0.1:1: cannot connect: ") && strstr(e.msg, "port 1"), "%s", e.msg);
	ck_assert_ptr_null(strchr(e.msg, '\n'));
	ck_assert_int_eq(entries(ctl), 0);
	json_decref(spec);
	strbuf_release(&sb);
}
END_TEST

/* openssh: key and known_hosts paths with a space and a '%' reach ssh
 * intact (ssh expands %-tokens and splits -o values). */
START_TEST(test_openssh_odd_paths)
{
	const char *truth[] = { "true", NULL };
	char *key = fact("key"), *kh = fact("known_hosts_file");
	struct strbuf k2 = STRBUF_INIT, kh2 = STRBUF_INIT, text = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	json_t *spec = spec_for("openssh");
	int status = -1;

	strbuf_addf(&k2, "%s/a key %%C", dir);
	strbuf_addf(&kh2, "%s/known hosts %%h", dir);
	ck_assert_int_eq(tread_file(key, &text), 0);
	ck_assert_int_eq(twrite_file(k2.buf, text.buf), 0);
	ck_assert_int_eq(chmod(k2.buf, 0600), 0);
	strbuf_reset(&text);
	ck_assert_int_eq(tread_file(kh, &text), 0);
	ck_assert_int_eq(twrite_file(kh2.buf, text.buf), 0);
	json_object_set_new(spec, "identity", json_string(k2.buf));
	json_object_set_new(spec, "known_hosts", json_string(kh2.buf));
	json_object_set_new(spec, "host_key_policy", json_string("strict"));
	json_object_set_new(spec, "options", json_pack("[s]", "IdentitiesOnly=yes"));
	ck_assert_msg(transport_open(spec, NULL, &t, &e) == 0, "%s", e.msg);
	ck_assert_msg(transport_run(t, truth, NULL, NULL, NULL, NULL, &status, 30000, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(status, 0);
	json_decref(spec);
	free(key);
	free(kh);
	strbuf_release(&k2);
	strbuf_release(&kh2);
	strbuf_release(&text);
}
END_TEST

/* ---- openssh: the remote shell (lib/io/rshell.h) carrying the commands */

static struct openssh *os;

static void os_open(void)
{
	char *port = fact("port"), *user = fact("user"), *key = fact("key");
	char *kh = fact("known_hosts_file");
	struct openssh_opts o = { 0 };
	struct errbuf e = ERRBUF_INIT;

	o.host = "127.0.0.1";
	o.port = atoi(port);
	o.user = user;
	o.identity = key;
	o.known_hosts = kh;
	o.config_file = "/dev/null";
	ck_assert_msg(openssh_open(&o, &os, &e) == 0, "%s", e.msg);
	free(port);
	free(user);
	free(key);
	free(kh);
}

static void os_teardown(void)
{
	openssh_close(os);
	os = NULL;
	teardown();
}

/* sshd's "Starting session" lines so far: one per ssh channel */
static int sessions(void)
{
	char *log = tsvc_read("sshd", "sshd.log");
	int n = 0;

	ck_assert_ptr_nonnull(log);
	for (const char *p = log; (p = strstr(p, "Starting session")); p++)
		n++;
	free(log);
	return n;
}

/* Remote shells of this process still running (the sshd is this machine):
 * processes whose argv holds "ballast-rsh" then our pid. */
static int remote_shells(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	char tag[32];
	int n = 0;

	snprintf(tag, sizeof(tag), "%ld", (long)getpid());
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		struct strbuf path = STRBUF_INIT, cmd = STRBUF_INIT;
		const char *a, *end;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		strbuf_addf(&path, "/proc/%s/cmdline", de->d_name);
		if (tread_file(path.buf, &cmd) == 0) {
			end = cmd.buf + cmd.len;
			for (a = cmd.buf; a < end; a += strlen(a) + 1) {
				if (!strcmp(a, "ballast-rsh") && a + strlen(a) + 1 < end &&
				    !strcmp(a + strlen(a) + 1, tag)) {
					n++;
					break;
				}
			}
		}
		strbuf_release(&path);
		strbuf_release(&cmd);
	}
	closedir(d);
	return n;
}

/* A shell that went away does so once its last command ends: wait for
 * that (bounded; not a timing assertion). */
static int remote_shells_settle(int want)
{
	for (int i = 0; i < 300 && remote_shells() != want; i++)
		usleep(100000);
	return remote_shells();
}

static int os_run(const char *cmd, int in_fd, struct strbuf *out, struct strbuf *err,
		  int *status, long timeout_ms, struct errbuf *e)
{
	struct proc_capture cap = { out, "test" };

	return openssh_exec(os, cmd, in_fd, proc_capture_sink, &cap, err, status, timeout_ms, e);
}

static int mem_fd(const void *data, size_t len)
{
	char path[] = "/tmp/ballast-rsh-test-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Bytes a framing could trip on: NULs, a greeting, a header, a marker-like
 * line (32 hex digits and a status), no final newline. */
static const char tricky[] = "a\0b\nballast-rshell 1 input\n0123456789abcdef0123456789abcdef 0\n"
			     "=0 0 0\n1 0\n\0\0\0\xff\xfe end";
#define TRICKY_LEN (sizeof(tricky) - 1)

/* Every command through one ssh session; the remote shell is one process
 * while open and none after close. */
START_TEST(test_session_one_channel)
{
	const char *truth[] = { "true", NULL };
	struct strbuf p = STRBUF_INIT, got = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct transport_stat st;
	struct stat sb;
	int status = -1, exists = 0, before;

	before = sessions();
	open_type(1);
	strbuf_addf(&p, "%s/one", dir);
	for (int i = 0; i < 10; i++) {
		ck_assert_msg(transport_run(t, truth, NULL, NULL, NULL, NULL, &status, 30000, &e) == 0,
			      "%s", e.msg);
		ck_assert_int_eq(status, 0);
	}
	/* a mode with x bits (chmod), then one the umask gives */
	ck_assert_msg(transport_write_file(t, p.buf, "#!/bin/sh\n", 10, 0750, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(stat(p.buf, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0750);
	/* a mode its owner cannot read: the size check reads it first */
	ck_assert_msg(transport_write_file(t, p.buf, "x", 1, 0200, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(stat(p.buf, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0200);
	ck_assert_int_eq(sb.st_size, 1);
	/* leftovers of a killed run under every temporary name the next
	 * write could take: `cat >` into one would keep its mode */
	for (int i = 1; i <= 64; i++) {
		char left[PATH_MAX];
		int fd;

		snprintf(left, sizeof(left), "%s.tmp-%ld-%d", p.buf, (long)getpid(), i);
		fd = open(left, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(fchmod(fd, 0666), 0);
		close(fd);
	}
	ck_assert_msg(transport_write_file(t, p.buf, tricky, TRICKY_LEN, 0604, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(stat(p.buf, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 07777, 0604);
	for (int i = 1; i <= 64; i++) {
		char left[PATH_MAX];

		snprintf(left, sizeof(left), "%s.tmp-%ld-%d", p.buf, (long)getpid(), i);
		unlink(left);
	}
	ck_assert_msg(transport_append_file(t, p.buf, tricky, TRICKY_LEN, &e) == 0, "%s", e.msg);
	ck_assert_msg(transport_stat(t, p.buf, &st, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(st.size, 2 * TRICKY_LEN);
	ck_assert_msg(transport_read_file(t, p.buf, &got, 1024, &exists, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(exists, 1);
	ck_assert_uint_eq(got.len, 2 * TRICKY_LEN);
	ck_assert_int_eq(memcmp(got.buf, tricky, TRICKY_LEN), 0);
	ck_assert_int_eq(memcmp(got.buf + TRICKY_LEN, tricky, TRICKY_LEN), 0);
	ck_assert_int_eq(remote_shells(), 1);
	/* the master (ssh -N) opens none: the remote shell's is the one */
	ck_assert_int_eq(sessions() - before, 1);
	transport_close(t);
	t = NULL;
	ck_assert_int_eq(remote_shells(), 0);
	strbuf_release(&p);
	strbuf_release(&got);
}
END_TEST

/* Output, stderr and exit statuses come back exactly, whatever they hold. */
START_TEST(test_session_answers)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, big = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	int status = -1, fd;

	os_open();
	/* the command's own stdout: NULs and marker-like lines, verbatim */
	fd = mem_fd(tricky, TRICKY_LEN);
	ck_assert_msg(os_run("cat; printf 'x\\000y'; echo oops >&2; exit 3", fd, &out, &err, &status,
			     30000, &e) == 0, "%s", e.msg);
	close(fd);
	ck_assert_int_eq(status, 3);
	ck_assert_uint_eq(out.len, TRICKY_LEN + 3);
	ck_assert_int_eq(memcmp(out.buf, tricky, TRICKY_LEN), 0);
	ck_assert_int_eq(memcmp(out.buf + TRICKY_LEN, "x\0y", 3), 0);
	ck_assert_str_eq(err.buf, "oops\n");
	/* a command's own 255 is its status; a signal is 128+N */
	ck_assert_msg(os_run("exit 255", -1, NULL, NULL, &status, 30000, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(status, 255);
	ck_assert_msg(os_run("sh -c 'kill -9 $$'", -1, NULL, NULL, &status, 30000, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(status, 137);
	/* a command cannot print the nonce that ends its answer */
	strbuf_reset(&out);
	ck_assert_msg(os_run("echo \"[$_n]\"", -1, &out, NULL, &status, 30000, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(out.buf, "[]\n");
	/* the subshell keeps cd and variables from the next command */
	ck_assert_msg(os_run("cd /; X=1; umask 0", -1, NULL, NULL, &status, 30000, &e) == 0, "%s", e.msg);
	strbuf_reset(&out);
	ck_assert_msg(os_run("pwd; echo \"[$X]\"", -1, &out, NULL, &status, 30000, &e) == 0, "%s", e.msg);
	{
		char *home = fact("home");

		strbuf_reset(&err);
		strbuf_addf(&err, "%s\n[]\n", home);
		ck_assert_str_eq(out.buf, err.buf);
		free(home);
	}
	/* a command reading part of its stdin: the rest is drained, the
	 * session stays in step */
	for (int i = 0; i < 200000; i++)
		strbuf_addch(&big, (char)(i * 7));
	fd = mem_fd(big.buf, big.len);
	strbuf_reset(&out);
	ck_assert_msg(os_run("head -c 5 | od -An -tx1", fd, &out, NULL, &status, 30000, &e) == 0,
		      "%s", e.msg);
	close(fd);
	ck_assert_int_eq(status, 0);
	ck_assert_msg(strstr(out.buf, "00 07 0e 15 1c"), "%s", out.buf);
	strbuf_reset(&out);
	ck_assert_msg(os_run("echo next", -1, &out, NULL, &status, 30000, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(out.buf, "next\n");
	/* large stdout, and stderr past the kept tail: its last bytes */
	strbuf_reset(&out);
	strbuf_reset(&err);
	ck_assert_msg(os_run("head -c 3000000 /dev/zero; i=0; while [ $i -lt 2000 ]; do echo \"line $i\" >&2; i=$((i+1)); done",
			     -1, &out, &err, &status, 60000, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(out.len, 3000000);
	ck_assert_uint_le(err.len, PROC_ERR_TAIL);
	ck_assert_msg(err.len > 100 && !strcmp(err.buf + err.len - 10, "line 1999\n"), "%s", err.buf);
	/* stdin that is not a file takes one ssh of its own */
	{
		int pfd[2];

		ck_assert_int_eq(pipe(pfd), 0);
		ck_assert_int_eq(write(pfd[1], "piped\n", 6), 6);
		close(pfd[1]);
		strbuf_reset(&out);
		ck_assert_msg(os_run("cat", pfd[0], &out, NULL, &status, 30000, &e) == 0, "%s", e.msg);
		close(pfd[0]);
		ck_assert_str_eq(out.buf, "piped\n");
	}
	ck_assert_int_eq(remote_shells(), 1);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&big);
}
END_TEST

/* Output larger than the caller takes fails that call only; the remote
 * shell it came through ends there (the rest is not read only to be
 * dropped) and the next call gets a new one. */
START_TEST(test_session_cap)
{
	struct strbuf p = STRBUF_INIT, got = STRBUF_INIT, data = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	int exists = 0, before;

	open_type(1);
	strbuf_addf(&p, "%s/big", dir);
	for (int i = 0; i < 1048576; i++)
		strbuf_addch(&data, (char)(i % 251));
	ck_assert_int_eq(twrite_file(p.buf, ""), 0);
	{
		FILE *f = fopen(p.buf, "wb");

		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(fwrite(data.buf, 1, data.len, f), data.len);
		fclose(f);
	}
	before = sessions();
	ck_assert_msg(transport_read_file(t, p.buf, &got, data.len, &exists, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(got.len, data.len);
	ck_assert_int_eq(memcmp(got.buf, data.buf, data.len), 0);
	ck_assert_int_eq(transport_read_file(t, p.buf, &got, data.len - 1, &exists, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "larger than 1048575 bytes"), "%s", e.msg);
	ck_assert_int_eq(sessions(), before + 1);
	ck_assert_msg(transport_read_file(t, p.buf, &got, data.len, &exists, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(got.len, data.len);
	ck_assert_int_eq(sessions(), before + 2);
	strbuf_release(&p);
	strbuf_release(&got);
	strbuf_release(&data);
}
END_TEST

/* A timeout ends the remote shell (its command runs on until it ends),
 * not the connection: the next command gets a new shell. */
START_TEST(test_session_timeout)
{
	struct strbuf out = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	int status = -1, before;

	os_open();
	ck_assert_msg(os_run("true", -1, NULL, NULL, &status, 30000, &e) == 0, "%s", e.msg);
	before = sessions();
	ck_assert_int_eq(os_run("sleep 3", -1, NULL, NULL, &status, 500, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "timed out after 500 ms"), "%s", e.msg);
	ck_assert_int_eq(status, -1);
	ck_assert_msg(os_run("echo again", -1, &out, NULL, &status, 30000, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(out.buf, "again\n");
	ck_assert_int_eq(sessions(), before + 1);
	ck_assert_int_eq(remote_shells_settle(1), 1);
	openssh_close(os);
	os = NULL;
	ck_assert_int_eq(remote_shells(), 0);
	strbuf_release(&out);
}
END_TEST

/* The remote shell killed under a command: that call fails, the next one
 * gets a new shell over the same connection. The connection killed: lost,
 * every call fails until reconnect. */
START_TEST(test_session_killed)
{
	/* the command runs in a subshell of the loop, where $$ is the loop */
	const char *kill_shell = "kill -TERM $$";
	/* SIGKILL to the nearest sshd: the connection's server side */
	const char *kill_conn =
		"p=$$; while [ \"$p\" -gt 1 ]; do "
		"case $(cat /proc/$p/comm) in sshd*) kill -9 $p; exit 0;; esac; "
		"p=$(cut -d' ' -f4 /proc/$p/stat); done; exit 9";
	struct strbuf out = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	int status = -1;

	os_open();
	ck_assert_int_eq(os_run(kill_shell, -1, NULL, NULL, &status, 30000, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "the remote shell ended"), "%s", e.msg);
	ck_assert_msg(os_run("echo still", -1, &out, NULL, &status, 30000, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(out.buf, "still\n");
	ck_assert_int_eq(remote_shells_settle(1), 1);

	ck_assert_int_eq(os_run(kill_conn, -1, NULL, NULL, &status, 30000, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "connection lost"), "%s", e.msg);
	ck_assert_int_eq(os_run("true", -1, NULL, NULL, &status, 30000, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "lost earlier"), "%s", e.msg);
	ck_assert_msg(openssh_reconnect(os, &e) == 0, "%s", e.msg);
	strbuf_reset(&out);
	ck_assert_msg(os_run("echo back", -1, &out, NULL, &status, 30000, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(out.buf, "back\n");
	ck_assert_int_eq(remote_shells_settle(1), 1);
	openssh_close(os);
	os = NULL;
	ck_assert_int_eq(remote_shells(), 0);
	strbuf_release(&out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("transport_ssh");
	TCase *tc = tcase_create("contract");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_run, 0, NTYPES);
	tcase_add_loop_test(tc, test_files, 0, NTYPES);
	tcase_add_test(tc, test_openssh_master);
	tcase_add_test(tc, test_openssh_odd_paths);
	suite_add_tcase(s, tc);
	tc = tcase_create("remote shell");
	tcase_add_checked_fixture(tc, setup, os_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_session_one_channel);
	tcase_add_test(tc, test_session_answers);
	tcase_add_test(tc, test_session_cap);
	tcase_add_test(tc, test_session_timeout);
	tcase_add_test(tc, test_session_killed);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
