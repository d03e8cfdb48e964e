/* One process of the tree as it sets itself up, and its region. */
#ifndef COWTREE_NODE_H
#define COWTREE_NODE_H

#include <stdint.h>
#include <sys/types.h>

#include "params.h"

#define MAX_DEPTH   16
#define MAX_THREADS 8

/* A thread of the root (the threads layout): its arena and stack. */
struct thread_info {
	int tid;
	uint64_t arena_addr, arena_bytes; /* the pages its malloc pieces cover */
	uint64_t stack_addr, stack_bytes; /* its whole stack mapping */
};

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
	/* One byte per page: a page this process does not hold by
	 * construction (unmapped, dropped, wiped or not inherited at fork). */
	unsigned char *absent;
	uint64_t absent_pages;
	/* One byte per page: the zero share, left on a zero page by the root
	 * and never written by anyone (a write into a huge zero page would
	 * give the writer a whole private 2 MiB). */
	unsigned char *zero;
	uint64_t zero_pages;
	const char *action; /* the layout change it made, or NULL */
	int nr_threads;	    /* threads layout: the root's threads */
	struct thread_info threads[MAX_THREADS];
};

#endif
