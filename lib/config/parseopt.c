#include "parseopt.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "xalloc.h"

/* getopt_long returns a long-only option as this plus its index in the
 * table: past every byte, so it meets neither a short letter nor the 1,
 * '?' and ':' getopt_long returns itself. */
#define LONG_ONLY_BASE 0x100

/* The largest number a duration may hold, whatever its unit. Anything
 * bigger is a typo, and config_duration_ms would cast it to long long
 * unchecked: 1e9 days is 8.64e16 ms, which still fits. */
#define DURATION_MAX_NUMBER 1e9

/* parseopt_usage's help column: an option wider than this puts its help
 * on the next line rather than pushing every other help to the right. */
#define USAGE_WIDTH 24

static size_t count_opts(const struct option_spec *opts)
{
	size_t n = 0;

	while (opts[n].kind != PARSEOPT_END)
		n++;
	return n;
}

static int takes_value(const struct option_spec *o)
{
	return o->kind != PARSEOPT_FLAG && (o->kind != PARSEOPT_CALLBACK || o->argh);
}

static const char *argh_of(const struct option_spec *o)
{
	if (o->argh)
		return o->argh;
	switch (o->kind) {
	case PARSEOPT_INT:
		return "N";
	case PARSEOPT_DURATION:
		return (o->flags & PARSEOPT_SECONDS) ? "SECONDS" : "DURATION";
	default:
		return "VALUE";
	}
}

/* What a good value is, in words that read after both "needs" and
 * "expected". */
static const char *expect_of(const struct option_spec *o, char *buf, size_t size)
{
	if (o->expect)
		return o->expect;
	switch (o->kind) {
	case PARSEOPT_INT:
		if (o->max == INT_MAX)
			snprintf(buf, size, "an integer of at least %d", o->min);
		else
			snprintf(buf, size, "an integer from %d to %d", o->min, o->max);
		return buf;
	case PARSEOPT_DURATION:
		/* "seconds" is what --wait and --lock-wait said before the table */
		return (o->flags & PARSEOPT_SECONDS) ? "seconds" : "a duration like \"5s\"";
	default:
		/* "--release needs TAG" says more than "needs a value" */
		return o->argh ? o->argh : "a value";
	}
}

/* The option as the user typed it: "-n" for "-n 5", "--limit" for
 * "--limit 5", so the message points at the word on their screen. */
static const char *name_of(const struct option_spec *o, int as_long, char *buf, size_t size)
{
	if ((as_long && o->long_name) || !o->short_name)
		snprintf(buf, size, "--%s", o->long_name);
	else
		snprintf(buf, size, "-%c", o->short_name);
	return buf;
}

static const struct option_spec *by_code(const struct option_spec *opts, size_t n, int c)
{
	if (c >= LONG_ONLY_BASE)
		return (size_t)(c - LONG_ONLY_BASE) < n ? &opts[c - LONG_ONLY_BASE] : NULL;
	for (size_t i = 0; i < n; i++)
		if (opts[i].short_name && opts[i].short_name == c)
			return &opts[i];
	return NULL;
}

/* A table getopt_long would misread (a short letter it treats specially,
 * a name it would match twice) fails every run of the command, so the
 * first test that runs the command finds it. */
static int check_table(const struct option_spec *opts, size_t n, struct errbuf *e)
{
	for (size_t i = 0; i < n; i++) {
		const struct option_spec *o = &opts[i];
		const char *what = NULL;

		if (!o->long_name && !o->short_name)
			what = "has no name";
		else if (o->short_name && (o->short_name < 0 || o->short_name > 127 ||
					   !isalnum(o->short_name)))
			what = "has a short name that is not a letter or digit";
		else if ((int)o->kind < PARSEOPT_FLAG || (int)o->kind > PARSEOPT_CALLBACK)
			what = "has no such kind";
		else if (o->kind == PARSEOPT_CALLBACK ? !o->cb : !o->value)
			what = o->kind == PARSEOPT_CALLBACK ? "has no callback" : "stores nowhere";
		else if (o->kind == PARSEOPT_INT && o->min > o->max)
			what = "has min above max";
		for (size_t k = 0; !what && k < i; k++)
			if ((o->long_name && opts[k].long_name &&
			     !strcmp(o->long_name, opts[k].long_name)) ||
			    (o->short_name && o->short_name == opts[k].short_name))
				what = "repeats the name of an earlier option";
		if (what)
			return errbuf_set(e, BL_EFAIL, "parseopt: option %zu (%s) %s", i,
					  o->long_name ? o->long_name : "-", what);
	}
	return 0;
}

