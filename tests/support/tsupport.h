/*
 * tsupport: helpers shared by the Check suites.
 *
 * Contract: tsvc_read() returns a service fact written by
 * tests/services/<svc>.sh (trailing newline removed; caller frees) or NULL.
 * ttmp_dir() makes a fresh 0700 directory under $TMPDIR; ttmp_rm() removes a
 * tree. trun() runs a command (argv), capturing stdout and stderr, and
 * returns its exit status (128+signal when killed).
 */
#ifndef BALLAST_TSUPPORT_H
#define BALLAST_TSUPPORT_H

#include <check.h>
#include <jansson.h>

#include "strbuf.h"

char *tsvc_read(const char *svc, const char *fact);
char *ttmp_dir(const char *tag);
void ttmp_rm(const char *path);
int trun(const char *const *argv, const char *const *env, struct strbuf *out, struct strbuf *err);
/* Path of a built binary: "ballast-backup" -> "<build>/ballast-backup". */
const char *tbin(const char *name, struct strbuf *out);
/* Write a whole file; 0 on success. */
int twrite_file(const char *path, const char *text);
/* Read a whole file into sb; 0 on success. */
int tread_file(const char *path, struct strbuf *sb);
/* Flip bits 0x10 of the byte at off (off < 0: the middle of the file),
 * in place: the damage the corruption cases need. Asserts; a second call
 * with the same off puts the byte back. */
void tflip_byte(const char *path, long off);
/* The result object of a command's --json output (new reference; asserts
 * there is one): the last line's, when it is {"event":"result"}, or the
 * "result" an {"event":"error"} last line carries for a command that failed
 * after reporting (verify, drill, lint, migrate status --exit-code). */
json_t *tjson_result(const struct strbuf *out);
/* `ballast-backup init` for the repository and project of the
 * configuration at cfg_path (asserts success): suites that make a new
 * repository initialise it first, as an operator does. */
void tinit_repo(const char *cfg_path);
/* Run a suite with CK_ENV-independent defaults; returns the exit code for main. */
int trun_suite(Suite *s);
/* A suite whose precondition does not hold (no mount permission, say)
 * exits with this: CTest's SKIP_RETURN_CODE reports it as a skip. */
#define TSKIP_EXIT 77

#endif
