/* The ready line: one JSON line describing the built tree. */
#ifndef COWTREE_READY_H
#define COWTREE_READY_H

#include "node.h"
#include "record.h"

/* The line for the tree whose root is @root (its threads, zero pages) and
 * whose processes sent @procs (sorted here into pre-order); file is the
 * backing file's path or "". Returns a malloc'd string, NULL on failure. */
char *ready_line(const struct node *root, struct record *procs, long nr, const char *file);

#endif
