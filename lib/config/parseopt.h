/*
 * parseopt: a command's options as a table (git's parse-options idea), so
 * the commands share one parser, one set of messages and one --help
 * listing instead of a getopt_long loop each.
 *
 * Contract: a command lists its options in a `struct option_spec` array
 * ended by OPT_END(). Each entry names the option (a long name, a short
 * letter, or both), says what it stores and where, and carries one line of
 * help. parseopt_parse() reads argv[1..argc-1] (argv[0] is the command
 * word), stores every option it finds and leaves the positional arguments,
 * in their order, in `rest`. On bad input it returns BL_EUSAGE with one
 * lowercase line in e->msg that names the option as the user typed it and
 * what was expected:
 *   "unknown option --dryrun; did you mean --dry-run?"
 *   "unknown option -x"
 *   "option --d is ambiguous: --dir, --database, --dry-run"
 *   "--file needs a compose file"
 *   "--dry-run takes no value"
 *   "--jobs: expected an integer from 1 to 256, got \"0\""
 * The line says nothing about the command or --help: the caller adds that
 * (cli_usage_error's " (see 'ballast-backup run --help')").
 *
 * The parse:
 *   - Options and positional arguments mix in any order ("up 2 --to 3");
 *     "--" ends the options and every word after it is positional. The
 *     order does not depend on $POSIXLY_CORRECT.
 *   - A long option's value is "--name value" or "--name=value"; a short
 *     one's "-j 4" or "-j4"; flags bundle ("-nf"). A value is taken as it
 *     is, even when it starts with '-' ("--release --dry-run" sets the
 *     release to "--dry-run"), as getopt does.
 *   - A unique prefix of a long name is accepted ("--dry") unless
 *     PARSEOPT_NO_ABBREV is given, as getopt_long does.
 *   - An option given twice keeps the last value; a callback sees each one,
 *     so lists (--label K=V ...) are callbacks.
 *   - -h/--help, --json, --config, -v and -q never reach a command: cli_main
 *     takes them first. parseopt knows nothing of them.
 *
 * argv is rearranged: on success argv[1..rest->argc] are the positional
 * arguments and argv[rest->argc + 1] is NULL, so argv needs argc + 1 slots
 * with argv[argc] == NULL (main's argv, and cli_main's copy, have them).
 * The strings themselves are not touched, so a stored string option points
 * into them and lives as long as argv does.
 *
 * parseopt_parse() sits on glibc's getopt_long and shares its global state
 * (optind, optarg, optopt, opterr): it is not reentrant and not for threads.
 * It resets that state first (optind = 0), so callers need not. A table
 * that cannot work (a name used twice, a value kind storing nowhere) is a
 * bug in the command: BL_EFAIL with "parseopt: option N (...) ...".
 */
#ifndef BALLAST_PARSEOPT_H
#define BALLAST_PARSEOPT_H

#include <stdint.h>

#include "errbuf.h"
#include "strbuf.h"

enum parseopt_kind {
	PARSEOPT_END = 0,   /* ends the table */
	PARSEOPT_FLAG,      /* no value; sets *(int *)value to 1 */
	PARSEOPT_STRING,    /* *(const char **)value = the value, as typed */
	PARSEOPT_INT,       /* *(int *)value, decimal, min..max inclusive */
	PARSEOPT_DURATION,  /* *(long long *)value in ms: "500ms", "5s", "10m", "2h", "1d", "0" */
	PARSEOPT_CALLBACK   /* cb(opt, name, arg, e); takes a value when argh is set */
};

/* Per-option flags (option_spec.flags). */
enum {
	PARSEOPT_HIDDEN = 1 << 0,    /* accepted, left out of parseopt_usage */
	PARSEOPT_NONEMPTY = 1 << 1,  /* PARSEOPT_STRING: "" is a bad value */
	PARSEOPT_SECONDS = 1 << 2    /* PARSEOPT_DURATION: a bare number is seconds ("0.5", "30") */
};

/* Parse flags (parseopt_parse's flags). */
enum {
	PARSEOPT_NO_ABBREV = 1 << 0,           /* long names only in full */
	PARSEOPT_STOP_AT_NON_OPTION = 1 << 1,  /* the first positional ends the options */
	PARSEOPT_NO_ARGS = 1 << 2              /* a positional is "unexpected argument X" */
};

struct option_spec;

/* Called for each occurrence of a PARSEOPT_CALLBACK option. name is the
 * option as typed ("--label" or "-l"), arg its value (NULL when the entry
 * has no argh). Returns 0, or fills e (BL_EUSAGE and one line, usually
 * through parseopt_bad_value) and returns its code, which parseopt_parse
 * passes on. */
