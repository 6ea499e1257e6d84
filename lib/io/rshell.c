/* rshell: many commands through one remote shell (contract in rshell.h). */
#include "rshell.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "randhex.h"
#include "timeutil.h"
#include "xalloc.h"

/* Kept on one line: the login shell that starts it (any shell: sshd runs
 * `$SHELL -c`) only has to pass a quoted word. */
const char rshell_loop[] =
	"_rd() { dd bs=65536 count=\"$1\" iflag=count_bytes,fullblock 2>/dev/null; }; "
	"if printf abcdef | { _rd 2 >/dev/null; IFS= read -r _x; [ \"$_x\" = cdef ]; }; "
	"then _g=input; else _g=noinput; fi; "
	"_nl=$(printf '\\nx'); _nl=${_nl%x}; "
	"echo \"ballast-rshell 1 $_g\"; "
	"while read -r _n _s _i; do "
	"_c=; while [ \"$_s\" -gt 0 ] && IFS= read -r _l; do _c=$_c$_l$_nl; _s=$((_s - 1)); done; "
	"[ \"$_s\" -eq 0 ] || exit 1; "
	"if [ \"$_i\" -gt 0 ]; then "
	"_rd \"$_i\" | { ( _n=; eval \"$_c\" ); _r=$?; cat >/dev/null; exit $_r; }; "
	"else ( _n=; eval \"$_c\" ) </dev/null; fi; "
	"_r=$?; printf '%s %d\\n' \"$_n\" \"$_r\"; printf '%s\\n' \"$_n\" >&2; "
	"done";

#define GREETING "ballast-rshell 1 "
/* What a login script may print before the greeting. */
#define JUNK_MAX (64 * 1024)
#define NONCE_BYTES 16
#define NONCE_LEN (2 * NONCE_BYTES)

struct rshell {
	int to, from, diag;
	int input, broken;
	struct strbuf diag_tail;
	char *buf;
};

static int left_ms(long long deadline)
{
	long long left;

	if (!deadline)
		return -1;
	left = deadline - time_mono_ms();
	if (left <= 0)
		return 0;
	return left > 1000000000 ? 1000000000 : (int)left;
}

static int broken(struct rshell *r, struct errbuf *e, const char *why)
{
	r->broken = 1;
	return errbuf_set(e, BL_EFAIL, "%s", why);
}

/* Whatever diag has now, into the tail; 1 at its end. */
static int drain_diag(struct rshell *r)
{
	ssize_t n = read(r->diag, r->buf, PROC_CHUNK);

	if (n > 0)
		proc_tail_add(&r->diag_tail, r->buf, (size_t)n);
	return n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN);
}

int rshell_open(int to, int from, int diag, long timeout_ms, struct rshell **out,
		struct errbuf *e)
{
	struct rshell *r = xcalloc(1, sizeof(*r));
	long wait_ms = timeout_ms > 0 ? timeout_ms : 30000;
	long long deadline = time_mono_ms() + wait_ms;
	struct strbuf line = STRBUF_INIT;
	size_t junk = 0;
	int rc = 0, diag_open = 1;

	*out = NULL;
	r->to = to;
	r->from = from;
	r->diag = diag;
	strbuf_init(&r->diag_tail, 0);
	r->buf = xmalloc(PROC_CHUNK);
	fcntl(to, F_SETFL, fcntl(to, F_GETFL) | O_NONBLOCK);
	/* byte by byte: nothing after the greeting is taken from the stream */
	for (;;) {
		struct pollfd p[2] = { { .fd = from, .events = POLLIN },
				       { .fd = diag_open ? diag : -1, .events = POLLIN } };
		int rv = poll(p, 2, left_ms(deadline));
		char c;
		ssize_t n;

		if (rv < 0 && errno == EINTR)
			continue;
		if (rv == 0) {
			rc = errbuf_set(e, BL_EFAIL, "the remote shell did not greet within %ld ms",
					wait_ms);
			goto out;
		}
		if (p[1].revents && drain_diag(r))
			diag_open = 0;
		if (!p[0].revents)
			continue;
		n = read(from, &c, 1);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			rc = errbuf_set(e, BL_EFAIL, "the remote shell ended before its greeting");
			goto out;
		}
		if (c != '\n') {
			strbuf_addch(&line, c);
			if (++junk > JUNK_MAX) {
				rc = errbuf_set(e, BL_EFAIL, "no greeting from the remote shell in %d bytes",
						JUNK_MAX);
				goto out;
			}
			continue;
		}
		if (!strcmp(line.buf ? line.buf : "", GREETING "input") ||
		    !strcmp(line.buf ? line.buf : "", GREETING "noinput"))
			break;
		strbuf_reset(&line); /* a login script's output */
	}
	r->input = !strcmp(line.buf, GREETING "input");
	*out = r;
	r = NULL;
out:
	strbuf_release(&line);
	rshell_free(r);
	return rc;
}

void rshell_free(struct rshell *r)
{
	if (!r)
		return;
	strbuf_release(&r->diag_tail);
	free(r->buf);
	free(r);
}

int rshell_takes_input(const struct rshell *r)
{
	return r->input;
}

