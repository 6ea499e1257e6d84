/*
 * randhex: random names in hex (lock tokens, staging directories, temporary
 * object names, the repository id).
 *
 * Contract: randhex() writes 2 * nbytes lowercase hex digits and a NUL to
 * out (which holds at least 2 * nbytes + 1). The bytes come from the
 * kernel's generator (getrandom(2), which only blocks before the pool is
 * first seeded); should that fail, from the clock, the pid and a counter:
 * still different per call and per process, which is all these names need.
 * None of them is a secret.
 */
#ifndef BALLAST_RANDHEX_H
#define BALLAST_RANDHEX_H

#include <stddef.h>

void randhex(char *out, size_t nbytes);

#endif
