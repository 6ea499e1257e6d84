#include "dbswap.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "dbconn.h"
#include "interrupt.h"
#include "log.h"
#include "pg.h"
#include "timeutil.h"

#define SCRATCH_TAG "__ballast_restore_"
#define OLD_TAG "__ballast_old_"
#define KEPT_NOTE "ballast: replaced at "
#define DEFAULT_WAIT_MS 60000

/* Relations outside the system schemas, and schemas other than public:
 * what makes a database "not empty" for a restore. */
static const char objects_sql[] =
	"SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
	"AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%') + "
	"(SELECT count(*) FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', "
	"'information_schema', 'public') AND nspname NOT LIKE 'pg\\_toast%' "
	"AND nspname NOT LIKE 'pg\\_temp\\_%')";

/* Connect to the database a restore of db would replace and fill t's
 * conninfo, password, server and dbname; *conn stays open for the caller. */
static int probe_open(json_t *db, const char *target, struct dbswap_target *t, PGconn **conn,
		      struct errbuf *e)
{
	const char *ci = target ? target : json_string_value(json_object_get(db, "conninfo"));
	char *slash;
	int rc;

	strbuf_reset(&t->conninfo);
	strbuf_addstr(&t->conninfo, ci ? ci : "");
	strbuf_reset(&t->container);
	if (dbconn_container(db))
		strbuf_addstr(&t->container, dbconn_container(db));
	dbdump_target_password(db, target, &t->password);
	rc = dbconn_connect(db, t->conninfo.buf, t->password.len ? t->password.buf : NULL, conn,
			    e);
	if (rc)
		return rc;
	strbuf_reset(&t->server);
	pg_describe(*conn, &t->server);
	slash = strrchr(t->server.buf, '/');
	if (slash)
		strbuf_setlen(&t->server, (size_t)(slash - t->server.buf));
	return pg_value(*conn, "SELECT current_database()", &t->dbname, e);
}

int dbswap_probe(json_t *db, const char *target, struct dbswap_target *t, struct errbuf *e)
{
	struct strbuf n = STRBUF_INIT;
	PGconn *conn = NULL;
	int rc;

	rc = probe_open(db, target, t, &conn, e);
	if (!rc)
		rc = pg_value(conn, objects_sql, &n, e);
	if (!rc)
		t->objects = strtoll(n.buf, NULL, 10);
	PQfinish(conn);
	strbuf_release(&n);
	return rc;
}

void dbswap_target_release(struct dbswap_target *t)
{
	strbuf_release(&t->conninfo);
	strbuf_release(&t->password);
	strbuf_release(&t->server);
	strbuf_release(&t->dbname);
	strbuf_release(&t->container);
}

int dbswap_names(const char *live, const char *id, struct strbuf *scratch, struct strbuf *old,
		 struct errbuf *e)
{
	struct strbuf sid = STRBUF_INIT;

	for (const char *p = id; *p; p++)
		strbuf_addch(&sid, *p == '-' ? '_' : tolower((unsigned char)*p));
	strbuf_reset(scratch);
	strbuf_reset(old);
	strbuf_addf(scratch, "%s" SCRATCH_TAG "%s", live, sid.buf);
	strbuf_addf(old, "%s" OLD_TAG "%s", live, sid.buf);
	strbuf_release(&sid);
	if (scratch->len > 63)
		return errbuf_set(e, BL_EUSAGE, "database %s: the scratch name %s is longer than "
				  "PostgreSQL's 63 bytes: restore with --in-place --clean, or into "
				  "another --target", live, scratch->buf);
	return 0;
}

/* Drop name if it exists; FORCE (13+) also ends a pg_restore a killed
 * restore left running against it. */
static int drop_db(PGconn *maint, const char *name, struct errbuf *e)
{
	struct strbuf q = STRBUF_INIT;
	int rc;

	pg_quote_ident(maint, name, &q);
	rc = pg_execf(maint, NULL, e, "DROP DATABASE IF EXISTS %s%s", q.buf,
		      PQserverVersion(maint) >= 130000 ? " WITH (FORCE)" : "");
	strbuf_release(&q);
	return rc;
}

/* A LIKE pattern for live's names that start with tag: "<live><tag>%". */
static void like_prefix(const char *live, const char *tag, struct strbuf *pat)
{
	for (int pass = 0; pass < 2; pass++)
		for (const char *p = pass ? tag : live; *p; p++) {
			if (*p == '_' || *p == '%' || *p == '\\')
				strbuf_addch(pat, '\\');
			strbuf_addch(pat, *p);
		}
	strbuf_addch(pat, '%');
}

