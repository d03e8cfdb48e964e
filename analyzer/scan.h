/* One pass over a live process tree: VMAs, smaps_rollup, pagemap entries
 * of every process, and kpageflags/kpagecount of every PFN they map. The
 * figures (tree_stats.h) and predictions (predict.h) are computed from it. */
#ifndef COWSCAN_SCAN_H
#define COWSCAN_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proctree.h"
#include "vmas.h"

/* /proc/PID/pagemap bits (Documentation/admin-guide/mm/pagemap.rst) */
#define PM_PFN_MASK	((1ULL << 55) - 1)
#define PM_SOFT_DIRTY	(1ULL << 55)
#define PM_EXCLUSIVE	(1ULL << 56)
#define PM_GUARD_REGION (1ULL << 58)
#define PM_FILE		(1ULL << 61)
#define PM_SWAP		(1ULL << 62)
#define PM_PRESENT	(1ULL << 63)

/* /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h) */
#define KPF_COMPOUND_HEAD (1ULL << 15)
#define KPF_COMPOUND_TAIL (1ULL << 16)
#define KPF_ANON	  (1ULL << 12)
#define KPF_HUGE	  (1ULL << 17)
#define KPF_NOPAGE	  (1ULL << 20)
#define KPF_KSM		  (1ULL << 21)
#define KPF_THP		  (1ULL << 22)
#define KPF_ZERO_PAGE	  (1ULL << 24)

#define NO_PFN UINT32_MAX

/* One present or swapped page of a process. */
struct page_ent {
	unsigned long vaddr;
	uint64_t pme;  /* raw pagemap entry */
	uint32_t uidx; /* index in scan.upfn, or NO_PFN */
	int32_t vma;   /* index in the process's VMA list */
};

struct proc_scan {
	bool gone; /* exited mid-scan: skipped, every figure excluded */
	struct vma_list vmas;
	struct smaps_totals rollup;
	struct page_ent *pages; /* address order */
	size_t nr_pages;
};

/* A (pfn, process, page) triple; sorted by pfn, then in tree order. */
struct pfn_rec {
	uint64_t pfn;
	uint32_t proc;
	uint32_t page;
};

struct scan {
	struct proc_tree tree;
	struct proc_scan *ps; /* tree.nr entries */
	unsigned long page_size;
	bool pfn_available;
	char pfn_why[160]; /* why PFNs are unavailable */
	struct pfn_rec *recs;
	size_t nr_recs;
	uint64_t *upfn, *kflags, *kcount; /* unique PFNs, ascending */
	size_t nr_upfn;
};

/* Scan the tree under root. Returns 0 (processes that exit meanwhile are
 * marked gone with a warning) or -1 with an error line. */
int scan_tree(pid_t root, struct scan *s);
void scan_free(struct scan *s);

static inline uint64_t page_kflags(const struct scan *s, const struct page_ent *p)
{
	return p->uidx == NO_PFN ? 0 : s->kflags[p->uidx];
}

#endif
