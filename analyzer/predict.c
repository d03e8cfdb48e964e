#include <stdlib.h>
#include <string.h>

#include "predict.h"

static bool vma_dumped(const struct vma *v)
{
	return vma_is_criu_private(v) && !(v->flags & (VMA_DROPPABLE | VMA_PFNMAP));
}

/* What predict_process needs of each unique PFN, one byte each (a page's
 * kpageflags entry, 8 bytes, would be a cache miss a page). */
enum pfn_state {
	PFN_ZERO_PAGE = 1 << 0, /* KPF_ZERO_PAGE */
	PFN_SEEN = 1 << 1,	/* already counted in ideal_image */
};

/* should_dump_page() for a page of a dumped, non-vDSO VMA. */
static bool page_dumped(const unsigned char *state, const struct page_ent *pg)
{
	if (pg->pme & PM_GUARD_REGION)
		return false;
	if (pg->pme & PM_FILE)
		return false; /* an un-COWed file page, or the zero page's kin */
	if (pg->pme & PM_SWAP)
		return true;
	return pg->uidx == NO_PFN || !(state[pg->uidx] & PFN_ZERO_PAGE);
}

/* check_cow_vmas(): may the child's VMA v be inherited from pv? */
static bool cow_vmas_match(const struct vma *v, const struct vma *pv)
{
	if (v->start != pv->start || v->end != pv->end)
		return false;
	if (!vma_is_criu_private(v) || !vma_is_criu_private(pv))
		return false;
	if ((v->flags | pv->flags) & VMA_HUGETLB)
		return false;
	if ((v->flags ^ pv->flags) & (VMA_GROWSDOWN | VMA_ANON))
		return false;
	if (!(v->flags & VMA_ANON) &&
	    (v->ino != pv->ino || v->dev_major != pv->dev_major || v->dev_minor != pv->dev_minor))
		return false;
	return true;
}

/* The parent's page at vaddr, searched forward from *cursor (both page
 * lists are in address order). */