/* getopt_long's view of the table. "-" first: non-options come back in
 * order as 1 instead of being permuted to the end, which keeps their
 * order ours and makes $POSIXLY_CORRECT irrelevant; ":" next: a missing
 * value is ':' rather than '?', so it gets its own message. */
static void build_getopt(const struct option_spec *opts, size_t n, struct option *lo,
			 struct strbuf *shorts)
{
	size_t k = 0;

	strbuf_addstr(shorts, "-:");
	for (size_t i = 0; i < n; i++) {
		const struct option_spec *o = &opts[i];
		int code = o->short_name ? o->short_name : LONG_ONLY_BASE + (int)i;

		if (o->long_name) {
			lo[k].name = o->long_name;
			lo[k].has_arg = takes_value(o) ? required_argument : no_argument;
			lo[k].flag = NULL;
			lo[k].val = code;
			k++;
		}
		if (o->short_name) {
			strbuf_addch(shorts, o->short_name);
			if (takes_value(o))
				strbuf_addch(shorts, ':');
		}
	}
	memset(&lo[k], 0, sizeof(lo[k]));
}

int parseopt_bad_value(const struct option_spec *opt, const char *name, const char *arg,
		       struct errbuf *e)
{
	char buf[128];

	return errbuf_set(e, BL_EUSAGE, "%s: expected %s, got \"%s\"", name,
			  expect_of(opt, buf, sizeof(buf)), arg ? arg : "");
}

/* An unknown or ambiguous "--word[=value]", named without its value and
 * with what it may have meant (cli_main's did-you-mean rule for commands:
 * the nearest name at an edit distance under 3). */
static int bad_long(const struct option_spec *opts, size_t n, const char *word,
		    struct errbuf *e)
{
	struct strbuf typed = STRBUF_INIT, could = STRBUF_INIT;
	const char *best = NULL;
	size_t len = strcspn(word + 2, "=");
	int matches = 0, bd = 3, d, rc;

	strbuf_add(&typed, word + 2, len);
	for (size_t i = 0; len && i < n; i++) {
		const char *l = opts[i].long_name;

		if (!l)
			continue;
		/* hidden options count here: getopt_long found them ambiguous too */
		if (!strncmp(l, typed.buf, len)) {
			strbuf_addf(&could, "%s--%s", matches ? ", " : "", l);
			matches++;
		}
		if (!(opts[i].flags & PARSEOPT_HIDDEN) &&
		    (d = config_edit_distance(typed.buf, l)) < bd) {
			bd = d;
			best = l;
		}
	}
	if (matches > 1)
		rc = errbuf_set(e, BL_EUSAGE, "option --%s is ambiguous: %s", typed.buf, could.buf);
	else if (best)
		rc = errbuf_set(e, BL_EUSAGE, "unknown option --%s; did you mean --%s?", typed.buf,
				best);
	else
		rc = errbuf_set(e, BL_EUSAGE, "unknown option --%s", typed.buf);
	strbuf_release(&typed);
	strbuf_release(&could);
	return rc;
}

/* getopt_long said '?' or ':'. word is the argv element it was reading:
 * for a short option inside a bundle ("-nx") that is the bundle, so the
 * letter comes from optopt, never from argv[optind - 1], which then still
 * names the word before it. */
static int bad_option(const struct option_spec *opts, size_t n, int c, const char *word,
		      struct errbuf *e)
{
	const struct option_spec *o = optopt ? by_code(opts, n, optopt) : NULL;
	int is_long = !strncmp(word, "--", 2);
	char name[128], buf[128];