/* Scratch databases of an earlier restore of live that was killed. */
static int drop_stale(PGconn *maint, const char *live, struct errbuf *e)
{
	struct strbuf pat = STRBUF_INIT;
	const char *params[1];
	PGresult *res = NULL;
	int rc;

	like_prefix(live, "__ballast_restore_", &pat);
	params[0] = pat.buf;
	rc = pg_execp(maint, "SELECT datname FROM pg_database WHERE datname LIKE $1", 1, params,
		      &res, e);
	for (int i = 0; !rc && i < PQntuples(res); i++) {
		log_info("database %s: dropping %s, left by an interrupted restore", live,
			 PQgetvalue(res, i, 0));
		rc = drop_db(maint, PQgetvalue(res, i, 0), e);
	}
	PQclear(res);
	strbuf_release(&pat);
	return rc;
}

/* CREATE DATABASE scratch shaped like live: owner, encoding, locale, its
 * tablespace (a database kept on a volume of its own must come back there,
 * and a full volume must fail the restore, not fill the default one), and
 * the per-database settings (ALTER DATABASE ... SET), which a dump only
 * carries for pg_restore --create. */
static int create_scratch(PGconn *maint, const char *live, const char *scratch,
			  struct errbuf *e)
{
	const char *params[1] = { live };
	struct strbuf qs = STRBUF_INIT, qo = STRBUF_INIT, qe = STRBUF_INIT, qc = STRBUF_INIT,
		      qt = STRBUF_INIT, qv = STRBUF_INIT, qsp = STRBUF_INIT;
	PGresult *res = NULL, *set = NULL;
	int rc;

	rc = pg_execp(maint, "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), "
		      "datcollate, datctype, d.oid, t.spcname FROM pg_database d "
		      "JOIN pg_tablespace t ON t.oid = d.dattablespace WHERE datname = $1", 1, params,
		      &res, e);
	if (rc)
		goto out;
	if (PQntuples(res) != 1) {
		rc = errbuf_set(e, BL_EFAIL, "database %s does not exist", live);
		goto out;
	}
	pg_quote_ident(maint, scratch, &qs);
	pg_quote_ident(maint, PQgetvalue(res, 0, 0), &qo);
	pg_quote_literal(maint, PQgetvalue(res, 0, 1), &qe);
	pg_quote_literal(maint, PQgetvalue(res, 0, 2), &qc);
	pg_quote_literal(maint, PQgetvalue(res, 0, 3), &qt);
	pg_quote_ident(maint, PQgetvalue(res, 0, 5), &qsp);
	rc = pg_execf(maint, NULL, e, "CREATE DATABASE %s TEMPLATE template0 OWNER %s "
		      "ENCODING %s LC_COLLATE %s LC_CTYPE %s TABLESPACE %s", qs.buf, qo.buf, qe.buf,
		      qc.buf, qt.buf, qsp.buf);
	if (rc)
		goto out;
	params[0] = PQgetvalue(res, 0, 4);
	rc = pg_execp(maint, "SELECT split_part(s, '=', 1), substr(s, strpos(s, '=') + 1) "
		      "FROM pg_db_role_setting, unnest(setconfig) s "
		      "WHERE setdatabase = $1::oid AND setrole = 0", 1, params, &set, e);
	for (int i = 0; !rc && i < PQntuples(set); i++) {
		struct strbuf qn = STRBUF_INIT;

		pg_quote_ident(maint, PQgetvalue(set, i, 0), &qn);
		pg_quote_literal(maint, PQgetvalue(set, i, 1), &qv);
		rc = pg_execf(maint, NULL, e, "ALTER DATABASE %s SET %s = %s", qs.buf, qn.buf,
			      qv.buf);
		strbuf_release(&qn);
	}
out:
	PQclear(res);
	PQclear(set);
	strbuf_release(&qs);
	strbuf_release(&qo);
	strbuf_release(&qe);
	strbuf_release(&qc);
	strbuf_release(&qt);
	strbuf_release(&qv);
	strbuf_release(&qsp);
	return rc;
}

static long long other_sessions(PGconn *maint, const char *live, struct errbuf *e)
{
	const char *params[1] = { live };
	PGresult *res = NULL;
	long long n = -1;

	if (!pg_execp(maint, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
		      "AND pid <> pg_backend_pid()", 1, params, &res, e))
		n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return n;
}

/* The swap: sessions on live terminated (or waited for until wait_ms),
 * then both renames in one transaction. A session that connects between
 * the terminate and the rename makes the rename fail: it is retried until
 * the deadline, and live stays as it was if it never succeeds. */
