/* ballast-backup show ID|latest|--latest: one backup's manifest (its
 * plaintext index on a host that cannot decrypt it). */
#include <string.h>

#include "backup_index.h"
#include "backupset.h"
#include "basebackup_item.h"
#include "commands.h"
#include "log.h"
#include "manifest.h"
#include "progress.h"
#include "repo_crypt.h"

/* What a write-only host cannot see: the manifest's members the index
 * does not copy (docs/encryption.md). */
#define SHOW_INDEX_UNAVAILABLE "host, sizes and sha256 of the zstd bytes, raw sizes, " \
	"database and server versions, tables and row counts, volume paths and entries, " \
	"LSNs"

/* The members only one item type has, as that type's module writes them. */
static void print_volume(json_t *it)
{
	json_t *en = json_object_get(it, "entries"), *w;
	size_t j;

	printf("  path     %s\n  entries  %lld files, %lld dirs, %lld symlinks, %lld hard links\n",
	       json_string_value(json_object_get(it, "path")),
	       (long long)json_integer_value(json_object_get(en, "files")),
	       (long long)json_integer_value(json_object_get(en, "dirs")),
	       (long long)json_integer_value(json_object_get(en, "symlinks")),
	       (long long)json_integer_value(json_object_get(en, "hardlinks")));
	json_array_foreach(json_object_get(it, "warnings"), j, w)
		printf("  warning  %s: %s\n", json_string_value(json_object_get(w, "path")),
		       json_string_value(json_object_get(w, "warning")));
}

static void print_basebackup(json_t *it)
{
	printf("  postgres %s, timeline %lld, WAL %s to %s (start %s)\n"
	       "  finished %s (restore --pitr recovers to any later point the WAL "
	       "archive covers)\n",
	       json_string_value(json_object_get(it, "pg_version")),
	       (long long)json_integer_value(json_object_get(it, "timeline")),
	       json_string_value(json_object_get(it, "start_lsn")),
	       json_string_value(json_object_get(it, "stop_lsn")),
	       json_string_value(json_object_get(it, "start_wal")),
	       json_string_value(json_object_get(it, "finished")));
}

static void print_db(json_t *it)
{
	json_t *t;
	size_t j;

	printf("  database %s (server %s, %s)\n  rows     %s\n",
	       json_string_value(json_object_get(it, "database")),
	       json_string_value(json_object_get(it, "server_version")),
	       json_string_value(json_object_get(it, "pg_dump_version")),
	       json_string_value(json_object_get(it, "row_counts")));
	json_array_foreach(json_object_get(it, "tables"), j, t) {
		json_t *rows = json_object_get(t, "rows");
		char full[300];

		snprintf(full, sizeof(full), "%s.%s",
			 json_string_value(json_object_get(t, "schema")),
			 json_string_value(json_object_get(t, "name")));
		if (json_is_integer(rows))
			printf("    %-44s %lld\n", full, (long long)json_integer_value(rows));
		else
			printf("    %s\n", full);
	}
}

static void print_human(json_t *m)
{
	struct manifest_head h;
	struct manifest_item it;
	const char *k;
	json_t *v;
	size_t i;
	char sz[32], raw[32];

	manifest_head_get(m, &h);
	progress_bytes(h.size > 0 ? h.size : 0, sz, sizeof(sz));
	printf("backup   %s\nproject  %s\ncreated  %s\nfinished %s\nhost     %s\nsize     %s\n",
	       h.id, h.project, h.created, h.finished, h.host, sz);
	json_object_foreach(h.labels, k, v)
		printf("label    %s=%s\n", k, json_string_value(v) ? json_string_value(v) : "");
	manifest_foreach_item(m, i, it) {
		progress_bytes(it.obj.size, sz, sizeof(sz));
		progress_bytes(it.obj.raw_size > 0 ? it.obj.raw_size : 0, raw, sizeof(raw));
		printf("\n%s %s\n  object   %s\n  size     %s (%s raw)\n  sha256   %s\n", it.type,
		       it.name, it.obj.key, sz, raw, it.obj.sha256);
		if (!strcmp(it.type, "volume"))
			print_volume(it.json);
		else if (!strcmp(it.type, BASEBACKUP_ITEM_TYPE))
			print_basebackup(it.json);
		else if (!strcmp(it.type, "db"))
			print_db(it.json);
	}
}

