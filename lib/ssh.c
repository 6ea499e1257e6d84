/* The libssh2 session module is not built yet (issue #6 builds it); every
 * entry point fails cleanly so callers can be written against ssh.h. */
#include "ssh.h"

int ssh_connect(const struct ssh_opts *o, struct ssh_session **out, struct errbuf *e)
{
	*out = NULL;
	return errbuf_set(e, BL_EFAIL, "ssh to %s: the ssh module is not built yet (issue #6)",
			  o && o->host ? o->host : "?");
}

void ssh_close(struct ssh_session *s) { (void)s; }
const char *ssh_describe(const struct ssh_session *s) { (void)s; return "ssh"; }

int ssh_exec(struct ssh_session *s, const char *command, const void *stdin_data,
	     size_t stdin_len, proc_sink_fn out_sink, void *ctx, struct strbuf *err_tail,
	     int *exit_status, long timeout_ms, struct errbuf *e)
{
	return errbuf_set(e, BL_EFAIL, "ssh: not built yet (issue #6)");
}

#define UNBUILT return errbuf_set(e, BL_EFAIL, "sftp: not built yet (issue #6)")
int ssh_sftp_open_write(struct ssh_session *s, const char *path, int mode,
			struct ssh_file **out, struct errbuf *e) { UNBUILT; }
int ssh_sftp_open_read(struct ssh_session *s, const char *path, struct ssh_file **out,
		       struct errbuf *e) { UNBUILT; }
int ssh_sftp_write(struct ssh_file *f, const void *buf, size_t len, struct errbuf *e) { UNBUILT; }
int ssh_sftp_read(struct ssh_file *f, void *buf, size_t cap, size_t *got, struct errbuf *e) { UNBUILT; }
int ssh_sftp_close(struct ssh_file *f, struct errbuf *e) { UNBUILT; }
int ssh_sftp_rename(struct ssh_session *s, const char *from, const char *to, struct errbuf *e) { UNBUILT; }
int ssh_sftp_unlink(struct ssh_session *s, const char *path, struct errbuf *e) { UNBUILT; }
int ssh_sftp_rmdir(struct ssh_session *s, const char *path, struct errbuf *e) { UNBUILT; }
int ssh_sftp_mkdir_p(struct ssh_session *s, const char *path, int mode, struct errbuf *e) { UNBUILT; }
int ssh_sftp_stat(struct ssh_session *s, const char *path, struct ssh_stat *st,
		  struct errbuf *e) { UNBUILT; }
int ssh_sftp_readdir(struct ssh_session *s, const char *path, ssh_dir_fn fn, void *ctx,
		     struct errbuf *e) { UNBUILT; }
