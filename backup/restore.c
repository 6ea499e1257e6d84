/* ballast-backup restore ID: put a backup's databases and volumes back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backupset.h"
#include "commands.h"
#include "dbdump.h"
#include "dbswap.h"
#include "log.h"
#include "manifest.h"
#include "progress.h"
#include "volume_item.h"
#include "interrupt.h"
#include "timeutil.h"

/* Which items this restore touches: with neither --db nor --volume the
 * whole set, otherwise exactly the ones named. */
static int wanted(const struct manifest_item *it, const char *only_db, const char *only_vol)
{
	if (!only_db && !only_vol)
		return !strcmp(it->type, "db") || !strcmp(it->type, "volume");
	if (only_db && !strcmp(it->type, "db") && !strcmp(it->name, only_db))
		return 1;
	return only_vol && !strcmp(it->type, "volume") && !strcmp(it->name, only_vol);
}

/* The configured volume called name: 0 with *found = 0 when the
 * configuration has none (a restore --to still works). */
static int find_volume(const struct config *cfg, const char *name, struct volume_spec *out,
		       int *found, struct errbuf *e)
{
	json_t *v;
	size_t i;

	*found = 0;
	json_array_foreach(config_get(cfg, "volumes"), i, v) {
		char where[64];
		int rc;

		if (strcmp(json_string_value(json_object_get(v, "name")) ?
			   json_string_value(json_object_get(v, "name")) : "", name))
			continue;
		snprintf(where, sizeof(where), "volumes[%zu]", i);
		rc = volume_spec_load(cfg, v, where, out, e);
		if (rc) {
			errbuf_prefix(e, "%s: ", cfg->path);
			return rc;
		}
		*found = 1;
		return 0;
	}
	return 0;
}

/* The time of the last progress report during a volume's extraction:
 * that is when the last stored byte was read, which splits the
 * extraction from what follows it (syncfs, the rename, the after command)
 * without reaching into volume_item_restore. */
struct vol_clock {
	struct progress *prog;
	long long last_ms;
};

static void vol_progress(void *ctx, const char *name, long long raw, long long stored)
{
	struct vol_clock *c = ctx;

	c->last_ms = time_mono_ms();
	progress_update(c->prog, name, raw, stored);
}

/* A stage's time under key, when the stage ran (-1: it did not). */
static void stage_put(json_t *j, const char *key, long long ms)
{
	if (ms >= 0)
		json_object_set_new(j, key, json_integer(ms));
}

/* The stage times of a restored item, as its "timings". */
static json_t *timings_json(long long verify_ms, const struct dbrestore_times *t,
			    const struct dbswap_times *sw, long long total_ms)
{
	json_t *j = json_object();

	json_object_set_new(j, "verify_ms", json_integer(verify_ms));
	stage_put(j, "scratch_ms", t->scratch_ms);
	stage_put(j, "pg_restore_ms", t->pg_restore_ms);
	stage_put(j, "post_data_ms", t->post_data_ms);
	stage_put(j, "count_ms", t->count_ms);
	stage_put(j, "prepare_ms", sw->prepare_ms);
	stage_put(j, "swap_ms", sw->swap_ms);
	stage_put(j, "drop_ms", sw->drop_ms);
	json_object_set_new(j, "total_ms", json_integer(total_ms));
	return j;
}

