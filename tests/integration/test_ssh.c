// services: sshd
/* lib/ssh against a real OpenSSH server: host key policy, authentication,
 * exec channels and SFTP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ssh.h"
#include "tsupport.h"

static char *fact(const char *name)
{
	char *v = tsvc_read("sshd", name);

	ck_assert_msg(v != NULL, "sshd fact %s missing", name);
	return v;
}

/* Options for the test server; strings owned by the caller's struct. */
struct topts {
	struct ssh_opts o;
	char *port, *user, *key, *kh;
};

static void topts_init(struct topts *t)
{
	memset(t, 0, sizeof(*t));
	t->port = fact("port");
	t->user = fact("user");
	t->key = fact("key");
	t->kh = fact("known_hosts_file");
	t->o.host = "127.0.0.1";
	t->o.port = atoi(t->port);
	t->o.user = t->user;
	t->o.key_path = t->key;
	t->o.known_hosts = t->kh;
	t->o.timeout_ms = 10000;
}

static void topts_free(struct topts *t)
{
	free(t->port);
	free(t->user);
	free(t->key);
	free(t->kh);
}

/* The server key's fingerprint as ssh-keygen prints it. */
static void server_fingerprint(struct strbuf *out)
{
	char *dir = getenv("BALLAST_TEST_SVC");
	struct strbuf path = STRBUF_INIT, o = STRBUF_INIT;
	const char *argv[] = { "ssh-keygen", "-l", "-E", "sha256", "-f", NULL, NULL };
	char *sp;

	strbuf_addf(&path, "%s/sshd/host_ed25519.pub", dir);
	argv[5] = path.buf;
	ck_assert_int_eq(trun(argv, NULL, &o, NULL), 0);
	sp = strstr(o.buf, "SHA256:");
	ck_assert_ptr_nonnull(sp);
	strbuf_add(out, sp, strcspn(sp, " \n"));
	strbuf_release(&path);
	strbuf_release(&o);
}

static void keygen(const char *path, const char *pass)
{
	const char *argv[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", pass, "-f", path, NULL };

	ck_assert_int_eq(trun(argv, NULL, NULL, NULL), 0);
}

START_TEST(test_connect_ok)
{
	struct topts t;
	struct ssh_session *s = NULL;
	struct errbuf e = ERRBUF_INIT;
	char want[128];

	topts_init(&t);
	ck_assert_msg(ssh_connect(&t.o, &s, &e) == 0, "%s", e.msg);
	snprintf(want, sizeof(want), "%s@127.0.0.1:%s", t.user, t.port);
	ck_assert_str_eq(ssh_describe(s), want);
	ssh_close(s);
	topts_free(&t);
}
END_TEST

START_TEST(test_passphrase_key)
{
	struct topts t;
	struct ssh_session *s = NULL;
	struct errbuf e = ERRBUF_INIT;
	char *kp = fact("key_pass"), *pp = fact("key_pass_passphrase");

	topts_init(&t);
	t.o.key_path = kp;
	t.o.passphrase = "not-the-passphrase";
	ck_assert_int_eq(ssh_connect(&t.o, &s, &e), BL_EFAIL);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(e.msg, kp) != NULL, "%s", e.msg);
	t.o.passphrase = pp;
	ck_assert_msg(ssh_connect(&t.o, &s, &e) == 0, "%s", e.msg);
	ssh_close(s);
	free(kp);
	free(pp);
	topts_free(&t);
}
END_TEST

