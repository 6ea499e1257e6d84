/* ssh: libssh2 sessions (contract in ssh.h).
 *
 * The session runs in blocking mode with libssh2_session_set_timeout, which
 * is enough for SFTP; exec channels switch to non-blocking for their
 * lifetime so stdin, stdout and stderr are serviced together (a command
 * that fills stderr while we block on stdout would otherwise deadlock). */
#include "ssh.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libssh2.h>
#include <libssh2_sftp.h>
#include <openssl/evp.h>

#include "xalloc.h"

#define SSH_DEFAULT_TIMEOUT_MS 30000L

struct ssh_session {
	int sock;
	LIBSSH2_SESSION *sess;
	LIBSSH2_SFTP *sftp;
	long timeout_ms;
	char desc[512];
};

struct ssh_file {
	struct ssh_session *s;
	LIBSSH2_SFTP_HANDLE *h;
	char *path;
	int writing;
};

static pthread_once_t ssh_once = PTHREAD_ONCE_INIT;
static int ssh_init_rc;

static void ssh_global_init(void)
{
	ssh_init_rc = libssh2_init(0);
}

/* libssh2's own last error, for messages. */
static const char *ssh_last(struct ssh_session *s)
{
	char *msg = NULL;

	if (!s->sess)
		return "no session";
	libssh2_session_last_error(s->sess, &msg, NULL, 0);
	return msg && *msg ? msg : "unknown libssh2 error";
}

static const char *sftp_code_str(unsigned long code)
{
	switch (code) {
	case LIBSSH2_FX_EOF: return "end of file";
	case LIBSSH2_FX_NO_SUCH_FILE: return "No such file or directory";
	case LIBSSH2_FX_PERMISSION_DENIED: return "Permission denied";
	case LIBSSH2_FX_FAILURE: return "failure reported by the server";
	case LIBSSH2_FX_BAD_MESSAGE: return "bad message";
	case LIBSSH2_FX_NO_CONNECTION: return "no connection";
	case LIBSSH2_FX_CONNECTION_LOST: return "connection lost";
	case LIBSSH2_FX_OP_UNSUPPORTED: return "operation not supported by the server";
	case LIBSSH2_FX_FILE_ALREADY_EXISTS: return "File exists";
	case LIBSSH2_FX_WRITE_PROTECT: return "write protected";
	case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM: return "No space left on device";
	case LIBSSH2_FX_QUOTA_EXCEEDED: return "quota exceeded";
	case LIBSSH2_FX_DIR_NOT_EMPTY: return "Directory not empty";
	case LIBSSH2_FX_NOT_A_DIRECTORY: return "Not a directory";
	case LIBSSH2_FX_INVALID_FILENAME: return "invalid file name";
	default: return "sftp error";
	}
}

/* The SFTP status of the last failed call, or 0 when the failure was not an
 * SFTP status (transport, timeout). */
static unsigned long sftp_status(struct ssh_session *s)
{
	if (!s->sftp || libssh2_session_last_errno(s->sess) != LIBSSH2_ERROR_SFTP_PROTOCOL)
		return 0;
	return libssh2_sftp_last_error(s->sftp);
}

/* One line for a failed SFTP call: the server's status when there is one,
 * else libssh2's transport error. */
static int sftp_fail(struct ssh_session *s, struct errbuf *e, const char *what,
		     const char *path)
{
	unsigned long st = sftp_status(s);

	return errbuf_set(e, BL_EFAIL, "sftp %s: cannot %s %s: %s", s->desc, what, path,
			  st ? sftp_code_str(st) : ssh_last(s));
}

const char *ssh_describe(const struct ssh_session *s)
{
	return s ? s->desc : "ssh";
}

/* TCP connect with a deadline: non-blocking connect + poll, every address
 * getaddrinfo gives, first success wins. */
