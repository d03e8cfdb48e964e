#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const char *prog_name = "cowscan";

static void vline(const char *prefix, const char *fmt, va_list ap, int errnum)
{
	fprintf(stderr, "%s: %s", prog_name, prefix);
	vfprintf(stderr, fmt, ap);
	if (errnum)
		fprintf(stderr, ": %s", strerror(errnum));
	fputc('\n', stderr);
}

void err_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline("", fmt, ap, 0);
	va_end(ap);
}

void err_errno(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	vline("", fmt, ap, errnum);
	va_end(ap);
}

void warn_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline("warning: ", fmt, ap, 0);
	va_end(ap);
}

int json_print(json_t *doc)
{
	int ret = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_decref(doc);
	if (ret || fputc('\n', stdout) == EOF || fflush(stdout)) {
		err_errno("writing JSON to stdout");
		return -1;
	}
	return 0;
}

int parse_pid(const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v <= 0 || v > INT_MAX) {
		err_line("'%s' is not a process id", arg);
		return -1;
	}
	return (int)v;
}

bool errno_means_gone(int err)
{
	return err == ENOENT || err == ESRCH;
}

const char *fmt_bytes(unsigned long long bytes)
{
	static char bufs[8][32];
	static unsigned int next;
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	char *buf = bufs[next++ % 8];
	double v = (double)bytes;
	unsigned int u = 0;

	while (v >= 1024.0 && u < 4) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, sizeof(bufs[0]), "%llu B", bytes);
	else
		snprintf(buf, sizeof(bufs[0]), "%.1f %s", v, units[u]);
	return buf;
}
