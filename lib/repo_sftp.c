/* The sftp repository driver is not built yet (issue #6). */
#include "repo.h"

int repo_sftp_open(json_t *spec, const char *cfgdir, struct repo **out, struct errbuf *e)
{
	*out = NULL;
	return errbuf_set(e, BL_EFAIL, "repository type \"sftp\" is not built yet (issue #6)");
}
