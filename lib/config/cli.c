#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envfile.h"
#include "log.h"

static void print_usage(FILE *f, const char *tool, const char *about,
			const struct cli_command *cmds)
{
	int w = 6; /* "config" */

	fprintf(f, "usage: %s [--config FILE] [--json] [-v|-q] <command> [options]\n\n", tool);
	if (about)
		fprintf(f, "%s\n\n", about);
	for (const struct cli_command *c = cmds; c->name; c++)
		if ((int)strlen(c->name) > w)
			w = (int)strlen(c->name);
	fprintf(f, "commands:\n");
	for (const struct cli_command *c = cmds; c->name; c++)
		fprintf(f, "  %-*s  %s\n", w, c->name, c->summary);
	fprintf(f, "  %-*s  %s\n", w, "config", "validate the configuration and print it, secrets redacted");
	fprintf(f, "\nglobal options:\n"
		   "  --config FILE  configuration (else $BALLAST_CONFIG, ./ballast.json,\n"
		   "                 /etc/ballast/ballast.json)\n"
		   "  --json         machine-readable output, one JSON object per line\n"
		   "  -v, --verbose  more output (twice for debug)\n"
		   "  -q, --quiet    errors only\n"
		   "  -h, --help     this help; '%s <command> --help' for a command\n"
		   "  --version      print the version\n"
		   "\nexit codes: 0 ok, 1 failed, 2 usage or config error, 3 locked,\n"
		   "            4 verification failed\n",
		   tool);
}

static void print_command_help(const char *tool, const struct cli_command *c,
			       const struct option_spec *opts)
{
	struct strbuf sb = STRBUF_INIT;

	printf("usage: %s %s\n", tool, c->usage ? c->usage : c->name);
	printf("\n%s\n", c->summary);
	if (opts)
		parseopt_usage(opts, &sb);
	if (sb.len)
		printf("\noptions:\n%s", sb.buf);
	printf("\nglobal options --config FILE, --json, -v, -q work here too.\n");
	strbuf_release(&sb);
}

/* $BALLAST_ENV_FILE (KEY=value lines, the systemd units' EnvironmentFile)
 * into the environment, so cron and other schedulers load the same secrets
 * file without a shell wrapper. Variables already set win; a file that does
 * not exist is skipped like systemd's "-" prefix, so a configuration without
 * secrets needs none (a *_env variable it lacks is then reported by name). */
static int load_env_file(struct errbuf *e)
{
	const char *path = getenv("BALLAST_ENV_FILE"), *key;
	json_t *vars = NULL, *v;
	int rc;

	if (!path || !*path || (access(path, F_OK) && errno == ENOENT))
		return 0;
	rc = envfile_read(path, &vars, e);
	if (rc) {
		e->code = BL_EUSAGE;
		errbuf_prefix(e, "BALLAST_ENV_FILE: ");
		return BL_EUSAGE;
	}
	json_object_foreach(vars, key, v)
		if (json_is_string(v) && !getenv(key))
			setenv(key, json_string_value(v), 0);
	json_decref(vars);
	return 0;
}

int cli_config(struct cli_ctx *ctx, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;
	int rc;

	if (ctx->cfg)
		return 0;
	rc = load_env_file(e);
	if (!rc)
		rc = config_find(ctx->config_path, &path, e);
	if (!rc)
		rc = config_load(path.buf, &ctx->cfg, e);
	strbuf_release(&path);
	return rc;
}

