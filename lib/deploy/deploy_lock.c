#include "deploy_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deploy_state.h"
#include "log.h"
#include "interrupt.h"
#include "randhex.h"

int deploy_lock_read(struct deploy_env *env, json_t **lock, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT, text = STRBUF_INIT;
	int exists = 0, rc;

	*lock = NULL;
	deploy_env_state_path(env, "lock", &path);
	rc = transport_read_file(env->t, path.buf, &text, 65536, &exists, e);
	if (!rc && exists) {
		*lock = json_loadb(text.buf, text.len, 0, NULL);
		if (!json_is_object(*lock)) {
			/* Unreadable but present: still a lock; describe it as such. */
			json_decref(*lock);
			*lock = json_pack("{s:s}", "message", "unreadable lock file");
		}
	}
	strbuf_release(&path);
	strbuf_release(&text);
	return rc;
}

int deploy_lock_is_stale(json_t *lock, char *why, size_t n)
{
	long long started = json_integer_value(json_object_get(lock, "started"));
	long long ttl = json_integer_value(json_object_get(lock, "ttl_s"));
	long long pid = json_integer_value(json_object_get(lock, "pid"));
	const char *host = json_string_value(json_object_get(lock, "host"));
	long long now = (long long)time(NULL);

	if (ttl > 0 && started > 0 && now - started > ttl) {
		snprintf(why, n, "taken %llds ago, past its %llds TTL", now - started, ttl);
		return 1;
	}
	if (!json_is_true(json_object_get(lock, "manual")) && pid > 0 && host &&
	    !strcmp(host, deploy_hostname()) && kill((pid_t)pid, 0) && errno == ESRCH) {
		snprintf(why, n, "its process %lld on %s is gone", pid, host);
		return 1;
	}
	return 0;
}

void deploy_lock_describe(json_t *lock, struct strbuf *out)
{
	const char *owner = json_string_value(json_object_get(lock, "owner"));
	const char *host = json_string_value(json_object_get(lock, "host"));
	const char *at = json_string_value(json_object_get(lock, "started_at"));
	const char *msg = json_string_value(json_object_get(lock, "message"));
	const char *cmd = json_string_value(json_object_get(lock, "command"));
	long long pid = json_integer_value(json_object_get(lock, "pid"));

	strbuf_addf(out, "held by %s@%s", owner ? owner : "?", host ? host : "?");
	if (pid > 0 && !json_is_true(json_object_get(lock, "manual")))
		strbuf_addf(out, " (pid %lld)", pid);
	if (at)
		strbuf_addf(out, " since %s", at);
	if (cmd)
		strbuf_addf(out, " for %s", cmd);
	if (msg && *msg)
		strbuf_addf(out, ": %s", msg);
}

static int try_create(struct deploy_env *env, const char *tmp, const char *path, int *existed,
		      struct errbuf *e)
{
	return transport_link_excl(env->t, tmp, path, existed, e);
}

int deploy_lock_acquire(struct deploy_env *env, struct deploy_lock *lk, const char *command,
			const char *message, long long ttl_ms, long long wait_ms, int manual,
			struct errbuf *e)
{
	struct strbuf dir = STRBUF_INIT, path = STRBUF_INIT, tmp = STRBUF_INIT;
	json_t *mine = NULL, *held = NULL;
	long long deadline = (long long)time(NULL) * 1000 + wait_ms;
	char at[40], *text = NULL;
	int rc, existed = 0, announced = 0;
	struct errbuf ignore = ERRBUF_INIT;

