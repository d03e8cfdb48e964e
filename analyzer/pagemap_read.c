#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "pagemap_read.h"

/* PAGEMAP_SCAN (include/uapi/linux/fs.h, Linux 6.7), defined here because
 * the build machine's headers may predate it. */
struct page_region {
	uint64_t start, end, categories;
};

struct pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};

#define PAGEMAP_SCAN	_IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)

/* Regions returned per ioctl call. */
#define SCAN_REGIONS 1024
/* A VMA is listed by PAGEMAP_SCAN first when it spans at least this many
 * pages and fewer than 1 / SPARSE_RATIO of them are resident or swapped
 * (smaps): on a dense VMA the listing would be a second walk for nothing.
 * The zero page is not in smaps' Rss, so a VMA of zero pages looks sparse;
 * it is listed (one region) and read all the same: only time is lost. */
#define SPARSE_MIN_PAGES 512
#define SPARSE_RATIO	 4

/* Set once the kernel has refused the ioctl: every reader stops trying. */
static atomic_bool scan_unsupported;

int pagemap_reader_init(struct pagemap_reader *r, unsigned long page_size)
{
	*r = (struct pagemap_reader){.fd = -1, .page_size = page_size};
	r->buf = malloc(PAGEMAP_BATCH * sizeof(*r->buf));
	r->regions = malloc(SCAN_REGIONS * sizeof(*r->regions));
	r->use_scan = !getenv("COWSCAN_NO_PAGEMAP_SCAN");
	if (!r->buf || !r->regions) {
		pagemap_reader_free(r);
		return -1;
	}
	return 0;
}

void pagemap_reader_free(struct pagemap_reader *r)
{
	free(r->buf);
	free(r->regions);
	r->buf = NULL;
	r->regions = NULL;
}

/* Room for one more page in out: a full array doubles; a full window
 * moves to an array of its own, twice its size. */
static int grow_pages(struct page_sink *out)
{
	size_t ncap = out->cap ? out->cap * 2 : 4096;
	struct page_ent *np;

	if (out->borrowed) {
		np = malloc(ncap * sizeof(*np));
		if (np && out->nr)
			memcpy(np, out->pages, out->nr * sizeof(*np));
	} else {
		np = realloc(out->pages, ncap * sizeof(*np));
	}
	if (!np)
		return -1;
	out->pages = np;
	out->cap = ncap;
	out->borrowed = false;
	return 0;
}

int pagemap_read_range(struct pagemap_reader *r, unsigned long start, unsigned long end,
		       int32_t vma, struct page_sink *out)
{
	unsigned long addr = start, ps_sz = r->page_size;

	while (addr < end) {
		size_t want = (end - addr) / ps_sz, k;
		ssize_t got;

		if (want > PAGEMAP_BATCH)
			want = PAGEMAP_BATCH;
		got = pread(r->fd, r->buf, want * 8, (off_t)(addr / ps_sz * 8));
		if (got <= 0) {
			out->err = got == 0 ? ESRCH : errno;
			return -1;
		}
		want = (size_t)got / 8;
		for (k = 0; k < want; k++, addr += ps_sz) {
			uint64_t pme = r->buf[k], pfn = pme & PM_PFN_MASK;

			if (!(pme & (PM_PRESENT | PM_SWAP)))
				continue;
			if (out->nr == out->cap && grow_pages(out)) {
				out->err = ENOMEM;
				return -1;
			}
			out->pages[out->nr++] = (struct page_ent){addr, pme, NO_PFN, vma};
			if (!(pme & PM_PRESENT)) {
				out->nr_swapped++;
				continue;
			}
			/* What the PFN index sizes itself by (pfn_index.c). */
			out->nr_present++;
			out->pfn_zero |= pfn == 0;
			if (pfn > out->max_pfn)
				out->max_pfn = pfn;
		}
	}
	return 0;
}

/* What v holds: smaps' Rss + Swap, or for a process scanned without
 * smaps the whole process's (a bound: a VMA far larger is sparse). */
static unsigned long long vma_held_pages(const struct pagemap_reader *r, const struct vma *v,
					 const struct proc_scan *ps)
{
	return (ps->smaps_from_pages ? ps->held_bound : v->smaps_rss + v->smaps_swap) /
	       r->page_size;
}

/* Few pages held for its size (SPARSE_MIN_PAGES, SPARSE_RATIO)? */
static bool vma_sparse(const struct pagemap_reader *r, const struct vma *v,
		       const struct proc_scan *ps)
{
	unsigned long pages = (v->end - v->start) / r->page_size;

	return pages >= SPARSE_MIN_PAGES && vma_held_pages(r, v, ps) * SPARSE_RATIO < pages;
}

/* Will v be listed by PAGEMAP_SCAN before it is read? */
static bool vma_listed(const struct pagemap_reader *r, const struct vma *v,
		       const struct proc_scan *ps)
{
	return r->use_scan && !atomic_load(&scan_unsupported) && vma_sparse(r, v, ps);
}

unsigned long pagemap_vma_cost(const struct pagemap_reader *r, const struct vma *v,
			       const struct proc_scan *ps)
{
	unsigned long pages = (v->end - v->start) / r->page_size;

	if (!vma_listed(r, v, ps))
		return pages;
	/* Sparse: held * SPARSE_RATIO < pages, so this is below pages. */
	return (unsigned long)vma_held_pages(r, v, ps) + pages / 512;
}

/* List the ranges of [start, end) holding present or swapped entries and
 * read those. Returns 0, -1 with out->err, or 1 when the kernel has no
 * PAGEMAP_SCAN (nothing was read). */
static int read_listed(struct pagemap_reader *r, unsigned long start, unsigned long end,
		       int32_t vma, struct page_sink *out)
{
	unsigned long walk = start;

	while (walk < end) {
		struct pm_scan_arg arg = {
		    .size = sizeof(arg),
		    .start = walk,
		    .end = end,
		    .vec = (uintptr_t)r->regions,
		    .vec_len = SCAN_REGIONS,
		    .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		    .return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		};
		long n = ioctl(r->fd, PAGEMAP_SCAN, &arg), k;

		if (n < 0) {
			if (walk == start && (errno == ENOTTY || errno == EINVAL)) {
				atomic_store(&scan_unsupported, true);
				return 1;
			}
			out->err = errno;
			return -1;
		}
		for (k = 0; k < n; k++)
			if (pagemap_read_range(r, r->regions[k].start, r->regions[k].end, vma, out))
				return -1;
		/* A full vector stops the walk early, at walk_end. */
		if (n < SCAN_REGIONS || arg.walk_end <= walk)
			break;
		walk = arg.walk_end;
	}
	return 0;
}

int pagemap_read_vma(struct pagemap_reader *r, const struct vma *v, int32_t idx,
		     unsigned long start, unsigned long end, const struct proc_scan *ps,
		     struct page_sink *out)
{
	if (vma_listed(r, v, ps)) {
		int ret = read_listed(r, start, end, idx, out);

		if (ret <= 0) {
			/* A VMA split among jobs counts once, in its first. */
			r->scanned_vmas += ret == 0 && start == v->start;
			return ret;
		}
	}
	return pagemap_read_range(r, start, end, idx, out);
}

void page_sink_store(const struct page_sink *out, struct proc_scan *ps)
{
	ps->pages = out->pages;
	ps->nr_pages = out->nr;
	ps->nr_swapped = out->nr_swapped;
	ps->nr_present = out->nr_present;
	ps->max_pfn = out->max_pfn;
	ps->pfn_zero = out->pfn_zero;
}
