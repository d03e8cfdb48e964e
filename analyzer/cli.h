/* cowscan's command line. Each subcommand is one row of the table in
 * cowscan.c: its name, arguments, options (long name, short name,
 * argument, help) and the function that runs it. One parse loop reads
 * every command line, one format reports every usage error
 * ("cowscan: NAME: what is wrong (see cowscan NAME --help)", exit 2), and
 * `cowscan help` and `cowscan NAME --help` are printed from the same rows. */
#ifndef COWSCAN_CLI_H
#define COWSCAN_CLI_H

#include <stdbool.h>

#define CLI_MAX_OPTS 8

struct cli_opt {
	const char *name; /* the long option: --name */
	char short_name;  /* -x, or 0 */
	const char *arg;  /* its argument's name in --help; NULL for a flag */
	bool required;
	const char *help;
};

struct cli_args;

struct cli_cmd {
	const char *name;
	const char *args;	/* positional arguments, as the usage line shows them */
	int min_args, max_args; /* how many; max_args -1: any number */
	const char *summary;	/* its line in `cowscan help` */
	const char *about;	/* `cowscan NAME --help`: what it does, its exit status */
	struct cli_opt opts[CLI_MAX_OPTS]; /* up to the first row without a name */
	int (*run)(const struct cli_args *a);
};

/* A parsed command line, as the command's run() gets it. */
struct cli_args {
	const struct cli_cmd *cmd;
	const char *value[CLI_MAX_OPTS]; /* the option's argument, "" for a flag; NULL: not given */
	char **pos;			 /* the positional arguments */
	int nr_pos;
};

/* Was flag --name given? / The argument of --name, NULL if not given.
 * Asking for a name the command does not declare is a bug: abort. */
bool cli_flag(const struct cli_args *a, const char *name);
const char *cli_value(const struct cli_args *a, const char *name);

/* Run `cowscan SUBCOMMAND ...` against the table; returns the exit status. */
int cli_main(const struct cli_cmd *cmds, int nr_cmds, int argc, char **argv);

#endif
