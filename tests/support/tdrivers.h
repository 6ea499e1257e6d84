/*
 * tdrivers: the three repository drivers as test parameters, so one test
 * body runs on each (tcase_add_loop_test(tc, fn, 0, TDRV_COUNT), driver
 * _i) instead of being copied per driver.
 *
 * Contract:
 * - tdrv_spec(i, tag) returns a fresh, empty repository (new reference to
 *   its "repository" JSON object) for driver i:
 *     local: a new temporary directory;
 *     sftp:  a new temporary directory on this machine, reached through the
 *            sshd service (its host, port, user, key and known_hosts file,
 *            host_key_policy strict);
 *     s3:    a fresh prefix in the s3 service's bucket, path-style, 5 MiB
 *            parts, credentials by variable name (access_key_env /
 *            secret_key_env, which this process sets, so the binaries it
 *            starts inherit them).
 *   Suites using sftp or s3 declare the services (sshd, s3).
 * - tdrv_write_config() writes a ballast.json around such a spec.
 * - tdrv_object_path() is the file on this machine that holds a committed
 *   object's bytes: local and sftp the file under "path", s3 the object in
 *   s3rver's on-disk store (data/<bucket>/<prefix><key>._S3rver_object, as
 *   s3rver 3.7 lays it out). Damaging that file is bit rot the driver did
 *   not see being written.
 * - tdrv_pending() counts what an interrupted write left behind under a key
 *   prefix: temporary objects for local and sftp (as repo_list reports
 *   them, tmp=1), unfinished multipart uploads in s3rver's store for s3.
 * - tdrv_cleanup() removes the repository's directory (local, sftp) or
 *   every object under its prefix (s3), and drops the spec.
 * Every helper fails the running Check test on an error.
 */
#ifndef BALLAST_TDRIVERS_H
#define BALLAST_TDRIVERS_H

#include <jansson.h>

#include "repo.h"
#include "strbuf.h"

enum tdrv { TDRV_LOCAL, TDRV_SFTP, TDRV_S3, TDRV_COUNT };

const char *tdrv_name(int drv);
json_t *tdrv_spec(int drv, const char *tag);
/* Which driver a spec is for (its "type"). */
int tdrv_of(json_t *spec);
/* { "project", "state_dir", "repository": spec, "compression": level 3,
 *   2 threads, "databases": <databases_json> } plus the members of the
 *   JSON object extra_json (NULL: none), e.g. "volumes" or "retention". */
void tdrv_write_config(const char *path, const char *project, const char *state_dir,
		       json_t *spec, const char *databases_json, const char *extra_json);
struct repo *tdrv_open(json_t *spec);
void tdrv_object_path(json_t *spec, const char *key, struct strbuf *out);
int tdrv_pending(json_t *spec, const char *prefix);
/* Rewrite one byte of a stored object in place (xor 0x10). */
void tdrv_flip_byte(json_t *spec, const char *key, long long off);
/* Cut a stored object short by `by` bytes, in place. */
void tdrv_truncate(json_t *spec, const char *key, long long by);
void tdrv_cleanup(json_t *spec);

#endif
