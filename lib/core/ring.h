/*
 * ring: a bounded queue of byte chunks from one producer thread to one
 * consumer thread, the in-process `a | b` of a two-stage pipeline.
 *
 * Contract: ring_start() allocates `slots` buffers of `size` bytes each
 * (memory is fixed: nothing grows with the stream) and runs fn(arg, q, pe)
 * in a new thread. The producer hands bytes over with ring_put(), which
 * copies them into free slots (any length: longer runs are split) and
 * blocks while every slot is full; it fails (BL_EFAIL, "stopped") once the
 * consumer called ring_stop(), so a producer must return when a put fails.
 * When fn returns, its status and error are kept and the stream ends.
 *
 * The consumer takes filled slots in order with ring_get() (blocking; 1
 * with the slot's bytes, 0 at the end of the stream), which lends it the
 * slot until its next ring_get(), ring_stop() or ring_join(): no copy on
 * that side. ring_stop() tells the producer to give up (a consumer that
 * failed). ring_join() stops the producer if it is still running, waits for
 * it, frees the ring and returns fn's status with its error in *pe; it is
 * the one call that must follow a successful ring_start() on every path.
 */
#ifndef BALLAST_RING_H
#define BALLAST_RING_H

#include <stddef.h>

#include "errbuf.h"

struct ring;

typedef int (*ring_producer_fn)(void *arg, struct ring *q, struct errbuf *pe);

/* BL_EFAIL naming what when the thread cannot be started (nothing to join). */
int ring_start(int slots, size_t size, ring_producer_fn fn, void *arg, const char *what,
	       struct ring **out, struct errbuf *e);
/* Producer side; the same shape as proc_sink_fn, so it can be a sink. */
int ring_put(void *q, const void *buf, size_t len, struct errbuf *e);
/* Consumer side. */
int ring_get(struct ring *q, const void **buf, size_t *len);
void ring_stop(struct ring *q);
int ring_join(struct ring *q, struct errbuf *pe);

#endif
