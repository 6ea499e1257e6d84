#include "ring.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct ring {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int slots;
	size_t size;
	char **buf;
	size_t *len;
	int head, count;   /* next to read, filled slots */
	int lent;          /* the consumer holds the head slot */
	int done;          /* the producer returned (its status is in prc) */
	int stop;          /* the consumer gave up */
	int prc;
	struct errbuf pe;
	ring_producer_fn fn;
	void *arg;
};

static void *run(void *p)
{
	struct ring *q = p;
	struct errbuf pe = ERRBUF_INIT;
	int rc = q->fn(q->arg, q, &pe);

	pthread_mutex_lock(&q->mu);
	q->prc = rc;
	q->pe = pe;
	q->done = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

static void ring_free(struct ring *q)
{
	for (int i = 0; i < q->slots; i++)
		free(q->buf[i]);
	free(q->buf);
	free(q->len);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
}

int ring_start(int slots, size_t size, ring_producer_fn fn, void *arg, const char *what,
	       struct ring **out, struct errbuf *e)
{
	struct ring *q = xcalloc(1, sizeof(*q));

	*out = NULL;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->slots = slots;
	q->size = size;
	q->buf = xcalloc((size_t)slots, sizeof(*q->buf));
	q->len = xcalloc((size_t)slots, sizeof(*q->len));
	for (int i = 0; i < slots; i++)
		q->buf[i] = xmalloc(size);
	q->fn = fn;
	q->arg = arg;
	if (pthread_create(&q->th, NULL, run, q)) {
		ring_free(q);
		return errbuf_set(e, BL_EFAIL, "%s: cannot start a thread", what);
	}
	*out = q;
	return 0;
}

int ring_put(void *ctx, const void *buf, size_t len, struct errbuf *e)
{
	struct ring *q = ctx;
	const char *p = buf;

	while (len) {
		size_t n = len > q->size ? q->size : len;
		int slot;

		pthread_mutex_lock(&q->mu);
		while (q->count == q->slots && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->stop) {
			pthread_mutex_unlock(&q->mu);
			return errbuf_set(e, BL_EFAIL, "stopped");
		}
		slot = (q->head + q->count) % q->slots;
		pthread_mutex_unlock(&q->mu);
		/* Only the producer writes into a free slot: no lock for the copy. */
		memcpy(q->buf[slot], p, n);
		q->len[slot] = n;
		pthread_mutex_lock(&q->mu);
		q->count++;
		pthread_cond_broadcast(&q->cv);
		pthread_mutex_unlock(&q->mu);
		p += n;
		len -= n;
	}
	return 0;
}

/* Hand the lent slot back; called with the lock held. */
static void give_back(struct ring *q)
{
	if (!q->lent)
		return;
	q->lent = 0;
	q->head = (q->head + 1) % q->slots;
	q->count--;
	pthread_cond_broadcast(&q->cv);
}

int ring_get(struct ring *q, const void **buf, size_t *len)
{
	int got = 0;

	pthread_mutex_lock(&q->mu);
	give_back(q);
	while (!q->count && !q->done)
		pthread_cond_wait(&q->cv, &q->mu);
	if (q->count) {
		*buf = q->buf[q->head];
		*len = q->len[q->head];
		q->lent = 1;
		got = 1;
	} else {
		*buf = NULL;
		*len = 0;
	}
	pthread_mutex_unlock(&q->mu);
	return got;
}

void ring_stop(struct ring *q)
{
	pthread_mutex_lock(&q->mu);
	give_back(q);
	q->stop = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

int ring_join(struct ring *q, struct errbuf *pe)
{
	int rc;

	if (!q)
		return 0;
	pthread_mutex_lock(&q->mu);
	give_back(q);
	if (!q->done)
		q->stop = 1;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->th, NULL);
	rc = q->prc;
	if (rc && pe)
		*pe = q->pe;
	ring_free(q);
	return rc;
}