static int tcp_connect(const char *host, int port, long timeout_ms, int *out,
		       const char *desc, struct errbuf *e)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[16];
	int fd = -1, gai, err = ECONNREFUSED;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%d", port);
	gai = getaddrinfo(host, portstr, &hints, &res);
	if (gai)
		return errbuf_set(e, BL_EFAIL, "ssh %s: cannot resolve %s: %s", desc, host,
				  gai_strerror(gai));
	for (ai = res; ai; ai = ai->ai_next) {
		struct pollfd pfd;
		socklen_t elen = sizeof(err);
		int flags, rc;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		flags = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
		rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
		if (rc && errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			do
				rc = poll(&pfd, 1, (int)timeout_ms);
			while (rc < 0 && errno == EINTR);
			if (rc == 0) {
				err = ETIMEDOUT;
				rc = -1;
			} else if (rc > 0 && !getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) && !err) {
				rc = 0;
			} else {
				if (rc < 0)
					err = errno;
				rc = -1;
			}
		} else if (rc) {
			err = errno;
		}
		if (!rc) {
			int one = 1;

			fcntl(fd, F_SETFL, flags);
			/* Every exec and SFTP request is a few small packets sent
			 * back to back and then a wait for the answer: with Nagle
			 * the second waits for the peer's delayed ACK of the first
			 * (40 ms on Linux), per request. OpenSSH turns it off on
			 * interactive sessions for the same reason; a failure
			 * here only costs speed. */
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return errbuf_set(e, BL_EFAIL, "ssh %s: cannot connect: %s", desc, strerror(err));
	*out = fd;
	return 0;
}

/* "SHA256:<base64 without padding>", as ssh-keygen -l and OpenSSH print it. */
static void fingerprint(LIBSSH2_SESSION *sess, char *out, size_t n)
{
	const unsigned char *h = (const unsigned char *)libssh2_hostkey_hash(sess,
						LIBSSH2_HOSTKEY_HASH_SHA256);
	unsigned char b64[64];
	int len;

	if (!h) {
		snprintf(out, n, "SHA256:(unavailable)");
		return;
	}
	len = EVP_EncodeBlock(b64, h, 32);
	while (len > 0 && b64[len - 1] == '=')
		len--;
	b64[len] = 0;
	snprintf(out, n, "SHA256:%s", (char *)b64);
}

static int knownhost_key_type(int hostkey_type, const char **name)
{
	switch (hostkey_type) {
	case LIBSSH2_HOSTKEY_TYPE_RSA: *name = "ssh-rsa"; return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
	case LIBSSH2_HOSTKEY_TYPE_DSS: *name = "ssh-dss"; return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
#ifdef LIBSSH2_HOSTKEY_TYPE_ECDSA_256
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
		*name = "ecdsa-sha2-nistp256"; return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
		*name = "ecdsa-sha2-nistp384"; return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
		*name = "ecdsa-sha2-nistp521"; return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
#endif
#ifdef LIBSSH2_HOSTKEY_TYPE_ED25519
	case LIBSSH2_HOSTKEY_TYPE_ED25519: *name = "ssh-ed25519"; return LIBSSH2_KNOWNHOST_KEY_ED25519;
#endif
	default: *name = "unknown"; return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
	}
}

static void default_known_hosts(struct strbuf *out)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (!home || !*home) {
		pw = getpwuid(getuid());
		home = pw && pw->pw_dir ? pw->pw_dir : "/";
	}
	strbuf_addf(out, "%s/.ssh/known_hosts", home);
}

/* Append one line to known_hosts (creating it 0600 and its directory 0700),
 * rather than libssh2_knownhost_writefile, which would rewrite the user's
 * file and drop lines libssh2 does not understand. */
static int known_hosts_append(const char *path, const char *line, size_t len,
			      const char *desc, struct errbuf *e)
{
	struct strbuf dir = STRBUF_INIT;
	char *slash;
	int fd, rc = 0;

	strbuf_addstr(&dir, path);
	slash = strrchr(dir.buf, '/');
	if (slash && slash != dir.buf) {
		*slash = 0;
		if (mkdir(dir.buf, 0700) && errno != EEXIST) {
			rc = errbuf_errno(e, BL_EFAIL, errno, "ssh %s: cannot create %s", desc,
					  dir.buf);
			goto out;
		}
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "ssh %s: cannot open %s", desc, path);
		goto out;
	}
	if (write(fd, line, len) != (ssize_t)len) {
		rc = errbuf_errno(e, BL_EFAIL, errno, "ssh %s: cannot write %s", desc, path);
		close(fd);
		goto out;
	}
	if (fsync(fd) || close(fd))
		rc = errbuf_errno(e, BL_EFAIL, errno, "ssh %s: cannot write %s", desc, path);