int rshell_broken(const struct rshell *r)
{
	return r->broken;
}

const struct strbuf *rshell_diag(const struct rshell *r)
{
	return &r->diag_tail;
}

int rshell_idle_ended(struct rshell *r)
{
	struct pollfd p[2] = { { .fd = r->from, .events = POLLIN },
			       { .fd = r->diag, .events = POLLIN } };

	if (r->broken)
		return 1;
	if (poll(p, 2, 0) <= 0)
		return 0;
	if (p[1].revents && drain_diag(r))
		r->broken = 1;
	/* stdout carries nothing between answers: data is a stray writer */
	if (p[0].revents)
		r->broken = 1;
	return r->broken;
}

/* One stream of an answer: payload bytes up to the marker "NONCE" + tail,
 * where tail is " STATUS\n" on stdout and "\n" on stderr. The last
 * NONCE_LEN bytes seen are held back until they cannot begin the marker. */
struct stream {
	const char *nonce;
	char hold[NONCE_LEN];
	size_t nhold;
	int in_tail;       /* the nonce was seen: reading its tail */
	char tailbuf[4];
	size_t ntail;
	int status;
	int done;
	/* where the payload goes */
	proc_sink_fn sink;
	void *ctx;
	struct strbuf *keep; /* stderr: the tail kept */
	int refused;         /* the sink failed: the rest is dropped */
	struct errbuf sink_err;
};

static void deliver(struct stream *s, const char *buf, size_t n)
{
	if (!n)
		return;
	if (s->keep) {
		proc_tail_add(s->keep, buf, n);
		return;
	}
	if (s->refused || !s->sink)
		return;
	for (size_t off = 0; off < n && !s->refused;) {
		size_t k = n - off > PROC_CHUNK ? PROC_CHUNK : n - off;

		if (s->sink(s->ctx, buf + off, k, &s->sink_err))
			s->refused = 1;
		off += k;
	}
}

/* The marker's tail after the nonce: " STATUS" (1 to 3 digits) on stdout,
 * nothing on stderr. */
static int tail_ok(struct stream *s, int is_out)
{
	int st = 0;

	if (!is_out)
		return s->ntail == 0;
	if (s->ntail < 2 || s->ntail > 4 || s->tailbuf[0] != ' ')
		return 0;
	for (size_t i = 1; i < s->ntail; i++) {
		if (s->tailbuf[i] < '0' || s->tailbuf[i] > '9')
			return 0;
		st = st * 10 + (s->tailbuf[i] - '0');
	}
	s->status = st;
	return st <= 255;
}

/* Feed bytes read from the stream: how many were taken (fewer than n once
 * the marker is complete), -1 for a malformed marker. */
static ssize_t feed(struct stream *s, const char *buf, size_t n, int is_out)
{
	size_t i = 0;

	while (i < n && !s->done) {
		const char *hit;
		size_t take, wlen, k;
		char *win;

		if (s->in_tail) {
			char c = buf[i++];

			if (c == '\n') {
				if (!tail_ok(s, is_out))
					return -1;
				s->done = 1;
			} else if (s->ntail == sizeof(s->tailbuf)) {
				return -1;
			} else {
				s->tailbuf[s->ntail++] = c;
			}
			continue;
		}
		/* the nonce in what is held back plus the new bytes */
		take = n - i > PROC_CHUNK ? PROC_CHUNK : n - i;
		wlen = s->nhold + take;
		win = xmalloc(wlen);
		memcpy(win, s->hold, s->nhold);
		memcpy(win + s->nhold, buf + i, take);
		hit = memmem(win, wlen, s->nonce, NONCE_LEN);
		if (hit) {
			size_t at = (size_t)(hit - win);

			deliver(s, win, at);
			i += at + NONCE_LEN - s->nhold;
			s->nhold = 0;
			s->in_tail = 1;
		} else {
			k = wlen > NONCE_LEN - 1 ? wlen - (NONCE_LEN - 1) : 0;
			deliver(s, win, k);
			s->nhold = wlen - k;
			memcpy(s->hold, win + k, s->nhold);
			i += take;
		}
		free(win);
	}
	return (ssize_t)i;
}

/* The request's fixed part: header and script. */
static void request(struct strbuf *req, const char *nonce, const char *script, size_t in_len)
{
	size_t len = strlen(script), lines = 0;
	int add_nl = !len || script[len - 1] != '\n';

	for (size_t i = 0; i < len; i++)
		lines += script[i] == '\n';
	lines += add_nl;
	strbuf_addf(req, "%s %zu %zu\n", nonce, lines, in_len);
	strbuf_add(req, script, len);
	if (add_nl)
		strbuf_addch(req, '\n');
}

