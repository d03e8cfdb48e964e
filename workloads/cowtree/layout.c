/* The post-fork layout changes, one row each; each as a real program would
 * make it (mprotect, munmap, mremap, madvise, sbrk, threads). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layout.h"
#include "region.h"

#define STR_(x) #x
#define STR(x)	STR_(x)

/* child-grow: how much each child grows the brk heap after its fork. */
#define HEAP_GROWTH (1UL << 20)

#define FAIL(what)                                                                                 \
	do {                                                                                       \
		snprintf(err, errlen, "--layout %s: pid %d: %s: %s", layouts[n->p->layout].name,   \
			 (int)getpid(), what, strerror(errno));                                    \
		return -1;                                                                         \
	} while (0)

/* split: the parent write-protects the middle page (2 MiB with THP), so
 * its one VMA becomes three while its children keep the original one. */
static int split_after_forks(struct node *n, char *err, size_t errlen)
{
	struct page_range mid = region_middle(n);

	if (mprotect(region_at(n, mid.first), mid.count * n->page_size, PROT_READ) < 0)
		FAIL("mprotect");
	n->action = "split";
	return 0;
}

/* child-mprotect: the same in every child: the child's VMA splits, its
 * parent's does not. */
static int mprotect_as_child(struct node *n, char *err, size_t errlen)
{
	struct page_range mid = region_middle(n);

	if (mprotect(region_at(n, mid.first), mid.count * n->page_size, PROT_READ) < 0)
		FAIL("mprotect");
	n->action = "mprotect";
	return 0;
}

/* munmap: the parent drops the region; its children then share it only
 * among themselves. */
static int munmap_after_forks(struct node *n, char *err, size_t errlen)
{
	if (munmap(n->region, n->p->size) < 0)
		FAIL("munmap");
	region_mark_absent(n, (struct page_range){0, n->npages});
	n->region = NULL;
	n->action = "munmap";
	return 0;
}

/* child-munmap: every child unmaps a different quarter (its sibling
 * position modulo 4) of what it inherited: a hole in its region. */
static int munmap_quarter_as_child(struct node *n, char *err, size_t errlen)
{
	struct page_range q = region_quarter(n, n->sibling % 4);

	/* a quarter of a region of a few pages (or 2 MiB units) can be empty */
	if (q.count && munmap(region_at(n, q.first), q.count * n->page_size) < 0)
		FAIL("munmap");
	region_mark_absent(n, q);
	n->action = "munmap-quarter";
	return 0;
}

/* child-dontneed: every child drops a different quarter with
 * MADV_DONTNEED, as an allocator returns freed memory: the VMA stays, the
 * pages go. */
static int dontneed_quarter_as_child(struct node *n, char *err, size_t errlen)
{
	struct page_range q = region_quarter(n, n->sibling % 4);

	if (madvise(region_at(n, q.first), q.count * n->page_size, MADV_DONTNEED) < 0)
		FAIL("madvise(MADV_DONTNEED)");
	region_mark_absent(n, q);
	n->action = "dontneed-quarter";
	return 0;
}

/* mremap: the first child of every parent moves its region elsewhere; the
 * pages stay shared, the addresses no longer match the parent's. With
 * @grow, the moved VMA is one page longer than the parent's, so no VMA of
 * the parent has its length (a layout whose sharing restore cannot rebuild
 * by inheritance: dedup/README.md, "Still restored as a copy"). */
