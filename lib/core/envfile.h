/*
 * envfile: read docker-compose style .env files.
 *
 * Rules (what compose accepts): blank lines and lines starting with '#' are
 * skipped; an optional "export " prefix; KEY=VALUE with KEY matching
 * [A-Za-z_][A-Za-z0-9_.-]*; VALUE may be empty, unquoted (trimmed, a " #"
 * starts a comment), single-quoted (taken literally) or double-quoted
 * (\n, \t, \", \\ and \$ escapes; may span lines). A later key overrides an
 * earlier one. Anything else is an error naming file and line.
 */
#ifndef BALLAST_ENVFILE_H
#define BALLAST_ENVFILE_H

#include <jansson.h>

#include "errbuf.h"

/* Parse text; *out receives a new object of string values. name is used in
 * error messages. */
int envfile_parse(const char *text, size_t len, const char *name, json_t **out,
		  struct errbuf *e);
int envfile_read(const char *path, json_t **out, struct errbuf *e);

#endif
