/*
 * backup_index: the plaintext, authenticated index of a backup in an
 * encrypted repository (docs/encryption.md), so a host that holds only the
 * recipients' public keys can list, prune and checksum-verify.
 *
 * Contract: in an encrypted repository (repo_crypt_enabled) every backup
 * has, beside its encrypted manifest.json, a plaintext
 * "<project>/backups/<id>/index.json" stored through the driver below the
 * encryption (repo_crypt_inner):
 *   { "format": 1, "id", "project", "created", "finished", "status",
 *     "labels": {k: v}, "size" (the manifest's),
 *     "manifest": {"key", "stored_size", "stored_sha256"},
 *     "items": [ {"type", "name", "object"?: {"key", "stored_size",
 *                                             "stored_sha256"},
 *                 "start_wal"?, "timeline"?} ] }
 * where stored_size and stored_sha256 describe the ciphertext as the
 * repository holds it (repo_crypt_stored), and start_wal / timeline are
 * copied from an item that has them (a base backup: the WAL it needs, so
 * a write-only host's prune can keep exactly that WAL); an index written
 * before they were recorded lacks them (unknown, not "none"). It is
 * written after the manifest and is the commit point of an encrypted
 * backup: the manifest carries "index": "index.json", so a manifest
 * without its index is a run that did not finish its commit; a manifest
 * without that member was written before the index existed and stands
 * alone.
 *
 * Authentication: the index is plaintext, so anyone who can write the
 * repository can alter it. Wherever an identity is present every field is
 * checked against the decrypted manifest (backup_index_check_manifest) and
 * every object's stored size and hash against the ciphertext actually read
 * (backup_index_check_stored); a difference is BL_EVERIFY naming the field
 * or object. Once an index checks out against its manifest,
 * backup_index_expect() has every later read of the backup's objects
 * (restore, drill, restore --pitr, verify) check the ciphertext as it
 * streams (repo_crypt_expect): the stored bytes must be the ones the
 * index records, not only bytes that decrypt to the manifest's. Without
 * an identity the index is trusted as far as a checksum goes:
 * backup_index_check_objects re-reads the ciphertext.
 *
 * Summaries: the verify and drill reports stay encrypted; beside each, in
 * an encrypted repository, a plaintext summary ("summary-verify.json",
 * "summary-drill-<time>.json": ok/result, time, backup_id) tells a
 * write-only host's list and prune what the report says.
 */
#ifndef BALLAST_BACKUP_INDEX_H
#define BALLAST_BACKUP_INDEX_H

#include <jansson.h>

#include "errbuf.h"
#include "repo.h"
#include "strbuf.h"

#define BACKUP_INDEX_NAME "index.json"
#define BACKUP_INDEX_FORMAT 1
#define BACKUP_INDEX_MAX (16 * 1024 * 1024)
#define BACKUP_SUMMARY_PREFIX "summary-"

/* 1 when r keeps an index (it encrypts). */
int backup_index_wanted(const struct repo *r);

/* Build the index of a sealed manifest whose objects (and the manifest,
 * under manifest_key) this process stored through r. BL_EFAIL when the
 * ciphertext of one of them is unknown. */
int backup_index_build(struct repo *r, json_t *manifest, const char *manifest_key,
		       json_t **out, struct errbuf *e);

/* Store idx as <project>/backups/<id>/index.json, in plaintext. */
int backup_index_put(struct repo *r, const char *project, const char *id, json_t *idx,
		     struct errbuf *e);

/* Read and check the shape of a stored index; text receives the bytes read
 * (for manifest_torn). BL_EVERIFY naming the field when it is malformed or
 * is not backup id's. */
int backup_index_get(struct repo *r, const char *project, const char *id, json_t **idx,
		     struct strbuf *text, struct errbuf *e);

/* Every field of idx against the decrypted manifest, and the manifest's
 * stored size and hash against the ciphertext this process read. */
int backup_index_check_manifest(struct repo *r, json_t *idx, json_t *manifest,
				struct errbuf *e);

/* Every object's (and the manifest's) stored size and hash against the
 * ciphertext this process read through r (after a decrypting verify); an
 * object not read is not judged. */
int backup_index_check_stored(struct repo *r, json_t *idx, struct errbuf *e);

/* Have every later read of idx's objects through r check their stored
 * size and SHA-256 against idx at the end of the stream (BL_EVERIFY
 * naming the backup and the object). Call only with an idx that checked
 * out against its manifest. */
void backup_index_expect(struct repo *r, json_t *idx);

/* The start_wal the index records for the item (type, name): NULL when
 * the item is absent (*found = 0) or the index predates the member
 * (*found = 1): the caller must then treat the WAL it needs as unknown. */
const char *backup_index_start_wal(json_t *idx, const char *type, const char *name,
				   int *found);

/* Re-read every object's and the manifest's ciphertext below the
 * encryption and check its size and SHA-256 against idx (no identity
 * needed). */
int backup_index_check_objects(struct repo *r, json_t *idx, struct errbuf *e);

/* Replace idx's stored sizes and hashes with what this process stored
 * (after a rekey); *changed = 1 when one differed. */
void backup_index_refresh(struct repo *r, json_t *idx, int *changed);

/* A plaintext summary "<project>/backups/<id>/summary-<name>" (no-op when
 * r does not encrypt), and reading one back (BL_EFAIL when absent or not
 * a JSON object). */
int backup_index_put_summary(struct repo *r, const char *project, const char *id,
			     const char *name, json_t *summary, struct errbuf *e);
int backup_index_get_summary(struct repo *r, const char *key, json_t **out, struct errbuf *e);

/* 1 when key's last component is an index or a summary (plaintext in an
 * encrypted repository: rekey leaves them alone). */
int backup_index_plain_key(const char *key);

#endif