	if (c == ':' && o)
		return errbuf_set(e, BL_EUSAGE, "%s needs %s",
				  name_of(o, is_long, name, sizeof(name)),
				  expect_of(o, buf, sizeof(buf)));
	/* '?' for a known option: "--dry-run=x" gave a value to a flag */
	if (o && is_long)
		return errbuf_set(e, BL_EUSAGE, "%s takes no value", name_of(o, 1, name, sizeof(name)));
	if (is_long)
		return bad_long(opts, n, word, e);
	if (optopt > 0 && optopt < 128 && isprint(optopt))
		return errbuf_set(e, BL_EUSAGE, "unknown option -%c", optopt);
	return errbuf_set(e, BL_EUSAGE, "unknown option %s", word);
}

static int parse_duration(const struct option_spec *o, const char *arg, long long *ms)
{
	char *end;
	double v;

	if (!*arg || isspace((unsigned char)*arg))
		return -1;
	errno = 0;
	v = strtod(arg, &end);
	if (end == arg || errno || !isfinite(v) || v < 0 || v > DURATION_MAX_NUMBER)
		return -1;
	if (!*end && (o->flags & PARSEOPT_SECONDS)) {
		*ms = (long long)(v * 1000 + 0.5);
		return 0;
	}
	/* units, and the bare "0" that config accepts too */
	if (config_duration_ms(arg, ms) || *ms < 0)
		return -1;
	return 0;
}

static int store(const struct option_spec *o, const char *name, const char *arg,
		 struct errbuf *e)
{
	long long v;
	char *end;

	switch (o->kind) {
	case PARSEOPT_FLAG:
		*(int *)o->value = 1;
		return 0;
	case PARSEOPT_STRING:
		if ((o->flags & PARSEOPT_NONEMPTY) && !*arg)
			return parseopt_bad_value(o, name, arg, e);
		*(const char **)o->value = arg;
		return 0;
	case PARSEOPT_INT:
		errno = 0;
		v = strtoll(arg, &end, 10);
		if (!*arg || isspace((unsigned char)*arg) || *end || errno || v < o->min ||
		    v > o->max)
			return parseopt_bad_value(o, name, arg, e);
		*(int *)o->value = (int)v;
		return 0;
	case PARSEOPT_DURATION:
		if (parse_duration(o, arg, &v))
			return parseopt_bad_value(o, name, arg, e);
		*(long long *)o->value = v;
		return 0;
	case PARSEOPT_CALLBACK:
		return o->cb(o, name, arg, e);
	default:
		return errbuf_set(e, BL_EFAIL, "parseopt: %s has no such kind", name);
	}
}

int parseopt_parse(int argc, char **argv, const struct option_spec *opts, unsigned flags,
		   struct parseopt_rest *rest, struct errbuf *e)
{
	struct strbuf shorts = STRBUF_INIT;
	size_t n = count_opts(opts);
	struct option *lo = NULL;
	char **pos = NULL;
	int npos = 0, rc, c;

