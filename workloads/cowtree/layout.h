/* Post-fork layout changes: one table row per layout, like the COW cases in
 * the kernel's mm/cow.c selftest. A row says what a process does to its
 * region once it has forked all its children (as a parent) and once it has
 * been forked (as a child). Adding a layout means adding one row. */
#ifndef COWTREE_LAYOUT_H
#define COWTREE_LAYOUT_H

#include "node.h"

struct layout {
	const char *name;
	const char *what; /* one line for --help and the README */
	int min_depth;	  /* the tree must be at least this deep */
	/* Called in every process after it has forked all its children. */
	int (*after_forks)(struct node *n, char *err, size_t errlen);
	/* Called in every non-root process right after its own writes. */
	int (*as_child)(struct node *n, char *err, size_t errlen);
};

extern const struct layout layouts[];
extern const int nr_layouts;

/* Index of the named layout, -1 if there is none. */
int layout_find(const char *name);

#endif
