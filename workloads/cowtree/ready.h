/* The ready line: one JSON line describing the built tree. */
#ifndef COWTREE_READY_H
#define COWTREE_READY_H

#include "node.h"
#include "record.h"

/* The line for the tree whose root is @root (its threads, zero pages) and
 * whose processes sent @procs (listed in pre-order; @procs is left as it
 * is); file is the backing file's path or "". Returns a string from
 * jansson's allocator, the root's arena (root_arena.c), NULL on failure. */
char *ready_line(const struct node *root, const struct record *procs, long nr, const char *file);

#endif
