#include "deploy_refs.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "deploy_env.h"
#include "xalloc.h"

enum ref_kind { REF_GLOB, REF_VERSION, REF_PRERELEASE };

static const struct {
	enum ref_kind kind;
	const char *pattern, *env, *tag;
} builtin[] = {
	{ REF_GLOB, "develop", "dev", "dev" },
	{ REF_GLOB, "qa", "qa", "qa" },
	{ REF_GLOB, "release/*", "qa", "qa" },
	{ REF_GLOB, "main", "prod", "latest" },
	{ REF_VERSION, NULL, "prod", NULL },     /* vX.Y.Z: the tag itself */
	{ REF_PRERELEASE, NULL, "qa", NULL },    /* vX.Y.Z-rc1: the tag itself */
};

/* vX.Y.Z (digits); with pre, vX.Y.Z-PRE where PRE is a semver pre-release
 * ([0-9A-Za-z.-]+: rc1, beta.2). */
static int is_version_pre(const char *r, int pre)
{
	int parts = 0;

	if (*r++ != 'v')
		return 0;
	for (;;) {
		if (!isdigit((unsigned char)*r))
			return 0;
		while (isdigit((unsigned char)*r))
			r++;
		parts++;
		if (*r == '\0')
			return parts == 3 && !pre;
		if (parts == 3) {
			if (!pre || *r != '-' || !r[1])
				return 0;
			for (r++; *r; r++)
				if (!isalnum((unsigned char)*r) && *r != '.' && *r != '-')
					return 0;
			return 1;
		}
		if (*r != '.')
			return 0;
		r++;
	}
}

static int builtin_match(size_t i, const char *ref)
{
	switch (builtin[i].kind) {
	case REF_VERSION: return is_version_pre(ref, 0);
	case REF_PRERELEASE: return is_version_pre(ref, 1);
	default: return fnmatch(builtin[i].pattern, ref, FNM_PATHNAME) == 0;
	}
}

static char *ref_tag(const char *ref)
{
	char *t = xstrdup(ref);

	for (char *p = t; *p; p++)
		if (*p == '/')
			*p = '-';
	return t;
}

/* The tag the built-in mapping gives a ref, or NULL when it has none. */
static const char *builtin_tag(const char *ref)
{
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
		if (builtin_match(i, ref))
			return builtin[i].tag ? builtin[i].tag : ref;
	}
	return NULL;
}

static int finish(const char *ref, const char *env, const char *tag, char **eout, char **tout,
		  struct errbuf *e)
{
	char *t;

	if (!tag)
		tag = builtin_tag(ref);
	t = tag ? xstrdup(tag) : ref_tag(ref);
	if (!deploy_tag_valid(t)) {
		int rc = errbuf_set(e, BL_EUSAGE,
				    "ref %s maps to tag \"%s\", which is not a valid image tag", ref, t);

		free(t);
		return rc;
	}
	*eout = xstrdup(env);
	*tout = t;
	return 0;
}

int deploy_ref_match(const struct config *cfg, const char *ref, char **env, char **tag,
		     struct errbuf *e)
{
	json_t *envs = cfg ? json_object_get(cfg->root, "environments") : NULL, *node;
	const char *name;
	int any = 0;

	*env = *tag = NULL;
	if (!strncmp(ref, "refs/heads/", 11))
		ref += 11;
	else if (!strncmp(ref, "refs/tags/", 10))
		ref += 10;
	if (!*ref)
		return errbuf_set(e, BL_EUSAGE, "empty git ref");
	json_object_foreach(envs, name, node) {
		json_t *refs = json_object_get(node, "refs"), *it;
		size_t i;

		if (!json_is_array(refs))
			continue;
		any = 1;
		json_array_foreach(refs, i, it) {
			const char *entry = json_string_value(it);
			const char *colon = entry ? strchr(entry, ':') : NULL;
			char pattern[512];
			const char *etag;

			if (!entry)
				continue;
			snprintf(pattern, sizeof(pattern), "%.*s",
				 (int)(colon ? (size_t)(colon - entry) : strlen(entry)), entry);
			if (fnmatch(pattern, ref, FNM_PATHNAME))
				continue;
			etag = colon ? colon + 1 : json_string_value(json_object_get(node, "tag"));
			return finish(ref, name, etag, env, tag, e);
		}
	}
	if (!any) {
		for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
			if (builtin_match(i, ref))
				return finish(ref, builtin[i].env, builtin[i].tag, env, tag, e);
		}
	}
	return errbuf_set(e, BL_EFAIL, "ref %s deploys nowhere (%s)", ref,
			  any ? "no environment's refs match it" : "not one of the built-in mapping's refs");
}
