/*
 * dbconn: how ballast reaches a configured database (an element of
 * "databases"), in one place.
 *
 * A database whose server runs in a Docker container that publishes no
 * port names it in "container" (a container name or id). Then:
 *   - every libpq connection ballast makes to it gets hostaddr=<the
 *     container's IP address> (docker inspect, looked up again for each
 *     connection: a restarted container may have another address), so its
 *     conninfo is written as the server is seen from inside the container
 *     (postgresql://postgres@127.0.0.1:5432/app) and host name resolution
 *     is skipped; the port is the server's own;
 *   - the dump and restore tools run inside the container, with the same
 *     conninfo: `docker exec -i [-e PGPASSWORD] CONTAINER pg_dump` (and
 *     pg_restore), unless dump_command / restore_command are set. The
 *     password reaches them only as PGPASSWORD in docker's environment.
 * `docker` is the one on PATH, with the caller's DOCKER_HOST. A missing or
 * stopped container is one BL_EFAIL line naming it. A conninfo handed in
 * for such a database (a scratch database, --target) is read the same way:
 * as seen from inside the container.
 */
#ifndef BALLAST_DBCONN_H
#define BALLAST_DBCONN_H

#include <jansson.h>
#include <libpq-fe.h>

#include "errbuf.h"
#include "strbuf.h"

/* docker inspect may wait for a busy engine; it never takes longer. */
#define DBCONN_INSPECT_TIMEOUT_MS 30000

/* db's "container", or NULL when it has none. */
const char *dbconn_container(json_t *db);

/* The IP address of a running container (its first network's). */
int dbconn_container_addr(const char *container, struct strbuf *addr, struct errbuf *e);

/* conninfo ("" = $DATABASE_URL) with hostaddr=addr added: a query
 * parameter for a URL, a keyword otherwise. Pure. */
void dbconn_add_hostaddr(const char *conninfo, const char *addr, struct strbuf *out);

/* The conninfo for ballast's own connections to db's server: conninfo
 * (NULL = db's configured one) as it is, or with the container's address
 * when db has a container. addr (may be NULL) receives that address, or
 * "" without a container. */
int dbconn_resolve(json_t *db, const char *conninfo, struct strbuf *out, struct strbuf *addr,
		   struct errbuf *e);
/* dbconn_resolve(db, NULL, out, NULL, e). */
int dbconn_conninfo(json_t *db, struct strbuf *out, struct errbuf *e);

/* pg_connect to conninfo (NULL = db's) on db's server: resolved as above;
 * a failure names the container and its address too. db may be NULL. */
int dbconn_connect(json_t *db, const char *conninfo, const char *password, PGconn **conn,
		   struct errbuf *e);

/* The program and leading arguments of db's tool: the array db[key]
 * ("dump_command", "restore_command") when set, else `tool` run inside
 * the container (with -e PGPASSWORD when password), else `tool`. */
void dbconn_push_tool(struct strvec *argv, json_t *db, const char *key, const char *tool,
		      int password);

#endif
