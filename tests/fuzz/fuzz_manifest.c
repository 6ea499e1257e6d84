/* The manifest reader on arbitrary bytes: a manifest comes from storage
 * that may be corrupt or hostile, so parsing must never crash or leak, every
 * refusal is a verification failure, and what it accepts keeps the contract
 * the commands rely on (typed, named items with a key, size and sha256). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct errbuf e = ERRBUF_INIT;
	struct strbuf sum = STRBUF_INIT;
	json_t *m = NULL, *it;
	size_t i;

	if (manifest_parse((const char *)data, size, "fuzz/manifest.json", &m, &e) != 0) {
		if (e.code != BL_EVERIFY || !e.msg[0] || strchr(e.msg, '\n'))
			abort();
		return 0;
	}
	json_array_foreach(json_object_get(m, "items"), i, it) {
		json_t *o = json_object_get(it, "object");

		if (!json_string_value(json_object_get(it, "type")) ||
		    !json_string_value(json_object_get(it, "name")) ||
		    !json_string_value(json_object_get(o, "key")) ||
		    strlen(json_string_value(json_object_get(o, "sha256"))) != 64 ||
		    !json_is_integer(json_object_get(o, "size")))
			abort();
		if (manifest_find_item(m, json_string_value(json_object_get(it, "type")),
				       json_string_value(json_object_get(it, "name"))) == NULL)
			abort();
	}
	if (manifest_checksum(m, &sum) ||
	    strcmp(sum.buf, json_string_value(json_object_get(m, "checksum"))))
		abort();
	json_decref(m);
	strbuf_release(&sum);
	return 0;
}
