/*
 * tbackup: helpers for the ballast-backup integration suites: SQL on the
 * test server, the Pagila database, scratch projects with a ballast.json,
 * running the binary (in the foreground or in the background), reading its
 * --json output, and comparing two databases.
 *
 * Contract: every helper asserts (Check) on failure, so a suite reads as
 * its scenario; strings returned are malloc'ed for the caller to free.
 * Conninfo strings come from tpg_conninfo() (tpg.h).
 */
#ifndef BALLAST_TBACKUP_H
#define BALLAST_TBACKUP_H

#include <jansson.h>
#include <libpq-fe.h>

#include "proc.h"
#include "strbuf.h"
#include "tpg.h"
#include "tsupport.h"

/* A scratch project: dir/ballast.json, dir/repo, dir/state. */
struct proj {
	char *dir;
	char cfg[1024];
	char repo[1024];
};

/* A connection to database db of the test server. */
PGconn *db_connect(const char *db);
/* Run one statement (printf-style) that returns no rows. */
void sql(const char *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The first column of the first row of query q, as an integer. */
long long sql_int(const char *db, const char *q);
/* sh -c cmd, which must exit 0. */
void sh(const char *cmd);
/* CREATE DATABASE db and load Pagila (tests/data/pagila) into it. */
void load_pagila(const char *db);

/* Write a ballast.json for p's repository at path; dbs: the JSON text of
 * the "databases" array. */
void proj_write_cfg(const struct proj *p, const char *path, const char *dbs);
/* A new project under a fresh temporary directory, its repository
 * initialised; proj_done() removes it all. */
void proj_init(struct proj *p, const char *tag, const char *dbs);
void proj_done(struct proj *p);

/* Run ballast-backup --config <cfg> args... (NULL-terminated) with env's
 * extra variables; returns its exit status. bb() without extra variables. */
int bb_env(const struct proj *p, const char *const *env, struct strbuf *out,
	   struct strbuf *err, ...);
#define bb(p, out, err, ...) bb_env(p, NULL, out, err, __VA_ARGS__, (const char *)NULL)
/* Start ballast-backup in the background, stdout and stderr into outfile. */
void bb_start(struct child *c, const char **argv, const char *outfile, const char *const *env);
/* The last line of --json output, parsed. */
json_t *last_json(const struct strbuf *out);
/* Backups as list --json reports them (new reference). */
json_t *list_backups(const struct proj *p);
/* How many backups list reports with this status. */
int count_status(const struct proj *p, const char *status);
/* Run a backup that must succeed; returns its id (caller frees). */
char *backup_ok(const struct proj *p, const char *extra);

/* Add to *n the files below dir whose name contains needle. */
void count_files(const char *dir, const char *needle, int *n);
/* Temporary objects (".tmp-") left in p's repository. */
int tmp_objects(const struct proj *p);
/* Every user table of a and b has the same rows (ordered row hashes). */
void assert_same_rows(const char *a, const char *b);
/* The schema of database db (tpg_schema_dump: comparable as strings). */
void schema_of(const char *db, struct strbuf *out);
/* Write an executable script. */
void write_script(const char *path, const char *body);
/* 0 once path exists, -1 after the given seconds. */
int wait_for_file(const char *path, int seconds);

#endif
