/* The figures of `cowscan tree`, computed from a scan: per process RSS,
 * PSS and USS recomputed from page data, tree totals, the pair-sharing
 * matrix and COW attribution. Every PFN-derived figure is valid only when
 * scan.pfn_available. */
#ifndef COWSCAN_TREE_STATS_H
#define COWSCAN_TREE_STATS_H

#include "scan.h"

/* PSS is accumulated in units of 1/4096 byte, like the kernel's PSS_SHIFT,
 * so that summing page shares loses nothing. */
#define PSS_SHIFT 12

struct proc_stats {
	unsigned long long rss, pss_fp, uss, anon, swap, thp, zero, ksm;
	/* PSS of anonymous pages only: they are mapped by the tree alone, so
	 * unlike file pages (libc, ...) it does not move with what else runs
	 * on the machine. */
	unsigned long long pss_anon_fp;
	unsigned long long unique;     /* distinct PFNs this process maps */
	unsigned long long attributed; /* COW attribution */
};

struct tree_stats {
	struct proc_stats *p;
	unsigned long long rss, pss_fp, uss, unique_pfn, private_anon, shared, zero, thp, swap, ksm;
	unsigned long long pss_anon_fp;
	unsigned long long shared_other_address; /* shared, but never at the same address */
	unsigned long long *matrix;		 /* nr x nr bytes, row-major */
	int nr;
};

int tree_stats_compute(const struct scan *s, struct tree_stats *t);
void tree_stats_free(struct tree_stats *t);

#endif
