#include <stdlib.h>
#include <string.h>

#include "pair_matrix.h"
#include "tree_stats.h"

/* Per-process figures from each process's own pages. */
static void per_process(const struct scan *s, struct tree_stats *t)
{
	unsigned long long ps = s->page_size, share = ps << PSS_SHIFT;
	uint64_t share_cnt = 1; /* share is this page's PSS for that kpagecount */
	int i;
	size_t k;

	for (i = 0; i < s->tree.nr; i++) {
		const struct proc_scan *sc = &s->ps[i];
		struct proc_stats *st = &t->p[i];

		if (sc->gone)
			continue;
		for (k = 0; k < sc->nr_pages; k++) {
			const struct page_ent *pg = &sc->pages[k];
			uint64_t kf, cnt;

			if (pg->pme & PM_SWAP) {
				st->swap += ps;
				continue;
			}
			if (!s->pfn_available || pg->uidx == NO_PFN)
				continue;
			kf = s->kflags[pg->uidx];
			cnt = s->kcount[pg->uidx];
			/* The shared zero page is not counted in RSS. */
			if (kf & KPF_ZERO_PAGE) {
				st->zero += ps;
				continue;
			}
			st->rss += ps;
			/* Runs of pages share a kpagecount: divide once per run. */
			if ((cnt ? cnt : 1) != share_cnt) {
				share_cnt = cnt ? cnt : 1;
				share = (ps << PSS_SHIFT) / share_cnt;
			}
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

/* Walk the records grouped by PFN once: unique footprint, pair matrix, COW
 * attribution. Records of one PFN are in tree order, a process's own
 * records adjacent. */
static void per_pfn(const struct scan *s, struct tree_stats *t, struct pair_matrix *pm, int *procs,
		    unsigned long *addrs)
{
	unsigned long long ps = s->page_size;
	size_t u;

	for (u = 0; u < s->nr_upfn; u++) {
		size_t k = s->rec_start[u], end = s->rec_start[u + 1];
		int np = 0, a, b, old;
		bool same_addr = false;

		if (k == end || (s->kflags[u] & KPF_ZERO_PAGE))
			continue;
		for (; k < end; k++) {
			const struct pfn_rec *r = &s->recs[k];

			if (np == 0 || procs[np - 1] != (int)r->proc) {
				procs[np] = (int)r->proc;
				addrs[np] = s->ps[r->proc].pages[r->page].vaddr;
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

/* The pair matrix and attribution, from the pages grouped by PFN. */
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
			per_pfn(s, t, &pm, procs, addrs);
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
	per_process(s, t);
	if (s->pfn_available && sharing(s, t)) {
		tree_stats_free(t);
		return -1;
	}
	return 0;
}

void tree_stats_free(struct tree_stats *t)
{
	free(t->p);
	free(t->matrix);
	memset(t, 0, sizeof(*t));
}
