/*
 * log: levels, colours only on a TTY, --json event lines, and redaction.
 *
 * Contract: human log lines go to stderr as "ballast-<tool>: <level>: msg".
 * With --json, every log line and every event is one JSON object per line
 * on stdout ({"ts":..., "level":..., "event":..., "msg":...}), so a caller
 * can parse the whole output. Every registered secret is replaced by "***"
 * in everything this module prints, including error lines printed by main.
 * Default level is info on a TTY and warn otherwise, so cron stays quiet
 * unless something fails.
 */
#ifndef BALLAST_LOG_H
#define BALLAST_LOG_H

#include <jansson.h>
#include <stdio.h>

#include "strbuf.h"

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* tool: "ballast-backup"; json: --json given; verbosity: -1 quiet, 0 auto, >0 verbose. */
void log_init(const char *tool, int json, int verbosity);
int log_json(void);
int log_enabled(enum log_level level);
void log_set_level(enum log_level level);
/* Redirect output (tests); NULL restores stderr/stdout. */
void log_set_stream(FILE *human, FILE *json);

/* Remember a secret value; strings shorter than 3 bytes are ignored (they
 * would redact ordinary text). The value is copied. */
void log_add_secret(const char *value);
void log_clear_secrets(void);
/* Replace every known secret in sb with "***". */
void log_redact(struct strbuf *sb);
/* Redacted copy of s into a caller buffer. */
const char *log_redact_str(const char *s, struct strbuf *out);
/* Rewrite control characters in sb as escapes ("\n", "\x1b"), so a text
 * line stays one line whatever a file, key or entry name holds: a newline in
 * a name could otherwise print a forged log line, an ESC drive the terminal.
 * Text output only; --json escapes by itself. */
void log_one_line(struct strbuf *sb);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* Emit a structured event (takes a reference to obj's contents; does not
 * steal obj). In --json mode it is printed as one line with "ts" and "event"
 * added, every string value redacted; otherwise nothing is printed. */
void log_event(const char *event, json_t *obj);

/* Set the command's result object (copied; a second call replaces the
 * first). It is printed when the command returns, by cli_main: as the last
 * line when the command succeeds, folded into the {"event":"error"} line as
 * "result" when it fails, so --json output always ends with exactly one
 * terminal object. log_take_result() hands it over (NULL when none). */
void log_json_result(json_t *obj);
json_t *log_take_result(void);
/* Print obj as one JSON line on the --json stream (redacted). */
void log_json_line(json_t *obj);

/* True when stderr is a terminal and colours are allowed (NO_COLOR unset). */
int log_is_tty(void);

#endif