int cli_usage_error(struct cli_ctx *ctx, struct errbuf *e, const char *fmt, ...)
{
	char msg[ERRBUF_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return errbuf_set(e, BL_EUSAGE, "%s (see '%s %s --help')", msg, ctx->tool,
			  ctx->cmd ? ctx->cmd->name : "");
}

int cli_parse(struct cli_ctx *ctx, int argc, char **argv, const struct option_spec *opts,
	      unsigned flags, struct parseopt_rest *rest, struct errbuf *e)
{
	int rc;

	if (ctx->help) {
		print_command_help(ctx->tool, ctx->cmd, opts);
		rest->argc = 0;
		rest->argv = argv + argc;
		return CLI_HELP_SHOWN;
	}
	rc = parseopt_parse(argc, argv, opts, flags, rest, e);
	/* cli_usage_error formats into its own buffer first, so e->msg may be
	 * its argument */
	if (rc == BL_EUSAGE)
		return cli_usage_error(ctx, e, "%s", e->msg);
	return rc;
}

/* A command's end: its one terminal object in --json mode (the result, or
 * an error line carrying the result when the command failed after
 * reporting one) and, on failure, one error line on stderr. */
static void finish(const char *tool, const char *name, int json, int rc, struct errbuf *e)
{
	json_t *res = log_take_result();
	struct strbuf sb = STRBUF_INIT;

	if (!rc) {
		if (json && res)
			log_json_line(res);
		goto out;
	}
	log_redact_str(e->msg[0] ? e->msg : "failed", &sb);
	if (json) {
		json_t *o = json_pack("{s:s, s:i, s:s}", "command", name, "code", rc, "msg",
				      sb.buf);

		if (res) {
			json_object_del(res, "event");
			json_object_set(o, "result", res);
		}
		log_event("error", o);
		json_decref(o);
	}
	log_one_line(&sb);
	fprintf(stderr, "%s: error: %s\n", tool, sb.buf);
out:
	strbuf_release(&sb);
	json_decref(res);
}

/* Built into every binary: load, validate and print the configuration. */
static int builtin_config(struct cli_ctx *ctx, struct errbuf *e)
{
	struct strbuf sb = STRBUF_INIT;
	char *text;
	int rc = cli_config(ctx, e);

	if (!rc)
		rc = config_check_env(ctx->cfg, NULL, e);
	if (rc)
		return rc;
	if (ctx->json) {
		json_t *o = json_pack("{s:s, s:s, s:O}", "event", "result", "path", ctx->cfg->path,
				      "config", ctx->cfg->root);

		log_json_result(o);
		json_decref(o);
		return 0;
	}
	text = json_dumps(ctx->cfg->root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	log_redact_str(text ? text : "", &sb);
	printf("# %s: valid\n%s\n", ctx->cfg->path, sb.buf);
	free(text);
	strbuf_release(&sb);
	return 0;
}

/* Run one command (or, with help, have its cli_parse print its help) and
 * report its end; frees rest. */
static int run_command(struct cli_ctx *ctx, const struct cli_command *c, int argc, char **argv,
		       int help, char **rest)
{
	struct errbuf e = ERRBUF_INIT;
	int rc;

	ctx->cmd = c;
	ctx->help = help;
	rc = c->fn(argc, argv, ctx, &e);
	if (help) {
		/* a command that ran instead of printing its help is a bug the
		 * test of every command's --help catches */
		if (rc != CLI_HELP_SHOWN)
			fprintf(stderr, "%s: error: %s did not print its help\n", ctx->tool, c->name);
		rc = rc == CLI_HELP_SHOWN ? 0 : BL_EFAIL;
	} else {
		finish(ctx->tool, c->name, ctx->json, rc, &e);
	}
	config_free(ctx->cfg);
	free(rest);
	return rc;
}

static int is_help(const char *a)
{
	return !strcmp(a, "-h") || !strcmp(a, "--help");
}

int cli_main(const char *tool, const char *about, const struct cli_command *cmds,
	     int argc, char **argv)
{
	struct cli_ctx ctx = { .tool = tool };
	struct errbuf e = ERRBUF_INIT;
	char **rest;
	int nrest = 0, help = 0, version = 0, rc, i, dashdash = 0;

	rest = calloc((size_t)argc + 1, sizeof(*rest));
	if (!rest)
		return BL_EFAIL;
	/* Pull the global options out wherever they are, up to "--". */
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (dashdash) {
			rest[nrest++] = argv[i];
		} else if (!strcmp(a, "--")) {
			dashdash = 1;
			rest[nrest++] = argv[i];
		} else if (!strcmp(a, "--json")) {
			ctx.json = 1;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			ctx.verbosity = ctx.verbosity < 0 ? 1 : ctx.verbosity + 1;
		} else if (!strcmp(a, "-vv")) {
			ctx.verbosity = 2;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			ctx.verbosity = -1;
		} else if (!strcmp(a, "--version")) {
			version = 1;
		} else if (!strcmp(a, "--config")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "%s: error: --config needs a file\n", tool);
				free(rest);
				return BL_EUSAGE;
			}
			ctx.config_path = argv[++i];
		} else if (!strncmp(a, "--config=", 9)) {
			ctx.config_path = a + 9;
		} else if (is_help(a)) {
			help = 1;
		} else {
			rest[nrest++] = argv[i];
		}
	}
	log_init(tool, ctx.json, ctx.verbosity);
	if (version) {
		printf("%s %s\n", tool, BALLAST_VERSION);
		free(rest);
		return 0;
	}
	if (nrest == 0) {
		print_usage(help ? stdout : stderr, tool, about, cmds);
		free(rest);
		return help ? 0 : BL_EUSAGE;
	}
	if (!strcmp(rest[0], "help")) {
		if (nrest > 1)
			for (const struct cli_command *c = cmds; c->name; c++)
				if (!strcmp(c->name, rest[1]))
					return run_command(&ctx, c, 1, rest + 1, 1, rest);
		print_usage(stdout, tool, about, cmds);
		free(rest);
		return 0;
	}
	if (!strcmp(rest[0], "config")) {
		if (help) {
			printf("usage: %s config [--config FILE] [--json]\n\nvalidate the configuration "
			       "and print it, secrets redacted\n", tool);
			rc = 0;
		} else if (nrest > 1) {
			fprintf(stderr, "%s: error: config takes no arguments, got '%s'\n", tool, rest[1]);
			rc = BL_EUSAGE;
		} else {
			rc = builtin_config(&ctx, &e);
			finish(tool, "config", ctx.json, rc, &e);
		}
		config_free(ctx.cfg);
		free(rest);
		return rc;
	}
	for (const struct cli_command *c = cmds; c->name; c++) {
		if (strcmp(c->name, rest[0]))
			continue;
		return run_command(&ctx, c, nrest, rest, help, rest);
	}
	if (rest[0][0] == '-') {
		/* a command's option typed before the command: say where it goes,
		 * and which command it belongs to when one follows */
		const char *cmd = NULL;

		for (i = 1; i < nrest && !cmd; i++)
			for (const struct cli_command *c = cmds; c->name; c++)
				if (!strcmp(c->name, rest[i]))
					cmd = c->name;
		if (cmd)
			fprintf(stderr, "%s: error: option %s goes after the command: '%s %s %s ...' "
				"(see '%s %s --help')\n", tool, rest[0], tool, cmd, rest[0], tool, cmd);
		else
			fprintf(stderr, "%s: error: unknown option %s (see '%s --help')\n", tool,
				rest[0], tool);
		free(rest);
		return BL_EUSAGE;
	}
	{
		/* git's help.autocorrect idea, without the autocorrect: name the
		 * nearest command when it is a plausible typo. */
		static const char *const builtin[] = { "config", "help", NULL };
		const char *best = NULL;
		int bd = 3, d;

		for (const struct cli_command *c = cmds; c->name; c++)
			if ((d = config_edit_distance(rest[0], c->name)) < bd) {
				bd = d;
				best = c->name;
			}
		for (const char *const *b = builtin; *b; b++)
			if ((d = config_edit_distance(rest[0], *b)) < bd) {
				bd = d;
				best = *b;
			}
		if (best)
			fprintf(stderr, "%s: error: unknown command '%s'; did you mean '%s'? (see '%s "
				"--help')\n", tool, rest[0], best, tool);
		else
			fprintf(stderr, "%s: error: unknown command '%s' (see '%s --help')\n", tool,
				rest[0], tool);
	}
	free(rest);
	return BL_EUSAGE;
}