typedef int parseopt_cb(const struct option_spec *opt, const char *name, const char *arg,
			struct errbuf *e);

struct option_spec {
	enum parseopt_kind kind;
	int short_name;         /* 'n' for -n, or 0 */
	const char *long_name;  /* "dry-run" for --dry-run, or NULL */
	void *value;            /* where the kind stores; a callback's own data */
	const char *argh;       /* the value in usage ("DIR"); NULL: the kind's ("N", "VALUE") */
	const char *help;       /* for parseopt_usage; '\n' starts an aligned second line */
	const char *expect;     /* a good value, for messages ("a compose file");
				 * NULL: the kind's ("an integer from 1 to 256") */
	parseopt_cb *cb;        /* PARSEOPT_CALLBACK */
	int min, max;           /* PARSEOPT_INT bounds, inclusive */
	intptr_t defval;        /* PARSEOPT_CALLBACK: data for cb (which target an option sets) */
	unsigned flags;         /* PARSEOPT_HIDDEN, PARSEOPT_NONEMPTY, PARSEOPT_SECONDS */
};

/* Table entries. The conditional expressions only check the type of v at
 * compile time: a `long *` given to OPT_INT is a warning (an error with
 * -Werror), not a silent half-written long. */
#define OPT_FLAG(s, l, v, h) \
	{ .kind = PARSEOPT_FLAG, .short_name = (s), .long_name = (l), \
	  .value = (1 ? (v) : (int *)0), .help = (h) }
#define OPT_STRING(s, l, v, a, h) \
	{ .kind = PARSEOPT_STRING, .short_name = (s), .long_name = (l), \
	  .value = (1 ? (v) : (const char **)0), .argh = (a), .help = (h) }
#define OPT_INT(s, l, v, a, h, lo, hi) \
	{ .kind = PARSEOPT_INT, .short_name = (s), .long_name = (l), \
	  .value = (1 ? (v) : (int *)0), .argh = (a), .help = (h), .min = (lo), .max = (hi) }
#define OPT_DURATION(s, l, v, a, h) \
	{ .kind = PARSEOPT_DURATION, .short_name = (s), .long_name = (l), \
	  .value = (1 ? (v) : (long long *)0), .argh = (a), .help = (h) }
#define OPT_SECONDS(s, l, v, a, h) \
	{ .kind = PARSEOPT_DURATION, .short_name = (s), .long_name = (l), \
	  .value = (1 ? (v) : (long long *)0), .argh = (a), .help = (h), \
	  .flags = PARSEOPT_SECONDS }
#define OPT_CALLBACK(s, l, v, a, h, f) \
	{ .kind = PARSEOPT_CALLBACK, .short_name = (s), .long_name = (l), .value = (v), \
	  .argh = (a), .help = (h), .cb = (f) }
#define OPT_CALLBACK_DATA(s, l, v, a, h, f, d) \
	{ .kind = PARSEOPT_CALLBACK, .short_name = (s), .long_name = (l), .value = (v), \
	  .argh = (a), .help = (h), .cb = (f), .defval = (intptr_t)(d) }
/* An entry whose messages need their own words, or that has flags:
 *   OPT_VALUE(PARSEOPT_STRING, 'f', "file", &file, "COMPOSE", "a compose file", 0,
 *             "lint this file instead of ENV's") */
#define OPT_VALUE(k, s, l, v, a, x, fl, h) \
	{ .kind = (k), .short_name = (s), .long_name = (l), .value = (v), .argh = (a), \
	  .expect = (x), .flags = (fl), .help = (h) }
#define OPT_END() { .kind = PARSEOPT_END }

/* What parseopt_parse leaves: the positional arguments, in order. argv
 * points into the caller's argv (argv + 1), NULL-terminated. */
struct parseopt_rest {
	int argc;
	char **argv;
};

/* Parse argv against opts (see the contract above). 0, BL_EUSAGE for bad
 * input, a callback's code, or BL_EFAIL for a broken table. On failure
 * rest->argc is 0; what was stored before the bad option stays stored. */
int parseopt_parse(int argc, char **argv, const struct option_spec *opts, unsigned flags,
		   struct parseopt_rest *rest, struct errbuf *e);

/* Append one line per option that is not hidden, help aligned in a column:
 *   "  -n, --dry-run          print the plan; change nothing\n"
 *   "      --jobs N           parallel restore jobs\n"
 * Nothing else (no heading): the caller frames it. */
void parseopt_usage(const struct option_spec *opts, struct strbuf *out);

/* For callbacks: BL_EUSAGE with "<name>: expected <expect>, got \"<arg>\"",
 * the message every value kind uses. */
int parseopt_bad_value(const struct option_spec *opt, const char *name, const char *arg,
		       struct errbuf *e);

#endif