	rest->argc = 0;
	rest->argv = argv + (argc > 0 ? argc : 0);
	if (argc < 1)
		return 0;
	rc = check_table(opts, n, e);
	if (rc)
		goto out;
	lo = xcalloc(n + 1, sizeof(*lo));
	pos = xcalloc((size_t)argc, sizeof(*pos));
	build_getopt(opts, n, lo, &shorts);
	/* glibc: optind 0 is a full reset, dropping what an earlier scan left
	 * (a half-read "-nx" included); opterr 0 because the one line is ours. */
	optind = 0;
	opterr = 0;
	for (;;) {
		const struct option_spec *o;
		char name[128];
		int at, idx = -1;

		/* The word getopt_long is about to read. A long option is always a
		 * whole word, so argv[at] is the one it reads; a short one inside
		 * a bundle ("-nx") is read from the bundle, and argv[at] is that. */
		at = optind ? optind : 1;
		optopt = 0;
		c = getopt_long(argc, argv, shorts.buf, lo, &idx);
		if (c == -1)
			break;
		if (c == 1) {
			pos[npos++] = optarg;
			if (flags & PARSEOPT_STOP_AT_NON_OPTION)
				break;
			continue;
		}
		if (c == '?' || c == ':') {
			rc = bad_option(opts, n, c, at < argc ? argv[at] : "", e);
			goto out;
		}
		o = by_code(opts, n, c);
		if (!o) {
			rc = errbuf_set(e, BL_EFAIL, "parseopt: getopt_long returned %d, which no "
					"option has", c);
			goto out;
		}
		if (idx >= 0 && (flags & PARSEOPT_NO_ABBREV) &&
		    strcspn(argv[at] + 2, "=") != strlen(o->long_name)) {
			rc = errbuf_set(e, BL_EUSAGE, "unknown option --%.*s; did you mean --%s?",
					(int)strcspn(argv[at] + 2, "="), argv[at] + 2, o->long_name);
			goto out;
		}
		rc = store(o, name_of(o, idx >= 0, name, sizeof(name)), optarg, e);
		if (rc)
			goto out;
	}
	/* after "--", or everything after the first positional */
	while (optind < argc)
		pos[npos++] = argv[optind++];
	/* after the options, so a bad option is still the one reported */
	if ((flags & PARSEOPT_NO_ARGS) && npos) {
		rc = errbuf_set(e, BL_EUSAGE, "unexpected argument %s", pos[0]);
		goto out;
	}
	/* getopt_long is done with argv, so the positionals can move down
	 * over the options: one array for the caller, nothing to free */
	for (int i = 0; i < npos; i++)
		argv[i + 1] = pos[i];
	argv[npos + 1] = NULL;
	rest->argc = npos;
	rest->argv = argv + 1;
out:
	free(lo);
	free(pos);
	strbuf_release(&shorts);
	return rc;
}

static void usage_left(const struct option_spec *o, int any_short, struct strbuf *sb)
{
	strbuf_reset(sb);
	if (o->short_name && o->long_name)
		strbuf_addf(sb, "-%c, --%s", o->short_name, o->long_name);
	else if (o->long_name)
		strbuf_addf(sb, "%s--%s", any_short ? "    " : "", o->long_name);
	else
		strbuf_addf(sb, "-%c", o->short_name);
	if (takes_value(o))
		strbuf_addf(sb, " %s", argh_of(o));
}

void parseopt_usage(const struct option_spec *opts, struct strbuf *out)
{
	struct strbuf left = STRBUF_INIT;
	const struct option_spec *o;
	size_t width = 0;
	int any_short = 0;

	for (o = opts; o->kind != PARSEOPT_END; o++)
		if (!(o->flags & PARSEOPT_HIDDEN) && o->short_name)
			any_short = 1;
	for (o = opts; o->kind != PARSEOPT_END; o++) {
		if (o->flags & PARSEOPT_HIDDEN)
			continue;
		usage_left(o, any_short, &left);
		if (left.len > width && left.len <= USAGE_WIDTH)
			width = left.len;
	}
	for (o = opts; o->kind != PARSEOPT_END; o++) {
		const char *h = o->help ? o->help : "", *nl;

		if (o->flags & PARSEOPT_HIDDEN)
			continue;
		usage_left(o, any_short, &left);
		strbuf_addf(out, "  %s", left.buf);
		if (!*h) {
			strbuf_addch(out, '\n');
			continue;
		}
		if (left.len > width)
			strbuf_addf(out, "\n%*s", (int)width + 4, "");
		else
			strbuf_addf(out, "%*s", (int)(width - left.len) + 2, "");
		/* a help's later lines start under its first */
		while ((nl = strchr(h, '\n'))) {
			strbuf_add(out, h, (size_t)(nl - h));
			strbuf_addf(out, "\n%*s", (int)width + 4, "");
			h = nl + 1;
		}
		strbuf_addf(out, "%s\n", h);
	}
	strbuf_release(&left);
}
