/*
 * repo_driver: what a repository driver implements (pgBackRest's
 * storage.intern.h). Only lib/storage/ includes this: callers see struct
 * repo as an opaque handle through repo.h.
 *
 * Contract: a driver fills struct repo_ops and a private state pointer.
 * The generic functions in repo.c check keys and dispatch; repo_open_json()
 * is the factory that picks the driver by "type". A driver's struct
 * repo_writer and struct repo_reader must begin with a `const struct
 * repo_ops *ops` member: the generic layer dispatches through it.
 */
#ifndef BALLAST_REPO_DRIVER_H
#define BALLAST_REPO_DRIVER_H

#include "repo.h"

struct repo_ops {
	const char *type;
	int (*writer_open)(struct repo *r, const char *key, long long size_hint,
			   struct repo_writer **out, struct errbuf *e);
	int (*writer_write)(struct repo_writer *w, const void *buf, size_t len, struct errbuf *e);
	int (*writer_commit)(struct repo_writer *w, struct errbuf *e);
	void (*writer_abort)(struct repo_writer *w);
	int (*reader_open)(struct repo *r, const char *key, struct repo_reader **out,
			   struct errbuf *e);
	int (*reader_read)(struct repo_reader *rd, void *buf, size_t cap, size_t *got,
			   struct errbuf *e);
	void (*reader_close)(struct repo_reader *rd);
	int (*list)(struct repo *r, const char *prefix, repo_list_fn fn, void *ctx,
		    struct errbuf *e);
	int (*exists)(struct repo *r, const char *key, int *exists, long long *size,
		      struct errbuf *e);
	int (*del)(struct repo *r, const char *key, struct errbuf *e);
	void (*close)(struct repo *r);
	/* 1 when a single write killed mid-way may leave a short object under
	 * its final key (S3-compatible servers that store a PUT body as it
	 * arrives, such as s3rver); local and sftp commit by rename. */
	int torn_writes;
};

struct repo {
	const struct repo_ops *ops;
	void *state;        /* the driver's */
	char describe[512];
};

/* Driver constructors, called by repo_open_json by "type". */
int repo_local_open(json_t *spec, const char *cfgdir, struct repo **out, struct errbuf *e);
int repo_s3_open(json_t *spec, const char *cfgdir, struct repo **out, struct errbuf *e);
int repo_sftp_open(json_t *spec, const char *cfgdir, struct repo **out, struct errbuf *e);
/* The encrypting decorator (repo_crypt.h), called by repo_open when the
 * config has "encryption". On success *out owns inner; on failure inner is
 * left to the caller. cfgdir resolves a relative identity_file. */
int repo_crypt_wrap(struct repo *inner, json_t *spec, const char *cfgdir, struct repo **out,
		    struct errbuf *e);

#endif
