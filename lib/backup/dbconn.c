#include "dbconn.h"

#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "proc.h"

const char *dbconn_container(json_t *db)
{
	const char *c = json_string_value(json_object_get(db, "container"));

	return c && *c ? c : NULL;
}

int dbconn_container_addr(const char *container, struct strbuf *addr, struct errbuf *e)
{
	const char *argv[] = { "docker", "inspect", "--type", "container", "--format",
			       "{{.State.Status}}{{range .NetworkSettings.Networks}} "
			       "{{.IPAddress}}{{end}}", container, NULL };
	struct strbuf out = STRBUF_INIT;
	const char *p;
	int rc;

	strbuf_reset(addr);
	rc = proc_run(argv, NULL, NULL, &out, DBCONN_INSPECT_TIMEOUT_MS, e);
	if (rc) {
		errbuf_prefix(e, "container %s: cannot inspect it: ", container);
		goto out;
	}
	strbuf_rtrim(&out);
	p = out.buf + strcspn(out.buf, " ");
	if (p - out.buf != 7 || strncmp(out.buf, "running", 7)) {
		rc = errbuf_set(e, BL_EFAIL, "container %s is not running (%.*s): start it first",
				container, (int)(p - out.buf), out.buf);
		goto out;
	}
	/* the first network that gave it an address */
	while (*p == ' ')
		p++;
	strbuf_add(addr, p, strcspn(p, " "));
	if (!addr->len)
		rc = errbuf_set(e, BL_EFAIL, "container %s has no IP address on a Docker network "
				"(network_mode host or none?): ballast cannot reach its server",
				container);
out:
	strbuf_release(&out);
	return rc;
}

void dbconn_add_hostaddr(const char *conninfo, const char *addr, struct strbuf *out)
{
	const char *url = getenv("DATABASE_URL");
	const char *base = conninfo && *conninfo ? conninfo : url ? url : "";

	strbuf_reset(out);
	strbuf_addstr(out, base);
	if (!strncmp(base, "postgresql://", 13) || !strncmp(base, "postgres://", 11))
		strbuf_addf(out, "%chostaddr=%s", strchr(base, '?') ? '&' : '?', addr);
	else
		strbuf_addf(out, "%shostaddr=%s", out->len ? " " : "", addr);
}

int dbconn_resolve(json_t *db, const char *conninfo, struct strbuf *out, struct strbuf *addr,
		   struct errbuf *e)
{
	const char *container = dbconn_container(db);
	struct strbuf a = STRBUF_INIT;
	int rc = 0;

	if (!conninfo)
		conninfo = json_string_value(json_object_get(db, "conninfo"));
	strbuf_reset(out);
	if (addr)
		strbuf_reset(addr);
	if (!container) {
		strbuf_addstr(out, conninfo ? conninfo : "");
		goto out;
	}
	rc = dbconn_container_addr(container, &a, e);
	if (rc)
		goto out;
	dbconn_add_hostaddr(conninfo, a.buf, out);
	if (addr)
		strbuf_addstr(addr, a.buf);
out:
	strbuf_release(&a);
	return rc;
}

int dbconn_conninfo(json_t *db, struct strbuf *out, struct errbuf *e)
{
	return dbconn_resolve(db, NULL, out, NULL, e);
}

int dbconn_connect(json_t *db, const char *conninfo, const char *password, PGconn **conn,
		   struct errbuf *e)
{
	struct strbuf ci = STRBUF_INIT, addr = STRBUF_INIT;
	int rc;

	*conn = NULL;
	rc = dbconn_resolve(db, conninfo, &ci, &addr, e);
	if (!rc) {
		rc = pg_connect(ci.buf, password, conn, e);
		if (rc && addr.len)
			errbuf_prefix(e, "container %s at %s: ", dbconn_container(db), addr.buf);
	}
	strbuf_release(&ci);
	strbuf_release(&addr);
	return rc;
}

void dbconn_push_tool(struct strvec *argv, json_t *db, const char *key, const char *tool,
		      int password)
{
	json_t *prefix = json_object_get(db, key), *v;
	const char *container = dbconn_container(db);
	size_t i;

	if (json_is_array(prefix) && json_array_size(prefix)) {
		json_array_foreach(prefix, i, v)
			strvec_push(argv, json_string_value(v));
		return;
	}
	if (container) {
		/* -i: the dump leaves on stdout and a restore arrives on stdin;
		 * never -t, which would rewrite the bytes. */
		strvec_push(argv, "docker");
		strvec_push(argv, "exec");
		strvec_push(argv, "-i");
		if (password) {
			strvec_push(argv, "-e");
			strvec_push(argv, "PGPASSWORD");
		}
		strvec_push(argv, container);
	}
	strvec_push(argv, tool);
}