static const struct page_ent *parent_page_at(const struct proc_scan *pps, size_t *cursor,
					     unsigned long vaddr)
{
	while (*cursor < pps->nr_pages && pps->pages[*cursor].vaddr < vaddr)
		(*cursor)++;
	if (*cursor < pps->nr_pages && pps->pages[*cursor].vaddr == vaddr)
		return &pps->pages[*cursor];
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Shared anonymous memory is dumped once per segment: the bytes of its
 * distinct PFNs. Returns 0, or -1 out of memory (never a short count). */
static int shared_anon_bytes(const struct scan *s, unsigned long long *bytes)
{
	size_t n = 0, cap = 0, k, u = 0;
	uint64_t *pfns = NULL;
	int i;

	for (i = 0; i < s->tree.nr; i++) {
		const struct proc_scan *ps = &s->ps[i];
		int v;

		for (v = 0, k = 0; !ps->gone && v < ps->vmas.nr; v++) {
			if (!(ps->vmas.v[v].flags & VMA_SHARED_ANON))
				continue;
			for (k = proc_first_page(ps, k, v);
			     k < ps->nr_pages && ps->pages[k].vma == v; k++) {
				const struct page_ent *pg = &ps->pages[k];

				if (pg->uidx == NO_PFN)
					continue;
				if (n == cap) {
					uint64_t *np;

					cap = cap ? cap * 2 : 1024;
					np = realloc(pfns, cap * sizeof(*np));
					if (!np) {
						free(pfns);
						return -1;
					}
					pfns = np;
				}
				pfns[n++] = pg->pme & PM_PFN_MASK;
			}
		}
	}
	if (n)
		qsort(pfns, n, sizeof(*pfns), cmp_u64);
	for (k = 0; k < n; k++)
		if (k == 0 || pfns[k] != pfns[k - 1])
			u++;
	free(pfns);
	*bytes = u * s->page_size;
	return 0;
}

/* What the dump and the restore do with a VMA's pages, decided once per
 * VMA rather than once per page. */
enum vma_fate {
	PAGES_NOT_DUMPED,      /* or dumped whole: the vDSO */
	PAGES_DUMPED,	       /* page by page, restored as private copies */
	PAGES_DUMPED_INHERITED /* page by page; the restore inherits the VMA */
};

/* Pages of process i, in VMA v, that CRIU's restore keeps shared with the
 * parent: the VMA is inherited and the parent's page at the same address is
 * dumped with the same PFN, hence the same content (the memcmp succeeds). */
static void predict_process(const struct scan *s, int i, struct prediction *pr,
			    unsigned char *state, unsigned char *fate)
{
	const struct proc_scan *ps = &s->ps[i];
	const struct proc_id *me = &s->tree.procs[i];
	int pi = me->parent_index;
	const struct proc_scan *pps = pi >= 0 && !s->ps[pi].gone ? &s->ps[pi] : NULL;
	bool exe_ok = pps && proc_same_exe(me, &s->tree.procs[pi]);
	struct proc_prediction *pp = &pr->p[i];
	unsigned long long ps_sz = s->page_size;
	size_t k, cursor = 0;
	int v;

	/* Per VMA, once: is it dumped, and does the restore inherit it? */
	for (v = 0; v < ps->vmas.nr; v++) {
		const struct vma *vma = &ps->vmas.v[v];
		int pv;

		fate[v] = PAGES_NOT_DUMPED;
		if (!vma_dumped(vma))
			continue;
		if (vma->flags & VMA_VDSO) {
			pp->baseline_image += vma->end - vma->start;
			continue;
		}
		fate[v] = PAGES_DUMPED;
		if (!exe_ok)
			continue;
		pv = vma_find(&pps->vmas, vma->start, -1);
		if (pv >= 0 && cow_vmas_match(vma, &pps->vmas.v[pv])) {
			fate[v] = PAGES_DUMPED_INHERITED;
			pp->inherited_vmas++;
		} else {
			pp->vmas_not_inherited++;
		}
	}
	for (k = 0; k < ps->nr_pages; k++) {
		const struct page_ent *pg = &ps->pages[k];
		const struct page_ent *ppg = NULL;

		if (fate[pg->vma] == PAGES_NOT_DUMPED || !page_dumped(state, pg))
			continue;
		pp->baseline_image += ps_sz;
		if (pg->uidx != NO_PFN && !(state[pg->uidx] & PFN_SEEN)) {
			state[pg->uidx] |= PFN_SEEN;
			pr->ideal_image += ps_sz;
		} else if (pg->uidx == NO_PFN) {
			pr->ideal_image += ps_sz; /* swapped: counted as unique */
		}
		if (fate[pg->vma] == PAGES_DUMPED_INHERITED)
			ppg = parent_page_at(pps, &cursor, pg->vaddr);
		if (ppg && (pg->pme & PM_PRESENT) && (ppg->pme & PM_PRESENT) &&
		    page_dumped(state, ppg) && pg->uidx == ppg->uidx)
			continue; /* stays shared with the parent's copy */
		pp->restored_private += ps_sz;
	}
}

int predict_compute(const struct scan *s, struct prediction *pr)
{
	unsigned char *state;
	unsigned long long vdso_once = 0, shared_anon;
	unsigned char *fate;
	int i, v, max_vmas = 1;
	size_t u;

	memset(pr, 0, sizeof(*pr));
	for (i = 0; i < s->tree.nr; i++)
		if (s->ps[i].vmas.nr > max_vmas)
			max_vmas = s->ps[i].vmas.nr;
	pr->p = calloc((size_t)s->tree.nr, sizeof(*pr->p));
	state = calloc(s->nr_upfn + 1, 1);
	fate = calloc((size_t)max_vmas, sizeof(*fate));
	if (!pr->p || !state || !fate) {
		free(state);
		free(fate);
		predict_free(pr);
		return -1;
	}
	for (u = 0; u < s->nr_upfn; u++)
		if (s->kflags[u] & KPF_ZERO_PAGE)
			state[u] = PFN_ZERO_PAGE;
	for (i = 0; i < s->tree.nr; i++) {
		if (s->ps[i].gone)
			continue;
		predict_process(s, i, pr, state, fate);
		pr->baseline_image += pr->p[i].baseline_image;
		pr->restore_pss += pr->p[i].restored_private;
		for (v = 0; !vdso_once && v < s->ps[i].vmas.nr; v++)
			if (s->ps[i].vmas.v[v].flags & VMA_VDSO)
				vdso_once = s->ps[i].vmas.v[v].end - s->ps[i].vmas.v[v].start;
	}
	free(state);
	free(fate);
	if (shared_anon_bytes(s, &shared_anon)) {
		predict_free(pr);
		return -1;
	}
	/* The kernel's vDSO is one copy for everybody. */
	pr->ideal_image += vdso_once + shared_anon;
	pr->baseline_image += shared_anon;
	return 0;
}

void predict_relate_to_pss(struct prediction *pr, const struct tree_stats *t)
{
	pr->restore_inflation =
	    t->pss_fp ? (double)pr->restore_pss / (double)(t->pss_fp >> PSS_SHIFT) : 0.0;
}

void predict_free(struct prediction *pr)
{
	free(pr->p);
	memset(pr, 0, sizeof(*pr));
}
