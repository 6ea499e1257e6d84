/* The local repository driver is not built yet (issue #3). */
#include "repo.h"

int repo_local_open(json_t *spec, const char *cfgdir, struct repo **out, struct errbuf *e)
{
	*out = NULL;
	return errbuf_set(e, BL_EFAIL, "repository type \"local\" is not built yet (issue #3)");
}
