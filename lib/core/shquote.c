#include "shquote.h"

#include <ctype.h>
#include <string.h>

/* Characters no POSIX shell treats specially anywhere in a word. '=' is
 * safe except in a command's first word, where "A=b" would be an
 * assignment; argv[0] never needs it bare, so quote it there (below). */
static int safe_char(unsigned char c)
{
	return isalnum(c) || strchr("@%+=:,./-_", c) != NULL;
}

static int is_bare(const char *w, int first)
{
	if (!*w)
		return 0;
	for (const char *p = w; *p; p++) {
		if (!safe_char((unsigned char)*p))
			return 0;
		if (first && *p == '=')
			return 0;
	}
	return 1;
}

static void quote(struct strbuf *out, const char *w, int first)
{
	if (is_bare(w, first)) {
		strbuf_addstr(out, w);
		return;
	}
	strbuf_addch(out, '\'');
	for (const char *p = w; *p; p++) {
		if (*p == '\'')
			strbuf_addstr(out, "'\\''");
		else
			strbuf_addch(out, *p);
	}
	strbuf_addch(out, '\'');
}

void shquote_word(struct strbuf *out, const char *word)
{
	quote(out, word ? word : "", 1);
}

void shquote_argv(struct strbuf *out, const char *const *argv)
{
	for (size_t i = 0; argv && argv[i]; i++) {
		if (i)
			strbuf_addch(out, ' ');
		quote(out, argv[i], i == 0);
	}
}

int shquote_assign(struct strbuf *out, const char *assignment)
{
	const char *eq = strchr(assignment, '=');

	if (!eq || eq == assignment || !(isalpha((unsigned char)*assignment) || *assignment == '_'))
		return -1;
	for (const char *p = assignment; p < eq; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return -1;
	strbuf_add(out, assignment, (size_t)(eq - assignment + 1));
	quote(out, eq + 1, 0);
	/* A bare empty value is fine for an assignment ("A="), but quote()
	 * already wrote '' for it, which is equally correct. */
	return 0;
}
