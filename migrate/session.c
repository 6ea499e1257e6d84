#include "session.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"


static int load_config_optional(struct cli_ctx *ctx, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;
	struct errbuf none = ERRBUF_INIT;
	int rc = 0;

	/* ballast-migrate runs inside release images and CI with only
	 * --database and --dir: no config file is not an error here. */
	if (config_find(ctx->config_path, &path, &none) == 0)
		rc = cli_config(ctx, e);
	strbuf_release(&path);
	return rc;
}

int session_dir(struct cli_ctx *ctx, const char *dir, struct strbuf *out, struct errbuf *e)
{
	const char *d;
	int rc = load_config_optional(ctx, e);

	strbuf_reset(out);
	if (rc)
		return rc;
	if (dir && *dir)
		strbuf_addstr(out, dir);
	else if (ctx->cfg && (d = config_str(ctx->cfg, "migrations.dir", NULL)))
		config_path(ctx->cfg, d, out);
	else
		strbuf_addstr(out, "migrations");
	return 0;
}

static int duration_key(const struct config *cfg, const char *key, long long def,
			long long *out, struct errbuf *e)
{
	int rc;

	*out = def;
	if (!cfg)
		return 0;
	rc = config_duration_str(config_str(cfg, key, NULL), key, def, 0, NULL, out, e);
	if (rc)
		errbuf_prefix(e, "%s: ", cfg->path);
	return rc;
}

static int resolve_database(const struct config *cfg, const struct session_cli *cli,
			    struct session *s, struct errbuf *e)
{
	json_t *dbs, *db = NULL, *it;
	const char *want, *pwenv;
	size_t i;

	if (cli->database && *cli->database) {
		strbuf_addstr(&s->conninfo, cli->database);
		return 0;
	}
	if (!cfg)
		return 0;
	want = config_str(cfg, "migrations.database", NULL);
	dbs = config_get(cfg, "databases");
	if (want) {
		json_array_foreach(dbs, i, it) {
			const char *n = json_string_value(json_object_get(it, "name"));

			if (n && !strcmp(n, want))
				db = it;
		}
		if (!db)
			return errbuf_set(e, BL_EUSAGE,
					  "%s: migrations.database: no databases[] entry named \"%s\"",
					  cfg->path, want);
	} else if (json_array_size(dbs) == 1) {
		db = json_array_get(dbs, 0);
	} else if (json_array_size(dbs) > 1) {
		return errbuf_set(e, BL_EUSAGE,
				  "%s: migrations.database: expected the name of one of the %zu "
				  "databases[] entries",
				  cfg->path, json_array_size(dbs));
	}
	if (!db)
		return 0;
	if (json_string_value(json_object_get(db, "conninfo")))
		strbuf_addstr(&s->conninfo, json_string_value(json_object_get(db, "conninfo")));
	pwenv = json_string_value(json_object_get(db, "password_env"));
	if (pwenv && getenv(pwenv))
		strbuf_addstr(&s->password, getenv(pwenv));
	return 0;
}

/* A password inside --database or $DATABASE_URL must not reach a log line. */
static void redact_conninfo_password(const char *conninfo)
{
	PQconninfoOption *opts;
	char *err = NULL;

	if (!conninfo || !*conninfo)
		return;
	opts = PQconninfoParse(conninfo, &err);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (!strcmp(o->keyword, "password") && o->val && *o->val)
			log_add_secret(o->val);
	PQconninfoFree(opts);
	PQfreemem(err);
}

int session_open(struct cli_ctx *ctx, const struct session_cli *cli,
			  enum session_mode mode, struct session *s, struct errbuf *e)
{
	struct migrator_opts o;
	struct strbuf warn = STRBUF_INIT;
	const struct config *cfg;
	int rc;

	memset(&o, 0, sizeof(o));
	rc = session_dir(ctx, cli->dir, &s->dir, e);
	if (rc)
		goto out;
	cfg = ctx->cfg;
	rc = resolve_database(cfg, cli, s, e);
	if (!rc)
		rc = duration_key(cfg, "migrations.lock_timeout", 5000, &o.lock_timeout_ms, e);
	if (!rc)
		rc = duration_key(cfg, "migrations.statement_timeout", 0, &o.statement_timeout_ms, e);
	if (!rc)
		rc = duration_key(cfg, "migrations.lock_wait", 60000, &o.lock_wait_ms, e);
	if (rc)
		goto out;
	o.conninfo = s->conninfo.buf;
	o.password = s->password.len ? s->password.buf : NULL;
	if (o.password)
		log_add_secret(o.password);
	redact_conninfo_password(s->conninfo.len ? s->conninfo.buf : getenv("DATABASE_URL"));
	o.schema = cfg ? config_str(cfg, "migrations.schema", NULL) : NULL;
	o.table = cfg ? config_str(cfg, "migrations.table", NULL) : NULL;
	/* --strict-transactions, or the project's standing choice */
	o.strict_tx = cli->strict_tx ||
		      (cfg && config_bool(cfg, "migrations.strict_transactions", 0));
	o.release = cli->release && *cli->release ? cli->release : getenv("BALLAST_RELEASE");
	rc = migration_scan(s->dir.buf, &s->files, e);
	if (rc)
		goto out;
	if (s->files.missing)
		log_info("migrations directory %s does not exist: only the database's history is used",
			 s->dir.buf);
	rc = migrator_open(&o, &s->m, e);
	if (rc)
		goto out;
	migrator_pooler_warning(s->m, &warn);
	if (warn.len)
		log_warn("%s", warn.buf);
	if (mode == SESSION_WRITE) {
		rc = migrator_lock(s->m, e);
		if (!rc)
			rc = migrator_ensure_table(s->m, e);
		if (rc)
			goto out;
	}
	rc = migrator_load(s->m, &s->st, e);
out:
	strbuf_release(&warn);
	return rc;
}

