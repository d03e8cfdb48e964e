/* A process's pagemap read as slices (pagemap_slices.h says why and how). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pagemap_slices.h"

/* Slices one process is cut into at most: beyond, slices cost more to
 * hand out than they balance. */
#define MAX_SLICES 4096

/* Is v's pagemap read? Not the kernel's areas, nor VMAs without struct
 * pages behind. */
static bool vma_read(const struct vma *v)
{
	return !(v->flags & (VMA_KERNEL | VMA_PFNMAP));
}

/* The part [*start, *end) of VMA v that slice s covers; false when none
 * is read. */
static bool slice_piece(const struct vma_list *l, const struct pagemap_slice *s, int v,
			unsigned long *start, unsigned long *end)
{
	const struct vma *m = &l->v[v];

	*start = v == s->from.vma && s->from.addr > m->start ? s->from.addr : m->start;
	*end = v == s->to.vma ? s->to.addr : m->end;
	return vma_read(m) && *start < *end;
}

/* One past the last VMA slice s covers part of. */
static int slice_end_vma(const struct vma_list *l, const struct pagemap_slice *s)
{
	return s->to.vma < l->nr ? s->to.vma + 1 : l->nr;
}

/* Place the cuts between the slices: cut k where the VMAs before it cost
 * k / nr of total (the sum of cost[], one entry a VMA), inside a VMA at
 * the page its share of its cost gives (the cost of a sparse VMA is spread
 * over its pages). */
static void cut_slices(struct pagemap_slices *sl, const struct vma_list *l,
		       const unsigned long *cost, unsigned long long total, unsigned long page_size)
{
	unsigned long long before = 0; /* cost of the VMAs before v */
	unsigned long long n = (unsigned long long)sl->nr;
	int k = 1, v;

	sl->s[0].from = (struct pagemap_cut){0, 0};
	sl->s[sl->nr - 1].to = (struct pagemap_cut){l->nr, 0};
	for (v = 0; v < l->nr && k < sl->nr; v++) {
		const struct vma *m = &l->v[v];
		unsigned long pages = (m->end - m->start) / page_size;

		for (; k < sl->nr; k++) {
			/* k * total / n without overflow (n <= MAX_SLICES). */
			unsigned long long at =
			    total / n * (unsigned)k + total % n * (unsigned)k / n;
			unsigned long off;

			if (at >= before + cost[v])
				break;
			off = cost[v] == pages ? (unsigned long)(at - before)
					       : (unsigned long)((double)(at - before) /
								 (double)cost[v] * (double)pages);
			if (off >= pages)
				off = pages - 1;
			sl->s[k].from = (struct pagemap_cut){v, m->start + off * page_size};
			sl->s[k - 1].to = sl->s[k].from;
		}
		before += cost[v];
	}
}

/* The entries slice s can hold: its pages, and no more than the process
 * holds (cap). */
static size_t slice_bound(const struct pagemap_slice *s, const struct proc_scan *ps,
			  unsigned long page_size, size_t cap)
{
	unsigned long start, end;
	size_t pages = 0;
	int v;

	for (v = s->from.vma; v < slice_end_vma(&ps->vmas, s) && pages < cap; v++)
		if (slice_piece(&ps->vmas, s, v, &start, &end))
			pages += (end - start) / page_size;
	return pages < cap ? pages : cap;
}