static int restore_volume(struct cli_ctx *ctx, struct repo *r, const struct manifest_item *it,
			  const char *id, const char *to, int keep, struct progress *prog,
			  long long verify_ms, json_t *done, struct errbuf *e)
{
	struct volume_spec spec = VOLUME_SPEC_INIT;
	struct volume_item_restore_opts vo;
	struct vol_clock clock = { prog, -1 };
	long long t0 = time_mono_ms(), t1;
	struct strbuf where = STRBUF_INIT, old = STRBUF_INIT;
	json_t *warnings = NULL, *w;
	const char *name = it->name;
	int found = 0, rc;
	size_t k;

	rc = find_volume(ctx->cfg, name, &spec, &found, e);
	if (rc)
		goto out;
	memset(&vo, 0, sizeof(vo));
	vo.id = id;
	vo.to = to;
	vo.keep_old = keep;
	vo.progress = vol_progress;
	vo.progress_ctx = &clock;
	/* a volume's restore counts the raw bytes it extracts */
	progress_expect(prog, name, it->obj.raw_size);
	rc = volume_item_restore(found ? &spec : NULL, r, it->json, &vo, &where, &old, &warnings,
				 e);
	t1 = time_mono_ms();
	progress_done(prog);
	if (rc)
		goto out;
	json_array_foreach(warnings, k, w)
		log_warn("volume %s: %s: %s", name, json_string_value(json_object_get(w, "path")),
			 json_string_value(json_object_get(w, "warning")));
	if (old.len)
		log_info("volume %s restored from %s into %s; the previous contents are in %s",
			 name, id, where.buf, old.buf);
	else
		log_info("volume %s restored from %s into %s", name, id, where.buf);
	if (clock.last_ms < 0)
		clock.last_ms = t1;
	json_array_append_new(done, json_pack("{s:s, s:s, s:s, s:s?, s:o, s:{s:I, s:I, s:I, s:I}}",
					      "type", "volume", "name", name, "path", where.buf,
					      "kept", old.len ? old.buf : NULL, "warnings",
					      warnings ? json_incref(warnings) : json_array(),
					      "timings", "verify_ms", (json_int_t)verify_ms,
					      "extract_ms", (json_int_t)(clock.last_ms - t0),
					      "sync_ms", (json_int_t)(t1 - clock.last_ms),
					      "total_ms", (json_int_t)(verify_ms + t1 - t0)));
out:
	if (found)
		volume_spec_release(&spec);
	json_decref(warnings);
	strbuf_release(&where);
	strbuf_release(&old);
	return rc;
}

/* What a restore does to one database, decided before anything runs. */
enum db_mode { DB_EMPTY, DB_SWAP, DB_IN_PLACE, DB_CREATE };

struct db_plan {
	struct manifest_item item;
	enum db_mode mode;
	struct dbswap_target t;
	struct strbuf scratch, old;
};

static const char *mode_name(enum db_mode m)
{
	static const char *const names[] = { "empty", "swap", "in-place", "create" };

	return names[m];
}

/* One line per database: which server, which database, what happens. */
static void describe(const struct db_plan *p, const char *id, int keep, struct strbuf *out)
{
	const char *name = p->item.name;

	strbuf_reset(out);
	switch (p->mode) {
	case DB_EMPTY:
		strbuf_addf(out, "database %s: restore backup %s into %s on %s (empty)", name, id,
			    p->t.dbname.buf, p->t.server.buf);
		break;
	case DB_SWAP:
		strbuf_addf(out, "database %s: REPLACE %s on %s (%lld objects) with backup %s: "
			    "restored into %s, then swapped in; the current one is %s", name,
			    p->t.dbname.buf, p->t.server.buf, p->t.objects, id, p->scratch.buf,
			    keep ? "kept as " : "dropped");
		if (keep)
			strbuf_addstr(out, p->old.buf);
		break;
	case DB_IN_PLACE:
		strbuf_addf(out, "database %s: REPLACE %s on %s (%lld objects) with backup %s IN "
			    "PLACE: its schemas are dropped first, nothing is kept", name,
			    p->t.dbname.buf, p->t.server.buf, p->t.objects, id);
		break;
	case DB_CREATE:
		strbuf_addf(out, "database %s: create it from backup %s with pg_restore --create%s",
			    name, id, p->t.objects ? " --clean (dropping it first)" : "");
		break;
	}
}

/* A TTY on stdin and stderr: ask. Anything else (cron, a deploy, a pipe)
 * never blocks on a question. */
