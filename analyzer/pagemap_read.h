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

/* Buffers for one thread; fd is set per process. Returns 0, -1 (ENOMEM). */
int pagemap_reader_init(struct pagemap_reader *r, unsigned long page_size);
void pagemap_reader_free(struct pagemap_reader *r);

/* Append the present or swapped entries of [start, end) to ps->pages
 * (capacity *cap), recording vma as each page's VMA index. Returns 0, or
 * -1 with ps->err set. */
int pagemap_read_range(struct pagemap_reader *r, unsigned long start, unsigned long end,
		       int32_t vma, struct proc_scan *ps, size_t *cap);
/* The same for VMA v (index idx), through PAGEMAP_SCAN when it is sparse. */
int pagemap_read_vma(struct pagemap_reader *r, const struct vma *v, int32_t idx,
		     struct proc_scan *ps, size_t *cap);

#endif
