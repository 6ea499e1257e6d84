// services:
/* Hostile archives through the real command line: a repository whose
 * attacker rewrote a volume object and re-sealed the manifest around it (so
 * every checksum matches), restored with ballast-backup restore --volume
 * --to. Entries with "..", absolute names, symlink-then-file escapes, hard
 * links to outside files, device nodes and names with newlines. Each is
 * refused (exit 4, one line naming the entry) or neutralised (restored
 * inside the target), and a recursive listing of the target's parent
 * directory, which holds a directory "outside" with a file "secret", is the
 * same before and after (apart from the target's own new contents).
 * tests/unit/test_volume.c checks the same refusals on the library. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tfault.h"
#include "manifest.h"
#include "zstream.h"

static char *work;

static void setup(void)
{
	work = ttmp_dir("hostile");
	ck_assert_ptr_nonnull(work);
}

static void teardown(void)
{
	ttmp_rm(work);
	free(work);
}

/* "<type> <mode> <size> <path>" for everything under dir, sorted; paths
 * with a newline are kept on one line (escaped by %q-like quoting). */
static void list_tree(const char *dir, const char *skip, struct strbuf *out)
{
	char cmd[4096];
	struct strbuf err = STRBUF_INIT;
	const char *argv[] = { "sh", "-c", cmd, NULL };

	snprintf(cmd, sizeof(cmd), "cd '%s' && find . %s%s%s -printf '%%y %%m %%s %%l %%p\\0' | "
		 "sort -z | tr '\\0\\n' '\\n?'", dir, skip ? "-path './" : "", skip ? skip : "",
		 skip ? "*' -prune -o" : "");
	strbuf_reset(out);
	ck_assert_int_eq(trun(argv, NULL, out, &err), 0);
	strbuf_release(&err);
}

static void sha256_file(const char *path, char hex[ZSTREAM_SHA256_HEX], long long *size)
{
	struct strbuf sb = STRBUF_INIT;
	struct zhash *h = zhash_new();

	ck_assert_int_eq(tread_file(path, &sb), 0);
	zhash_update(h, sb.buf, sb.len);
	zhash_final(h, hex);
	zhash_free(h);
	*size = (long long)sb.len;
	strbuf_release(&sb);
}

/* Replace the stored volume object of backup id with the crafted archive
 * and re-seal the manifest, as an attacker with write access would. */
static void plant(const struct proj *p, const char *id, const char *tcase, const char *outside)
{
	char tar[1200], obj[1600], man[1600], cmd[16384], hex[ZSTREAM_SHA256_HEX];
	struct strbuf text = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	json_t *m = NULL, *it, *o;
	long long size, raw;
	struct stat st;

	snprintf(tar, sizeof(tar), "%s/evil.tar", p->dir);
	snprintf(obj, sizeof(obj), "%s/shop/backups/%s/volume-files.tar.zst", p->repo, id);
	snprintf(man, sizeof(man), "%s/shop/backups/%s/manifest.json", p->repo, id);
	snprintf(cmd, sizeof(cmd), "python3 '%s/tests/faults/craft_tar.py' %s '%s' '%s' && "
		 "zstd -q -f -o '%s' '%s'", BALLAST_SOURCE_DIR, tcase, tar, outside, obj, tar);
	sh(cmd);
	ck_assert_int_eq(stat(tar, &st), 0);
	raw = (long long)st.st_size;
	sha256_file(obj, hex, &size);
	ck_assert_int_eq(tread_file(man, &text), 0);
	ck_assert_msg(manifest_parse(text.buf, text.len, man, &m, &e) == 0, "%s", e.msg);
	it = manifest_find_item(m, "volume", "files");
	ck_assert_ptr_nonnull(it);
	o = json_object_get(it, "object");
	json_object_set_new(o, "size", json_integer(size));
	json_object_set_new(o, "raw_size", json_integer(raw));
	json_object_set_new(o, "sha256", json_string(hex));
	json_object_del(m, "checksum");
	ck_assert_int_eq(manifest_seal(m, &text, &e), 0);
	ck_assert_int_eq(twrite_file(man, text.buf), 0);
	json_decref(m);
	strbuf_release(&text);
}

