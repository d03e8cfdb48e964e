/* Post-fork layout changes: one table row per layout, like the COW cases in
 * the kernel's mm/cow.c selftest. A row holds every fact about its layout:
 * its name and description (--help, --list-layouts, error messages and the
 * README's table come from here), the depth it needs, the memory it adds,
 * and what a process does at each step of building the tree. Adding a
 * layout means adding one row. */
#ifndef COWTREE_LAYOUT_H
#define COWTREE_LAYOUT_H

#include <jansson.h>

#include "node.h"

struct layout {
	const char *name;
	const char *what; /* one line for --help, --list-layouts and the README */
	int min_depth;	  /* the tree must be at least this deep */
	/* Bytes the layout adds to the tree beyond the region and its
	 * rewrites (the memory check); NULL: nothing. */
	double (*memory_extra)(const struct params *p, const struct tree_counts *c);
	/* Parameters the layout cannot work with; NULL: any. */
	int (*check)(const struct params *p, char *err, size_t errlen);
	/* In the root before it maps its region (what is mapped later does
	 * not land next to the region and merge with its VMA). */
	int (*before_region)(struct node *n, char *err, size_t errlen);
	/* In the root, once its region is filled, before its first fork. */
	int (*prepare)(struct node *n, char *err, size_t errlen);
	/* In every non-root process right after its fork, before it writes. */
	int (*born)(struct node *n, char *err, size_t errlen);
	/* In every non-root process right after its own writes. */
	int (*as_child)(struct node *n, char *err, size_t errlen);
	/* In every process after it has forked all its children. */
	int (*after_forks)(struct node *n, char *err, size_t errlen);
};

extern const struct layout layouts[];
extern const int nr_layouts;

/* Index of the named layout, -1 if there is none. */
int layout_find(const char *name);

/* "none, split, ...": every name, for error messages. */
const char *layout_names(char *buf, size_t len);

/* The table as JSON (--list-layouts --json). */
json_t *layouts_json(void);

/* The threads layout (threads.c): how many threads the root runs, and its
 * hooks. */
#define ROOT_THREADS 4
double threads_memory(const struct params *p, const struct tree_counts *c);
int threads_start(struct node *n, char *err, size_t errlen);

#endif