int pagemap_slices_plan(struct pagemap_slices *sl, const struct pagemap_reader *r,
			const struct proc_scan *ps, unsigned long job_pages)
{
	/* Rss + Swap (smaps', or the status' bound) is the number of pages to
	 * expect, save zero-page mappings: the array read whole was sized so,
	 * and no slice can hold more. The windows take at most twice that:
	 * slices beyond start without one. */
	size_t cap = (ps->smaps_from_pages ? ps->held_bound : ps->rollup.rss + ps->rollup.swap) /
			 r->page_size +
		     64;
	size_t *bound = NULL, used = 0;
	unsigned long *cost = calloc((size_t)ps->vmas.nr + 1, sizeof(*cost));
	unsigned long long total = 0;
	int k, v, nr_windows;

	memset(sl, 0, sizeof(*sl));
	if (!cost)
		return -1;
	/* Asked once: whether PAGEMAP_SCAN works may change meanwhile. */
	for (v = 0; v < ps->vmas.nr; v++) {
		if (vma_read(&ps->vmas.v[v]))
			cost[v] = pagemap_vma_cost(r, &ps->vmas.v[v], ps);
		total += cost[v];
	}
	sl->nr = 1;
	if (job_pages && total > job_pages)
		sl->nr = total / job_pages >= MAX_SLICES
			     ? MAX_SLICES
			     : (int)((total + job_pages - 1) / job_pages);
	sl->s = calloc((size_t)sl->nr, sizeof(*sl->s));
	bound = calloc((size_t)sl->nr, sizeof(*bound));
	if (!sl->s || !bound)
		goto oom;
	cut_slices(sl, &ps->vmas, cost, total, r->page_size);
	for (k = 0; k < sl->nr; k++) {
		bound[k] = slice_bound(&sl->s[k], ps, r->page_size, cap);
		if (used + bound[k] > 2 * cap)
			break;
		used += bound[k];
	}
	nr_windows = k;
	sl->windows = malloc((used ? used : 1) * sizeof(*sl->windows));
	if (!sl->windows)
		goto oom;
	for (k = 0, used = 0; k < nr_windows; used += bound[k++])
		sl->s[k].out = (struct page_sink){
		    .pages = sl->windows + used, .cap = bound[k], .borrowed = true};
	free(cost);
	free(bound);
	return 0;
oom:
	free(cost);
	free(bound);
	pagemap_slices_free(sl);
	return -1;
}

int pagemap_slice_read(struct pagemap_slices *sl, int k, struct pagemap_reader *r,
		       const struct proc_scan *ps)
{
	struct pagemap_slice *s = &sl->s[k];
	unsigned long start, end;
	int v;

	for (v = s->from.vma; v < slice_end_vma(&ps->vmas, s); v++)
		if (slice_piece(&ps->vmas, s, v, &start, &end) &&
		    pagemap_read_vma(r, &ps->vmas.v[v], v, start, end, ps, &s->out)) {
			s->ret = -1;
			break;
		}
	return s->ret;
}

/* Does a slice hold its pages in an array of its own (its window
 * overflowed, or it had none)? */
static bool slice_owns(const struct pagemap_slice *s)
{
	return s->out.pages && !s->out.borrowed;
}

int pagemap_slices_join(struct pagemap_slices *sl, struct proc_scan *ps)
{
	struct page_sink all = {0};
	bool owned = false;
	int k;

	for (k = 0; k < sl->nr; k++) {
		const struct page_sink *o = &sl->s[k].out;

		if (sl->s[k].ret) {
			ps->err = o->err;
			pagemap_slices_free(sl);
			return -1;
		}
		owned |= slice_owns(&sl->s[k]);
		all.nr += o->nr;
		all.nr_swapped += o->nr_swapped;
		all.nr_present += o->nr_present;
		all.pfn_zero |= o->pfn_zero;
		if (o->max_pfn > all.max_pfn)
			all.max_pfn = o->max_pfn;
	}
	if (sl->nr == 1 && owned) {
		/* Read whole and grown: the slice's array is the process's. */
		all.pages = sl->s[0].out.pages;
		sl->s[0].out.pages = NULL;
	} else if (!owned) {
		/* Every slice in its window, each window at or after where
		 * its pages go: move them down, in order. */
		all.pages = sl->windows;
		sl->windows = NULL;
	} else {
		all.pages = malloc((all.nr ? all.nr : 1) * sizeof(*all.pages));
		if (!all.pages) {
			ps->err = ENOMEM;
			pagemap_slices_free(sl);
			return -1;
		}
	}
	if (sl->nr > 1) {
		size_t at = 0;

		for (k = 0; k < sl->nr; k++) {
			const struct page_sink *o = &sl->s[k].out;

			if (o->nr && o->pages != all.pages + at)
				memmove(all.pages + at, o->pages, o->nr * sizeof(*all.pages));
			at += o->nr;
		}
	}
	page_sink_store(&all, ps);
	pagemap_slices_free(sl);
	return 0;
}

void pagemap_slices_free(struct pagemap_slices *sl)
{
	int k;

	for (k = 0; k < sl->nr; k++)
		if (slice_owns(&sl->s[k]))
			free(sl->s[k].out.pages);
	free(sl->s);
	free(sl->windows);
	memset(sl, 0, sizeof(*sl));
}