static int swap(PGconn *maint, const char *live, const char *scratch, const char *old,
		int terminate, long long wait_ms, struct errbuf *e)
{
	const char *params[1] = { live };
	struct strbuf ql = STRBUF_INIT, qs = STRBUF_INIT, qo = STRBUF_INIT;
	long long deadline = time_mono_ms() + wait_ms, n;
	struct errbuf last = ERRBUF_INIT;
	int rc;

	pg_quote_ident(maint, live, &ql);
	pg_quote_ident(maint, scratch, &qs);
	pg_quote_ident(maint, old, &qo);
	for (;;) {
		rc = interrupt_check(e);
		if (rc)
			goto out;
		if (terminate) {
			rc = pg_execp(maint, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
				      "WHERE datname = $1 AND pid <> pg_backend_pid()", 1, params,
				      NULL, e);
			if (rc)
				goto out;
		} else {
			n = other_sessions(maint, live, e);
			if (n < 0) {
				rc = e->code;
				goto out;
			}
			if (n > 0 && time_mono_ms() < deadline) {
				usleep(200000);
				continue;
			}
			if (n > 0) {
				rc = errbuf_set(e, BL_EFAIL, "database %s still has %lld session%s "
						"after %llds: stop the application first, or set "
						"\"restore_sessions\": \"terminate\" (--sessions terminate)",
						live, n, n == 1 ? "" : "s", wait_ms / 1000);
				goto out;
			}
		}
		/* Both renames or neither: a rename refuses a database that has
		 * sessions, and the transaction keeps that refusal harmless. */
		rc = pg_exec(maint, "BEGIN", NULL, e);
		if (rc)
			goto out;
		if (!pg_execf(maint, NULL, &last, "ALTER DATABASE %s RENAME TO %s", ql.buf, qo.buf) &&
		    !pg_execf(maint, NULL, &last, "ALTER DATABASE %s RENAME TO %s", qs.buf, ql.buf)) {
			rc = pg_exec(maint, "COMMIT", NULL, e);
			goto out;
		}
		pg_exec(maint, "ROLLBACK", NULL, e);
		/* only sessions are worth waiting out; a missing privilege is not */
		if (time_mono_ms() >= deadline || !strstr(last.msg, "other users")) {
			rc = errbuf_set(e, BL_EFAIL, "cannot swap database %s: %s", live, last.msg);
			goto out;
		}
		errbuf_clear(&last);
		usleep(200000);
	}
out:
	strbuf_release(&ql);
	strbuf_release(&qs);
	strbuf_release(&qo);
	return rc;
}

/* The kept database says when it was replaced, for prune's
 * retention.kept_databases: PostgreSQL records no such time. Best effort
 * (the restore has succeeded): without it prune keeps the database. */
static void note_kept(PGconn *maint, const char *old, const char *id)
{
	struct strbuf q = STRBUF_INIT, note = STRBUF_INIT, lit = STRBUF_INIT;
	struct errbuf e = ERRBUF_INIT;
	char now[TIME_UTC_MAX];
	char *l;

	time_utc_format(time(NULL), now);
	strbuf_addf(&note, KEPT_NOTE "%s by the restore of backup %s", now, id);
	pg_quote_ident(maint, old, &q);
	l = PQescapeLiteral(maint, note.buf, note.len);
	if (l)
		strbuf_addstr(&lit, l);
	PQfreemem(l);
	if (!lit.len || pg_execf(maint, NULL, &e, "COMMENT ON DATABASE %s IS %s", q.buf, lit.buf))
		log_warn("database %s: cannot record the time of the restore on it (prune keeps it "
			 "until dropped by hand): %s", old, lit.len ? e.msg : "out of memory");
	strbuf_release(&q);
	strbuf_release(&note);
	strbuf_release(&lit);
}

/* The scratch database after a failure. When the failure was the server
 * going away (restarted, or a crash and its recovery), the maintenance
 * connection is dead while the server may be back: one new connection is
 * worth trying before leaving the scratch database to the next restore.
 * (PQstatus() cannot tell: after an immediate shutdown's FATAL the dead
 * connection still reads CONNECTION_OK.) */
static int drop_scratch(json_t *db, PGconn **maint, const char *maint_ci, const char *pw,
			const char *scratch, struct errbuf *e)
{
	PGconn *fresh = NULL;

	if (!drop_db(*maint, scratch, e))
		return 0;
	errbuf_clear(e);
	if (dbconn_connect(db, maint_ci, pw, &fresh, e))
		return e->code;
	PQfinish(*maint);
	*maint = fresh;
	return drop_db(*maint, scratch, e);
}

