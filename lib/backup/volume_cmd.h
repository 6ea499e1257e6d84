/*
 * volume_cmd: one configured volume (ballast.json "volumes[]") and its
 * before/after commands around a snapshot or a restore.
 *
 * Contract: volume_spec_load() reads and checks one volumes[] object
 * (name, path resolved from the config's directory, exclude, before,
 * after); the spec borrows strings from the JSON, which must outlive it.
 *
 * volume_cmd_before() runs the `before` argv (if any); from then on `after`
 * is owed: volume_cmd_after() runs it exactly once if volume_cmd_before()
 * was called, whether `before` succeeded or not (or was not configured),
 * and does nothing otherwise. Both run without a
 * shell, in the config's directory (where a compose project usually lives),
 * with stdin from /dev/null, stdout logged at debug level, and a timeout of
 * VOLUME_CMD_TIMEOUT_MS; a failure names the volume, the phase and the
 * program, with the last line of its stderr.
 *
 * volume_snapshot() is before → archive → after: the archive is skipped when
 * `before` fails or a SIGINT/SIGTERM (cli_catch_signals) arrived, and
 * `after` still runs in every one of those cases, also when archiving fails
 * or is interrupted. The first failure is the one reported; a failing
 * `after` fails an otherwise good snapshot, because it usually means a
 * service was left stopped. SIGKILL cannot be caught: nothing runs after it.
 */
#ifndef BALLAST_VOLUME_CMD_H
#define BALLAST_VOLUME_CMD_H

#include <jansson.h>

#include "errbuf.h"
#include "proc.h"
#include "strbuf.h"
#include "volume.h"

#define VOLUME_CMD_TIMEOUT_MS (10L * 60 * 1000)

struct config;

struct volume_spec {
	const char *name;
	struct strbuf path;          /* absolute, or as configured */
	const char **exclude;        /* NULL-terminated; owned array, borrowed strings */
	const char **before, **after;
	const char *dir;             /* where before/after run; borrowed, may be NULL */
};

#define VOLUME_SPEC_INIT { NULL, STRBUF_INIT, NULL, NULL, NULL, NULL }

/* v: one element of "volumes"; where: "volumes[0]" for messages. */
int volume_spec_load(const struct config *cfg, json_t *v, const char *where,
		     struct volume_spec *out, struct errbuf *e);
/* The volume called name; BL_EUSAGE naming the known ones when absent. */
int volume_spec_find(const struct config *cfg, const char *name,
		     struct volume_spec *out, struct errbuf *e);
void volume_spec_release(struct volume_spec *v);

struct volume_cmd {
	const struct volume_spec *v;
	int before_started;
	int after_done;
};

#define VOLUME_CMD_INIT(spec) { (spec), 0, 0 }

int volume_cmd_before(struct volume_cmd *c, struct errbuf *e);
int volume_cmd_after(struct volume_cmd *c, struct errbuf *e);

int volume_snapshot(const struct volume_spec *v, proc_sink_fn sink, void *sink_ctx,
		    struct volume_stats *st, struct errbuf *e);

#endif