static int confirm(const char *question, struct errbuf *e)
{
	char line[64];

	fprintf(stderr, "%s [y/N] ", question);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return errbuf_set(e, BL_EFAIL, "restore cancelled: no answer");
	if (strcmp(line, "y\n") && strcmp(line, "yes\n") && strcmp(line, "Y\n"))
		return errbuf_set(e, BL_EFAIL, "restore cancelled: nothing was changed");
	return 0;
}

static void plan_release(struct db_plan *plans, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		dbswap_target_release(&plans[i].t);
		strbuf_release(&plans[i].scratch);
		strbuf_release(&plans[i].old);
	}
	free(plans);
}

/* --sessions terminate|wait */
static int opt_sessions(const struct option_spec *opt, const char *name, const char *arg,
			struct errbuf *e)
{
	if (strcmp(arg, "terminate") && strcmp(arg, "wait"))
		return parseopt_bad_value(opt, name, arg, e);
	*(const char **)opt->value = arg;
	return 0;
}

int cmd_restore(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct dbrestore_opts ro;
	struct progress prog;
	struct repo *r = NULL;
	struct db_plan *plans = NULL;
	struct strbuf line = STRBUF_INIT, kept = STRBUF_INIT;
	const char *project, *only_db = NULL, *only_vol = NULL, *to = NULL, *id, *sessions = NULL;
	struct manifest_head h;
	struct manifest_item it;
	json_t *m = NULL, *done = json_array(), *plan_json = json_array(), *verify_ms = json_object();
	int rc = 0, n = 0, nvol = 0, use_latest = 0, keep = 1, no_keep = 0, in_place = 0, yes = 0,
	    dry_run = 0, replaces = 0, single_db = 0, single_vol = 0;
	char latest[64];
	size_t i, np = 0;
	struct parseopt_rest rest;
	const struct option_spec opts[] = {
		OPT_FLAG(0, "latest", &use_latest, "the latest good backup"),
		OPT_STRING(0, "db", &only_db, "NAME", "restore only this database"),
		OPT_STRING(0, "volume", &only_vol, "NAME", "restore only this volume"),
		OPT_STRING(0, "target", &ro.target, "CONNINFO",
			   "restore into this server/database, not the configured one"),
		OPT_VALUE(PARSEOPT_STRING, 0, "to", &to, "DIR", "a directory", PARSEOPT_NONEMPTY,
			  "restore the volume into DIR instead of its path"),
		OPT_FLAG(0, "clean", &ro.clean,
			 "replace a database that is not empty (restore beside, then swap)"),
		OPT_FLAG(0, "in-place", &in_place,
			 "with --clean: empty the live database and restore into it"),
		OPT_FLAG(0, "create", &ro.create,
			 "pg_restore --create: --target names the maintenance database"),
		{ .kind = PARSEOPT_CALLBACK, .long_name = "sessions", .value = &sessions,
		  .argh = "terminate|wait", .expect = "terminate or wait", .cb = opt_sessions,
		  .help = "at the swap: terminate the live database's sessions, or wait" },
		OPT_FLAG(0, "yes", &yes, "do not ask on a terminal"),
		OPT_FLAG(0, "dry-run", &dry_run, "print the plan; change nothing"),
		OPT_INT(0, "jobs", &ro.jobs, "N",
			"build indexes and constraints in N sessions (default 1)", 1, 256),
		OPT_FLAG(0, "parallel-data", &ro.parallel_data,
			 "with --jobs: load tables in parallel too, from a scratch copy of the dump"),
		OPT_FLAG(0, "no-keep", &no_keep, "drop the replaced database or volume"),
		OPT_END()
	};

	/* A point-in-time restore is its own command line (backup/pitr.c),
	 * chosen by --pitr as the option parser would read it: also its
	 * unambiguous abbreviations (--pi, --pit), never after "--". */
	for (int a = 1; a < argc && strcmp(argv[a], "--"); a++) {
		size_t len = strlen(argv[a]);

		if (len >= 4 && len <= 6 && !strncmp(argv[a], "--pitr", len)) {
			rc = cmd_restore_pitr(argc, argv, ctx, e);
			goto out;
		}
	}
	memset(&ro, 0, sizeof(ro));
	ro.jobs = 1;
	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		goto out;
	keep = !no_keep;
	if (rest.argc + use_latest != 1) {
		rc = cli_usage_error(ctx, e, rest.argc + use_latest < 1 ?
				     "missing backup ID (or --latest)" : "expected one backup ID");
		goto out;
	}
	if (in_place && ro.create) {
		rc = cli_usage_error(ctx, e, "--in-place and --create exclude each other");
		goto out;
	}
	if (ro.parallel_data && ro.jobs < 2) {
		rc = cli_usage_error(ctx, e, "--parallel-data needs --jobs N above 1");
		goto out;
	}
	rc = cli_config(ctx, e);
	if (!rc && !ro.target)
		rc = config_check_env(ctx->cfg, NULL, e);
	else if (!rc)
		rc = config_check_env(ctx->cfg, "repository", e);
	if (!rc)
		rc = backupset_open(ctx->cfg, &r, &project, e);
	if (rc)
		goto out;
	/* an id, a unique prefix of one, latest or --latest */
	rc = backupset_resolve(r, project, use_latest ? "latest" : rest.argv[0], latest,
			       sizeof(latest), e);
	if (rc)
		goto out;
	id = latest;
	rc = backupset_load(r, project, id, &m, e);
	if (rc)
		goto out;
	manifest_head_get(m, &h);
	manifest_foreach_item(m, i, it)
		if (wanted(&it, only_db, only_vol)) {
			if (!strcmp(it.type, "db"))
				n++;
			else
				nvol++;
		}
	if (only_db && !n && manifest_find_item(m, "basebackup", only_db)) {
		rc = errbuf_set(e, BL_EUSAGE, "backup %s holds a physical base backup of database "
				"\"%s\": restore it with --pitr --data-dir DIR (docs/pitr.md)", id,
				only_db);
		goto out;
	}
	if (only_db && !n) {
		rc = errbuf_set(e, BL_EUSAGE, "backup %s has no database \"%s\"", id, only_db);
		goto out;
	}
	if (only_vol && !nvol) {
		rc = errbuf_set(e, BL_EUSAGE, "backup %s has no volume \"%s\"", id, only_vol);
		goto out;
	}
	if (!n && !nvol) {
		rc = errbuf_set(e, BL_EUSAGE, "backup %s holds no logical database or volume%s", id,
				h.nitems ? " (a physical base "
				"backup restores with --pitr --db NAME --data-dir DIR)" : "");
		goto out;
	}
	if (ro.target && n > 1) {
		rc = cli_usage_error(ctx, e, "--target needs --db NAME: backup %s holds %d "
				     "databases", id, n);
		goto out;
	}
	if (to && !nvol) {
		rc = cli_usage_error(ctx, e, "--to: backup %s holds no volume to restore", id);
		goto out;
	}
	if (to && nvol > 1) {
		rc = cli_usage_error(ctx, e, "--to needs --volume NAME: backup %s holds %d volumes",
				     id, nvol);
		goto out;
	}
	/* The plan: every target database is looked at before anything runs,
	 * so a refusal (a non-empty target without --clean, a server that is
	 * down) comes before the first change. */
	plans = calloc((size_t)n + 1, sizeof(*plans));
	if (!plans)
		abort();
	manifest_foreach_item(m, i, it) {
		struct db_plan *p;
		json_t *spec;

		if (!wanted(&it, only_db, only_vol) || strcmp(it.type, "db"))
			continue;
		p = &plans[np++];
		p->item = it;
		p->t = (struct dbswap_target)DBSWAP_TARGET_INIT;
		p->scratch = (struct strbuf)STRBUF_INIT;
		p->old = (struct strbuf)STRBUF_INIT;
		spec = dbdump_find_db(ctx->cfg, it.name);
		if (ro.create) {
			p->mode = DB_CREATE;
			replaces += ro.clean;
			p->t.objects = ro.clean;
			describe(p, id, keep, &line);
			goto planned;
		}
		if (!spec && !ro.target) {
			rc = errbuf_set(e, BL_EUSAGE, "no database \"%s\" in the configuration: pass "
					"--target CONNINFO", it.name);
			goto out;
		}
		rc = dbswap_probe(spec, ro.target, &p->t, e);
		if (rc) {
			errbuf_prefix(e, "restore of database %s: ", it.name);
			goto out;
		}
		if (!p->t.objects) {
			p->mode = DB_EMPTY;
		} else if (!ro.clean) {
			rc = errbuf_set(e, BL_EUSAGE, "restore of database %s: %s on %s is not empty "
					"(%lld objects): pass --clean to replace it (restored beside "
					"it, then swapped in), or restore into an empty --target",
					it.name, p->t.dbname.buf, p->t.server.buf,
					p->t.objects);
			goto out;
		} else if (in_place) {
			p->mode = DB_IN_PLACE;
			replaces++;
		} else {
			p->mode = DB_SWAP;
			replaces++;
			rc = dbswap_names(p->t.dbname.buf, id, &p->scratch, &p->old, e);
			if (rc)
				goto out;
		}
		describe(p, id, keep, &line);
planned:
		json_array_append_new(plan_json, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?}",
							   "type", "db", "name", it.name,
							   "mode", mode_name(p->mode),
							   "server", p->t.server.buf,
							   "database", p->t.dbname.buf,
							   "kept", p->mode == DB_SWAP && keep ?
							   p->old.buf : NULL));
		if (dry_run && !ctx->json)
			printf("%s\n", line.buf);
		else
			log_info("%s", line.buf);
	}
	manifest_foreach_item(m, i, it) {
		if (!wanted(&it, only_db, only_vol) || strcmp(it.type, "volume"))
			continue;
		replaces++;
		strbuf_reset(&line);
		strbuf_addf(&line, "volume %s: restore backup %s into %s%s", it.name, id,
			    to ? to : "its configured path",
			    keep ? " (the current contents are kept beside it)" : "");
		json_array_append_new(plan_json, json_pack("{s:s, s:s, s:s?}", "type", "volume",
							   "name", it.name, "to", to));
		if (dry_run && !ctx->json)
			printf("%s\n", line.buf);
		else
			log_info("%s", line.buf);
	}
	if (dry_run) {
		if (ctx->json) {
			json_t *res = json_pack("{s:s, s:s, s:s, s:b, s:O}", "event", "result",
						"backup_id", id, "status", "ok", "dry_run", 1,
						"plan", plan_json);

			log_json_result(res);
			json_decref(res);
		}
		goto out;
	}
	if (replaces && !yes && isatty(STDIN_FILENO) && isatty(STDERR_FILENO)) {
		if (!log_enabled(LOG_INFO))
			for (i = 0; i < np; i++) {
				describe(&plans[i], id, keep, &line);
				fprintf(stderr, "%s\n", line.buf);
			}
		rc = confirm("Go ahead with this restore?", e);
		if (rc)
			goto out;
	}
	/* Every stored object of the restore is checked before the first one
	 * touches anything: a bad volume object must not leave the databases
	 * restored and the volumes not. A single database needs no pass of
	 * ours: dbdump_restore checks the object before pg_restore starts,
	 * with --parallel-data in the very pass that writes its scratch file,
	 * which ours would only repeat. A single volume neither: it proves its
	 * object while it is extracted and refuses the swap on a mismatch. */
	single_db = n == 1 && !nvol;
	single_vol = nvol == 1 && !n;
	manifest_foreach_item(m, i, it) {
		long long t0 = time_mono_ms();

		if (!wanted(&it, only_db, only_vol) || single_db || single_vol)
			continue;
		rc = backupset_verify_object(r, json_object_get(it.json, "object"), 0, e);
		if (rc) {
			errbuf_prefix(e, "refusing to restore %s %s: ", it.type, it.name);
			goto out;
		}
		strbuf_reset(&line);
		strbuf_addf(&line, "%s/%s", it.type, it.name);
		json_object_set_new(verify_ms, line.buf, json_integer(time_mono_ms() - t0));
	}
	interrupt_catch();
	progress_init(&prog);
	ro.verified = !single_db; /* just above, and nothing changed since */
	ro.progress = progress_update;
	ro.progress_ctx = &prog;
	for (i = 0; i < np; i++) {
		struct db_plan *p = &plans[i];
		const char *name = p->item.name;
		struct dbrestore_opts one = ro;
		struct dbrestore_times tm = DBRESTORE_TIMES_INIT;
		struct dbswap_times sw = { -1, -1, -1 };
		long long t0 = time_mono_ms(), cli_vms, vms;

		strbuf_reset(&kept);
		one.times = &tm;
		/* a database's restore counts the raw bytes it hands pg_restore */
		progress_expect(&prog, name, p->item.obj.raw_size);
		if (p->mode == DB_SWAP) {
			struct dbswap_opts so;

			memset(&so, 0, sizeof(so));
			so.id = id;
			so.keep_old = keep;
			so.sessions = sessions;
			so.ro = one;
			so.times = &sw;
			rc = dbswap_restore(ctx->cfg, r, p->item.json, &p->t, &so, &kept, e);
		} else {
			if (p->mode != DB_CREATE)
				one.clean = p->mode == DB_IN_PLACE;
			rc = dbdump_restore(ctx->cfg, r, p->item.json, &one, e);
		}
		progress_done(&prog);
		if (rc)
			goto out;
		if (!ctx->json) {
			if (p->mode == DB_CREATE)
				printf("database %s restored from %s\n", name, id);
			else
				printf("database %s restored from %s into %s on %s\n", name, id,
				       p->t.dbname.buf, p->t.server.buf);
			if (kept.len) {
				rc = dbswap_undo_command(&p->t, kept.buf, &line, e);
				if (rc)
					goto out;
				printf("  the previous database is kept as %s; to bring it back:\n  %s\n",
				       kept.buf, line.buf);
			}
		}
		log_info("database %s restored from %s; row counts match the backup", name, id);
		strbuf_reset(&line);
		strbuf_addf(&line, "db/%s", name);
		cli_vms = json_integer_value(json_object_get(verify_ms, line.buf));
		/* the CLI's pass plus any of dbdump's own */
		vms = cli_vms + (tm.verify_ms > 0 ? tm.verify_ms : 0);
		json_array_append_new(done, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:o}",
						      "type", "db", "name", name, "mode",
						      mode_name(p->mode), "server", p->t.server.buf,
						      "database", p->t.dbname.buf, "kept",
						      kept.len ? kept.buf : NULL, "timings",
						      timings_json(vms, &tm, &sw,
								   cli_vms + time_mono_ms() - t0)));
	}
	/* Volumes last: their `after` commands restart the services that use
	 * them, which should find the databases already restored. */
	manifest_foreach_item(m, i, it) {
		if (!wanted(&it, only_db, only_vol) || strcmp(it.type, "volume"))
			continue;
		strbuf_reset(&line);
		strbuf_addf(&line, "volume/%s", it.name);
		rc = restore_volume(ctx, r, &it, id, to, keep, &prog,
				    json_integer_value(json_object_get(verify_ms, line.buf)), done, e);
		if (rc)
			goto out;
	}
	if (ctx->json) {
		json_t *res = json_pack("{s:s, s:s, s:s, s:O}", "event", "result", "backup_id", id,
					"status", "ok", "restored", done);

		log_json_result(res);
		json_decref(res);
	}
out:
	plan_release(plans, np);
	strbuf_release(&line);
	strbuf_release(&kept);
	json_decref(m);
	json_decref(done);
	json_decref(plan_json);
	json_decref(verify_ms);
	repo_close(r);
	return rc;
}
