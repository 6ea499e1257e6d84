/* The compose linter (libyaml, anchors, merge keys, labels) on arbitrary bytes. */
#include <stdint.h>

#include "compose_lint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct compose_lint res = COMPOSE_LINT_INIT;
	struct errbuf e = ERRBUF_INIT;
	struct strbuf sb = STRBUF_INIT;
	json_t *o;

	compose_lint_string((const char *)data, size, "fuzz.yml", &res, &e);
	compose_lint_format(&res, &sb);
	o = compose_lint_json(&res);
	json_decref(o);
	strbuf_release(&sb);
	compose_lint_release(&res);
	return 0;
}
