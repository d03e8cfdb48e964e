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
 * could otherwise carry KPF_KSM only while KSM shares pages
 * (/sys/kernel/mm/ksm/pages_shared), and KPF_THP only in an anonymous
 * large folio, of which the kernel counts every one (nr_anon of each mTHP
 * size). Returns -1 when it may not (KSM pages, a count unreadable,
 * COWSCAN_KPAGEFLAGS_ALL=1: every entry is read); else the smallest order
 * of the anonymous large folios the machine holds, for
 * check_large_folios(), or NO_ANON_LARGE_FOLIO. Not for pages without a
 * struct page (VM_MIXEDMAP), nor hugetlb: the caller checks. */
#define NO_ANON_LARGE_FOLIO 64
int anon_flags_order(unsigned long page_size);

/* With anonymous large folios of that order or above somewhere on the
 * machine (another process's THPs, most often): for each aligned block of
 * 2^order PFNs holding unique PFNs whose entry was taken for KPF_ANON,
 * read one entry. Folios are aligned to their size, so a large folio
 * holding one of the block's PFNs holds them all: then theirs are read
 * too (set back to 0), else they stand. */
void check_large_folios(struct scan *s, int order);

/* s->kflags and s->kcount of every unique PFN (those still 0: the ones
 * not known from pagemap). On a read error, s->pfn_available is false
 * with s->pfn_why. */
void read_kpages(struct scan *s);

#endif