int dbswap_restore(const struct config *cfg, struct repo *r, json_t *item,
		   const struct dbswap_target *t, const struct dbswap_opts *o,
		   struct strbuf *kept, struct errbuf *e)
{
	const char *name = json_string_value(json_object_get(item, "name"));
	json_t *db = cfg ? dbdump_find_db(cfg, name) : NULL;
	const char *live = t->dbname.buf, *sessions = o->sessions;
	struct strbuf scratch = STRBUF_INIT, old = STRBUF_INIT, maint_ci = STRBUF_INIT,
		      scratch_ci = STRBUF_INIT, key = STRBUF_INIT;
	const char *pw = t->password.len ? t->password.buf : NULL;
	struct dbrestore_opts ro = o->ro;
	struct errbuf ignore = ERRBUF_INIT;
	long long wait_ms;
	struct dbswap_times tm = { -1, -1, -1 };
	long long t0 = time_mono_ms(), ts;
	PGconn *maint = NULL;
	int rc, created = 0, swapped = 0;

	strbuf_reset(kept);
	if (!sessions)
		sessions = json_string_value(json_object_get(db, "restore_sessions"));
	if (!sessions)
		sessions = "terminate";
	rc = config_duration_opt(db, "restore_wait", DEFAULT_WAIT_MS, 0, NULL, &wait_ms, e);
	if (rc) {
		errbuf_prefix(e, "database %s: ", name);
		goto out;
	}
	rc = dbswap_names(live, o->id, &scratch, &old, e);
	if (rc)
		goto out;
	rc = pg_conninfo_with_db(t->conninfo.buf, strcmp(live, "postgres") ? "postgres" :
				 "template1", &maint_ci, e);
	if (!rc)
		rc = pg_conninfo_with_db(t->conninfo.buf, scratch.buf, &scratch_ci, e);
	if (!rc)
		rc = dbconn_connect(db, maint_ci.buf, pw, &maint, e);
	if (rc)
		goto out;
	/* One restore of a database at a time, whichever host it runs on: the
	 * lock lives on the server and ends with this connection, even when
	 * the process is killed. */
	strbuf_addf(&key, "ballast-restore:%s", live);
	{
		const char *params[1] = { key.buf };
		PGresult *res = NULL;

		rc = pg_execp(maint, "SELECT pg_try_advisory_lock(hashtext($1))", 1, params, &res,
			      e);
		if (!rc && strcmp(PQgetvalue(res, 0, 0), "t"))
			rc = errbuf_set(e, BL_ELOCKED, "another restore of database %s on %s is "
					"running", live, t->server.buf);
		PQclear(res);
		if (rc)
			goto out;
	}
	rc = drop_stale(maint, live, e);
	if (rc)
		goto out;
	rc = interrupt_check(e);
	if (rc)
		goto out;
	log_info("database %s: restoring backup %s into %s on %s", live, o->id, scratch.buf,
		 t->server.buf);
	created = 1; /* a CREATE that half failed (settings) is dropped too */
	rc = create_scratch(maint, live, scratch.buf, e);
	if (rc) {
		errbuf_prefix(e, "cannot create %s beside %s (a swap restore needs CREATEDB and "
			      "room for a second copy; --in-place --clean restores without): ",
			      scratch.buf, live);
		goto out;
	}
	tm.prepare_ms = time_mono_ms() - t0;
	ro.target = scratch_ci.buf;
	ro.create = 0;
	ro.clean = 0;
	/* No hash-only pass before pg_restore: the stream into it is hashed,
	 * and a mismatch at its end fails the restore before the swap, which
	 * drops the scratch database. A late refusal costs nothing here, and
	 * the pass would cost a read of the whole object (#23). */
	ro.verified = 1;
	rc = dbdump_restore(cfg, r, item, &ro, e);
	if (rc)
		goto out;
	rc = interrupt_check(e);
	if (rc)
		goto out;
	ts = time_mono_ms();
	rc = swap(maint, live, scratch.buf, old.buf, !strcmp(sessions, "terminate"), wait_ms, e);
	tm.swap_ms = time_mono_ms() - ts;
	if (rc)
		goto out;
	swapped = 1;
	created = 0;
	if (o->keep_old) {
		strbuf_addstr(kept, old.buf);
		note_kept(maint, old.buf, o->id);
	} else {
		ts = time_mono_ms();
		if (drop_db(maint, old.buf, e)) {
			/* the restore itself succeeded: the leftover is only reported */
			log_warn("database %s: restored, but the previous database %s could "
				 "not be dropped: %s", live, old.buf, e->msg);
			strbuf_addstr(kept, old.buf);
			errbuf_clear(e);
		}
		tm.drop_ms = time_mono_ms() - ts;
	}
out:
	if (o->times)
		*o->times = tm;
	if (created && maint && drop_scratch(db, &maint, maint_ci.buf, pw, scratch.buf, &ignore))
		log_warn("database %s: cannot drop the scratch database %s (the next restore of "
			 "%s drops it): %s", live, scratch.buf, live, ignore.msg);
	if (rc && !swapped)
		errbuf_prefix(e, "%s (the live database %s is unchanged): ",
			      "restore failed", live);
	PQfinish(maint);
	strbuf_release(&scratch);
	strbuf_release(&old);
	strbuf_release(&maint_ci);
	strbuf_release(&scratch_ci);
	strbuf_release(&key);
	return rc;
}

