/*
 * repomark: the marker that makes a path, bucket or SFTP directory a ballast
 * repository for a project ("<project>/repository.json").
 *
 * Why: a repository that was created on first use fills the root file
 * system when the backup disk is not mounted (the empty mount point looks
 * like a new repository), and a typo in repository.path starts a second
 * history nobody looks at. So only `ballast-backup init` creates one, and
 * every other command refuses a project without its marker, before it
 * writes anything.
 *
 * Contract: repomark_check() is 0 when the marker exists, BL_EUSAGE with
 * one line naming the repository and the remedy when it does not (and, when
 * the project already holds backups made before markers existed, says so).
 * repomark_init() writes {"format", "id", "project", "created", "ballast"}
 * atomically; an existing marker is left as it is and reported through
 * *existed (init is idempotent, like pgBackRest's stanza-create). id
 * receives the repository id (32 hex digits) either way. *adopted counts
 * committed backups found under the project when the marker was new.
 */
#ifndef BALLAST_REPOMARK_H
#define BALLAST_REPOMARK_H

#include "errbuf.h"
#include "repo.h"

#define REPOMARK_FORMAT 1
#define REPOMARK_ID_LEN 32

int repomark_check(struct repo *r, const char *project, struct errbuf *e);
int repomark_init(struct repo *r, const char *project, char id[REPOMARK_ID_LEN + 1],
		  int *existed, int *adopted, struct errbuf *e);
/* The marker's id, or BL_EFAIL/BL_EVERIFY when it cannot be read or parsed. */
int repomark_read(struct repo *r, const char *project, char id[REPOMARK_ID_LEN + 1],
		  struct errbuf *e);

#endif
