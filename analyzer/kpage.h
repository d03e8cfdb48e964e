/* The kpage files of the PFN index (scan_index_pfns, scan.h). */
#ifndef COWSCAN_KPAGE_H
#define COWSCAN_KPAGE_H

#include <stdbool.h>

#include "scan.h"

/* Does pagemap's exclusive bit (56) mean "mapped once", kpagecount 1, on
 * this kernel? (A probe: see kpage.c.) */
bool exclusive_bit_means_once(unsigned long page_size);

/* May a page that pagemap shows anonymous (present, no PM_FILE) and not
 * on the zero page take KPF_ANON alone for its kpageflags entry? Of the
 * bits cowscan reads (KPF_ANON, KPF_THP, KPF_KSM, KPF_ZERO_PAGE), it
 * could otherwise carry KPF_THP only in an anonymous large folio, of which
 * the kernel counts every one (nr_anon of each mTHP size), and KPF_KSM
 * only while KSM shares pages (/sys/kernel/mm/ksm/pages_shared): when
 * there are none, the entry need not be read, and most entries of a COW
 * tree are not (COWSCAN_KPAGEFLAGS_ALL=1 reads every one). Not for pages
 * without a struct page (VM_MIXEDMAP), nor hugetlb: the caller checks. */
bool anon_flags_known(void);

/* s->kflags and s->kcount of every unique PFN (those still 0: the ones
 * not known from pagemap). On a read error, s->pfn_available is false
 * with s->pfn_why. */
void read_kpages(struct scan *s);

#endif