	lk->held = 0;
	randhex(lk->token, (sizeof(lk->token) - 1) / 2);
	deploy_env_state_path(env, NULL, &dir);
	deploy_env_state_path(env, "lock", &path);
	strbuf_addf(&tmp, "%s.%s", path.buf, lk->token);
	if ((rc = transport_mkdir_p(env->t, dir.buf, 0700, e)))
		goto out;
	deploy_now_iso(at, sizeof(at));
	mine = json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:s, s:s, s:s, s:b}",
			 "owner", deploy_whoami(), "host", deploy_hostname(),
			 "pid", (json_int_t)(manual ? 0 : getpid()), "started_at", at,
			 "started", (json_int_t)time(NULL), "ttl_s", (json_int_t)(ttl_ms / 1000),
			 "message", message ? message : "", "token", lk->token,
			 "command", command ? command : "", "manual", manual);
	text = json_dumps(mine, JSON_COMPACT);
	if (!mine || !text) {
		rc = errbuf_set(e, BL_EFAIL, "deploy: cannot build the lock");
		goto out;
	}
	if ((rc = transport_write_file(env->t, tmp.buf, text, strlen(text), 0600, e)))
		goto out;
	for (;;) {
		char why[200];

		if ((rc = try_create(env, tmp.buf, path.buf, &existed, e)))
			goto out;
		if (!existed) {
			lk->held = 1;
			break;
		}
		json_decref(held);
		if ((rc = deploy_lock_read(env, &held, e)))
			goto out;
		if (!held)
			continue; /* released in between: try again at once */
		if (deploy_lock_is_stale(held, why, sizeof(why))) {
			struct strbuf d = STRBUF_INIT;
			json_t *again = NULL;

			deploy_lock_describe(held, &d);
			log_warn("environment %s: taking over a stale lock (%s): %s", env->name, why,
				 d.buf);
			strbuf_release(&d);
			/* Replace it in one step, then read back: if another run
			 * took it over at the same moment, the last rename wins and
			 * the loser sees a foreign token. */
			{
				struct strbuf tmp2 = STRBUF_INIT;

				strbuf_addf(&tmp2, "%s.take", tmp.buf);
				rc = transport_write_file(env->t, tmp2.buf, text, strlen(text), 0600, e);
				if (!rc)
					rc = transport_rename(env->t, tmp2.buf, path.buf, e);
				strbuf_release(&tmp2);
			}
			if (rc)
				goto out;
			if ((rc = deploy_lock_read(env, &again, e)))
				goto out;
			if (again && json_is_string(json_object_get(again, "token")) &&
			    !strcmp(json_string_value(json_object_get(again, "token")), lk->token)) {
				json_decref(again);
				lk->held = 1;
				break;
			}
			json_decref(again);
			continue;
		}
		if ((long long)time(NULL) * 1000 >= deadline || interrupt_signal) {
			struct strbuf d = STRBUF_INIT;

			deploy_lock_describe(held, &d);
			rc = errbuf_set(e, BL_ELOCKED, "environment %s is locked: %s", env->name, d.buf);
			strbuf_release(&d);
			goto out;
		}
		if (!announced) {
			struct strbuf d = STRBUF_INIT;

			deploy_lock_describe(held, &d);
			log_info("environment %s is locked (%s); waiting up to %llds", env->name, d.buf,
				 wait_ms / 1000);
			strbuf_release(&d);
			announced = 1;
		}
		sleep(1);
	}
out:
	transport_unlink(env->t, tmp.buf, &ignore);
	free(text);
	json_decref(mine);
	json_decref(held);
	strbuf_release(&dir);
	strbuf_release(&path);
	strbuf_release(&tmp);
	return rc;
}

int deploy_lock_release(struct deploy_env *env, struct deploy_lock *lk, int force,
			struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;
	json_t *cur = NULL;
	int rc;

	deploy_env_state_path(env, "lock", &path);
	if ((rc = deploy_lock_read(env, &cur, e)))
		goto out;
	if (!cur) {
		lk->held = 0;
		goto out;
	}
	if (!force) {
		const char *tok = json_string_value(json_object_get(cur, "token"));

		if (!lk->held || !tok || strcmp(tok, lk->token)) {
			struct strbuf d = STRBUF_INIT;

			deploy_lock_describe(cur, &d);
			rc = errbuf_set(e, BL_ELOCKED, "environment %s: the lock is not ours (%s)",
					env->name, d.buf);
			strbuf_release(&d);
			goto out;
		}
	}
	rc = transport_unlink(env->t, path.buf, e);
	if (!rc)
		lk->held = 0;
out:
	json_decref(cur);
	strbuf_release(&path);
	return rc;
}
