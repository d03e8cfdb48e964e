/* smaps' Rss and Pss of the processes scanned without smaps (maps_path.h),
 * summed from their pages as the kernel's smaps_account() sums them: per
 * VMA, every present page but the zero page in Rss, and page size /
 * kpagecount in Pss (in 1 / (1 << PSS_SHIFT) byte units, printed in kB
 * rounded down). kpagecount and smaps take a page's mapcount from the same
 * function (precise with CONFIG_PAGE_MAPCOUNT, the folio's average without),
 * so large folios agree too. */
#ifndef COWSCAN_PAGE_SMAPS_H
#define COWSCAN_PAGE_SMAPS_H

#include "scan.h"

/* Fill in the VMAs' smaps_rss and smaps_pss and the rollup's rss and pss
 * of every process scanned without smaps, from the PFN index (only when
 * s->pfn_available). Writes those figures only, so that it may run while
 * predict_compute() does. Returns 0, or -1 when out of memory (no figure
 * changed). */
int page_smaps_sum(struct scan *s);

/* Without PFNs there is no kpagecount to sum: read those processes' smaps
 * after all (the page figures are unavailable anyway). A process gone
 * meanwhile is marked so with a warning. Returns 0, or -1 with an error
 * line. */
int page_smaps_read(struct scan *s);

#endif
