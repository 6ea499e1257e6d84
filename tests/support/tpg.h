/*
 * tpg: PostgreSQL helpers for suites that use the test server
 * (tests/services/pg.sh): a database's conninfo, a fresh database, and a
 * schema dump fit for comparing two databases.
 *
 * Contract: every function asserts (Check) on failure, so a suite reads
 * as its scenario. tpg_conninfo() and tpg_fresh_db() return malloc'ed
 * conninfo strings (unix socket, trust) for the caller to free.
 * tpg_schema_dump() runs the server's own pg_dump --schema-only --no-owner,
 * leaving out the table `exclude` (schema-qualified, may be NULL) and the
 * per-run \restrict/\unrestrict key lines, so two dumps of equal schemas
 * compare equal as strings.
 */
#ifndef BALLAST_TPG_H
#define BALLAST_TPG_H

#include "strbuf.h"

char *tpg_conninfo(const char *db);
/* DROP DATABASE IF EXISTS name, CREATE DATABASE name. */
char *tpg_fresh_db(const char *name);
void tpg_schema_dump(const char *conninfo, const char *exclude, struct strbuf *out);

#endif
