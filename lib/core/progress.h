/*
 * progress: the live line of a long transfer (bytes in, bytes out, ratio,
 * rate, elapsed, and with an expected size the percentage and the time
 * left).
 *
 * Contract: on a TTY (stderr) and at info level it redraws one line at most
 * four times a second and clears it at the end; with --json it emits a
 * "progress" event at most once every five seconds; otherwise (cron) it
 * prints nothing. stored < 0 means "no compressed side", raw < 0 "no raw
 * side" (restores count what they read or what they wrote).
 * progress_expect() gives the raw bytes item name is expected to reach (a
 * restore knows them from the manifest; a backup takes the same item's size
 * in the previous backup): the line then shows the percentage and the time
 * left at the rate so far, and the JSON event "total" and "percent", until
 * the item passes its expected size (an estimate that was short) or
 * progress_done() ends the item.
 */
#ifndef BALLAST_PROGRESS_H
#define BALLAST_PROGRESS_H

struct progress {
	long long t0, last;
	int tty, json;
	int drawn;
	char total_name[128];
	long long total;   /* expected raw bytes of total_name; 0 unknown */
};

void progress_init(struct progress *p);
void progress_update(void *p, const char *name, long long raw, long long stored);
void progress_done(struct progress *p);
/* The bytes item name should reach (raw, or stored when the item counts
 * only those); total <= 0: unknown. */
void progress_expect(struct progress *p, const char *name, long long total);

/* "1.5 GiB" */
void progress_bytes(long long n, char *buf, unsigned long size);

#endif
