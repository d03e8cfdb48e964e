#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util.h"

/* getopt_long's value for the i-th long option: above every char. */
#define LONG_OPT(i) (256 + (i))

static int nr_opts(const struct cli_cmd *c)
{
	int n = 0;

	while (n < CLI_MAX_OPTS && c->opts[n].name)
		n++;
	return n;
}

/* "tree PID [--json] [--vmas]": required options as themselves, the
 * others in brackets. */
static void synopsis(const struct cli_cmd *c, char *buf, size_t len)
{
	size_t at = (size_t)snprintf(buf, len, "%s%s%s", c->name, c->args[0] ? " " : "", c->args);
	int i;

	for (i = 0; i < nr_opts(c) && at < len; i++) {
		const struct cli_opt *o = &c->opts[i];
		char name[40];

		if (o->required && o->short_name)
			snprintf(name, sizeof(name), "-%c", o->short_name);
		else
			snprintf(name, sizeof(name), "--%s", o->name);
		at += (size_t)snprintf(buf + at, len - at, " %s%s%s%s%s", o->required ? "" : "[",
				       name, o->arg ? " " : "", o->arg ? o->arg : "",
				       o->required ? "" : "]");
	}
}

static void top_usage(const struct cli_cmd *cmds, int nr, FILE *f)
{
	char syn[160];
	int i;

	fprintf(f, "usage: cowscan SUBCOMMAND [ARGS]   (cowscan SUBCOMMAND --help for details)\n");
	for (i = 0; i < nr; i++) {
		synopsis(&cmds[i], syn, sizeof(syn));
		fprintf(f, "  cowscan %s\n      %s\n", syn, cmds[i].summary);
	}
	fprintf(f, "  cowscan help\n      this list\n"
		   "exit status: 0 ok, 1 a negative answer (compare: content differs), 2 error\n");
}

static void cmd_usage(const struct cli_cmd *c, FILE *f)
{
	char syn[160], left[64];
	int i;

	synopsis(c, syn, sizeof(syn));
	fprintf(f, "usage: cowscan %s\n%s\noptions:\n", syn, c->about);
	for (i = 0; i < nr_opts(c); i++) {
		const struct cli_opt *o = &c->opts[i];
		char shrt[8] = "";

		if (o->short_name)
			snprintf(shrt, sizeof(shrt), "-%c, ", o->short_name);
		snprintf(left, sizeof(left), "%s--%s%s%s", shrt, o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		fprintf(f, "  %-22s %s\n", left, o->help);
	}
	fprintf(f, "  %-22s %s\n", "-h, --help", "this text");
}

/* The one format of every usage error. */
static void usage_error(const struct cli_cmd *c, const char *what)
{
	err_line("%s: %s (see cowscan %s --help)", c->name, what, c->name);
}

static int opt_index(const struct cli_cmd *c, const char *name)
{
	int i;

	for (i = 0; i < nr_opts(c); i++)
		if (!strcmp(c->opts[i].name, name))
			return i;
	err_line("internal error: subcommand %s has no option --%s", c->name, name);
	abort();
}

bool cli_flag(const struct cli_args *a, const char *name)
{
	return a->value[opt_index(a->cmd, name)] != NULL;
}

const char *cli_value(const struct cli_args *a, const char *name)
{
	return a->value[opt_index(a->cmd, name)];
}

/* The one parse loop. Returns 0 (parsed), 1 (--help printed) or -1 (a
 * usage error, reported). argv[0] is the subcommand's name. */
static int parse(const struct cli_cmd *c, int argc, char **argv, struct cli_args *a)
{
	struct option lo[CLI_MAX_OPTS + 2];
	char shorts[2 * CLI_MAX_OPTS + 4] = ":h", bad[4], what[160];
	size_t sl = 2;
	int n = nr_opts(c), i, ch;

	memset(a, 0, sizeof(*a));
	a->cmd = c;
	for (i = 0; i < n; i++) {
		const struct cli_opt *o = &c->opts[i];

		lo[i] = (struct option){o->name, o->arg ? required_argument : no_argument, NULL,
					LONG_OPT(i)};
		if (o->short_name) {
			shorts[sl++] = o->short_name;
			if (o->arg)
				shorts[sl++] = ':';
		}
	}
	shorts[sl] = '\0';
	lo[n] = (struct option){"help", no_argument, NULL, 'h'};
	lo[n + 1] = (struct option){NULL, 0, NULL, 0};
	optind = 0; /* GNU: start over, whatever parsed before */
	opterr = 0; /* our one error line instead of getopt's */
	while ((ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		if (ch == 'h') {
			cmd_usage(c, stdout);
			return 1;
		}
		if (ch == '?' || ch == ':') {
			snprintf(bad, sizeof(bad), "-%c", optopt);
			snprintf(what, sizeof(what), "%s '%s'",
				 ch == ':' ? "missing the argument of" : "unknown option",
				 optopt ? bad : argv[optind - 1]);
			usage_error(c, what);
			return -1;
		}
		if (ch >= LONG_OPT(0))
			i = ch - LONG_OPT(0);
		else /* a declared short option: getopt returns no other */
			for (i = 0; c->opts[i].short_name != ch; i++)
				;
		a->value[i] = optarg ? optarg : "";
	}
	a->pos = argv + optind;
	a->nr_pos = argc - optind;
	if (a->nr_pos < c->min_args || (c->max_args >= 0 && a->nr_pos > c->max_args)) {
		snprintf(what, sizeof(what), "expected %s", c->args);
		usage_error(c, what);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (c->opts[i].required && !a->value[i]) {
			snprintf(what, sizeof(what), "missing --%s%s%s", c->opts[i].name,
				 c->opts[i].arg ? " " : "", c->opts[i].arg ? c->opts[i].arg : "");
			usage_error(c, what);
			return -1;
		}
	return 0;
}

int cli_main(const struct cli_cmd *cmds, int nr_cmds, int argc, char **argv)
{
	struct cli_args a;
	int i;

	if (argc < 2) {
		top_usage(cmds, nr_cmds, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		top_usage(cmds, nr_cmds, stdout);
		return 0;
	}
	for (i = 0; i < nr_cmds; i++)
		if (!strcmp(argv[1], cmds[i].name))
			break;
	if (i == nr_cmds) {
		err_line("unknown subcommand '%s' (try cowscan help)", argv[1]);
		return 2;
	}
	switch (parse(&cmds[i], argc - 1, argv + 1, &a)) {
	case 1:
		return 0;
	case -1:
		return 2;
	}
	return cmds[i].run(&a);
}
