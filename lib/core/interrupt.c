#include "interrupt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

volatile sig_atomic_t interrupt_signal;

static void on_signal(int sig)
{
	interrupt_signal = sig;
}

void interrupt_catch(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int interrupt_check(struct errbuf *e)
{
	int sig = interrupt_signal;

	if (!sig)
		return 0;
	return errbuf_set(e, BL_EFAIL, "interrupted by signal %d", sig);
}

int interrupt_check_what(struct errbuf *e, const char *fmt, ...)
{
	char what[ERRBUF_MSG_MAX / 2];
	int sig = interrupt_signal;
	va_list ap;

	if (!sig)
		return 0;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return errbuf_set(e, BL_EFAIL, "%s: interrupted by signal %d", what, sig);
}

int interrupt_hold(void)
{
	int sig = interrupt_signal;

	interrupt_signal = 0;
	return sig;
}

void interrupt_resume(int held)
{
	if (held && !interrupt_signal)
		interrupt_signal = held;
}
