#include "deploy_state.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xalloc.h"

/* Both files are small; the cap keeps a corrupted or hostile file from
 * eating memory. */
#define STATE_MAX (1024 * 1024)
#define HISTORY_MAX (64 * 1024 * 1024)

void deploy_now_iso(char *buf, size_t n)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

const char *deploy_whoami(void)
{
	static char name[256];
	const char *u = getenv("SUDO_USER");
	struct passwd *pw;

	if (!u || !*u)
		u = getenv("USER");
	if (!u || !*u) {
		pw = getpwuid(getuid());
		u = pw ? pw->pw_name : "unknown";
	}
	snprintf(name, sizeof(name), "%s", u);
	return name;
}

const char *deploy_hostname(void)
{
	static char host[256];

	if (!host[0] && gethostname(host, sizeof(host) - 1))
		snprintf(host, sizeof(host), "unknown");
	return host;
}

static int ensure_dir(struct deploy_env *env, struct errbuf *e)
{
	struct strbuf dir = STRBUF_INIT;
	int rc;

	deploy_env_state_path(env, NULL, &dir);
	rc = transport_mkdir_p(env->t, dir.buf, 0700, e);
	strbuf_release(&dir);
	return rc;
}

int deploy_state_read(struct deploy_env *env, json_t **state, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT, text = STRBUF_INIT;
	json_error_t jerr;
	int exists = 0, rc;

	*state = NULL;
	deploy_env_state_path(env, "state.json", &path);
	rc = transport_read_file(env->t, path.buf, &text, STATE_MAX, &exists, e);
	if (rc)
		goto out;
	if (!exists) {
		*state = json_object();
		goto out;
	}
	*state = json_loadb(text.buf, text.len, 0, &jerr);
	if (!json_is_object(*state)) {
		json_decref(*state);
		*state = NULL;
		rc = errbuf_set(e, BL_EFAIL, "%s: %s: not a JSON object (%s); fix or remove it by hand",
				transport_describe(env->t), path.buf, jerr.text);
	}
out:
	strbuf_release(&path);
	strbuf_release(&text);
	return rc;
}

int deploy_state_write(struct deploy_env *env, json_t *state, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT;
	char *text = NULL;
	int rc;

	if ((rc = ensure_dir(env, e)))
		return rc;
	deploy_env_state_path(env, "state.json", &path);
	text = json_dumps(state, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text) {
		rc = errbuf_set(e, BL_EFAIL, "deploy: cannot serialise the state");
		goto out;
	}
	{
		size_t n = strlen(text);

		text = xrealloc(text, n + 2);
		text[n] = '\n';
		text[n + 1] = '\0';
	}
	rc = transport_write_file(env->t, path.buf, text, strlen(text), 0600, e);
out:
	free(text);
	strbuf_release(&path);
	return rc;
}

int deploy_history_append(struct deploy_env *env, json_t *entry, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT, line = STRBUF_INIT;
	char *text;
	int rc;

	if ((rc = ensure_dir(env, e)))
		return rc;
	deploy_env_state_path(env, "history.jsonl", &path);
	text = json_dumps(entry, JSON_COMPACT);
	if (!text) {
		rc = errbuf_set(e, BL_EFAIL, "deploy: cannot serialise a history entry");
		goto out;
	}
	strbuf_addf(&line, "%s\n", text);
	free(text);
	rc = transport_append_file(env->t, path.buf, line.buf, line.len, e);
out:
	strbuf_release(&path);
	strbuf_release(&line);
	return rc;
}

int deploy_history_read(struct deploy_env *env, json_t **entries, struct errbuf *e)
{
	struct strbuf path = STRBUF_INIT, text = STRBUF_INIT;
	int exists = 0, rc;
	char *p, *nl;

	*entries = json_array();
	deploy_env_state_path(env, "history.jsonl", &path);
	rc = transport_read_file(env->t, path.buf, &text, HISTORY_MAX, &exists, e);
	if (rc || !exists)
		goto out;
	for (p = text.buf; *p; p = nl ? nl + 1 : p + strlen(p)) {
		json_t *o;

		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		o = json_loads(p, 0, NULL);
		if (json_is_object(o))
			json_array_append(*entries, o);
		json_decref(o);
		if (!nl)
			break;
	}
out:
	strbuf_release(&path);
	strbuf_release(&text);
	return rc;
}
