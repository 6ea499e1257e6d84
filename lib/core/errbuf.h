/*
 * errbuf: the status + one-line message every ballast function reports.
 *
 * Contract: a function that can fail takes a caller-owned `struct errbuf *`
 * and returns an int status, 0 on success. On failure it returns one of the
 * codes below and leaves one lowercase line in err->msg saying what failed
 * and on what ("repo: cannot rename /b/x.tmp to /b/x: No space left on
 * device"). The status doubles as the process exit code, so the numbers are
 * stable and documented; never renumber them.
 */
#ifndef BALLAST_ERRBUF_H
#define BALLAST_ERRBUF_H

#include <stddef.h>

enum bl_status {
	BL_OK = 0,       /* success */
	BL_EFAIL = 1,    /* the operation failed (I/O, server, child process) */
	BL_EUSAGE = 2,   /* usage or configuration error; nothing was changed */
	BL_ELOCKED = 3,  /* another run holds the lock */
	BL_EVERIFY = 4,  /* verification failed: checksum, row counts, drift, health */
	BL_EPENDING = 5  /* ballast-migrate status --exit-code: migrations pending */
};

#define ERRBUF_MSG_MAX 1024

struct errbuf {
	int code;
	char msg[ERRBUF_MSG_MAX];
};

#define ERRBUF_INIT { 0, { 0 } }

/* Record a failure and return `code`, so callers can `return errbuf_set(...)`.
 * The arguments may include e->msg itself (wrapping a lower error). */
int errbuf_set(struct errbuf *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like errbuf_set with ": strerror(errno)" appended. */
int errbuf_errno(struct errbuf *e, int code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Prepend context ("backup app: ") to the message already recorded. */
void errbuf_prefix(struct errbuf *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void errbuf_clear(struct errbuf *e);

#endif
