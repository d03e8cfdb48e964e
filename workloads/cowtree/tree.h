/* Building the process tree and reporting it ready. */
#ifndef COWTREE_TREE_H
#define COWTREE_TREE_H

#include "params.h"

/*
 * Run in the process that becomes the tree's root. Builds the tree; when
 * every process has set up, hands the ready line to report_ready() and
 * sleeps until killed (never returns). On failure every process created is
 * killed and the one-line error is handed to report_error(); returns 1.
 */
int tree_run(const struct params *p, void (*report_ready)(const char *line, void *arg),
	     void (*report_error)(const char *msg, void *arg), void *arg);

/* An fd of the root's (e.g. the pipe to the --detach launcher) that its
 * children must not inherit. */
void tree_keep_private(int fd);

#endif
