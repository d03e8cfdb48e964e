/* smaps' figures for processes scanned without smaps (page_smaps.h). */
#include <errno.h>
#include <stdlib.h>

#include "page_smaps.h"
#include "tree_stats.h"
#include "util.h"

/* One VMA's sums, as smaps prints them: Rss in bytes, Pss in kB rounded
 * down (the kernel shifts out PSS_SHIFT, then prints bytes / 1024). */
static void put_vma(struct proc_scan *ps, int32_t v, unsigned long long rss,
		    unsigned long long pss_fp)
{
	struct vma *vma = &ps->vmas.v[v];

	vma->smaps_rss = rss;
	vma->smaps_pss = (pss_fp >> PSS_SHIFT) >> 10 << 10;
	ps->rollup.rss += vma->smaps_rss;
	ps->rollup.pss += vma->smaps_pss;
}

/* share[u] of the zero page, which is not in Rss: shares are at most
 * page size << PSS_SHIFT. */
#define NOT_COUNTED UINT32_MAX

/* VMA by VMA: the pages are in address order, so are the VMAs. share[u]
 * is the Pss of a page of unique PFN u. */
static void sum_process(const struct scan *s, const uint32_t *share, struct proc_scan *ps)
{
	unsigned long long rss = 0, pss_fp = 0, page = s->page_size;
	int32_t v;
	size_t k;

	ps->rollup = (struct smaps_totals){0};
	for (v = 0; v < ps->vmas.nr; v++)
		ps->vmas.v[v].smaps_rss = ps->vmas.v[v].smaps_pss = 0;
	v = -1;
	for (k = 0; k < ps->nr_pages; k++) {
		const struct page_ent *pg = &ps->pages[k];
		uint32_t sh;

		if (pg->vma != v) {
			if (v >= 0)
				put_vma(ps, v, rss, pss_fp);
			rss = pss_fp = 0;
			v = pg->vma;
		}
		sh = pg->uidx == NO_PFN ? NOT_COUNTED : share[pg->uidx];
		if (sh != NOT_COUNTED) {
			rss += page;
			pss_fp += sh;
		}
	}
	if (v >= 0)
		put_vma(ps, v, rss, pss_fp);
}

int page_smaps_sum(struct scan *s)
{
	unsigned long long full = (unsigned long long)s->page_size << PSS_SHIFT;
	uint64_t share_cnt = 1;
	uint32_t *share, last = (uint32_t)full;
	size_t u;
	int i;

	for (i = 0; i < s->tree.nr && !s->ps[i].smaps_from_pages; i++)
		;
	if (i == s->tree.nr)
		return 0;
	/* A page's share by unique PFN, 4 bytes each (the kpageflags and
	 * kpagecount entries, 16, would be a cache miss a page). */
	share = malloc((s->nr_upfn + 1) * sizeof(*share));
	if (!share)
		return -1;
	for (u = 0; u < s->nr_upfn; u++) {
		uint64_t cnt = s->kcount[u] > 1 ? s->kcount[u] : 1;

		if (cnt != share_cnt) {
			share_cnt = cnt;
			last = (uint32_t)(full / cnt);
		}
		share[u] = s->kflags[u] & KPF_ZERO_PAGE ? NOT_COUNTED : last;
	}
	for (i = 0; i < s->tree.nr; i++)
		if (!s->ps[i].gone && s->ps[i].smaps_from_pages)
			sum_process(s, share, &s->ps[i]);
	free(share);
	return 0;
}

int page_smaps_read(struct scan *s)
{
	int i;

	for (i = 0; i < s->tree.nr; i++) {
		struct proc_scan *ps = &s->ps[i];
		pid_t pid = s->tree.procs[i].pid;
		struct vma_list l;
		struct smaps_totals t;

		if (ps->gone || !ps->smaps_from_pages)
			continue;
		if (vmas_read(pid, &l, &t)) {
			if (!errno_means_gone(errno)) {
				err_errno("/proc/%d/smaps", pid);
				return -1;
			}
			ps->gone = true;
			warn_line("process %d exited during the scan (smaps); skipped", pid);
			continue;
		}
		vmas_free(&ps->vmas);
		ps->vmas = l;
		ps->rollup = t;
		ps->smaps_from_pages = false;
	}
	return 0;
}