out:
	strbuf_release(&dir);
	return rc;
}

/* Line by line rather than libssh2_knownhost_readfile, which gives up on
 * the whole file at the first line it cannot parse (a key type newer than
 * libssh2, "@cert-authority"): such lines are skipped, so they can never
 * match, and every other line still counts. */
static int known_hosts_read(LIBSSH2_KNOWNHOSTS *kh, const char *path, const char *desc,
			    struct errbuf *e)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return errbuf_errno(e, BL_EFAIL, errno, "ssh %s: cannot read known_hosts %s",
				    desc, path);
	while ((n = getline(&line, &cap, f)) > 0) {
		const char *p = line;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || !*p || *p == '@')
			continue;
		libssh2_knownhost_readline(kh, line, (size_t)n, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
	}
	free(line);
	fclose(f);
	return 0;
}

static int check_host_key(struct ssh_session *s, const struct ssh_opts *o, int port,
			  struct errbuf *e)
{
	LIBSSH2_KNOWNHOSTS *kh = NULL;
	struct libssh2_knownhost *added = NULL;
	struct strbuf khpath = STRBUF_INIT;
	const char *key, *tname;
	char fp[128], line[8192];
	size_t keylen, linelen = 0;
	int ktype, kmask, check, rc = 0;
	struct stat st;

	key = libssh2_session_hostkey(s->sess, &keylen, &ktype);
	if (!key) {
		rc = errbuf_set(e, BL_EFAIL, "ssh %s: no host key from server: %s", s->desc,
				ssh_last(s));
		goto out;
	}
	kmask = knownhost_key_type(ktype, &tname);
	fingerprint(s->sess, fp, sizeof(fp));
	if (o->known_hosts && *o->known_hosts)
		strbuf_addstr(&khpath, o->known_hosts);
	else
		default_known_hosts(&khpath);

	kh = libssh2_knownhost_init(s->sess);
	if (!kh) {
		rc = errbuf_set(e, BL_EFAIL, "ssh %s: %s", s->desc, ssh_last(s));
		goto out;
	}
	if (!stat(khpath.buf, &st)) {
		rc = known_hosts_read(kh, khpath.buf, s->desc, e);
		if (rc)
			goto out;
	}
	check = libssh2_knownhost_checkp(kh, o->host, port, key, keylen,
					 LIBSSH2_KNOWNHOST_TYPE_PLAIN |
					 LIBSSH2_KNOWNHOST_KEYENC_RAW | kmask, NULL);
	switch (check) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		break;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		rc = errbuf_set(e, BL_EFAIL, "ssh %s: host key CHANGED: the server offers %s %s, "
				"which does not match %s; refusing to connect (possible "
				"man-in-the-middle; remove the old line only if the key change "
				"is expected)", s->desc, tname, fp, khpath.buf);
		goto out;
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND: {
		char hostname[300];

		if (!o->accept_new) {
			rc = errbuf_set(e, BL_EFAIL, "ssh %s: unknown host key %s %s (not in %s); "
					"check the fingerprint and add it, or set host_key_policy "
					"\"accept-new\"", s->desc, tname, fp, khpath.buf);
			goto out;
		}
		/* OpenSSH's spelling: a bare host for port 22, "[host]:port" else. */
		if (port == 22)
			snprintf(hostname, sizeof(hostname), "%s", o->host);
		else
			snprintf(hostname, sizeof(hostname), "[%s]:%d", o->host, port);
		if (libssh2_knownhost_addc(kh, hostname, NULL, key, keylen, NULL, 0,
					   LIBSSH2_KNOWNHOST_TYPE_PLAIN |
					   LIBSSH2_KNOWNHOST_KEYENC_RAW | kmask, &added) ||
		    libssh2_knownhost_writeline(kh, added, line, sizeof(line), &linelen,
						LIBSSH2_KNOWNHOST_FILE_OPENSSH)) {
			rc = errbuf_set(e, BL_EFAIL, "ssh %s: cannot record host key: %s",
					s->desc, ssh_last(s));
			goto out;
		}
		rc = known_hosts_append(khpath.buf, line, linelen, s->desc, e);
		break;
	}
	default:
		rc = errbuf_set(e, BL_EFAIL, "ssh %s: cannot check host key %s against %s: %s",
				s->desc, fp, khpath.buf, ssh_last(s));
		goto out;
	}
