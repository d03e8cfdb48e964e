/* Predictions from the live tree alone, before any dump, by applying CRIU
 * 4.2.1's own rules (criu/mem.c):
 *  - dump: generate_vma_iovs()/should_dump_page() write every present or
 *    swapped page of a private VMA that is neither the zero page nor an
 *    un-COWed file page (PAGEMAP_SCAN without PAGE_IS_PFNZERO|PAGE_IS_FILE),
 *    the whole [vdso], nothing of [vvar] or MAP_DROPPABLE VMAs; shared
 *    anonymous memory once per segment;
 *  - restore: prepare_cow_vmas()/check_cow_vmas() let a child inherit its
 *    parent's VMA only when both have the same start and end, are private,
 *    not hugetlb, agree on MAP_ANONYMOUS and MAP_GROWSDOWN, map the same
 *    file, and the processes run the same executable; in an inherited VMA
 *    restore_priv_vma_content() keeps a page shared when its content equals
 *    the parent's (memcmp), every other page becomes a private copy. */
#ifndef COWSCAN_PREDICT_H
#define COWSCAN_PREDICT_H

#include "scan.h"
#include "tree_stats.h"

struct proc_prediction {
	unsigned long long baseline_image;   /* bytes CRIU writes for this process */
	unsigned long long restored_private; /* bytes of new page copies on restore */
	unsigned long long inherited_vmas, vmas_not_inherited;
};

struct prediction {
	struct proc_prediction *p;
	unsigned long long ideal_image;	   /* unique private page bytes */
	unsigned long long baseline_image; /* sum of pages-*.img */
	unsigned long long restore_pss;	   /* tree PSS right after restore */
	double restore_inflation;	   /* restore_pss / current PSS */
};

/* Only meaningful when s->pfn_available (needs zero-page and PFN identity).
 * Returns 0, or -1 when out of memory (pr freed): an error, never a figure
 * computed from part of the tree. Reads the scan only, so that it may run
 * while tree_stats_compute() does; restore_inflation is set afterwards by
 * predict_relate_to_pss(). */
int predict_compute(const struct scan *s, struct prediction *pr);
/* restore_inflation: restore_pss over the tree's current PSS. */
void predict_relate_to_pss(struct prediction *pr, const struct tree_stats *t);
void predict_free(struct prediction *pr);

#endif