START_TEST(test_unknown_host_key_refused)
{
	struct topts t;
	struct ssh_session *s = NULL;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf fp = STRBUF_INIT, kh = STRBUF_INIT;
	char *dir = ttmp_dir("ssh-kh");

	topts_init(&t);
	strbuf_addf(&kh, "%s/known_hosts", dir);
	/* An unrelated host's line only: the server is unknown. */
	ck_assert_int_eq(twrite_file(kh.buf, "[127.0.0.1]:1 ssh-ed25519 "
				     "AAAAC3NzaC1lZDI1NTE5AAAAIMDLl3IrRzQP2rhRT0pNoD/QR6pLdkYkS0Pdw2FnmYfd\n"), 0);
	t.o.known_hosts = kh.buf;
	ck_assert_int_eq(ssh_connect(&t.o, &s, &e), BL_EFAIL);
	ck_assert_ptr_null(s);
	server_fingerprint(&fp);
	ck_assert_msg(strstr(e.msg, "unknown host key") != NULL, "%s", e.msg);
	ck_assert_msg(strstr(e.msg, fp.buf) != NULL, "want %s in: %s", fp.buf, e.msg);
	ck_assert_msg(strstr(e.msg, "127.0.0.1:") != NULL, "%s", e.msg);
	/* Strict mode does not touch the file. */
	strbuf_reset(&fp);
	ck_assert_int_eq(tread_file(kh.buf, &fp), 0);
	ck_assert_ptr_null(strstr(fp.buf, t.port));

	/* A missing known_hosts file is an unknown key too. */
	strbuf_addstr(&kh, ".missing");
	t.o.known_hosts = kh.buf;
	ck_assert_int_eq(ssh_connect(&t.o, &s, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "unknown host key") != NULL, "%s", e.msg);
	ck_assert_int_ne(access(kh.buf, F_OK), 0);
	strbuf_release(&fp);
	strbuf_release(&kh);
	ttmp_rm(dir);
	free(dir);
	topts_free(&t);
}
END_TEST

START_TEST(test_changed_host_key_refused)
{
	struct topts t;
	struct ssh_session *s = NULL;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf fp = STRBUF_INIT, kh = STRBUF_INIT, path = STRBUF_INIT, pub = STRBUF_INIT;
	char *dir = ttmp_dir("ssh-changed");

	topts_init(&t);
	strbuf_addf(&path, "%s/other", dir);
	keygen(path.buf, "");
	strbuf_addstr(&path, ".pub");
	ck_assert_int_eq(tread_file(path.buf, &pub), 0);
	strbuf_addf(&kh, "%s/known_hosts", dir);
	strbuf_reset(&path);
	strbuf_addf(&path, "[127.0.0.1]:%s %s", t.port, pub.buf);
	ck_assert_int_eq(twrite_file(kh.buf, path.buf), 0);
	t.o.known_hosts = kh.buf;
	server_fingerprint(&fp);
	ck_assert_int_eq(ssh_connect(&t.o, &s, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "CHANGED") != NULL, "%s", e.msg);
	ck_assert_msg(strstr(e.msg, fp.buf) != NULL, "%s", e.msg);
	/* accept-new never replaces a changed key. */
	t.o.accept_new = 1;
	ck_assert_int_eq(ssh_connect(&t.o, &s, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "CHANGED") != NULL, "%s", e.msg);
	strbuf_reset(&pub);
	ck_assert_int_eq(tread_file(kh.buf, &pub), 0);
	ck_assert_str_eq(pub.buf, path.buf);
	strbuf_release(&fp);
	strbuf_release(&kh);
	strbuf_release(&path);
	strbuf_release(&pub);
	ttmp_rm(dir);
	free(dir);
	topts_free(&t);
}
END_TEST

