/* The kpage files of the PFN index (scan_index_pfns, scan.h). */
#ifndef COWSCAN_KPAGE_H
#define COWSCAN_KPAGE_H

#include <stdbool.h>

#include "scan.h"

/* Does pagemap's exclusive bit (56) mean "mapped once", kpagecount 1, on
 * this kernel? (A probe: see kpage.c.) */
bool exclusive_bit_means_once(unsigned long page_size);

/* s->kflags and s->kcount of every unique PFN (the counts still 0: those
 * not known from pagemap). On a read error, s->pfn_available is false
 * with s->pfn_why. */
void read_kpages(struct scan *s);

#endif
