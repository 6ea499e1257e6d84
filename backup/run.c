/* ballast-backup run: one new backup of every configured database and
 * volume into the repository. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup_report.h"
#include "backupset.h"
#include "commands.h"
#include "dbdump.h"
#include "lock.h"
#include "log.h"
#include "manifest.h"
#include "progress.h"
#include "proc.h"
#include "repo.h"
#include "volume_item.h"
#include "interrupt.h"

static int name_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 100)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return 0;
	return 1;
}

/* --only filters: "db:NAME" / "volume:NAME". No filter selects everything. */
static int selected(json_t *only, const char *type, const char *name)
{
	char want[256];
	size_t i;
	json_t *v;

	if (!json_array_size(only))
		return 1;
	snprintf(want, sizeof(want), "%s:%s", type, name);
	json_array_foreach(only, i, v)
		if (!strcmp(json_string_value(v), want))
			return 1;
	return 0;
}

static int check_only(struct cli_ctx *ctx, json_t *only, struct errbuf *e)
{
	size_t i;
	json_t *v;

	json_array_foreach(only, i, v) {
		const char *s = json_string_value(v), *colon = strchr(s, ':');
		const char *arr = NULL;
		json_t *list, *it;
		size_t k;
		int found = 0;

		if (colon && (size_t)(colon - s) == 2 && !strncmp(s, "db", 2))
			arr = "databases";
		else if (colon && (size_t)(colon - s) == 6 && !strncmp(s, "volume", 6))
			arr = "volumes";
		if (!arr)
			return cli_usage_error(ctx, e, "--only %s: expected db:NAME or volume:NAME", s);
		list = config_get(ctx->cfg, arr);
		json_array_foreach(list, k, it)
			if (!strcmp(json_string_value(json_object_get(it, "name")) ?
				    json_string_value(json_object_get(it, "name")) : "", colon + 1))
				found = 1;
		if (!found)
			return errbuf_set(e, BL_EUSAGE, "--only %s: %s has no %s named \"%s\"", s,
					  ctx->cfg->path, arr, colon + 1);
	}
	return 0;
}

struct idcheck {
	int any;
};

static int any_fn(void *ctx, const struct repo_entry *ent, struct errbuf *e)
{
	(void)ent;
	(void)e;
	((struct idcheck *)ctx)->any = 1;
	return 0;
}

/* A fresh id whose prefix holds nothing, not even an incomplete backup's
 * leftovers: ids are never reused. */
static int new_id(struct repo *r, const char *project, char id[MANIFEST_ID_MAX],
		  struct errbuf *e)
{
	struct strbuf prefix = STRBUF_INIT;
	int rc = 0;

	for (int tries = 0; tries < 20; tries++) {
		struct idcheck c = { 0 };
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		manifest_new_id(now.tv_sec, (int)(now.tv_nsec / 1000000), id);
		manifest_backup_prefix(project, id, &prefix);
		rc = repo_list(r, prefix.buf, any_fn, &c, e);
		if (rc || !c.any)
			goto out;
	}
	rc = errbuf_set(e, BL_EFAIL, "cannot find an unused backup id in %s", repo_describe(r));
out:
	strbuf_release(&prefix);
	return rc;
}