int dbswap_undo_command(const struct dbswap_target *t, const char *kept, struct strbuf *out,
			struct errbuf *e)
{
	struct strbuf maint = STRBUF_INIT, ci = STRBUF_INIT, undone = STRBUF_INIT;
	const char *live = t->dbname.buf;
	int rc;

	strbuf_reset(out);
	strbuf_addstr(&undone, kept);
	strbuf_replace_all(&undone, OLD_TAG, "__ballast_undone_");
	rc = pg_conninfo_with_db(t->conninfo.buf, strcmp(live, "postgres") ? "postgres" :
				 "template1", &maint, e);
	if (!rc)
		rc = dbdump_conninfo_nopw(maint.buf, &ci, e);
	/* the psql inside the container, which sees the conninfo as written */
	if (!rc && t->container.len)
		strbuf_addf(out, "docker exec -i%s %s ", t->password.len ? " -e PGPASSWORD" : "",
			    t->container.buf);
	if (!rc)
		strbuf_addf(out, "psql \"%s\" -c 'ALTER DATABASE \"%s\" RENAME TO \"%s\"; "
			    "ALTER DATABASE \"%s\" RENAME TO \"%s\"'", ci.buf, live, undone.buf, kept, live);
	strbuf_release(&maint);
	strbuf_release(&ci);
	strbuf_release(&undone);
	return rc;
}

int dbswap_prune_kept(json_t *db, long long keep_ms, long long now_ms, int dry, json_t *out,
		      struct errbuf *e)
{
	struct dbswap_target t = DBSWAP_TARGET_INIT;
	struct strbuf pat = STRBUF_INIT, when = STRBUF_INIT;
	const char *params[1];
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int rc;

	/* One connection, to the live database: pg_database is shared by every
	 * database of the server, and a kept one is never the one connected to,
	 * so it can be listed and dropped from there. */
	rc = probe_open(db, NULL, &t, &conn, e);
	if (rc)
		goto out;
	like_prefix(t.dbname.buf, OLD_TAG, &pat);
	params[0] = pat.buf;
	rc = pg_execp(conn, "SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '') "
		      "FROM pg_database WHERE datname LIKE $1 ORDER BY datname", 1, params, &res, e);
	for (int i = 0; !rc && i < PQntuples(res); i++) {
		const char *name = PQgetvalue(res, i, 0), *note = PQgetvalue(res, i, 1);
		const char *action = "keep", *reason;
		long long at = -1;
		char buf[96];

		strbuf_reset(&when);
		if (!strncmp(note, KEPT_NOTE, strlen(KEPT_NOTE))) {
			strbuf_add(&when, note + strlen(KEPT_NOTE), strcspn(note + strlen(KEPT_NOTE), " "));
			at = time_iso_parse_ms(when.buf);
		}
		if (at < 0) {
			reason = "no restore time recorded on it: drop it by hand when it is not needed";
		} else if (now_ms - at < keep_ms) {
			reason = "replaced within retention.kept_databases";
		} else {
			snprintf(buf, sizeof(buf), "replaced at %s, longer ago than retention.kept_databases",
				 when.buf);
			reason = buf;
			action = "remove";
			if (!dry) {
				rc = drop_db(conn, name, e);
				if (rc)
					break;
				log_info("database %s: dropped %s, kept since its restore at %s",
					 t.dbname.buf, name, when.buf);
			}
		}
		json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:o, s:s, s:s}", "database",
						     t.dbname.buf, "server", t.server.buf, "name", name,
						     "replaced_at", at < 0 ? json_null() :
						     json_string(when.buf), "action", action,
						     "reason", reason));
	}
out:
	PQclear(res);
	PQfinish(conn);
	dbswap_target_release(&t);
	strbuf_release(&pat);
	strbuf_release(&when);
	return rc;
}