struct hcase {
	const char *name;
	int refused;        /* else restored inside the target */
	const char *why;    /* in the refusal */
};

static const struct hcase cases[] = {
	{ "dotdot", 1, NULL },
	{ "dotdot_inside", 1, NULL },
	{ "absolute", 1, NULL },
	{ "symlink_then_file", 1, NULL },
	{ "relative_symlink_then_file", 1, NULL },
	{ "symlink_then_replace", 1, NULL },
	{ "hardlink_outside", 1, NULL },
	{ "hardlink_dotdot", 1, NULL },
	{ "hardlink_through_symlink", 1, NULL },
	{ "char_device", 1, "device" },
	{ "block_device", 1, "device" },
	{ "newline_refused", 1, "\\n" },
	{ "newline_ok", 0, NULL },
};

START_TEST(test_hostile_archives)
{
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, before = STRBUF_INIT,
		      after = STRBUF_INIT, secret = STRBUF_INIT;
	const struct hcase *c = &cases[_i];
	char vols[2048], parent[1200], outside[1300], target[1300], path[1500], *id;
	struct proj p;
	int st;

	snprintf(parent, sizeof(parent), "%s/%s", work, c->name);
	snprintf(outside, sizeof(outside), "%s/outside", parent);
	snprintf(target, sizeof(target), "%s/restored", parent);
	ck_assert_int_eq(mkdir(parent, 0755), 0);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	snprintf(path, sizeof(path), "%s/secret", outside);
	ck_assert_int_eq(twrite_file(path, "secret\n"), 0);
	/* a real backup of a benign volume, then the attacker's archive */
	snprintf(vols, sizeof(vols), "[ { \"name\": \"files\", \"path\": \"%s/src\" } ]", parent);
	ft_proj(&p, "hostile", NULL, "[]", vols);
	snprintf(path, sizeof(path), "%s/src", parent);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/src/hello.txt", parent);
	ck_assert_int_eq(twrite_file(path, "hello\n"), 0);
	id = backup_ok(&p, NULL);
	plant(&p, id, c->name, outside);
	/* the planted backup checks out: only the extraction can catch it */
	ck_assert_msg(bb(&p, &out, &err, "verify", id) == 0, "%s: %s", c->name, err.buf);
	list_tree(parent, NULL, &before);
	st = bb(&p, &out, &err, "restore", id, "--volume", "files", "--to", target);
	if (c->refused) {
		ck_assert_msg(st == 4, "%s: restore exited %d: %s", c->name, st, err.buf);
		ck_assert_msg(strchr(err.buf, '\n') == err.buf + err.len - 1,
			      "%s: the error is not one line: %s", c->name, err.buf);
		if (c->why)
			ck_assert_msg(strstr(err.buf, c->why), "%s: expected '%s' in: %s", c->name,
				      c->why, err.buf);
		list_tree(parent, NULL, &after);
		ck_assert_msg(!strcmp(before.buf, after.buf), "%s: the parent changed:\n%s\n---\n%s",
			      c->name, before.buf, after.buf);
	} else {
		ck_assert_msg(st == 0, "%s: restore exited %d: %s", c->name, st, err.buf);
		list_tree(parent, "restored", &after);
		/* before has no "restored"; after skips it: the rest is identical */
		ck_assert_msg(!strcmp(before.buf, after.buf), "%s: outside the target changed:\n%s\n"
			      "---\n%s", c->name, before.buf, after.buf);
		snprintf(path, sizeof(path), "%s/a\nb.txt", target);
		ck_assert_int_eq(tread_file(path, &secret), 0);
		ck_assert_str_eq(secret.buf, "two lines in a name\n");
	}
	snprintf(path, sizeof(path), "%s/secret", outside);
	strbuf_reset(&secret);
	ck_assert_int_eq(tread_file(path, &secret), 0);
	ck_assert_str_eq(secret.buf, "secret\n");
	free(id);
	strbuf_release(&out);
	strbuf_release(&err);
	strbuf_release(&before);
	strbuf_release(&after);
	strbuf_release(&secret);
	proj_done(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fault_hostile");
	TCase *tc = tcase_create("hostile");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_hostile_archives, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
