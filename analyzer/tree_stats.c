#include <stdlib.h>
#include <string.h>

#include "pair_matrix.h"
#include "tree_stats.h"

/* Swapped pages have no PFN: counted per process, not deduplicated. */
static void per_process_swap(const struct scan *s, struct tree_stats *t)
{
	int i;

	for (i = 0; i < s->tree.nr; i++)
		if (!s->ps[i].gone)
			t->p[i].swap = s->ps[i].nr_swapped * s->page_size;
}

/* Tree totals: the sums of the per-process figures. */
static void totals(const struct scan *s, struct tree_stats *t)
{
	int i;

	for (i = 0; i < s->tree.nr; i++) {
		const struct proc_stats *st = &t->p[i];

		t->rss += st->rss;
		t->pss_fp += st->pss_fp;
		t->pss_anon_fp += st->pss_anon_fp;
		t->uss += st->uss;
		t->zero += st->zero;
		t->thp += st->thp;
		t->swap += st->swap;
		t->ksm += st->ksm;
	}
}

/* A present page of PFN flags kf, kpagecount cnt, PSS share, in the figures
 * of the process that maps it. */
static void count_page(struct proc_stats *st, struct tree_stats *t, unsigned long long ps,
		       uint64_t kf, uint64_t cnt, unsigned long long share)
{
	st->rss += ps;
	st->pss_fp += share;
	if (cnt <= 1)
		st->uss += ps;
	if (kf & KPF_ANON) {
		st->anon += ps;
		st->pss_anon_fp += share;
		if (cnt <= 1)
			t->private_anon += ps;
	}
	if (kf & KPF_THP)
		st->thp += ps;
	if (kf & KPF_KSM)
		st->ksm += ps;
}

/* The oldest process of a PFN group: earliest start time, then tree order. */
static int oldest_of(const struct scan *s, const int *procs, int n)
{
	int best = procs[0], k;

	for (k = 1; k < n; k++) {
		const struct proc_id *a = &s->tree.procs[procs[k]], *b = &s->tree.procs[best];

		if (a->start_time < b->start_time ||
		    (a->start_time == b->start_time && a->index < b->index))
			best = procs[k];
	}
	return best;
}

/* Walk the records grouped by PFN once: each page in its process's
 * figures (RSS, PSS, USS, ...), unique footprint, pair matrix, COW
 * attribution. By PFN, kpageflags and kpagecount are read in sequence (by
 * process they would be read at random, a cache miss a page). Records of
 * one PFN are in tree order, a process's own records adjacent. */
static void per_pfn(const struct scan *s, const struct pfn_rec *recs, struct tree_stats *t,
		    struct pair_matrix *pm, int *procs, unsigned long *addrs)
{
	unsigned long long ps = s->page_size, share = ps << PSS_SHIFT;
	uint64_t share_cnt = 1; /* share is a page's PSS for that kpagecount */
	size_t u;

	for (u = 0; u < s->nr_upfn; u++) {
		size_t k = s->rec_start[u], end = s->rec_start[u + 1];
		uint64_t kf = s->kflags[u], cnt = s->kcount[u];
		int np = 0, a, b, old;
		bool same_addr = false;

		/* The shared zero page is not counted in RSS nor as a frame. */
		if (kf & KPF_ZERO_PAGE) {
			for (; k < end; k++)
				t->p[rec_proc(recs[k])].zero += ps;
			continue;
		}
		if (k == end)
			continue;
		/* Runs of PFNs share a kpagecount: divide once per run. */
		if ((cnt ? cnt : 1) != share_cnt) {
			share_cnt = cnt ? cnt : 1;
			share = (ps << PSS_SHIFT) / share_cnt;
		}
		for (; k < end; k++) {
			int proc = (int)rec_proc(recs[k]);

			count_page(&t->p[proc], t, ps, kf, cnt, share);
			if (np == 0 || procs[np - 1] != proc) {
				procs[np] = proc;
				addrs[np] = rec_vpn(recs[k]);
				np++;
			}
		}
		t->unique_pfn += ps;
		for (a = 0; a < np; a++)
			t->p[procs[a]].unique += ps;
		if (np < 2)
			continue;
		t->shared += ps;
		pair_matrix_add(pm, procs, np);
		old = oldest_of(s, procs, np);
		for (a = 0; a < np; a++)
			if (procs[a] == old)
				break;
		for (b = 0; b < np; b++)
			if (b != a && addrs[b] == addrs[a])
				same_addr = true;
		if (same_addr)
			t->p[old].attributed += ps;
		else
			t->shared_other_address += ps;
	}
}

/* The page figures, the pair matrix and attribution, from the pages
 * grouped by PFN. */
static int sharing(const struct scan *s, struct tree_stats *t)
{
	int n = s->tree.nr, i, ret = -1;
	int *procs = malloc((size_t)n * sizeof(*procs));
	unsigned long *addrs = malloc((size_t)n * sizeof(*addrs));
	bool *gone = malloc((size_t)n * sizeof(*gone));
	struct pair_matrix pm;

	if (procs && addrs && gone) {
		for (i = 0; i < n; i++)
			gone[i] = s->ps[i].gone;
		if (!pair_matrix_init(&pm, n, gone)) {
			per_pfn(s, s->recs, t, &pm, procs, addrs);
			pair_matrix_bytes(&pm, s->page_size, t->matrix);
			pair_matrix_free(&pm);
			for (i = 0; i < n; i++)
				t->matrix[i * n + i] = t->p[i].unique;
			ret = 0;
		}
	}
	free(procs);
	free(addrs);
	free(gone);
	return ret;
}

int tree_stats_compute(const struct scan *s, struct tree_stats *t)
{
	int n = s->tree.nr;

	memset(t, 0, sizeof(*t));
	t->nr = n;
	t->p = calloc((size_t)n, sizeof(*t->p));
	t->matrix = calloc((size_t)n * (size_t)n, sizeof(*t->matrix));
	if (!t->p || !t->matrix) {
		tree_stats_free(t);
		return -1;
	}
	per_process_swap(s, t);
	if (s->pfn_available && sharing(s, t)) {
		tree_stats_free(t);
		return -1;
	}
	totals(s, t);
	return 0;
}

void tree_stats_free(struct tree_stats *t)
{
	free(t->p);
	free(t->matrix);
	memset(t, 0, sizeof(*t));
}