static void print_index(json_t *idx)
{
	json_t *labels = json_object_get(idx, "labels"), *v, *it, *o;
	const char *k;
	size_t i;
	char sz[32];

	progress_bytes(json_integer_value(json_object_get(idx, "size")) > 0 ?
		       json_integer_value(json_object_get(idx, "size")) : 0, sz, sizeof(sz));
	printf("backup   %s\nproject  %s\ncreated  %s\nfinished %s\nsize     %s\n",
	       json_string_value(json_object_get(idx, "id")),
	       json_string_value(json_object_get(idx, "project")),
	       json_string_value(json_object_get(idx, "created")),
	       json_string_value(json_object_get(idx, "finished")), sz);
	json_object_foreach(labels, k, v)
		printf("label    %s=%s\n", k, json_string_value(v) ? json_string_value(v) : "");
	printf("manifest encrypted (no identity here): shown from the plaintext %s; not "
	       "available: %s\n", BACKUP_INDEX_NAME, SHOW_INDEX_UNAVAILABLE);
	json_array_foreach(json_object_get(idx, "items"), i, it) {
		o = json_object_get(it, "object");
		progress_bytes(json_integer_value(json_object_get(o, "stored_size")), sz,
			       sizeof(sz));
		printf("\n%s %s\n", json_string_value(json_object_get(it, "type")),
		       json_string_value(json_object_get(it, "name")));
		if (o)
			printf("  object   %s\n  stored   %s encrypted\n  sha256   %s (of the "
			       "ciphertext)\n", json_string_value(json_object_get(o, "key")), sz,
			       json_string_value(json_object_get(o, "stored_sha256")));
		if (json_object_get(it, "start_wal"))
			printf("  timeline %lld, WAL from %s\n",
			       (long long)json_integer_value(json_object_get(it, "timeline")),
			       json_string_value(json_object_get(it, "start_wal")));
	}
}

/* A write-only host: the backup as its plaintext index tells it. */
static int show_index(struct repo *r, const char *project, const char *id, int json,
		      struct errbuf *e)
{
	struct strbuf text = STRBUF_INIT;
	json_t *idx = NULL, *res;
	int rc = backup_index_get(r, project, id, &idx, &text, e);

	if (rc) {
		if (rc == BL_EFAIL)
			errbuf_prefix(e, "backup %s: no identity to read its manifest, and no "
				      "plaintext index: ", id);
		goto out;
	}
	if (json) {
		res = json_pack("{s:s, s:n, s:O, s:s}", "event", "result", "manifest", "index",
				idx, "unavailable", SHOW_INDEX_UNAVAILABLE);
		log_json_result(res);
		json_decref(res);
	} else {
		print_index(idx);
	}
out:
	json_decref(idx);
	strbuf_release(&text);
	return rc;
}

int cmd_show(int argc, char **argv, struct cli_ctx *ctx, struct errbuf *e)
{
	struct repo *r = NULL;
	const char *project;
	json_t *m = NULL;
	int rc, latest = 0;
	char id[64];
	const char *arg;
	struct parseopt_rest rest;
	const struct option_spec opts[] = {
		/* as verify, restore and drill take it */
		OPT_FLAG(0, "latest", &latest, "the newest good backup (as the ID latest)"),
		OPT_END()
	};

	rc = cli_parse(ctx, argc, argv, opts, 0, &rest, e);
	if (rc)
		return rc;
	if (rest.argc + latest < 1)
		return cli_usage_error(ctx, e, "missing backup ID (or latest)");
	if (rest.argc + latest > 1)
		return cli_usage_error(ctx, e, "unexpected argument %s", rest.argv[1 - latest]);
	arg = latest ? "latest" : rest.argv[0];
	rc = cli_config(ctx, e);
	if (rc)
		return rc;
	rc = backupset_open(ctx->cfg, &r, &project, e);
	if (!rc)
		rc = backupset_resolve(r, project, arg, id, sizeof(id), e);
	if (!rc && !repo_crypt_can_read(r)) {
		rc = show_index(r, project, id, ctx->json, e);
		goto out;
	}
	if (!rc)
		rc = backupset_load(r, project, id, &m, e);
	if (rc)
		goto out;
	if (ctx->json) {
		json_t *res = json_pack("{s:s, s:O}", "event", "result", "manifest", m);

		log_json_result(res);
		json_decref(res);
	} else {
		print_human(m);
	}
out:
	json_decref(m);
	repo_close(r);
	return rc;
}
