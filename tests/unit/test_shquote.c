/* shquote: every argv survives a round trip through a real POSIX sh. Each
 * case quotes the words, runs `sh -c "printf '%s\0' <quoted>"`, and checks
 * that the NUL-separated words sh printed equal the originals. */
#include <stdlib.h>
#include <string.h>

#include "shquote.h"
#include "tsupport.h"

static void round_trip(const char *shell, const char *const *words)
{
	struct strbuf cmd = STRBUF_INIT, out = STRBUF_INIT, err = STRBUF_INIT;
	const char *pf[] = { "printf", "%s\\0", NULL };
	const char *argv[] = { shell, "-c", NULL, NULL };
	size_t off = 0, n = 0;
	int rc;

	shquote_argv(&cmd, pf);
	strbuf_addch(&cmd, ' ');
	shquote_argv(&cmd, words);
	argv[2] = cmd.buf;
	rc = trun(argv, NULL, &out, &err);
	ck_assert_msg(rc == 0, "%s -c %s: rc %d: %s", shell, cmd.buf, rc, err.buf);
	for (n = 0; words[n]; n++) {
		size_t len = strlen(words[n]);

		ck_assert_msg(off + len < out.len + 1, "%s: word %zu missing in output of %s",
			      shell, n, cmd.buf);
		ck_assert_msg(memcmp(out.buf + off, words[n], len) == 0 && out.buf[off + len] == '\0',
			      "%s: word %zu: got \"%s\" want \"%s\" (command %s)", shell, n,
			      out.buf + off, words[n], cmd.buf);
		off += len + 1;
	}
	ck_assert_msg(off == out.len, "%s: extra output after %zu words for %s", shell, n,
		      cmd.buf);
	strbuf_release(&cmd);
	strbuf_release(&out);
	strbuf_release(&err);
}

static const char *const shells[] = { "sh", "dash", "bash", NULL };

static void all_shells(const char *const *words)
{
	for (int i = 0; shells[i]; i++) {
		const char *probe[] = { "sh", "-c", NULL, NULL };
		struct strbuf cmd = STRBUF_INIT;

		strbuf_addf(&cmd, "command -v %s >/dev/null", shells[i]);
		probe[2] = cmd.buf;
		if (trun(probe, NULL, NULL, NULL) == 0)
			round_trip(shells[i], words);
		strbuf_release(&cmd);
	}
}

START_TEST(test_plain_words_stay_bare)
{
	struct strbuf sb = STRBUF_INIT;
	const char *argv[] = { "docker", "compose", "-f", "docker-compose.prod.yml",
			       "--env-file", ".env.prod", "up", "-d", NULL };

	shquote_argv(&sb, argv);
	ck_assert_str_eq(sb.buf,
			 "docker compose -f docker-compose.prod.yml --env-file .env.prod up -d");
	all_shells(argv);
	strbuf_release(&sb);
}
END_TEST

START_TEST(test_specials)
{
	const char *argv[] = { "x", "", " ", "a b", "it's", "'", "''", "\"", "$HOME", "${X:-y}",
			       "`id`", "$(id)", "a\\b", "\\", "*", "?", "[a]", "~", "~root",
			       "a;b", "a&&b", "a|b", "a>b", "<", "#c", "x#y", "!", "{a,b}",
			       "line1\nline2", "\t", "-n", "--", "A=b", "é ü", NULL };

	all_shells(argv);
}
END_TEST

START_TEST(test_first_word_assignment_is_quoted)
{
	struct strbuf sb = STRBUF_INIT;
	const char *argv[] = { "A=b", "c", NULL };

	shquote_argv(&sb, argv);
	ck_assert_str_eq(sb.buf, "'A=b' c");
	strbuf_release(&sb);
}
END_TEST

START_TEST(test_quote_escape)
{
	struct strbuf sb = STRBUF_INIT;

	shquote_word(&sb, "it's");
	ck_assert_str_eq(sb.buf, "'it'\\''s'");
	strbuf_reset(&sb);
	shquote_word(&sb, "");
	ck_assert_str_eq(sb.buf, "''");
	strbuf_release(&sb);
}
END_TEST

START_TEST(test_assign)
{
	struct strbuf cmd = STRBUF_INIT, out = STRBUF_INIT;
	const char *argv[] = { "sh", "-c", NULL, NULL };
	const char *pr[] = { "sh", "-c", "printf %s \"$IMG\"", NULL };
	int rc;

	ck_assert_int_eq(shquote_assign(&cmd, "IMG=ns/app:v1 'quoted' $x"), 0);
	strbuf_addch(&cmd, ' ');
	shquote_argv(&cmd, pr);
	argv[2] = cmd.buf;
	rc = trun(argv, NULL, &out, NULL);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out.buf, "ns/app:v1 'quoted' $x");
	strbuf_reset(&cmd);
	ck_assert_int_eq(shquote_assign(&cmd, "1A=x"), -1);
	ck_assert_int_eq(shquote_assign(&cmd, "A-B=x"), -1);
	ck_assert_int_eq(shquote_assign(&cmd, "=x"), -1);
	ck_assert_int_eq(shquote_assign(&cmd, "NOEQ"), -1);
	ck_assert_uint_eq(cmd.len, 0);
	strbuf_release(&cmd);
	strbuf_release(&out);
}
END_TEST

/* Every single byte 1..255 alone and embedded. */
START_TEST(test_all_bytes)
{
	char words[255][4];
	const char *argv[256];

	for (int i = 1; i < 256; i++) {
		words[i - 1][0] = 'a';
		words[i - 1][1] = (char)i;
		words[i - 1][2] = 'z';
		words[i - 1][3] = '\0';
		argv[i - 1] = words[i - 1];
	}
	argv[255] = NULL;
	all_shells(argv);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("shquote");
	TCase *tc = tcase_create("shquote");

	tcase_add_test(tc, test_plain_words_stay_bare);
	tcase_add_test(tc, test_specials);
	tcase_add_test(tc, test_first_word_assignment_is_quoted);
	tcase_add_test(tc, test_quote_escape);
	tcase_add_test(tc, test_assign);
	tcase_add_test(tc, test_all_bytes);
	suite_add_tcase(s, tc);
	return trun_suite(s);
}
