/* One pass over a live process tree: VMAs and smaps totals, pagemap entries
 * of every process, and kpageflags/kpagecount of every PFN they map. The
 * figures (tree_stats.h) and predictions (predict.h) are computed from it.
 *
 * Cost model (see analyzer/README.md "Speed"): the kernel walks each page
 * table once (pagemap; sparse VMAs' empty ranges are skipped with
 * PAGEMAP_SCAN, pagemap_read.h), twice for a process whose VmFlags only
 * smaps can tell (maps_path.h), and builds a kpageflags and a kpagecount
 * entry for each distinct PFN; both stages run on one thread per CPU. */
#ifndef COWSCAN_SCAN_H
#define COWSCAN_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pagebits.h"
#include "proctree.h"
#include "vmas.h"

#define NO_PFN UINT32_MAX

/* One present or swapped page of a process. */
struct page_ent {
	unsigned long vaddr;
	uint64_t pme;  /* raw pagemap entry */
	uint32_t uidx; /* index in scan.upfn, or NO_PFN */
	int32_t vma;   /* index in the process's VMA list; -1 in cowscan pages' ranges */
};

/* One present page in the groups by PFN (scan.recs). The process index
 * and the virtual page number share 8 bytes, so that a PFN's pages are
 * read in sequence instead of each page_ent at random. */
struct pfn_rec {
	uint64_t proc_vpn; /* process index << REC_VPN_BITS | vaddr / page size */
};

#define REC_VPN_BITS  44 /* 5-level paging: 56-bit addresses */
#define REC_MAX_PROCS (1U << (64 - REC_VPN_BITS))

static inline uint32_t rec_proc(struct pfn_rec r)
{
	return (uint32_t)(r.proc_vpn >> REC_VPN_BITS);
}

static inline unsigned long rec_vpn(struct pfn_rec r)
{
	return (unsigned long)(r.proc_vpn & ((1ULL << REC_VPN_BITS) - 1));
}

struct proc_scan {
	bool gone; /* exited mid-scan: skipped, every figure excluded */
	struct vma_list vmas;
	struct smaps_totals rollup; /* summed from smaps, or from the pages */
	/* Scanned without smaps (maps_path.h): the VMAs from maps, their and
	 * rollup's smaps Rss and Pss summed from the pages (page_smaps.c), and
	 * held_bound bounds what any one VMA holds (for pagemap_read.c). */
	bool smaps_from_pages;
	unsigned long long held_bound; /* bytes resident or swapped */
	struct page_ent *pages;	       /* address order */
	size_t nr_pages;
	size_t nr_swapped; /* of those, swapped (pagemap's swap bit) */
	size_t nr_present; /* of those, present */
	uint64_t max_pfn;  /* the highest PFN of a present one */
	bool pfn_zero;	   /* a present one reads PFN 0: PFNs are hidden */
	/* Set by the scanning thread, reported by the main one: what was
	 * being read when the process vanished or the read failed. */
	const char *what;
	int err;
	double t_vmas, t_pagemap; /* seconds, for scan.timing */
};

struct scan {
	struct proc_tree tree;
	struct proc_scan *ps; /* tree.nr entries */
	unsigned long page_size;
	bool pfn_available;
	char pfn_why[160];		  /* why PFNs are unavailable */
	bool count_from_exclusive;	  /* kpagecount 1 taken from pagemap's bit 56 */
	uint64_t zero_pfn;		  /* the shared zero page's PFN, 0 when unknown */
	bool anon_flags_known;		  /* see anon_flags_order(), kpage.h */
	uint64_t *upfn, *kflags, *kcount; /* unique PFNs, ascending */
	size_t nr_upfn;
	/* Present pages grouped by unique PFN: upfn[u] is mapped by the
	 * pages recs[rec_start[u] .. rec_start[u + 1]), in tree order (a
	 * process's own pages adjacent). */
	size_t nr_recs;
	uint32_t *rec_start; /* nr_upfn + 1 entries */
	struct pfn_rec *recs;
	/* Seconds spent per phase (COWSCAN_TIMING=1 prints them): VMAs (maps
	 * or smaps) and pagemap summed over processes (they run on several
	 * threads). */
	struct {
		double discover, procs_wall, vmas, pagemap, pfn_index, kpage;
		size_t pagemap_jobs;	    /* slices the pagemaps were read in */
		size_t pagemap_scan_vmas;   /* sparse VMAs listed by PAGEMAP_SCAN first */
		size_t counts_from_pagemap; /* PFNs whose kpagecount was not read */
		size_t flags_from_pagemap;  /* PFNs whose kpageflags entry was not read */
		size_t procs_without_smaps; /* processes scanned without smaps */
	} timing;
};

/* Monotonic seconds, for the timing figures. */
double scan_now(void);

/* Scan the tree under root. Returns 0 (processes that exit meanwhile are
 * marked gone with a warning) or -1 with an error line. With PFNs, the
 * smaps figures of processes scanned without smaps are left to
 * page_smaps_sum() (page_smaps.h), which `cowscan tree` runs beside the
 * predictions. */
int scan_tree(pid_t root, struct scan *s);
void scan_free(struct scan *s);

/* Index the PFNs of every page of s->ps[0..tree.nr) that is not gone: set
 * each page's uidx, group the pages by PFN, read kpageflags and
 * kpagecount (pfn_index.c).
 * Sets pfn_available; when PFNs are hidden (no CAP_SYS_ADMIN) or a kpage
 * file is unreadable, it is false with pfn_why, and 0 is returned. Returns
 * -1 when out of memory. */
int scan_index_pfns(struct scan *s);

/* The first of ps's pages from k on that lies in VMA v or after it: the
 * pages are in address order, so their VMA indices ascend. */
static inline size_t proc_first_page(const struct proc_scan *ps, size_t k, int32_t v)
{
	size_t hi = ps->nr_pages;

	while (k < hi) {
		size_t mid = k + (hi - k) / 2;

		if (ps->pages[mid].vma < v)
			k = mid + 1;
		else
			hi = mid;
	}
	return k;
}

static inline uint64_t page_kflags(const struct scan *s, const struct page_ent *p)
{
	return p->uidx == NO_PFN ? 0 : s->kflags[p->uidx];
}

#endif
