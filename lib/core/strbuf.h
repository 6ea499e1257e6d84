/*
 * strbuf: a growable byte buffer that is never NULL (git's strbuf idea).
 *
 * Contract: an initialised strbuf (STRBUF_INIT or strbuf_init) always has
 * buf pointing at a NUL-terminated string, so sb.buf can be printed without
 * checks. Allocation failure aborts: ballast treats OOM as fatal, like git.
 * `max` (0 = unlimited) caps the length; strbuf_add* return -1 instead of
 * growing past it, which bounds buffers fed by untrusted peers (curl's
 * dynbuf idea).
 */
#ifndef BALLAST_STRBUF_H
#define BALLAST_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
	size_t alloc;
	size_t len;
	size_t max;
	char *buf;
};

extern char strbuf_slopbuf[];
#define STRBUF_INIT { 0, 0, 0, strbuf_slopbuf }

void strbuf_init(struct strbuf *sb, size_t hint);
void strbuf_release(struct strbuf *sb);
/* Hand the buffer to the caller (free() it); sb is reset to empty. */
char *strbuf_detach(struct strbuf *sb, size_t *len);
void strbuf_reset(struct strbuf *sb);
void strbuf_setlen(struct strbuf *sb, size_t len);
int strbuf_grow(struct strbuf *sb, size_t extra);

int strbuf_add(struct strbuf *sb, const void *data, size_t len);
int strbuf_addstr(struct strbuf *sb, const char *s);
int strbuf_addch(struct strbuf *sb, int c);
int strbuf_addf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Remove trailing whitespace (newlines included). */
void strbuf_rtrim(struct strbuf *sb);

/* Replace every occurrence of `from` (non-empty) with `to`. */
void strbuf_replace_all(struct strbuf *sb, const char *from, const char *to);

/* strvec: a growable NULL-terminated argv of owned strings (git's strvec).
 * Children's command lines are built with it, so no fixed array can
 * silently drop arguments. */
struct strvec {
	char **v;
	size_t n, alloc;
};
#define STRVEC_INIT { NULL, 0, 0 }
void strvec_push(struct strvec *sv, const char *s);
void strvec_pushf(struct strvec *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strvec_clear(struct strvec *sv);
/* The argv view (never NULL once something was pushed; "" list otherwise). */
const char *const *strvec_argv(struct strvec *sv);

#endif