int session_reload(struct session *s, struct errbuf *e)
{
	migrator_state_release(&s->st);
	return migrator_load(s->m, &s->st, e);
}

void session_close(struct session *s)
{
	migrator_state_release(&s->st);
	migrator_close(s->m);
	s->m = NULL;
	migration_set_release(&s->files);
	strbuf_release(&s->dir);
	strbuf_release(&s->conninfo);
	strbuf_release(&s->password);
}

int session_refuse_drift(const struct session *s, int allow, struct errbuf *e)
{
	uint64_t *drift = NULL;
	size_t ndrift = 0;
	int rc = migrator_drift(&s->files, &s->st, &drift, &ndrift, e);

	if (rc || !ndrift)
		goto out;
	if (!allow) {
		const struct migrator_row *r = migrator_state_find(&s->st, drift[0]);

		rc = errbuf_set(e, BL_EVERIFY,
				"migration %" PRIu64 " (%s) changed on disk since it was applied "
				"(checksum differs; %zu drifted); nothing was applied: restore the "
				"file or pass --allow-drift",
				drift[0], r && r->name ? r->name : "?", ndrift);
		goto out;
	}
	for (size_t i = 0; i < ndrift; i++)
		log_warn("migration %" PRIu64 " changed on disk since it was applied (--allow-drift)",
			 drift[i]);
out:
	free(drift);
	return rc;
}

static const char *direction_name(int d)
{
	return d > 0 ? "up" : d < 0 ? "down" : "none";
}

int session_execute(struct session *s, const struct migrator_plan *p,
			     int dry_run, int json, struct errbuf *e)
{
	json_t *res = NULL, *steps = NULL, *applied = json_array(), *reverted = json_array();
	size_t done = 0;
	int rc;

	if (dry_run) {
		rc = migrator_check_plan(s->m, p, e);
		if (!rc)
			rc = migrator_plan_steps_json(p, &steps, e);
		if (rc)
			goto out;
		if (!json) {
			size_t i;
			json_t *st;

			printf("dry run: %s from %" PRIu64 " to %" PRIu64 ", %zu step%s; nothing is changed\n",
			       direction_name(p->direction), p->from, p->to, p->n, p->n == 1 ? "" : "s");
			json_array_foreach(steps, i, st)
				printf("  %-4s %-20" JSON_INTEGER_FORMAT " %-32s %s\n",
				       json_string_value(json_object_get(st, "direction")),
				       json_integer_value(json_object_get(st, "version")),
				       json_string_value(json_object_get(st, "name")),
				       json_string_value(json_object_get(st, "first_line")));
		}
	} else {
		rc = migrator_run_plan(s->m, p, &done, e);
		if (rc)
			goto out;
		if (!json) {
			if (!p->n)
				printf("nothing to do: the database is at version %" PRIu64 "\n", p->from);
			else
				printf("%s %zu migration%s: version %" PRIu64 " -> %" PRIu64 "\n",
				       p->direction > 0 ? "applied" : "reverted", done,
				       done == 1 ? "" : "s", p->from, p->to);
		}
	}
	for (size_t i = 0; !dry_run && i < done; i++)
		json_array_append_new(p->steps[i].up ? applied : reverted,
				      json_integer((json_int_t)p->steps[i].version));
	res = json_pack("{s:s, s:I, s:I, s:s, s:O, s:O, s:b}", "event", "result", "from",
			(json_int_t)p->from, "to", (json_int_t)p->to,
			"direction", direction_name(p->direction), "applied", applied, "reverted",
			reverted, "dry_run", dry_run);
	if (dry_run) {
		json_object_set(res, "steps", steps);
	}
	if (json)
		log_json_result(res);
out:
	json_decref(res);
	json_decref(steps);
	json_decref(applied);
	json_decref(reverted);
	return rc;
}

int session_parse_steps(const char *arg, const char *what, uint64_t *steps, struct errbuf *e)
{
	if (migration_parse_version(arg, what, steps, e) || !*steps)
		return errbuf_set(e, BL_EUSAGE, "%s: expected a positive number of steps, got \"%s\"",
				  what, arg);
	return 0;
}

int session_refuse_ooo_target(const struct session *s, const char *what, uint64_t to,
			      struct errbuf *e)
{
	const struct migration *mig = migration_find(&s->files, to);

	if (!mig || to >= s->st.current || migrator_state_find(&s->st, to))
		return 0;
	return errbuf_set(e, BL_EUSAGE,
			  "%s %" PRIu64 ": %s is not applied but older than the current version %"
			  PRIu64 " (out of order); going down would not apply it: run 'up "
			  "--allow-out-of-order' to apply it; nothing was changed",
			  what, to, mig->up_path, s->st.current);
}