out:
	if (kh)
		libssh2_knownhost_free(kh);
	strbuf_release(&khpath);
	return rc;
}

static int auth_agent(struct ssh_session *s, const char *user, struct errbuf *e)
{
	LIBSSH2_AGENT *agent = libssh2_agent_init(s->sess);
	struct libssh2_agent_publickey *id = NULL, *prev = NULL;
	int rc = BL_EFAIL, tried = 0, r;

	if (!agent)
		return errbuf_set(e, BL_EFAIL, "ssh %s: cannot use ssh-agent: %s", s->desc,
				  ssh_last(s));
	if (libssh2_agent_connect(agent)) {
		errbuf_set(e, BL_EFAIL, "ssh %s: no key file configured and no ssh-agent "
			   "reachable (SSH_AUTH_SOCK %s)", s->desc,
			   getenv("SSH_AUTH_SOCK") ? "unreachable" : "unset");
		goto out;
	}
	if (libssh2_agent_list_identities(agent)) {
		errbuf_set(e, BL_EFAIL, "ssh %s: cannot list ssh-agent keys: %s", s->desc,
			   ssh_last(s));
		goto out;
	}
	while ((r = libssh2_agent_get_identity(agent, &id, prev)) == 0) {
		tried++;
		if (!libssh2_agent_userauth(agent, user, id)) {
			rc = 0;
			goto out;
		}
		prev = id;
	}
	errbuf_set(e, BL_EFAIL, "ssh %s: authentication refused for every ssh-agent key "
		   "(%d tried)", s->desc, tried);
out:
	libssh2_agent_disconnect(agent);
	libssh2_agent_free(agent);
	return rc;
}

static int authenticate(struct ssh_session *s, const struct ssh_opts *o, const char *user,
			struct errbuf *e)
{
	if (!o->key_path || !*o->key_path)
		return auth_agent(s, user, e);
	if (access(o->key_path, R_OK))
		return errbuf_errno(e, BL_EUSAGE, errno, "ssh %s: cannot read key file %s",
				    s->desc, o->key_path);
	if (libssh2_userauth_publickey_fromfile_ex(s->sess, user, (unsigned)strlen(user),
						   NULL, o->key_path, o->passphrase))
		return errbuf_set(e, BL_EFAIL, "ssh %s: authentication with key %s failed: %s",
				  s->desc, o->key_path, ssh_last(s));
	return 0;
}

int ssh_connect(const struct ssh_opts *o, struct ssh_session **out, struct errbuf *e)
{
	struct ssh_session *s;
	const char *user = o->user;
	struct passwd *pw;
	int port = o->port > 0 ? o->port : 22;
	int rc;

	*out = NULL;
	if (!o->host || !*o->host)
		return errbuf_set(e, BL_EUSAGE, "ssh: no host given");
	pthread_once(&ssh_once, ssh_global_init);
	if (ssh_init_rc)
		return errbuf_set(e, BL_EFAIL, "ssh: libssh2_init failed");
	if (!user || !*user)
		user = getenv("USER");
	if (!user || !*user) {
		pw = getpwuid(getuid());
		user = pw ? pw->pw_name : "root";
	}
	s = xcalloc(1, sizeof(*s));
	s->sock = -1;
	s->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : SSH_DEFAULT_TIMEOUT_MS;
	snprintf(s->desc, sizeof(s->desc), "%s@%s:%d", user, o->host, port);

	rc = tcp_connect(o->host, port, s->timeout_ms, &s->sock, s->desc, e);
	if (rc)
		goto out;
	s->sess = libssh2_session_init();
	if (!s->sess) {
		rc = errbuf_set(e, BL_EFAIL, "ssh %s: cannot create a session", s->desc);
		goto out;
	}
	libssh2_session_set_blocking(s->sess, 1);
	libssh2_session_set_timeout(s->sess, s->timeout_ms);
	if (libssh2_session_handshake(s->sess, s->sock)) {
		rc = errbuf_set(e, BL_EFAIL, "ssh %s: handshake failed: %s", s->desc, ssh_last(s));
		goto out;
	}
	rc = check_host_key(s, o, port, e);
	if (rc)
		goto out;
	rc = authenticate(s, o, user, e);
	if (rc)
		goto out;
	/* Lets a long exec notice a dead peer instead of waiting forever. */
	libssh2_keepalive_config(s->sess, 1, 15);
	*out = s;
	return 0;
out:
	ssh_close(s);
	return rc;
}