START_TEST(test_accept_new_writes_known_hosts)
{
	struct topts t;
	struct ssh_session *s = NULL;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf kh = STRBUF_INIT, got = STRBUF_INIT, want = STRBUF_INIT;
	char *dir = ttmp_dir("ssh-acceptnew");
	char *hostpub = fact("host_pubkey");
	struct stat st;

	topts_init(&t);
	strbuf_addf(&kh, "%s/sub/known_hosts", dir);
	t.o.known_hosts = kh.buf;
	t.o.accept_new = 1;
	ck_assert_msg(ssh_connect(&t.o, &s, &e) == 0, "%s", e.msg);
	ssh_close(s);
	s = NULL;
	ck_assert_int_eq(tread_file(kh.buf, &got), 0);
	strbuf_addf(&want, "[127.0.0.1]:%s %s", t.port, hostpub);
	ck_assert_msg(strstr(got.buf, want.buf) != NULL, "known_hosts: %s", got.buf);
	ck_assert_int_eq(stat(kh.buf, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	/* Lines libssh2 cannot parse do not hide the ones it can. */
	{
		struct strbuf mixed = STRBUF_INIT;

		strbuf_addstr(&mixed, "# comment\n\n@cert-authority *.example.org ssh-ed25519 "
			      "AAAAC3NzaC1lZDI1NTE5AAAAIMDLl3IrRzQP2rhRT0pNoD/QR6pLdkYkS0Pdw2FnmYfd\n"
			      "example.org sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIE\n"
			      "garbage\n");
		strbuf_add(&mixed, got.buf, got.len);
		ck_assert_int_eq(twrite_file(kh.buf, mixed.buf), 0);
		strbuf_release(&mixed);
		strbuf_reset(&got);
		ck_assert_int_eq(tread_file(kh.buf, &got), 0);
	}
	/* Now known: strict mode accepts it, and nothing is added twice. */
	t.o.accept_new = 0;
	ck_assert_msg(ssh_connect(&t.o, &s, &e) == 0, "%s", e.msg);
	ssh_close(s);
	t.o.accept_new = 1;
	s = NULL;
	ck_assert_msg(ssh_connect(&t.o, &s, &e) == 0, "%s", e.msg);
	ssh_close(s);
	strbuf_reset(&got);
	ck_assert_int_eq(tread_file(kh.buf, &got), 0);
	ck_assert_ptr_eq(strstr(got.buf, want.buf), strrchr(got.buf, '[') ? strstr(got.buf, want.buf) : NULL);
	ck_assert_ptr_null(strstr(strstr(got.buf, want.buf) + 1, "[127.0.0.1]"));
	strbuf_release(&kh);
	strbuf_release(&got);
	strbuf_release(&want);
	ttmp_rm(dir);
	free(dir);
	free(hostpub);
	topts_free(&t);
}
END_TEST

START_TEST(test_wrong_key_refused)
{
	struct topts t;
	struct ssh_session *s = NULL;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf path = STRBUF_INIT;
	char *dir = ttmp_dir("ssh-wrongkey");

	topts_init(&t);
	strbuf_addf(&path, "%s/stranger", dir);
	keygen(path.buf, "");
	t.o.key_path = path.buf;
	ck_assert_int_eq(ssh_connect(&t.o, &s, &e), BL_EFAIL);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(e.msg, "authentication") != NULL, "%s", e.msg);
	ck_assert_msg(strstr(e.msg, path.buf) != NULL, "%s", e.msg);
	ck_assert_msg(strstr(e.msg, t.port) != NULL, "%s", e.msg);
	/* A key file that does not exist is a configuration error. */
	strbuf_addstr(&path, ".nope");
	t.o.key_path = path.buf;
	ck_assert_int_eq(ssh_connect(&t.o, &s, &e), BL_EUSAGE);
	ck_assert_msg(strstr(e.msg, path.buf) != NULL, "%s", e.msg);
	strbuf_release(&path);
	ttmp_rm(dir);
	free(dir);
	topts_free(&t);
}
END_TEST

/* No key file: the keys of the ssh-agent at SSH_AUTH_SOCK. */
START_TEST(test_agent_auth)
{
	struct topts t;
	struct ssh_session *s = NULL;
	struct errbuf e = ERRBUF_INIT;
	struct child agent = CHILD_INIT;
	struct strbuf sock = STRBUF_INIT, out = STRBUF_INIT;
	char *dir = ttmp_dir("ssh-agent");
	const char *agent_argv[] = { "ssh-agent", "-D", "-a", NULL, NULL };
	const char *add_argv[] = { "ssh-add", NULL, NULL };
	int i;

	topts_init(&t);
	strbuf_addf(&sock, "%s/agent.sock", dir);
	agent_argv[3] = sock.buf;
	agent.argv = agent_argv;
	agent.in_mode = PROC_NULL;
	agent.out_mode = PROC_NULL;
	agent.err_mode = PROC_NULL;
	ck_assert_msg(proc_start(&agent, &e) == 0, "%s", e.msg);
	for (i = 0; i < 100 && access(sock.buf, F_OK); i++)
		usleep(50000);
	setenv("SSH_AUTH_SOCK", sock.buf, 1);

	/* An empty agent: refused, saying so. */
	t.o.key_path = NULL;
	ck_assert_int_eq(ssh_connect(&t.o, &s, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "ssh-agent") != NULL, "%s", e.msg);
	/* With the user's key loaded it logs in. */
	add_argv[1] = t.key;
	ck_assert_int_eq(trun(add_argv, NULL, &out, &out), 0);
	ck_assert_msg(ssh_connect(&t.o, &s, &e) == 0, "%s", e.msg);
	ssh_close(s);
	s = NULL;
	/* No agent at all. */
	unsetenv("SSH_AUTH_SOCK");
	ck_assert_int_eq(ssh_connect(&t.o, &s, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "no key file") && strstr(e.msg, "SSH_AUTH_SOCK"), "%s", e.msg);

	proc_kill(&agent, SIGTERM);
	proc_finish(&agent, &e);
	proc_release(&agent);
	strbuf_release(&sock);
	strbuf_release(&out);
	ttmp_rm(dir);
	free(dir);
	topts_free(&t);
}
END_TEST

START_TEST(test_connection_refused)
{
	struct topts t;
	struct ssh_session *s = NULL;
	struct errbuf e = ERRBUF_INIT;
	char want[64];

	topts_init(&t);
	/* Port 1 on loopback: nothing listens there in the test machines. */
	t.o.port = 1;
	ck_assert_int_eq(ssh_connect(&t.o, &s, &e), BL_EFAIL);
	snprintf(want, sizeof(want), "@127.0.0.1:1:");
	ck_assert_msg(strstr(e.msg, want) != NULL, "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "refused") != NULL, "%s", e.msg);
	topts_free(&t);
}
END_TEST

struct collect {
	struct strbuf sb;
	size_t total;
};

static int collect_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct collect *c = ctx;

	c->total += len;
	if (c->sb.len < 65536)
		strbuf_add(&c->sb, buf, len);
	return 0;
}

static int failing_sink(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	return errbuf_set(e, BL_EFAIL, "sink says no");
}

START_TEST(test_exec)
{
	struct topts t;
	struct ssh_session *s = NULL;
	struct errbuf e = ERRBUF_INIT;
	struct collect c = { STRBUF_INIT, 0 };
	struct strbuf err = STRBUF_INIT;
	static char big[3 * 1024 * 1024];
	int st = 0;
	long long t0;

	topts_init(&t);
	ck_assert_msg(ssh_connect(&t.o, &s, &e) == 0, "%s", e.msg);

	ck_assert_msg(ssh_exec(s, "echo out; echo err >&2; exit 3", NULL, 0, collect_sink, &c,
			       &err, &st, 10000, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(c.sb.buf, "out\n");
	ck_assert_str_eq(err.buf, "err\n");
	ck_assert_int_eq(st, 3);

	/* stdin round trip, bigger than any channel window, while stderr is
	 * flooded: nothing may deadlock. */
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = 'y';
	strbuf_reset(&c.sb);
	c.total = 0;
	strbuf_reset(&err);
	ck_assert_msg(ssh_exec(s, "head -c 2000000 /dev/zero >&2; cat; echo tail >&2", big,
			       sizeof(big), collect_sink, &c, &err, &st, 30000, &e) == 0,
		      "%s", e.msg);
	ck_assert_int_eq(st, 0);
	ck_assert_uint_eq(c.total, sizeof(big));
	ck_assert_uint_le(err.len, PROC_ERR_TAIL);
	ck_assert_str_eq(err.buf + err.len - 5, "tail\n");

	/* Killed by a signal. */
	ck_assert_msg(ssh_exec(s, "kill -9 $$", NULL, 0, NULL, NULL, NULL, &st, 10000, &e) == 0,
		      "%s", e.msg);
	ck_assert_int_ne(st, 0);

	/* Sink failure stops the command and is reported as is. */
	ck_assert_int_eq(ssh_exec(s, "echo data", NULL, 0, failing_sink, NULL, NULL, &st, 10000,
				  &e), BL_EFAIL);
	ck_assert_str_eq(e.msg, "sink says no");

	/* Timeout. */
	t0 = time_mono_ms();
	ck_assert_int_eq(ssh_exec(s, "sleep 20", NULL, 0, NULL, NULL, NULL, &st, 700, &e),
			 BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "timed out") != NULL, "%s", e.msg);
	ck_assert_int_lt(time_mono_ms() - t0, 10000);

	/* The session is still usable for the next command. */
	strbuf_reset(&c.sb);
	ck_assert_msg(ssh_exec(s, "printf again", NULL, 0, collect_sink, &c, NULL, &st, 10000,
			       &e) == 0, "%s", e.msg);
	ck_assert_str_eq(c.sb.buf, "again");
	ssh_close(s);
	strbuf_release(&c.sb);
	strbuf_release(&err);
	topts_free(&t);
}
END_TEST

struct names {
	struct strbuf sb;
	long long size_of_b;
};

static int dir_cb(void *ctx, const char *name, const struct ssh_stat *st, struct errbuf *e)
{
	struct names *n = ctx;

	strbuf_addf(&n->sb, "%s%s;", name, st->is_dir ? "/" : "");
	if (!strcmp(name, "b"))
		n->size_of_b = st->size;
	return 0;
}

START_TEST(test_sftp_round_trip)
{
	struct topts t;
	struct ssh_session *s = NULL;
	struct ssh_file *f = NULL;
	struct errbuf e = ERRBUF_INIT;
	struct ssh_stat st;
	struct names n = { STRBUF_INIT, -1 };
	struct strbuf p = STRBUF_INIT, q = STRBUF_INIT, d = STRBUF_INIT;
	char *dir = ttmp_dir("ssh-sftp");
	static unsigned char data[1500000], back[1500000];
	size_t i, got, total = 0;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 131 + (i >> 9));
	topts_init(&t);
	ck_assert_msg(ssh_connect(&t.o, &s, &e) == 0, "%s", e.msg);
	strbuf_addf(&d, "%s/x/y/z", dir);
	ck_assert_msg(ssh_sftp_mkdir_p(s, d.buf, 0700, &e) == 0, "%s", e.msg);
	ck_assert_msg(ssh_sftp_mkdir_p(s, d.buf, 0700, &e) == 0, "%s", e.msg);
	strbuf_addf(&p, "%s/a.tmp", d.buf);
	strbuf_addf(&q, "%s/b", d.buf);

	ck_assert_msg(ssh_sftp_open_write(s, p.buf, 0600, &f, &e) == 0, "%s", e.msg);
	ck_assert_msg(ssh_sftp_write(f, data, 1000, &e) == 0, "%s", e.msg);
	ck_assert_msg(ssh_sftp_write(f, data + 1000, sizeof(data) - 1000, &e) == 0, "%s", e.msg);
	ck_assert_msg(ssh_sftp_close(f, &e) == 0, "%s", e.msg);
	ck_assert_msg(ssh_sftp_rename(s, p.buf, q.buf, &e) == 0, "%s", e.msg);
	ck_assert_msg(ssh_sftp_stat(s, p.buf, &st, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(st.exists, 0);
	ck_assert_msg(ssh_sftp_stat(s, q.buf, &st, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(st.exists, 1);
	ck_assert_int_eq(st.is_dir, 0);
	ck_assert_int_eq(st.size, (long long)sizeof(data));
	ck_assert_int_gt(st.mtime, 0);

	ck_assert_msg(ssh_sftp_open_read(s, q.buf, &f, &e) == 0, "%s", e.msg);
	for (;;) {
		ck_assert_msg(ssh_sftp_read(f, back + total, 70000 < sizeof(back) - total ?
					    70000 : sizeof(back) - total, &got, &e) == 0, "%s", e.msg);
		if (!got)
			break;
		total += got;
		if (total == sizeof(back)) {
			ck_assert_int_eq(ssh_sftp_read(f, data, 1, &got, &e), 0);
			ck_assert_uint_eq(got, 0);
			break;
		}
	}
	ck_assert_int_eq(ssh_sftp_close(f, &e), 0);
	ck_assert_uint_eq(total, sizeof(data));
	ck_assert_int_eq(memcmp(data, back, sizeof(data)), 0);

	/* Rename over an existing file replaces it. */
	ck_assert_int_eq(ssh_sftp_open_write(s, p.buf, 0600, &f, &e), 0);
	ck_assert_int_eq(ssh_sftp_write(f, "new", 3, &e), 0);
	ck_assert_int_eq(ssh_sftp_close(f, &e), 0);
	ck_assert_msg(ssh_sftp_rename(s, p.buf, q.buf, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(ssh_sftp_stat(s, q.buf, &st, &e), 0);
	ck_assert_int_eq(st.size, 3);

	strbuf_addf(&d, "/sub");
	ck_assert_int_eq(ssh_sftp_mkdir_p(s, d.buf, 0700, &e), 0);
	strbuf_setlen(&d, d.len - 4);
	ck_assert_msg(ssh_sftp_readdir(s, d.buf, dir_cb, &n, &e) == 0, "%s", e.msg);
	ck_assert_msg(!strcmp(n.sb.buf, "b;sub/;") || !strcmp(n.sb.buf, "sub/;b;"), "%s", n.sb.buf);
	ck_assert_int_eq(n.size_of_b, 3);

	/* Missing things. */
	ck_assert_int_eq(ssh_sftp_open_read(s, p.buf, &f, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, p.buf) != NULL && strstr(e.msg, "No such file") != NULL,
		      "%s", e.msg);
	ck_assert_int_eq(ssh_sftp_unlink(s, q.buf, &e), 0);
	ck_assert_int_eq(ssh_sftp_unlink(s, q.buf, &e), 0);
	ck_assert_int_eq(ssh_sftp_stat(s, q.buf, &st, &e), 0);
	ck_assert_int_eq(st.exists, 0);
	strbuf_addstr(&d, "/sub");
	ck_assert_int_eq(ssh_sftp_rmdir(s, d.buf, &e), 0);
	ck_assert_int_eq(ssh_sftp_rmdir(s, d.buf, &e), 0);
	ck_assert_int_ne(access(d.buf, F_OK), 0);
	/* mkdir -p through a file fails naming it. */
	strbuf_reset(&p);
	strbuf_addf(&p, "%s/file", dir);
	ck_assert_int_eq(twrite_file(p.buf, "x"), 0);
	strbuf_addstr(&p, "/below");
	ck_assert_int_eq(ssh_sftp_mkdir_p(s, p.buf, 0700, &e), BL_EFAIL);
	ck_assert_msg(strstr(e.msg, "not a directory") != NULL, "%s", e.msg);

	ssh_close(s);
	strbuf_release(&p);
	strbuf_release(&q);
	strbuf_release(&d);
	strbuf_release(&n.sb);
	ttmp_rm(dir);
	free(dir);
	topts_free(&t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ssh");
	TCase *tc = tcase_create("ssh");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_connect_ok);
	tcase_add_test(tc, test_passphrase_key);
	tcase_add_test(tc, test_unknown_host_key_refused);
	tcase_add_test(tc, test_changed_host_key_refused);
	tcase_add_test(tc, test_accept_new_writes_known_hosts);
	tcase_add_test(tc, test_wrong_key_refused);
	tcase_add_test(tc, test_agent_auth);
	tcase_add_test(tc, test_connection_refused);
	tcase_add_test(tc, test_exec);
	tcase_add_test(tc, test_sftp_round_trip);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
