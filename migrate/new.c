/* new: create an up/down pair named with a UTC timestamp version. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "log.h"
#include "session.h"

static int create_file(const char *path, const char *text, struct errbuf *e)
{
	/* O_EXCL: never overwrite a migration someone already wrote. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	size_t len = strlen(text);
	int rc = 0;

	if (fd < 0)
		return errbuf_errno(e, BL_EFAIL, errno, "cannot create %s", path);
	if (write(fd, text, len) != (ssize_t)len)
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot write %s", path);
	if (close(fd) && !rc)
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot write %s", path);
	return rc;
}

int cmd_new(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct strbuf dir = STRBUF_INIT, up = STRBUF_INIT, down = STRBUF_INIT, text = STRBUF_INIT;
	struct migration_set set = MIGRATION_SET_INIT;
	const char *dir_opt = NULL, *name;
	char stamp[32];
	uint64_t version;
	time_t now = time(NULL);
	struct tm tm;
	json_t *res = NULL;
	struct parseopt_rest rest;
	int no_down = 0, rc, up_made = 0;
	/* not SESSION_OPTS: new connects to no database */
	const struct option_spec opts[] = {
		OPT_STRING(0, "dir", &dir_opt, "DIR",
			   "migrations directory (else migrations.dir, else ./migrations)"),
		OPT_FLAG(0, "no-down", &no_down, "create only the up file"),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	if (rest.argc != 1)
		return cli_usage_error(ctx, e, "new: expected one NAME");
	name = rest.argv[0];
	if (!migration_valid_name(name))
		return cli_usage_error(ctx, e, "new: name \"%s\": expected letters, digits, '_' or '-' (at most 100)", name);
	rc = session_dir(ctx, dir_opt, &dir, e);
	if (rc)
		goto out;
	if (mkdir(dir.buf, 0755) && errno != EEXIST) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "cannot create migrations directory %s", dir.buf);
		goto out;
	}
	rc = migration_scan(dir.buf, &set, e);
	if (rc)
		goto out;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
	version = strtoull(stamp, NULL, 10);
	/* Two `new` in the same second, or a clock behind the last file:
	 * keep versions increasing so the new file is not out of order. */
	if (set.n && set.items[set.n - 1].version >= version)
		version = set.items[set.n - 1].version + 1;
	strbuf_addf(&up, "%s/%" PRIu64 "_%s.up.sql", dir.buf, version, name);
	strbuf_addf(&down, "%s/%" PRIu64 "_%s.down.sql", dir.buf, version, name);
	strbuf_addf(&text, "-- %" PRIu64 "_%s: up\n-- First line '-- ballast:no-transaction' runs it "
			   "outside a transaction (CREATE INDEX CONCURRENTLY).\n\n", version, name);
	rc = create_file(up.buf, text.buf, e);
	if (rc)
		goto out;
	up_made = 1;
	if (!no_down) {
		strbuf_reset(&text);
		strbuf_addf(&text, "-- %" PRIu64 "_%s: down (stored in the database when the up "
				   "runs; undo exactly what the up does)\n\n", version, name);
		rc = create_file(down.buf, text.buf, e);
		if (rc)
			goto out;
	}
	res = json_pack("{s:s, s:I, s:s, s:s, s:s?}", "event", "result", "version",
			(json_int_t)version, "name", name, "up", up.buf, "down",
			no_down ? NULL : down.buf);
	if (ctx->json)
		log_json_result(res);
	else
		printf("%s\n%s%s", up.buf, no_down ? "" : down.buf, no_down ? "" : "\n");
out:
	if (rc && up_made)
		unlink(up.buf);
	json_decref(res);
	migration_set_release(&set);
	strbuf_release(&dir);
	strbuf_release(&up);
	strbuf_release(&down);
	strbuf_release(&text);
	return rc;
}