void ssh_close(struct ssh_session *s)
{
	if (!s)
		return;
	if (s->sess) {
		/* A dead peer must not make close wait the whole timeout twice. */
		libssh2_session_set_timeout(s->sess, 2000);
		if (s->sftp)
			libssh2_sftp_shutdown(s->sftp);
		libssh2_session_disconnect(s->sess, "bye");
		libssh2_session_free(s->sess);
	}
	if (s->sock >= 0)
		close(s->sock);
	free(s);
}

/* Wait until the socket is ready in the direction libssh2 is blocked on, or
 * the deadline (0 = none) passes. 0 ready, 1 timed out. */
static int wait_socket(struct ssh_session *s, long long deadline)
{
	struct pollfd pfd;
	int dir = libssh2_session_block_directions(s->sess);
	int ms = 1000, rc;

	pfd.fd = s->sock;
	pfd.events = 0;
	if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
		pfd.events |= POLLIN;
	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		pfd.events |= POLLOUT;
	if (!pfd.events)
		pfd.events = POLLIN;
	if (deadline) {
		long long left = deadline - time_mono_ms();

		if (left <= 0)
			return 1;
		if (left < ms)
			ms = (int)left;
	}
	do
		rc = poll(&pfd, 1, ms);
	while (rc < 0 && errno == EINTR);
	return 0;
}

/* The exec loop, in non-blocking mode. */
static int exec_pump(struct ssh_session *s, LIBSSH2_CHANNEL *ch, const char *command,
		     const void *stdin_data, size_t stdin_len, proc_sink_fn out_sink, void *ctx,
		     struct strbuf *err_tail, long timeout_ms, struct errbuf *e)
{
	long long deadline = timeout_ms > 0 ? time_mono_ms() + timeout_ms : 0;
	const char *in = stdin_data;
	size_t sent = 0;
	int eof_sent = 0, rc;
	char *buf = xmalloc(PROC_CHUNK);

