/*
 * interrupt: SIGINT, SIGTERM and SIGHUP turned into a flag that long loops
 * check, so a run stops at a safe point and cleans up instead of dying
 * mid-write.
 *
 * Contract: interrupt_catch() installs the handlers (without SA_RESTART, so
 * a blocking read or wait returns EINTR and its loop can look at the flag)
 * and ignores SIGPIPE; main() calls it once. interrupt_signal is 0, or the
 * number of the last signal caught. interrupt_check() returns 0, or fills e
 * with the one message every caller uses ("interrupted by signal N") and
 * returns BL_EFAIL. interrupt_hold()/interrupt_resume() let a step that
 * must finish (a deploy's rollback) run with the flag cleared, then put a
 * signal that arrived before or during it back.
 */
#ifndef BALLAST_INTERRUPT_H
#define BALLAST_INTERRUPT_H

#include <signal.h>

#include "errbuf.h"

extern volatile sig_atomic_t interrupt_signal;

void interrupt_catch(void);
int interrupt_check(struct errbuf *e);
/* The same with what was interrupted in front: "<what>: interrupted by
 * signal N". */
int interrupt_check_what(struct errbuf *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Clear the flag; returns the signal it held (0: none). */
int interrupt_hold(void);
/* Restore held unless a newer signal arrived meanwhile. */
void interrupt_resume(int held);

#endif
