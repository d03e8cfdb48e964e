/*
 * Memory the root alone uses after it forked the tree (root_arena.c).
 */
#ifndef COWTREE_ROOT_ARENA_H
#define COWTREE_ROOT_ARENA_H

#include <stddef.h>

/* Map the arena for a tree of @procs processes and make jansson allocate
 * from it; before any fork. */
int root_arena_init(long procs, char *err, size_t errlen);
/* Zeroed memory from the arena; NULL when it is used up. */
void *root_arena_calloc(size_t nmemb, size_t size);
/* Arena memory is given back all at once, when the root exits. */
void root_arena_free(void *p);

#endif