	while ((rc = libssh2_channel_exec(ch, command)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_socket(s, deadline))
			break;
	if (rc) {
		rc = errbuf_set(e, BL_EFAIL, "ssh %s: cannot start remote command: %s", s->desc,
				rc == LIBSSH2_ERROR_EAGAIN ? "timed out" : ssh_last(s));
		goto out;
	}
	for (;;) {
		int progress = 0, again = 0;
		ssize_t n;
		int ignored;

		if (!eof_sent && sent < stdin_len) {
			n = libssh2_channel_write(ch, in + sent, stdin_len - sent);
			if (n > 0) {
				sent += (size_t)n;
				progress = 1;
			} else if (n == LIBSSH2_ERROR_EAGAIN) {
				again = 1;
			} else if (n < 0) {
				rc = errbuf_set(e, BL_EFAIL, "ssh %s: cannot send stdin: %s", s->desc,
						ssh_last(s));
				goto out;
			}
		}
		if (!eof_sent && sent >= stdin_len) {
			n = libssh2_channel_send_eof(ch);
			if (n == 0) {
				eof_sent = 1;
				progress = 1;
			} else if (n == LIBSSH2_ERROR_EAGAIN) {
				again = 1;
			} else {
				rc = errbuf_set(e, BL_EFAIL, "ssh %s: cannot send stdin: %s", s->desc,
						ssh_last(s));
				goto out;
			}
		}
		n = libssh2_channel_read(ch, buf, PROC_CHUNK);
		if (n > 0) {
			progress = 1;
			if (out_sink) {
				rc = out_sink(ctx, buf, (size_t)n, e);
				if (rc)
					goto out;
			}
		} else if (n == LIBSSH2_ERROR_EAGAIN) {
			again = 1;
		} else if (n < 0) {
			rc = errbuf_set(e, BL_EFAIL, "ssh %s: connection lost while reading the "
					"output of the remote command: %s", s->desc, ssh_last(s));
			goto out;
		}
		n = libssh2_channel_read_stderr(ch, buf, PROC_CHUNK);
		if (n > 0) {
			progress = 1;
			proc_tail_add(err_tail, buf, (size_t)n);
		} else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
			rc = errbuf_set(e, BL_EFAIL, "ssh %s: connection lost while reading the "
					"output of the remote command: %s", s->desc, ssh_last(s));
			goto out;
		}
		if (libssh2_channel_eof(ch) && !progress)
			break;
		if (progress)
			continue;
		(void)again;
		libssh2_keepalive_send(s->sess, &ignored);
		if (wait_socket(s, deadline)) {
			rc = errbuf_set(e, BL_EFAIL, "ssh %s: remote command timed out after %ld ms",
					s->desc, timeout_ms);
			goto out;
		}
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

int ssh_exec(struct ssh_session *s, const char *command, const void *stdin_data,
	     size_t stdin_len, proc_sink_fn out_sink, void *ctx, struct strbuf *err_tail,
	     int *exit_status, long timeout_ms, struct errbuf *e)
{
	LIBSSH2_CHANNEL *ch;
	char *sig = NULL;
	int rc;

	if (exit_status)
		*exit_status = -1;
	ch = libssh2_channel_open_session(s->sess);
	if (!ch)
		return errbuf_set(e, BL_EFAIL, "ssh %s: cannot open a channel: %s", s->desc,
				  ssh_last(s));
	libssh2_session_set_blocking(s->sess, 0);
	rc = exec_pump(s, ch, command, stdin_data, stdin_len, out_sink, ctx, err_tail,
		       timeout_ms, e);
	libssh2_session_set_blocking(s->sess, 1);
	if (!rc) {
		libssh2_channel_close(ch);
		libssh2_channel_wait_closed(ch);
		libssh2_channel_get_exit_signal(ch, &sig, NULL, NULL, NULL, NULL, NULL);
		if (exit_status)
			*exit_status = sig ? -1 : libssh2_channel_get_exit_status(ch);
		if (sig)
			libssh2_free(s->sess, sig);
		libssh2_channel_free(ch);
	} else {
		/* The command may still run and the server answers our close only
		 * when it ends: send the close, wait briefly, and move on. */
		libssh2_session_set_timeout(s->sess, 1000);
		libssh2_channel_close(ch);
		libssh2_channel_free(ch);
		libssh2_session_set_timeout(s->sess, s->timeout_ms);
	}
	return rc;
}

/* SFTP starts on first use: a deploy that only execs never asks for it. */
static int sftp_ready(struct ssh_session *s, struct errbuf *e)
{
	if (s->sftp)
		return 0;
	s->sftp = libssh2_sftp_init(s->sess);
	if (!s->sftp)
		return errbuf_set(e, BL_EFAIL, "sftp %s: cannot start the sftp subsystem: %s",
				  s->desc, ssh_last(s));
	return 0;
}

static int sftp_open(struct ssh_session *s, const char *path, unsigned long flags, int mode,
		     int writing, struct ssh_file **out, struct errbuf *e)
{
	struct ssh_file *f;
	int rc;

	*out = NULL;
	rc = sftp_ready(s, e);
	if (rc)
		return rc;
	f = xcalloc(1, sizeof(*f));
	f->path = xstrdup(path);
	f->s = s;
	f->writing = writing;
	f->h = libssh2_sftp_open_ex(s->sftp, path, (unsigned)strlen(path), flags, mode,
				    LIBSSH2_SFTP_OPENFILE);
	if (!f->h) {
		rc = sftp_fail(s, e, writing ? "create" : "open", path);
		free(f->path);
		free(f);
		return rc;
	}
	*out = f;
	return 0;
}

int ssh_sftp_open_write(struct ssh_session *s, const char *path, int mode,
			struct ssh_file **out, struct errbuf *e)
{
	return sftp_open(s, path, LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_TRUNC,
			 mode, 1, out, e);
}

int ssh_sftp_open_read(struct ssh_session *s, const char *path, struct ssh_file **out,
		       struct errbuf *e)
{
	return sftp_open(s, path, LIBSSH2_FXF_READ, 0, 0, out, e);
}

int ssh_sftp_write(struct ssh_file *f, const void *buf, size_t len, struct errbuf *e)
{
	const char *p = buf;

	while (len) {
		ssize_t n = libssh2_sftp_write(f->h, p, len);

		if (n < 0)
			return sftp_fail(f->s, e, "write", f->path);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int ssh_sftp_read(struct ssh_file *f, void *buf, size_t cap, size_t *got, struct errbuf *e)
{
	ssize_t n = libssh2_sftp_read(f->h, buf, cap);

	*got = 0;
	if (n < 0)
		return sftp_fail(f->s, e, "read", f->path);
	*got = (size_t)n;
	return 0;
}

int ssh_sftp_close(struct ssh_file *f, struct errbuf *e)
{
	int rc = 0;

	if (!f)
		return 0;
	/* libssh2 sends fsync@openssh.com whether or not the server offered it;
	 * a server without it answers OP_UNSUPPORTED, which is not an error. */
	if (f->writing && libssh2_sftp_fsync(f->h) &&
	    sftp_status(f->s) != LIBSSH2_FX_OP_UNSUPPORTED)
		rc = sftp_fail(f->s, e, "fsync", f->path);
	if (libssh2_sftp_close_handle(f->h) && !rc)
		rc = sftp_fail(f->s, e, "close", f->path);
	free(f->path);
	free(f);
	return rc;
}

int ssh_sftp_stat(struct ssh_session *s, const char *path, struct ssh_stat *st,
		  struct errbuf *e)
{
	LIBSSH2_SFTP_ATTRIBUTES a;
	int rc = sftp_ready(s, e);

	memset(st, 0, sizeof(*st));
	if (rc)
		return rc;
	if (libssh2_sftp_stat_ex(s->sftp, path, (unsigned)strlen(path), LIBSSH2_SFTP_STAT, &a)) {
		if (sftp_status(s) == LIBSSH2_FX_NO_SUCH_FILE)
			return 0;
		return sftp_fail(s, e, "stat", path);
	}
	st->exists = 1;
	if (a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS)
		st->is_dir = LIBSSH2_SFTP_S_ISDIR(a.permissions);
	if (a.flags & LIBSSH2_SFTP_ATTR_SIZE)
		st->size = (long long)a.filesize;
	if (a.flags & LIBSSH2_SFTP_ATTR_ACMODTIME)
		st->mtime = (time_t)a.mtime;
	return 0;
}

int ssh_sftp_rename(struct ssh_session *s, const char *from, const char *to, struct errbuf *e)
{
	struct ssh_stat st;
	struct strbuf aside = STRBUF_INIT;
	int rc = sftp_ready(s, e);

	if (rc)
		return rc;
#if LIBSSH2_VERSION_NUM >= 0x010b00
	if (!libssh2_sftp_posix_rename_ex(s->sftp, from, strlen(from), to, strlen(to)))
		return 0;
	if (sftp_status(s) != LIBSSH2_FX_OP_UNSUPPORTED)
		return sftp_fail(s, e, "rename", from);
#endif
	if (!libssh2_sftp_rename_ex(s->sftp, from, (unsigned)strlen(from), to,
				    (unsigned)strlen(to), LIBSSH2_SFTP_RENAME_OVERWRITE |
				    LIBSSH2_SFTP_RENAME_ATOMIC | LIBSSH2_SFTP_RENAME_NATIVE))
		return 0;
	/* SFTP v3's rename refuses an existing target and this libssh2 cannot
	 * send posix-rename@openssh.com: move the old object aside, rename,
	 * then drop the old one. `to` is briefly absent but never partial. */
	rc = ssh_sftp_stat(s, to, &st, e);
	if (rc)
		return rc;
	if (!st.exists || st.is_dir)
		return sftp_fail(s, e, "rename", from);
	strbuf_addf(&aside, "%s.old-%lx", to, (unsigned long)time_mono_ms());
	if (libssh2_sftp_rename_ex(s->sftp, to, (unsigned)strlen(to), aside.buf,
				   (unsigned)aside.len, 0)) {
		rc = sftp_fail(s, e, "move aside", to);
		goto out;
	}
	if (libssh2_sftp_rename_ex(s->sftp, from, (unsigned)strlen(from), to,
				   (unsigned)strlen(to), 0)) {
		rc = sftp_fail(s, e, "rename", from);
		/* Put the old object back so the key keeps its last good value. */
		libssh2_sftp_rename_ex(s->sftp, aside.buf, (unsigned)aside.len, to,
				       (unsigned)strlen(to), 0);
		goto out;
	}
	libssh2_sftp_unlink_ex(s->sftp, aside.buf, (unsigned)aside.len);
out:
	strbuf_release(&aside);
	return rc;
}

int ssh_sftp_unlink(struct ssh_session *s, const char *path, struct errbuf *e)
{
	int rc = sftp_ready(s, e);

	if (rc)
		return rc;
	if (libssh2_sftp_unlink_ex(s->sftp, path, (unsigned)strlen(path)) &&
	    sftp_status(s) != LIBSSH2_FX_NO_SUCH_FILE)
		return sftp_fail(s, e, "remove", path);
	return 0;
}

/* A missing directory is not an error either: removal is idempotent. */
int ssh_sftp_rmdir(struct ssh_session *s, const char *path, struct errbuf *e)
{
	int rc = sftp_ready(s, e);

	if (rc)
		return rc;
	if (libssh2_sftp_rmdir_ex(s->sftp, path, (unsigned)strlen(path)) &&
	    sftp_status(s) != LIBSSH2_FX_NO_SUCH_FILE)
		return sftp_fail(s, e, "remove directory", path);
	return 0;
}

int ssh_sftp_mkdir_p(struct ssh_session *s, const char *path, int mode, struct errbuf *e)
{
	struct strbuf cur = STRBUF_INIT;
	struct ssh_stat st;
	const char *p = path;
	int rc = sftp_ready(s, e);

	if (rc)
		return rc;
	while (*p) {
		size_t n = strcspn(p, "/");

		strbuf_add(&cur, p, n);
		p += n;
		if (n && !(cur.len == 1 && cur.buf[0] == '.')) {
			rc = ssh_sftp_stat(s, cur.buf, &st, e);
			if (rc)
				goto out;
			if (st.exists && !st.is_dir) {
				rc = errbuf_set(e, BL_EFAIL, "sftp %s: cannot create directory %s: "
						"%s exists and is not a directory", s->desc, path,
						cur.buf);
				goto out;
			}
			if (!st.exists &&
			    libssh2_sftp_mkdir_ex(s->sftp, cur.buf, (unsigned)cur.len, mode)) {
				/* Somebody else may have made it meanwhile. */
				struct errbuf e2 = ERRBUF_INIT;

				rc = sftp_fail(s, e, "create directory", cur.buf);
				if (!ssh_sftp_stat(s, cur.buf, &st, &e2) && st.exists && st.is_dir)
					rc = 0;
				if (rc)
					goto out;
			}
		}
		if (*p == '/') {
			strbuf_addch(&cur, '/');
			p++;
		}
	}
out:
	strbuf_release(&cur);
	return rc;
}

int ssh_sftp_readdir(struct ssh_session *s, const char *path, ssh_dir_fn fn, void *ctx,
		     struct errbuf *e)
{
	LIBSSH2_SFTP_HANDLE *h;
	LIBSSH2_SFTP_ATTRIBUTES a;
	char name[1024];
	int rc = sftp_ready(s, e);

	if (rc)
		return rc;
	h = libssh2_sftp_open_ex(s->sftp, path, (unsigned)strlen(path), 0, 0,
				 LIBSSH2_SFTP_OPENDIR);
	if (!h)
		return sftp_fail(s, e, "open directory", path);
	for (;;) {
		struct ssh_stat st;
		int n = libssh2_sftp_readdir_ex(h, name, sizeof(name) - 1, NULL, 0, &a);

		if (n == 0)
			break;
		if (n < 0) {
			rc = sftp_fail(s, e, "read directory", path);
			break;
		}
		name[n] = 0;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		memset(&st, 0, sizeof(st));
		st.exists = 1;
		if (a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS)
			st.is_dir = LIBSSH2_SFTP_S_ISDIR(a.permissions);
		if (a.flags & LIBSSH2_SFTP_ATTR_SIZE)
			st.size = (long long)a.filesize;
		if (a.flags & LIBSSH2_SFTP_ATTR_ACMODTIME)
			st.mtime = (time_t)a.mtime;
		rc = fn(ctx, name, &st, e);
		if (rc)
			break;
	}
	libssh2_sftp_close_handle(h);
	return rc;
}
