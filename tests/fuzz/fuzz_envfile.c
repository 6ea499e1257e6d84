/* The docker-compose .env reader on arbitrary bytes. */
#include <stdint.h>

#include "envfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct errbuf e = ERRBUF_INIT;
	json_t *out = NULL;

	if (envfile_parse((const char *)data, size, "fuzz.env", &out, &e) == 0)
		json_decref(out);
	return 0;
}
