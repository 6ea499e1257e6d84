#include "log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xalloc.h"

#define LOG_MAX_SECRETS 64

static struct {
	char tool[64];
	int json;
	enum log_level level;
	FILE *human;
	FILE *jout;
	char *secrets[LOG_MAX_SECRETS];
	int nsecrets;
} L = { "ballast", 0, LOG_WARN, NULL, NULL, { 0 }, 0 };

static FILE *human_out(void) { return L.human ? L.human : stderr; }
static FILE *json_out(void) { return L.jout ? L.jout : stdout; }

int log_is_tty(void)
{
	const char *nc = getenv("NO_COLOR");

	return isatty(STDERR_FILENO) && !(nc && *nc);
}

void log_init(const char *tool, int json, int verbosity)
{
	snprintf(L.tool, sizeof(L.tool), "%s", tool ? tool : "ballast");
	L.json = json;
	if (verbosity < 0)
		L.level = LOG_ERROR;
	else if (verbosity == 0)
		L.level = isatty(STDERR_FILENO) ? LOG_INFO : LOG_WARN;
	else if (verbosity == 1)
		L.level = LOG_INFO;
	else
		L.level = LOG_DEBUG;
	if (json && L.level < LOG_INFO && verbosity >= 0)
		L.level = LOG_INFO;
}

int log_json(void) { return L.json; }
int log_enabled(enum log_level level) { return level <= L.level; }
void log_set_level(enum log_level level) { L.level = level; }

void log_set_stream(FILE *human, FILE *json)
{
	L.human = human;
	L.jout = json;
}

void log_add_secret(const char *value)
{
	int i;

	if (!value || strlen(value) < 3)
		return;
	for (i = 0; i < L.nsecrets; i++)
		if (!strcmp(L.secrets[i], value))
			return;
	if (L.nsecrets == LOG_MAX_SECRETS)
		return;
	L.secrets[L.nsecrets++] = xstrdup(value);
}

void log_clear_secrets(void)
{
	int i;

	for (i = 0; i < L.nsecrets; i++)
		free(L.secrets[i]);
	L.nsecrets = 0;
}

void log_redact(struct strbuf *sb)
{
	int i;

	for (i = 0; i < L.nsecrets; i++)
		strbuf_replace_all(sb, L.secrets[i], "***");
}

const char *log_redact_str(const char *s, struct strbuf *out)
{
	strbuf_reset(out);
	strbuf_addstr(out, s ? s : "");
	log_redact(out);
	return out->buf;
}

static const char *level_name(enum log_level l)
{
	switch (l) {
	case LOG_ERROR: return "error";
	case LOG_WARN: return "warning";
	case LOG_INFO: return "info";
	default: return "debug";
	}
}

static const char *level_colour(enum log_level l)
{
	switch (l) {
	case LOG_ERROR: return "\033[1;31m";
	case LOG_WARN: return "\033[1;33m";
	case LOG_INFO: return "";
	default: return "\033[2m";
	}
}

static void iso_now(char *buf, size_t n)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char date[32];

	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, n, "%.20s.%03dZ", date, (int)(ts.tv_nsec / 1000000) % 1000);
}

/* Redact every string in a JSON value, recursively, in place. */
static void redact_json(json_t *v)
{
	struct strbuf sb = STRBUF_INIT;
	const char *key;
	json_t *child;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, key, child) {
			if (json_is_string(child)) {
				log_redact_str(json_string_value(child), &sb);
				json_string_set(child, sb.buf);
			} else {
				redact_json(child);
			}
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, child) {
			if (json_is_string(child)) {
				log_redact_str(json_string_value(child), &sb);
				json_string_set(child, sb.buf);
			} else {
				redact_json(child);
			}
		}
	}
	strbuf_release(&sb);
}

static void print_json_line(json_t *obj)
{
	char *s;

	redact_json(obj);
	s = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (s) {
		fprintf(json_out(), "%s\n", s);
		fflush(json_out());
		free(s);
	}
}

void log_one_line(struct strbuf *sb)
{
	struct strbuf out = STRBUF_INIT;
	size_t i;

	for (i = 0; i < sb->len; i++)
		if ((unsigned char)sb->buf[i] < 0x20 || sb->buf[i] == 0x7f)
			break;
	if (i == sb->len)
		return;
	for (i = 0; i < sb->len; i++) {
		unsigned char c = (unsigned char)sb->buf[i];

		if (c == '\n')
			strbuf_addstr(&out, "\\n");
		else if (c == '\r')
			strbuf_addstr(&out, "\\r");
		else if (c == '\t')
			strbuf_addch(&out, '\t');
		else if (c < 0x20 || c == 0x7f)
			strbuf_addf(&out, "\\x%02x", c);
		else
			strbuf_addch(&out, (char)c);
	}
	strbuf_reset(sb);
	strbuf_add(sb, out.buf, out.len);
	strbuf_release(&out);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	log_redact(&sb);
	if (L.json) {
		char ts[40];
		json_t *o = json_object();

		iso_now(ts, sizeof(ts));
		json_object_set_new(o, "ts", json_string(ts));
		json_object_set_new(o, "level", json_string(level_name(level)));
		json_object_set_new(o, "event", json_string("log"));
		json_object_set_new(o, "msg", json_string(sb.buf));
		print_json_line(o);
		json_decref(o);
	} else if (log_is_tty() && !L.human) {
		log_one_line(&sb);
		fprintf(human_out(), "%s%s: %s:\033[0m %s\n", level_colour(level), L.tool,
			level_name(level), sb.buf);
	} else {
		log_one_line(&sb);
		fprintf(human_out(), "%s: %s: %s\n", L.tool, level_name(level), sb.buf);
	}
	strbuf_release(&sb);
}

void log_event(const char *event, json_t *obj)
{
	char ts[40];
	json_t *o;

	if (!L.json)
		return;
	o = obj ? json_deep_copy(obj) : json_object();
	iso_now(ts, sizeof(ts));
	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "event", json_string(event));
	print_json_line(o);
	json_decref(o);
}

/* The command's result waits for the command to return: a command that
 * reports and then fails (verify exit 4, lint with findings) must not print
 * a result line and then an error line; cli_main prints exactly one. */
static json_t *pending_result;

void log_json_result(json_t *obj)
{
	json_decref(pending_result);
	pending_result = json_deep_copy(obj);
}

json_t *log_take_result(void)
{
	json_t *r = pending_result;

	pending_result = NULL;
	return r;
}

void log_json_line(json_t *obj)
{
	json_t *o = json_deep_copy(obj);

	if (o)
		print_json_line(o);
	json_decref(o);
}
