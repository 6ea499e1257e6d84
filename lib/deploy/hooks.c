#include "hooks.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "proc.h"
#include "strbuf.h"
#include "xalloc.h"

static int run_one(const struct config *cfg, const char *hook, const char *phase,
		   const char *const *env, long timeout_ms, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT, phase_var = STRBUF_INIT;
	struct child c = CHILD_INIT;
	const char **full;
	const char *argv[2];
	size_t n = 0;
	int rc;

	config_path(cfg, hook, &path);
	strbuf_addf(&phase_var, "BALLAST_PHASE=%s", phase);
	for (const char *const *v = env; v && *v; v++)
		n++;
	full = xcalloc(n + 2, sizeof(*full));
	for (size_t i = 0; i < n; i++)
		full[i] = env[i];
	full[n] = phase_var.buf;
	argv[0] = path.buf;
	argv[1] = NULL;
	c.argv = argv;
	c.env = full;
	c.in_mode = PROC_NULL;
	c.out_mode = PROC_FD;
	c.out = STDERR_FILENO;
	c.err_mode = PROC_INHERIT;
	c.timeout_ms = timeout_ms > 0 ? timeout_ms : HOOKS_DEFAULT_TIMEOUT_MS;
	log_info("hook %s: %s", phase, path.buf);
	rc = proc_start(&c, e);
	/* The given descriptor stays ours: proc_finish must not read or close it. */
	c.out = -1;
	if (!rc)
		rc = proc_finish(&c, e);
	if (rc)
		errbuf_prefix(e, "hook %s (%s): ", phase, path.buf);
	proc_release(&c);
	free(full);
	strbuf_release(&path);
	strbuf_release(&phase_var);
	return rc;
}

int hooks_run(const struct config *cfg, json_t *hooks, const char *phase,
	      const char *const *env, long timeout_ms, int *ran, struct errbuf *e)
{
	json_t *v = json_object_get(hooks, phase), *item;
	size_t i;
	int rc;

	if (ran)
		*ran = 0;
	if (!v)
		return 0;
	if (json_is_string(v)) {
		if (ran)
			*ran = 1;
		return run_one(cfg, json_string_value(v), phase, env, timeout_ms, e);
	}
	json_array_foreach(v, i, item) {
		if (!json_is_string(item))
			return errbuf_set(e, BL_EUSAGE, "hooks.%s[%zu]: expected a string", phase, i);
		if (ran)
			(*ran)++;
		if ((rc = run_one(cfg, json_string_value(item), phase, env, timeout_ms, e)))
			return rc;
	}
	return 0;
}
