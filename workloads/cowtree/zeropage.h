/*
 * The zero pages this kernel maps. A read fault on never-written private
 * anonymous memory maps the shared 4 KiB zero page on most kernels, but not
 * on all: some allocate a new zeroed page instead. In a 2 MiB-aligned
 * MADV_HUGEPAGE range the same read maps the huge zero page where
 * /sys/kernel/mm/transparent_hugepage/use_zero_page is 1. cowtree probes
 * both once, from /proc/self/pagemap and /proc/kpageflags (KPF_ZERO_PAGE,
 * KPF_THP), and --zero uses what works.
 */
#ifndef COWTREE_ZEROPAGE_H
#define COWTREE_ZEROPAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HUGE_ZERO_SIZE (2UL << 20)

struct zero_probe {
	bool known;	 /* false: PFNs or page flags could not be read */
	bool small;	 /* a read fault maps the 4 KiB zero page */
	bool huge;	 /* a MADV_HUGEPAGE read maps the huge zero page */
	char why[256];	 /* why not known, or why there is no huge zero page */
	char kernel[65]; /* uname -r */
};

/* Probe once (later calls return the first answer). */
const struct zero_probe *zero_probe(void);

/* Map the huge zero page over the 2 MiB-aligned unit at addr by reading it.
 * A region without --thp is MADV_NOHUGEPAGE: the unit is switched to
 * MADV_HUGEPAGE for the read and back afterwards, so the region stays one
 * VMA. Returns -1 with errno set when madvise fails. */
int zero_map_huge_unit(char *addr, bool region_thp);

/* How many of the npages pages from base that have mark[i] set are on a
 * zero page (4 KiB, or a piece of the huge one) in this process; -1 with
 * the reason in err when the page flags cannot be read. */
long zero_pages_mapped(const char *base, uint64_t npages, uint64_t page_size,
		       const unsigned char *mark, char *err, size_t errlen);

#endif