int cmd_run(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	static const struct option opts[] = {
		{ "label", required_argument, NULL, 'l' },
		{ "only", required_argument, NULL, 'o' },
		{ "wait", required_argument, NULL, 'w' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	json_t *labels = json_object(), *only = json_array(), *manifest = NULL, *items_out;
	json_t *dbs, *vols, *db, *vol;
	struct strbuf state = STRBUF_INIT, lockpath = STRBUF_INIT, key = STRBUF_INIT,
		      text = STRBUF_INIT;
	struct dbdump_opts dopts;
	struct volume_item_opts vopts;
	struct volume_spec *specs = NULL;
	size_t nspecs = 0;
	struct progress prog;
	struct repo *r = NULL;
	struct lock *lk = NULL;
	const char *project = NULL;
	char id[MANIFEST_ID_MAX] = "", item_name[128] = "";
	long long wait_ms = 0, t0 = time_mono_ms();
	int rc = 0, opt, dry = 0, nsel = 0, removed = 0, reported = 0;
	size_t i;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': {
			const char *eq = strchr(optarg, '=');
			char k[128];

			if (!eq || eq == optarg || (size_t)(eq - optarg) >= sizeof(k)) {
				rc = cli_usage_error(ctx, e, "--label %s: expected KEY=VALUE", optarg);
				goto out;
			}
			memcpy(k, optarg, (size_t)(eq - optarg));
			k[eq - optarg] = '\0';
			if (!name_ok(k)) {
				rc = cli_usage_error(ctx, e, "--label %s: the key may hold only letters, "
						     "digits, '_', '-' and '.'", optarg);
				goto out;
			}
			json_object_set_new(labels, k, json_string(eq + 1));
			break;
		}
		case 'o':
			json_array_append_new(only, json_string(optarg));
			break;
		case 'w': {
			char *end;
			double s = strtod(optarg, &end);

			if (*end || end == optarg || s < 0) {
				rc = cli_usage_error(ctx, e, "--wait %s: expected seconds", optarg);
				goto out;
			}
			wait_ms = (long long)(s * 1000);
			break;
		}
		case 'n':
			dry = 1;
			break;
		default:
			rc = cli_usage_error(ctx, e, "unknown option %s", argv[optind - 1]);
			goto out;
		}
	}
	if (optind < argc) {
		rc = cli_usage_error(ctx, e, "unexpected argument %s", argv[optind]);
		goto out;
	}
	rc = cli_config(ctx, e);
	if (!rc)
		rc = config_check_env(ctx->cfg, NULL, e);
	if (rc)
		goto out;
	project = config_str(ctx->cfg, "project", NULL);
	if (!project || !name_ok(project)) {
		rc = errbuf_set(e, BL_EUSAGE, "%s: project: expected a name of letters, digits, "
				"'_', '-' or '.'", ctx->cfg->path);
		goto out;
	}
	rc = check_only(ctx, only, e);
	if (rc)
		goto out;
	dbs = config_get(ctx->cfg, "databases");
	vols = config_get(ctx->cfg, "volumes");
	json_array_foreach(dbs, i, db) {
		const char *n = json_string_value(json_object_get(db, "name"));

		if (!name_ok(n)) {
			rc = errbuf_set(e, BL_EUSAGE, "%s: databases[%zu].name: expected a name of "
					"letters, digits, '_', '-' or '.'", ctx->cfg->path, i);
			goto out;
		}
		nsel += selected(only, "db", n);
	}
	/* Every selected volume's spec is checked before anything runs, so a
	 * configuration mistake is exit 2 with nothing started. */
	nspecs = json_array_size(vols);
	specs = calloc(nspecs ? nspecs : 1, sizeof(*specs));
	json_array_foreach(vols, i, vol) {
		char where[64];

		if (!selected(only, "volume", json_string_value(json_object_get(vol, "name")) ?
			      json_string_value(json_object_get(vol, "name")) : ""))
			continue;
		snprintf(where, sizeof(where), "volumes[%zu]", i);
		rc = volume_spec_load(ctx->cfg, vol, where, &specs[i], e);
		if (rc) {
			errbuf_prefix(e, "%s: ", ctx->cfg->path);
			goto out;
		}
		nsel++;
	}
	if (!nsel) {
		rc = errbuf_set(e, BL_EUSAGE, "%s: nothing to back up (no databases or volumes selected)",
				ctx->cfg->path);
		goto out;
	}
	memset(&dopts, 0, sizeof(dopts));
	dopts.level = (int)config_int(ctx->cfg, "compression.level", 3);
	dopts.threads = (int)config_int(ctx->cfg, "compression.threads", 0);
	if (dopts.threads < 0) {
		rc = errbuf_set(e, BL_EUSAGE, "%s: compression.threads: expected 0 (every core) or "
				"more, got %d", ctx->cfg->path, dopts.threads);
		goto out;
	}
	if (dry) {
		json_t *plan = json_array();

		json_array_foreach(dbs, i, db)
			if (selected(only, "db", json_string_value(json_object_get(db, "name")))) {
				log_info("would back up database %s",
					 json_string_value(json_object_get(db, "name")));
				json_array_append_new(plan, json_pack("{s:s, s:O}", "type", "db", "name",
								      json_object_get(db, "name")));
			}
		for (i = 0; i < nspecs; i++)
			if (specs[i].name) {
				log_info("would back up volume %s from %s", specs[i].name,
					 specs[i].path.buf);
				json_array_append_new(plan, json_pack("{s:s, s:s, s:s}", "type", "volume",
								      "name", specs[i].name, "path",
								      specs[i].path.buf));
			}
		if (ctx->json) {
			json_t *res = json_pack("{s:s, s:b, s:o}", "event", "result", "dry_run", 1,
						"items", plan);

			log_json_result(res);
			json_decref(res);
		} else {
			json_decref(plan);
		}
		goto out;
	}

	reported = 1;
	backup_report_start(ctx->cfg);
	rc = lock_state_dir(ctx->cfg, &state, e);
	if (rc)
		goto out;
	strbuf_addf(&lockpath, "%s/%s.backup.lock", state.buf, project);
	rc = lock_acquire(lockpath.buf, "backup", wait_ms, &lk, e);
	if (rc)
		goto out;
	interrupt_catch();
	rc = repo_open(ctx->cfg, &r, e);
	if (rc)
		goto out;
	/* We hold the run lock: any temporary object is a dead run's. */
	rc = backupset_remove_tmp(r, project, &removed, e);
	if (rc)
		goto out;
	if (removed)
		log_info("removed %d temporary object%s left by an interrupted run", removed,
			 removed == 1 ? "" : "s");
	rc = new_id(r, project, id, e);
	if (rc) {
		id[0] = '\0';
		goto out;
	}
	manifest = manifest_new(id, project, time(NULL), labels);
	progress_init(&prog);
	dopts.progress = progress_update;
	dopts.progress_ctx = &prog;
	json_array_foreach(dbs, i, db) {
		const char *n = json_string_value(json_object_get(db, "name"));
		json_t *item = NULL, *ev;
		char sz[32];

		if (!selected(only, "db", n))
			continue;
		manifest_backup_prefix(project, id, &key);
		strbuf_addf(&key, "db-%s.dump.zst", n);
		ev = json_pack("{s:s, s:s, s:s}", "backup_id", id, "type", "db", "name", n);
		log_event("item_start", ev);
		json_decref(ev);
		snprintf(item_name, sizeof(item_name), "db:%s", n);
		rc = dbdump_backup(db, r, key.buf, &dopts, &item, e);
		progress_done(&prog);
		if (rc)
			goto out;
		item_name[0] = '\0';
		json_array_append_new(json_object_get(manifest, "items"), item);
		progress_bytes(json_integer_value(json_object_get(json_object_get(item, "object"),
								  "size")), sz, sizeof(sz));
		log_info("database %s: %s stored, %zu tables listed", n, sz,
			 json_array_size(json_object_get(item, "tables")));
		ev = json_pack("{s:s, s:s, s:s, s:O}", "backup_id", id, "type", "db", "name", n,
			       "object", json_object_get(item, "object"));
		log_event("item_done", ev);
		json_decref(ev);
	}
	vopts.level = dopts.level;
	vopts.threads = dopts.threads;
	vopts.progress = progress_update;
	vopts.progress_ctx = &prog;
	for (i = 0; i < nspecs; i++) {
		const struct volume_spec *v = &specs[i];
		json_t *item = NULL, *ev, *w;
		size_t k;
		char sz[32];

		if (!v->name)
			continue;
		if (interrupt_signal)
			break;
		manifest_backup_prefix(project, id, &key);
		strbuf_addf(&key, "volume-%s.tar.zst", v->name);
		ev = json_pack("{s:s, s:s, s:s}", "backup_id", id, "type", "volume", "name", v->name);
		log_event("item_start", ev);
		json_decref(ev);
		snprintf(item_name, sizeof(item_name), "volume:%s", v->name);
		rc = volume_item_backup(v, r, key.buf, &vopts, &item, e);
		progress_done(&prog);
		if (rc)
			goto out;
		item_name[0] = '\0';
		json_array_append_new(json_object_get(manifest, "items"), item);
		/* Changed or vanished files are in the manifest and said aloud. */
		json_array_foreach(json_object_get(item, "warnings"), k, w)
			log_warn("volume %s: %s: %s", v->name,
				 json_string_value(json_object_get(w, "path")),
				 json_string_value(json_object_get(w, "warning")));
		progress_bytes(json_integer_value(json_object_get(json_object_get(item, "object"),
								  "size")), sz, sizeof(sz));
		log_info("volume %s: %s stored, %lld files", v->name, sz,
			 (long long)json_integer_value(json_object_get(json_object_get(item, "entries"),
								       "files")));
		ev = json_pack("{s:s, s:s, s:s, s:O, s:O}", "backup_id", id, "type", "volume",
			       "name", v->name, "object", json_object_get(item, "object"),
			       "warnings", json_object_get(item, "warnings"));
		log_event("item_done", ev);
		json_decref(ev);
	}
	if (interrupt_signal) {
		rc = interrupt_check(e);
		goto out;
	}
	rc = manifest_seal(manifest, &text, e);
	if (rc)
		goto out;
	manifest_backup_prefix(project, id, &key);
	strbuf_addstr(&key, "manifest.json");
	rc = repo_put_bytes(r, key.buf, text.buf, text.len, e);
	if (rc)
		goto out;
	{
		json_t *res, *it;
		char sz[32];

		items_out = json_array();
		json_array_foreach(json_object_get(manifest, "items"), i, it)
			json_array_append_new(items_out, json_pack(
				"{s:O, s:O, s:O, s:O}", "type", json_object_get(it, "type"), "name",
				json_object_get(it, "name"), "size",
				json_object_get(json_object_get(it, "object"), "size"), "raw_size",
				json_object_get(json_object_get(it, "object"), "raw_size")));
		progress_bytes(json_integer_value(json_object_get(manifest, "size")), sz, sizeof(sz));
		log_info("backup %s committed (%s in %s)", id, sz, repo_describe(r));
		res = json_pack("{s:s, s:s, s:s, s:O, s:O, s:o, s:I}", "event", "result",
				"backup_id", id, "status", "ok", "labels", labels, "size",
				json_object_get(manifest, "size"), "items", items_out, "duration_ms",
				(json_int_t)(time_mono_ms() - t0));
		if (ctx->json)
			log_json_result(res);
		json_decref(res);
	}
out:
	if (rc && r && id[0]) {
		struct errbuf de = ERRBUF_INIT;

		/* Nothing half-written may look like a backup: drop this run's
		 * objects (the manifest was never written). */
		if (backupset_delete(r, project, id, &de))
			log_warn("could not remove the failed backup %s: %s", id, de.msg);
	}
	if (reported)
		backup_report_run_done(ctx->cfg, rc, e, id, manifest, item_name, t0);
	repo_close(r);
	lock_release(lk);
	for (i = 0; specs && i < nspecs; i++)
		if (specs[i].name)
			volume_spec_release(&specs[i]);
	free(specs);
	json_decref(manifest);
	json_decref(labels);
	json_decref(only);
	strbuf_release(&state);
	strbuf_release(&lockpath);
	strbuf_release(&key);
	strbuf_release(&text);
	return rc;
}
