/* Small helpers shared by cowscan's subcommands: errors and JSON output. */
#ifndef COWSCAN_UTIL_H
#define COWSCAN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/* Program name used as the prefix of every error line ("cowscan"). */
extern const char *prog_name;

/* One line on stderr: "cowscan: <message>". Never exits. */
void err_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, with ": strerror(errno)" appended. */
void err_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A warning that does not stop the run: "cowscan: warning: <message>". */
void warn_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print a JSON document to stdout (indented, keys in insertion order) and
 * release it. Returns 0, or -1 with an error line on write failure. */
int json_print(json_t *doc);

/* Parse a pid argument; -1 with an error line when it is not one. */
int parse_pid(const char *arg);

/* True when errno says the process is gone (it exited mid-scan). */
bool errno_means_gone(int err);

/* Human-readable size with binary units ("100.0 MiB"). Uses a rotating set
 * of static buffers, so up to 8 calls may appear in one printf. */
const char *fmt_bytes(unsigned long long bytes);

#endif
