/*
 * progress: the live line of a long transfer (bytes in, bytes out, ratio,
 * rate, elapsed).
 *
 * Contract: on a TTY (stderr) and at info level it redraws one line at most
 * four times a second and clears it at the end; with --json it emits a
 * "progress" event at most once every five seconds; otherwise (cron) it
 * prints nothing. stored < 0 means "no compressed side" (restores).
 */
#ifndef BALLAST_PROGRESS_H
#define BALLAST_PROGRESS_H

struct progress {
	long long t0, last;
	int tty, json;
	int drawn;
};

void progress_init(struct progress *p);
void progress_update(void *p, const char *name, long long raw, long long stored);
void progress_done(struct progress *p);

/* "1.5 GiB" */
void progress_bytes(long long n, char *buf, unsigned long size);

#endif
