/*
 * xalloc: allocation with one out-of-memory policy (git's wrapper.c).
 *
 * Contract: these never return NULL for a request they could not satisfy:
 * they print "ballast: out of memory (N bytes)" on stderr and abort(). A
 * backup or deploy that cannot allocate a few bytes cannot clean up
 * reliably either; dying at once, before anything is committed, leaves
 * what the commit protocol already guarantees (temporary objects, no
 * manifest). Large buffers whose size an input decides are not allocated
 * here: their callers cap them and return an error instead (strbuf's
 * limits, S3 parts). xstrdup_or_null(NULL) is NULL.
 */
#ifndef BALLAST_XALLOC_H
#define BALLAST_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrdup_or_null(const char *s);

#endif
