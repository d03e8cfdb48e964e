/* Reading a process's /proc/PID/pagemap: the present or swapped entries of
 * a range, in large preads. For a sparse VMA (few resident pages for its
 * size, by its smaps Rss and Swap), the PAGEMAP_SCAN ioctl (Linux >= 6.7)
 * first lists the ranges that hold any such entry, and only those are
 * read: the kernel skips empty page tables a PMD at a time, where a plain
 * read copies out one empty entry per page. Where the ioctl is missing
 * (ENOTTY, EINVAL) every range is read whole; COWSCAN_NO_PAGEMAP_SCAN=1
 * forces that (the tests compare both paths). */
#ifndef COWSCAN_PAGEMAP_READ_H
#define COWSCAN_PAGEMAP_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scan.h"

struct pagemap_reader {
	int fd; /* /proc/PID/pagemap */
	unsigned long page_size;
	uint64_t *buf;		     /* PAGEMAP_BATCH entries */
	struct page_region *regions; /* PAGEMAP_SCAN's output */
	bool use_scan;		     /* PAGEMAP_SCAN for sparse VMAs */
	size_t scanned_vmas;	     /* VMAs listed by PAGEMAP_SCAN first */
};

/* Where the read pages go: an array grown by doubling, or a window of a
 * larger one (a slice of a process's pagemap, pagemap_slices.h) that is
 * moved to an array of its own when it overflows. Holds what the PFN index
 * needs to know of the pages (scan.h's struct proc_scan has the same). */
struct page_sink {
	struct page_ent *pages;
	size_t nr, cap;
	bool borrowed; /* pages is a window of another array: never freed here */
	size_t nr_swapped, nr_present;
	uint64_t max_pfn;
	bool pfn_zero;
	int err; /* set when a read fails */
};

/* Buffers for one thread; fd is set per job. Returns 0, -1 (ENOMEM), with
 * page_size and use_scan set either way. */
int pagemap_reader_init(struct pagemap_reader *r, unsigned long page_size);
void pagemap_reader_free(struct pagemap_reader *r);

/* Append the present or swapped entries of [start, end) to out, recording
 * vma as each page's VMA index. Returns 0, or -1 with out->err set. */
int pagemap_read_range(struct pagemap_reader *r, unsigned long start, unsigned long end,
		       int32_t vma, struct page_sink *out);
/* The same for [start, end) of VMA v (index idx) of ps, through
 * PAGEMAP_SCAN when v is sparse. */
int pagemap_read_vma(struct pagemap_reader *r, const struct vma *v, int32_t idx,
		     unsigned long start, unsigned long end, const struct proc_scan *ps,
		     struct page_sink *out);
/* About what reading VMA v of ps costs, in entries read: its pages, or for
 * a sparse VMA PAGEMAP_SCAN lists first, what it may hold and one step a
 * page table. */
unsigned long pagemap_vma_cost(const struct pagemap_reader *r, const struct vma *v,
			       const struct proc_scan *ps);
/* Make out's pages and figures ps's (out's array becomes ps's). */
void page_sink_store(const struct page_sink *out, struct proc_scan *ps);

#endif
