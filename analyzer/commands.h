/* cowscan's subcommands; each parses its own options and returns the exit
 * status (0 ok, 1 a negative answer such as "content differs", 2 error). */
#ifndef COWSCAN_COMMANDS_H
#define COWSCAN_COMMANDS_H

int cmd_tree(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_compare(int argc, char **argv);

#endif
