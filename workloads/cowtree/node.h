/* One process of the tree as it sets itself up, and its region. */
#ifndef COWTREE_NODE_H
#define COWTREE_NODE_H

#include <stdint.h>
#include <sys/types.h>

#include "params.h"

#define MAX_DEPTH 16

struct node {
	const struct params *p;
	int depth;
	int sibling;		       /* position among its parent's children */
	unsigned char path[MAX_DEPTH]; /* sibling positions from the root down */
	uint64_t writer;	       /* distinct per process: seeds its page contents */
	int nr_children;	       /* forked so far */
	char *region;		       /* NULL once unmapped */
	uint64_t npages;
	uint64_t page_size;
	uint64_t written_pages; /* distinct pages this process rewrote */
	unsigned char *written; /* one byte per page: rewritten here */
	const char *action;	/* the layout change it made, or NULL */
};

#endif