static int move_region(struct node *n, int grow, char *err, size_t errlen)
{
	uint64_t len = n->p->size + (grow ? n->page_size : 0);
	void *to, *moved;

	if (n->sibling != 0)
		return 0;
	to = region_reserve_len(n, len);
	if (!to)
		FAIL("reserve");
	moved = mremap(n->region, n->p->size, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (moved == MAP_FAILED) {
		int e = errno;
		munmap(to, len);
		errno = e;
		FAIL("mremap");
	}
	n->region = moved;
	n->action = grow ? "mremap-grow" : "mremap";
	return 0;
}

static int mremap_as_child(struct node *n, char *err, size_t errlen)
{
	return move_region(n, 0, err, errlen);
}

static int mremap_grow_as_child(struct node *n, char *err, size_t errlen)
{
	return move_region(n, 1, err, errlen);
}

/* child-grow: every child grows the brk heap (the region is its end) and
 * fills the new memory, as malloc does when it runs out: the child's heap
 * VMA ends HEAP_GROWTH further than its parent's. */
static int grow_heap_as_child(struct node *n, char *err, size_t errlen)
{
	char *more = sbrk(HEAP_GROWTH);

	if (more == (void *)-1)
		FAIL("sbrk");
	region_write_extra(n, more, HEAP_GROWTH, 0);
	n->action = "sbrk";
	return 0;
}

static int grow_heap_check(const struct params *p, char *err, size_t errlen)
{
	if (p->backing != BACKING_BRK) {
		snprintf(err, errlen,
			 "--layout: child-grow grows the brk heap: needs --backing brk");
		return -1;
	}
	return 0;
}

static double grow_heap_memory(const struct params *p, const struct tree_counts *c)
{
	(void)p;
	return (double)(c->procs - 1) * HEAP_GROWTH;
}

/* wipeonfork, dontfork: the root marks the region's second quarter before
 * its first fork; every child is born with that quarter zero-filled
 * (wipeonfork) or not mapped at all (dontfork). */
static int advise_quarter(struct node *n, int advice, const char *what, char *err, size_t errlen)
{
	struct page_range q = region_quarter(n, 1);

	if (madvise(region_at(n, q.first), q.count * n->page_size, advice) < 0)
		FAIL(what);
	n->action = layouts[n->p->layout].name;
	return 0;
}

static int wipeonfork_prepare(struct node *n, char *err, size_t errlen)
{
	return advise_quarter(n, MADV_WIPEONFORK, "madvise(MADV_WIPEONFORK)", err, errlen);
}

static int dontfork_prepare(struct node *n, char *err, size_t errlen)
{
	return advise_quarter(n, MADV_DONTFORK, "madvise(MADV_DONTFORK)", err, errlen);
}

static int quarter_lost_at_birth(struct node *n, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	region_mark_absent(n, region_quarter(n, 1));
	return 0;
}

/* grandchild: every inner process (not the root, has children) rewrites all
 * of its pages once its children exist, so a grandchild shares its pages
 * with the root but not with its own parent. */
static int grandchild_after_forks(struct node *n, char *err, size_t errlen)
{
	if (n->depth == 0)
		return 0;
	n->action = "rewrite-all";
	return region_rewrite(n, 1.0, PHASE_REWRITE_ALL, err, errlen);
}

static double grandchild_memory(const struct params *p, const struct tree_counts *c)
{
	return (double)c->inner * (double)p->size;
}

const struct layout layouts[] = {
    {.name = "none", .what = "no change after fork"},
    {.name = "split",
     .what = "each parent mprotects the middle page of its region (VMA split)",
     .min_depth = 1,
     .after_forks = split_after_forks},
    {.name = "munmap",
     .what = "each parent munmaps its region; children share only among siblings",
     .min_depth = 1,
     .after_forks = munmap_after_forks},
    {.name = "mremap",
     .what = "the first child of each parent mremaps its region to another address",
     .min_depth = 1,
     .as_child = mremap_as_child},
    {.name = "grandchild",
     .what = "inner processes rewrite everything; grandchildren share with the root",
     .min_depth = 2,
     .memory_extra = grandchild_memory,
     .after_forks = grandchild_after_forks},
    {.name = "mremap-grow",
     .what = "the first child of each parent mremaps its region elsewhere, one page longer",
     .min_depth = 1,
     .as_child = mremap_grow_as_child},
    {.name = "child-mprotect",
     .what = "each child mprotects the middle page of its region (the child's VMA splits)",
     .min_depth = 1,
     .as_child = mprotect_as_child},
    {.name = "child-munmap",
     .what = "each child munmaps a different quarter (sibling mod 4) of its region",
     .min_depth = 1,
     .as_child = munmap_quarter_as_child},
    {.name = "child-dontneed",
     .what = "each child drops a different quarter (sibling mod 4) with MADV_DONTNEED",
     .min_depth = 1,
     .as_child = dontneed_quarter_as_child},
    {.name = "child-grow",
     .what = "each child grows the brk heap by 1 MiB (sbrk) and fills it; needs --backing brk",
     .min_depth = 1,
     .memory_extra = grow_heap_memory,
     .check = grow_heap_check,
     .as_child = grow_heap_as_child},
    {.name = "wipeonfork",
     .what = "the root sets MADV_WIPEONFORK on the region's second quarter before forking",
     .min_depth = 1,
     .prepare = wipeonfork_prepare,
     .born = quarter_lost_at_birth},
    {.name = "dontfork",
     .what = "the root sets MADV_DONTFORK on the region's second quarter before forking",
     .min_depth = 1,
     .prepare = dontfork_prepare,
     .born = quarter_lost_at_birth},
    {.name = "threads",
     .what = "the root runs " STR(ROOT_THREADS) " threads, each filling its own malloc arena "
						"and stack, then forks",
     .min_depth = 1,
     .memory_extra = threads_memory,
     .before_region = threads_start},
};
const int nr_layouts = sizeof(layouts) / sizeof(layouts[0]);

int layout_find(const char *name)
{
	int i;

	for (i = 0; i < nr_layouts; i++)
		if (strcmp(layouts[i].name, name) == 0)
			return i;
	return -1;
}

const char *layout_names(char *buf, size_t len)
{
	size_t off = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < nr_layouts && off < len; i++)
		off += snprintf(buf + off, len - off, "%s%s", i ? ", " : "", layouts[i].name);
	return buf;
}

json_t *layouts_json(void)
{
	json_t *arr = json_array();
	int i;

	for (i = 0; i < nr_layouts; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:i}", "name", layouts[i].name,
						     "what", layouts[i].what, "min_depth",
						     layouts[i].min_depth));
	return arr;
}
