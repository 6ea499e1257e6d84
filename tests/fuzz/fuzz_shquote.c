/* shquote on arbitrary words: the input, split at NUL bytes, is an argv.
 * Its quoted form must split back into exactly those words, judged twice:
 * by a strict reader that knows only bare safe characters, '...' and \'
 * (anything else unquoted is a bug: the shell might expand it), and by a
 * real /bin/sh running printf '%s\0' on it. shquote_assign's output must
 * read back as NAME=value the same way. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include "shquote.h"

#define MAX_WORDS 16

static int safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("@%+=:,./-_", c));
}

/* Split s like sh would for the forms shquote writes; words NUL-separated
 * into out. -1 on anything it does not expect. */
static int read_back(const char *s, struct strbuf *out, int *nwords)
{
	int in_word = 0;

	*nwords = 0;
	for (const char *p = s; *p;) {
		if (*p == ' ') {
			if (in_word) {
				strbuf_addch(out, '\0');
				in_word = 0;
			}
			p++;
			continue;
		}
		if (!in_word) {
			in_word = 1;
			(*nwords)++;
		}
		if (*p == '\'') {
			const char *end = strchr(p + 1, '\'');

			if (!end)
				return -1;
			strbuf_add(out, p + 1, (size_t)(end - p - 1));
			p = end + 1;
		} else if (p[0] == '\\' && p[1] == '\'') {
			strbuf_addch(out, '\'');
			p += 2;
		} else if (safe((unsigned char)*p)) {
			strbuf_addch(out, *p++);
		} else {
			return -1;
		}
	}
	if (in_word)
		strbuf_addch(out, '\0');
	return 0;
}

/* What a real sh prints for printf '%s\0' <quoted>. One sh reads command
 * after command from a pipe (spawning one per input would make this target
 * crawl); after each, it writes a byte to fd 3, and by then everything it
 * printed is in the stdout pipe. Only strings read_back() accepted get here,
 * so sh always sees a complete command. */
static int sh_in = -1, sh_out = -1, sh_done = -1;

static void sh_start(void)
{
	int in[2], out[2], done[2];
	posix_spawn_file_actions_t fa;
	char *args[] = { "sh", "-s", NULL };
	pid_t pid;

	if (pipe(in) || pipe(out) || pipe(done))
		abort();
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, done[1], 3);
	posix_spawn_file_actions_addclose(&fa, in[1]);
	posix_spawn_file_actions_addclose(&fa, out[0]);
	posix_spawn_file_actions_addclose(&fa, done[0]);
	if (posix_spawn(&pid, "/bin/sh", &fa, NULL, args, environ))
		abort();
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	close(done[1]);
	sh_in = in[1];
	sh_out = out[0];
	sh_done = done[0];
	fcntl(sh_out, F_SETFL, O_NONBLOCK);
}

static int through_sh(const char *quoted, struct strbuf *out)
{
	struct strbuf cmd = STRBUF_INIT;
	char buf[4096], c;
	ssize_t n;

	if (sh_in < 0)
		sh_start();
	strbuf_addstr(&cmd, "printf '%s\\0' ");
	strbuf_addstr(&cmd, quoted);
	strbuf_addstr(&cmd, "; printf . >&3\n");
	/* libFuzzer's -timeout is a SIGALRM without SA_RESTART: every call
	 * here must survive EINTR, or a timer tick reads as a crash. */
	for (size_t off = 0; off < cmd.len; off += (size_t)n) {
		while ((n = write(sh_in, cmd.buf + off, cmd.len - off)) < 0 && errno == EINTR)
			;
		if (n <= 0)
			abort();
	}
	while ((n = read(sh_done, &c, 1)) < 0 && errno == EINTR)
		;
	if (n != 1)
		abort();
	for (;;) {
		n = read(sh_out, buf, sizeof(buf));
		if (n > 0)
			strbuf_add(out, buf, (size_t)n);
		else if (n < 0 && errno == EINTR)
			continue;
		else
			break;
	}
	strbuf_release(&cmd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strbuf in = STRBUF_INIT, q = STRBUF_INIT, back = STRBUF_INIT, sh = STRBUF_INIT;
	const char *argv[MAX_WORDS + 1];
	size_t off = 0, want_len;
	int n = 0, got;

	if (size > 2048)
		return 0;
	strbuf_add(&in, data, size);
	/* words are the NUL-separated pieces; the last needs no terminator */
	while (off < size && n < MAX_WORDS) {
		argv[n++] = in.buf + off;
		off += strlen(in.buf + off) + 1;
	}
	argv[n] = NULL;
	want_len = off > size ? size + 1 : off;
	if (n == 0)
		goto out;
	shquote_argv(&q, argv);
	if (read_back(q.buf, &back, &got) || got != n || back.len != want_len ||
	    memcmp(back.buf, in.buf, want_len))
		abort();
	if (through_sh(q.buf, &sh) || sh.len != want_len || memcmp(sh.buf, in.buf, want_len))
		abort();
	/* an assignment: the value is quoted, the name stays bare */
	strbuf_reset(&q);
	strbuf_reset(&back);
	{
		struct strbuf a = STRBUF_INIT;

		strbuf_addstr(&a, "BALLAST_X=");
		strbuf_addstr(&a, argv[0]);
		if (shquote_assign(&q, a.buf) || read_back(q.buf, &back, &got) || got != 1 ||
		    strcmp(back.buf, a.buf))
			abort();
		strbuf_release(&a);
	}
out:
	strbuf_release(&in);
	strbuf_release(&q);
	strbuf_release(&back);
	strbuf_release(&sh);
	return 0;
}
