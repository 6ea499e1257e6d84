/* ballast-backup rekey: rewrap every stored object's file key for the
 * configured recipients (docs/encryption.md), without decrypting a payload. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backup_index.h"
#include "backupset.h"
#include "commands.h"
#include "lock.h"
#include "log.h"
#include "repo_crypt.h"
#include "timeutil.h"

struct gather {
	const char *prefix;
	json_t *keys;
};

static int gather_fn(void *ctx, const struct repo_entry *ent, struct errbuf *e)
{
	struct gather *g = ctx;

	(void)e;
	/* the plaintext index and summaries are not age files */
	if (!ent->tmp && !backup_index_plain_key(ent->key))
		json_array_append_new(g->keys, json_string(ent->key));
	return 0;
}

/* Every index whose objects a rekey rewrote: their stored sizes and
 * hashes changed with the headers. */
static int refresh_indexes(struct repo *r, const char *project, json_t *keys,
			   struct errbuf *e)
{
	json_t *done = json_object(), *k;
	size_t i, plen = strlen(project) + strlen("/backups/");
	int rc = 0;

	json_array_foreach(keys, i, k) {
		const char *key = json_string_value(k), *slash = strchr(key + plen, '/');
		struct strbuf id = STRBUF_INIT, text = STRBUF_INIT;
		json_t *idx = NULL;
		int changed = 0;

		if (!slash || strncmp(key, project, strlen(project)))
			continue;
		strbuf_add(&id, key + plen, (size_t)(slash - key - plen));
		if (!json_object_get(done, id.buf)) {
			json_object_set_new(done, id.buf, json_true());
			rc = backup_index_get(r, project, id.buf, &idx, &text, e);
			if (rc == BL_EFAIL) {   /* no index: nothing to refresh */
				errbuf_clear(e);
				rc = 0;
			} else if (!rc) {
				backup_index_refresh(r, idx, &changed);
				if (changed)
					rc = backup_index_put(r, project, id.buf, idx, e);
			}
		}
		json_decref(idx);
		strbuf_release(&id);
		strbuf_release(&text);
		if (rc)
			break;
	}
	json_decref(done);
	return rc;
}

int cmd_rekey(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct strbuf state = STRBUF_INIT, lockpath = STRBUF_INIT, prefix = STRBUF_INIT;
	struct strbuf rec = STRBUF_INIT;
	struct gather g = { NULL, json_array() };
	struct repo *r = NULL;
	struct lock *lk = NULL;
	const char *project;
	char now[TIME_UTC_MAX];
	long long changed = 0;
	json_t *k, *report = NULL;
	size_t i;
	int rc;
	struct parseopt_rest rest;
	/* no options of its own; the table makes "--x" an unknown option */
	const struct option_spec opts[] = { OPT_END() };

	rc = cli_parse(ctx, argc, argv, opts, PARSEOPT_NO_ARGS, &rest, e);
	if (rc)
		goto out;
	rc = cli_config(ctx, e);
	if (!rc)
		rc = lock_state_dir(ctx->cfg, &state, e);
	if (rc)
		goto out;
	/* The run lock: a backup being written is rekeyed by its own run. */
	strbuf_addf(&lockpath, "%s/%s.backup.lock", state.buf, config_str(ctx->cfg, "project", ""));
	rc = lock_acquire(lockpath.buf, "rekey", 0, &lk, e);
	if (!rc)
		rc = backupset_open(ctx->cfg, &r, &project, e);
	if (rc)
		goto out;
	if (!repo_crypt_enabled(r)) {
		rc = errbuf_set(e, BL_EUSAGE, "%s: rekey needs an \"encryption\" object with "
				"recipients", ctx->cfg->path);
		goto out;
	}
	strbuf_addf(&prefix, "%s/backups/", project);
	g.prefix = prefix.buf;
	rc = repo_list(r, prefix.buf, gather_fn, &g, e);
	if (rc)
		goto out;
	json_array_foreach(g.keys, i, k) {
		int ch = 0;

		rc = repo_crypt_rekey(r, json_string_value(k), &ch, e);
		if (rc)
			goto out;
		changed += ch;
		if (ch)
			log_msg(LOG_INFO, "rekeyed %s", json_string_value(k));
	}
	rc = refresh_indexes(r, project, g.keys, e);
	if (rc)
		goto out;
	time_utc_format(time(NULL), now);
	report = json_pack("{s:s, s:s, s:O, s:I, s:I}", "event", "result", "time", now,
			   "recipients", config_get(ctx->cfg, "encryption.recipients"), "objects",
			   (json_int_t)json_array_size(g.keys), "rewrapped", (json_int_t)changed);
	/* The record of the rotation, stored (encrypted) beside the backups. */
	{
		char *text = json_dumps(report, JSON_COMPACT);
		char stamp[TIME_UTC_MAX];
		size_t j, n = 0;

		for (j = 0; now[j]; j++)
			if (now[j] != '-' && now[j] != ':')
				stamp[n++] = now[j];
		stamp[n] = 0;
		strbuf_addf(&rec, "%s/rekey/rekey-%s.json", project, stamp);
		rc = repo_put_bytes(r, rec.buf, text, strlen(text), e);
		free(text);
		if (rc)
			goto out;
	}
	if (ctx->json)
		log_json_result(report);
	else
		printf("rekeyed %lld of %zu objects for the configured recipients\n", changed,
		       json_array_size(g.keys));
out:
	json_decref(report);
	json_decref(g.keys);
	repo_close(r);
	lock_release(lk);
	strbuf_release(&state);
	strbuf_release(&lockpath);
	strbuf_release(&prefix);
	strbuf_release(&rec);
	return rc;
}
