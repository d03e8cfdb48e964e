/* A process's pagemap read as slices, so that the scanning threads share
 * a large process instead of one of them reading it alone while the others
 * wait (analyzer/README.md "Speed"): 5 processes on 2 CPUs left one CPU
 * idle for a fifth of the pagemap phase.
 *
 * The slices cut the process's VMA list, in address order, into parts of
 * about equal cost (pagemap_vma_cost(): entries read), a VMA cut in two
 * where a slice ends inside it. Each slice reads into its own window of
 * one array, its entries bounded by its pages (or what the process holds);
 * joining moves the windows' pages together, in order, into the array
 * ps->pages would have been read into whole: the same pages, the same
 * figures. A slice that overflows its window (pages the bound did not
 * count: zero pages, a process faulting meanwhile) continues in an array
 * of its own, copied in when joining. */
#ifndef COWSCAN_PAGEMAP_SLICES_H
#define COWSCAN_PAGEMAP_SLICES_H

#include <stdint.h>

#include "pagemap_read.h"
#include "scan.h"

/* A place in a VMA list: VMA vma, from addr on (vma == nr: the end). */
struct pagemap_cut {
	int32_t vma;
	unsigned long addr;
};

struct pagemap_slice {
	struct pagemap_cut from, to; /* [from, to) */
	struct page_sink out;	     /* its window of pagemap_slices.windows */
	int ret;		     /* 0, or -1 with out.err */
	double seconds;		     /* spent reading it */
};

struct pagemap_slices {
	struct pagemap_slice *s;
	int nr;
	struct page_ent *windows; /* every slice's window, in order */
};

/* Cut ps's VMA list (ps->vmas) into slices costing about job_pages entries
 * each (0: one slice), at least one. Returns 0, -1 when out of memory. */
int pagemap_slices_plan(struct pagemap_slices *sl, const struct pagemap_reader *r,
			const struct proc_scan *ps, unsigned long job_pages);

/* Read slice k of ps's pagemap through r (r->fd open on it). Returns
 * sl->s[k].ret. Slices of one process may be read on several threads. */
int pagemap_slice_read(struct pagemap_slices *sl, int k, struct pagemap_reader *r,
		       const struct proc_scan *ps);

/* Once every slice is read: ps's pages and their figures, from the
 * slices in order. Returns 0, or -1 with ps->err (the first failed
 * slice's error, or ENOMEM). Leaves sl empty either way. */
int pagemap_slices_join(struct pagemap_slices *sl, struct proc_scan *ps);

/* Release what sl still holds (a plan never joined). */
void pagemap_slices_free(struct pagemap_slices *sl);

#endif
