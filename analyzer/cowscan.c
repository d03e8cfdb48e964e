/* cowscan: measure copy-on-write sharing in process trees and CRIU images.
 * One binary, one subcommand per job, registered in the table below. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "util.h"
#if defined(__has_include)
#if __has_include("image_cmd.h")
#include "image_cmd.h"
#define HAVE_IMAGE_CMD 1
#endif
#endif

#ifndef HAVE_IMAGE_CMD
static int cmd_image(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	err_line("image: this cowscan was built without the CRIU image reader");
	return 2;
}
#endif

static int cmd_help(int argc, char **argv);

static const struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *synopsis;
} subcommands[] = {
    {"tree", cmd_tree,
     "tree PID [--json] [--vmas]     COW sharing of a live tree + CRIU predictions"},
    {"snapshot", cmd_snapshot,
     "snapshot PID -o FILE           per-VMA content hashes, PSS, unique bytes"},
    {"compare", cmd_compare,
     "compare BEFORE AFTER [--json]  content identical? PSS/unique inflation"},
    {"image", cmd_image, "image DIR [--json]             what a CRIU image directory holds"},
    {"help", cmd_help, "help                           this list"},
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: cowscan SUBCOMMAND [ARGS]   (cowscan SUBCOMMAND --help for details)\n");
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  cowscan %s\n", subcommands[i].synopsis);
	fprintf(f, "exit status: 0 ok, 1 compare found differences, 2 error\n");
}

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	usage(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(argc, argv);
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].run(argc - 1, argv + 1);
	err_line("unknown subcommand '%s' (try cowscan help)", argv[1]);
	return 2;
}
