/*
 * lock: advisory run locks on local files (flock), recording their holder.
 *
 * Contract: lock_acquire() opens (creating 0600, O_CLOEXEC so children never
 * inherit it) the lock file and takes an exclusive flock. While held, the
 * file contains one JSON line {"pid", "host", "started", "what"} naming the
 * holder. If another process holds it, lock_acquire() waits up to wait_ms
 * (0 = not at all) and then fails with BL_ELOCKED and a line naming the
 * holder's pid, host and start time. The kernel drops a flock when its
 * holder dies (even by SIGKILL), so a dead holder never blocks a new run;
 * the stale contents it left are simply overwritten.
 *
 * lock_holder_stale() is for lock files that cannot rely on flock (a lock
 * recorded on shared storage): a holder on this host whose pid is gone.
 *
 * lock_state_dir(): the local state directory: the config's top-level
 * "state_dir", else $BALLAST_STATE_DIR, else /var/lib/ballast for root,
 * else $XDG_STATE_HOME/ballast
 * or ~/.local/state/ballast. It is created 0700 when missing.
 */
#ifndef BALLAST_LOCK_H
#define BALLAST_LOCK_H

#include <sys/types.h>
#include <time.h>

#include "errbuf.h"
#include "strbuf.h"

struct config;
struct lock;

struct lock_holder {
	pid_t pid;
	char host[256];
	time_t started;
	char what[64];
};

int lock_acquire(const char *path, const char *what, long long wait_ms, struct lock **out,
		 struct errbuf *e);
/* Unlock, close and free; NULL is fine. The file stays (removing it would
 * race with a process that just opened it). */
void lock_release(struct lock *l);

/* Read the holder recorded in a lock file; -1 when absent or unreadable. */
int lock_read_holder(const char *path, struct lock_holder *h);
/* 1 when h names a process on this host that no longer exists. */
int lock_holder_stale(const struct lock_holder *h);

int lock_state_dir(const struct config *cfg, struct strbuf *out, struct errbuf *e);

#endif
