/* The s3 repository driver is not built yet (issue #6). */
#include "repo.h"

int repo_s3_open(json_t *spec, const char *cfgdir, struct repo **out, struct errbuf *e)
{
	*out = NULL;
	return errbuf_set(e, BL_EFAIL, "repository type \"s3\" is not built yet (issue #6)");
}
