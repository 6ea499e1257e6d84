/* The config loader on arbitrary bytes: parse, validate, interpolate. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct errbuf e = ERRBUF_INIT;
	struct config *cfg = NULL;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (config_load_string(text, "fuzz.json", &cfg, &e) == 0) {
		config_str(cfg, "repository.path", NULL);
		config_int(cfg, "compression.level", 3);
		config_get(cfg, "environments.prod.health[0].url");
		config_expand_env(cfg, "prod", NULL, &e);
		config_free(cfg);
	}
	free(text);
	return 0;
}
