// services: sshd
/* The transport contract (lib/io/transport.h) over both remote types
 * against a real sshd on 127.0.0.1, the same checks for each: "ssh"
 * (libssh2) and "openssh" (the system ssh client with its master). The
 * target's files are on this machine, so the checks read them directly. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

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
	return trun_suite(s);
}
