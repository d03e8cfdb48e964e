/* cowscan's subcommands, registered with their options in the table in
 * cowscan.c. Each gets its parsed command line and returns the exit status
 * (0 ok, 1 a negative answer such as "content differs", 2 error). */
#ifndef COWSCAN_COMMANDS_H
#define COWSCAN_COMMANDS_H

#include "cli.h"

int cmd_tree(const struct cli_args *a);
int cmd_snapshot(const struct cli_args *a);
int cmd_compare(const struct cli_args *a);
int cmd_pages(const struct cli_args *a);

#endif
