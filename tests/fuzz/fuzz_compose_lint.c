/* The compose linter (libyaml, anchors, merge keys, labels, includes) on
 * arbitrary bytes. */
#include <stdint.h>

#include "compose_lint.h"

struct input {
	const uint8_t *data;
	size_t size;
};

/* Every included file is the input again: includes are followed (to the
 * cycle check or the depth limit) without touching the file system. */
static int read_input(void *ctx, const char *path, struct strbuf *out, size_t max, int *exists,
		      struct errbuf *e)
{
	const struct input *in = ctx;

	(void)path;
	(void)e;
	*exists = 1;
	strbuf_add(out, in->data, in->size < max ? in->size : max);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct compose_lint res = COMPOSE_LINT_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf sb = STRBUF_INIT;
	struct input in = { data, size };
	struct compose_lint_opts opts = { (int)(size & 1), read_input, &in };
	json_t *o;

	compose_lint_string((const char *)data, size, "fuzz.yml", &opts, &res, &e);
	compose_lint_format(&res, &sb);
	o = compose_lint_json(&res);
	json_decref(o);
	strbuf_release(&sb);
	compose_lint_release(&res);
	return 0;
}