int rshell_call(struct rshell *r, const char *script, int in_fd, size_t in_len,
		proc_sink_fn sink, void *ctx, struct strbuf *err_tail, int *status,
		long timeout_ms, struct errbuf *e)
{
	long long deadline = timeout_ms > 0 ? time_mono_ms() + timeout_ms : 0;
	char nonce[NONCE_LEN + 1];
	struct strbuf req = STRBUF_INIT, err = STRBUF_INIT;
	struct stream so, se;
	size_t req_off = 0, in_sent = 0, in_have = 0, in_off = 0;
	char *inbuf = NULL;
	struct sigaction ign, old_pipe;
	int rc = 0;

	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	*status = -1;
	if (r->broken)
		return errbuf_set(e, BL_EFAIL, "the remote shell ended earlier");
	if (rshell_idle_ended(r))
		return errbuf_set(e, BL_EFAIL, "the remote shell ended or wrote between two commands");
	if (in_fd < 0)
		in_len = 0;
	if (in_len && !r->input)
		return errbuf_set(e, BL_EUSAGE, "the remote shell cannot take input");
	/* a far side that ended must fail the write (EPIPE), not end this
	 * process; whatever the caller had is put back */
	sigaction(SIGPIPE, &ign, &old_pipe);
	randhex(nonce, NONCE_BYTES);
	request(&req, nonce, script, in_len);
	if (in_len)
		inbuf = xmalloc(PROC_CHUNK);
	memset(&so, 0, sizeof(so));
	memset(&se, 0, sizeof(se));
	so.nonce = se.nonce = nonce;
	so.sink = sink;
	so.ctx = ctx;
	se.keep = &err;

	while (!so.done || !se.done) {
		int sending = req_off < req.len || in_sent < in_len;
		struct pollfd p[3] = {
			{ .fd = sending ? r->to : -1, .events = POLLOUT },
			{ .fd = so.done ? -1 : r->from, .events = POLLIN },
			{ .fd = se.done ? -1 : r->diag, .events = POLLIN },
		};
		int rv = poll(p, 3, left_ms(deadline));

		if (rv < 0 && errno == EINTR)
			continue;
		if (rv < 0) {
			rc = errbuf_errno(e, BL_EFAIL, errno, "poll failed");
			r->broken = 1;
			goto out;
		}
		if (rv == 0) {
			rc = errbuf_set(e, BL_EFAIL, "timed out after %ld ms", timeout_ms);
			r->broken = 1;
			goto out;
		}
		if (p[0].revents) {
			const char *src;
			size_t n;
			ssize_t w;

			if (req_off < req.len) {
				src = req.buf + req_off;
				n = req.len - req_off;
			} else {
				if (in_off == in_have) {
					size_t want = in_len - in_sent;
					ssize_t got;

					if (want > PROC_CHUNK)
						want = PROC_CHUNK;
					do
						got = read(in_fd, inbuf, want);
					while (got < 0 && errno == EINTR);
					if (got <= 0) {
						if (got < 0)
							rc = errbuf_errno(e, BL_EFAIL, errno, "cannot read the input");
						else
							rc = errbuf_set(e, BL_EFAIL,
									"the input ended after %zu of %zu bytes",
									in_sent, in_len);
						r->broken = 1;
						goto out;
					}
					in_have = (size_t)got;
					in_off = 0;
				}
				src = inbuf + in_off;
				n = in_have - in_off;
			}
			w = write(r->to, src, n);
			if (w < 0 && errno != EINTR && errno != EAGAIN) {
				rc = broken(r, e, "the remote shell ended");
				goto out;
			}
			if (w > 0) {
				if (req_off < req.len) {
					req_off += (size_t)w;
				} else {
					in_off += (size_t)w;
					in_sent += (size_t)w;
				}
			}
		}
		for (int k = 1; k <= 2; k++) {
			struct stream *s = k == 1 ? &so : &se;
			ssize_t n, took;

			if (!p[k].revents)
				continue;
			n = read(p[k].fd, r->buf, PROC_CHUNK);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				rc = broken(r, e, "the remote shell ended");
				goto out;
			}
			took = feed(s, r->buf, (size_t)n, k == 1);
			if (took < 0) {
				rc = broken(r, e, "a malformed answer from the remote shell");
				goto out;
			}
			if ((size_t)took < (size_t)n) {
				if (k == 2) {
					/* stderr after the marker: not this command's */
					proc_tail_add(&r->diag_tail, r->buf + took, (size_t)(n - took));
					continue;
				}
				rc = broken(r, e, "output after the answer (a background process "
					    "writing to its stdout?)");
				goto out;
			}
			if (so.refused) {
				/* Reading the rest only to drop it could mean
				 * gigabytes (a capped read of a large file):
				 * this shell ends here, the next command gets a
				 * new one. */
				r->broken = 1;
				break;
			}
		}
	}
	if (!so.refused && (req_off < req.len || in_sent < in_len)) {
		rc = broken(r, e, "the remote shell answered before it had the whole request");
		goto out;
	}
	*status = so.status;
	if (so.refused) {
		*status = -1;
		rc = errbuf_set(e, so.sink_err.code ? so.sink_err.code : BL_EFAIL, "%s",
				so.sink_err.msg);
	}
out:
	sigaction(SIGPIPE, &old_pipe, NULL);
	if (err_tail)
		strbuf_add(err_tail, err.buf ? err.buf : "", err.len);
	strbuf_release(&req);
	strbuf_release(&err);
	free(inbuf);
	return rc;
}
