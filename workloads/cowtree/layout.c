/* The post-fork layout changes, one row each. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layout.h"
#include "region.h"

/* split: the parent write-protects the middle page, so its one VMA becomes
 * three while its children keep the original single VMA. */
static int split_after_forks(struct node *n, char *err, size_t errlen)
{
	uint64_t unit = n->p->thp ? (2UL << 20) / n->page_size : 1;
	uint64_t mid = n->npages / 2 / unit * unit;

	if (mprotect(n->region + mid * n->page_size, unit * n->page_size, PROT_READ) < 0) {
		snprintf(err, errlen, "--layout split: pid %d: mprotect: %s", (int)getpid(),
			 strerror(errno));
		return -1;
	}
	n->action = "split";
	return 0;
}

/* munmap: the parent drops the region; its children then share it only
 * among themselves. */
static int munmap_after_forks(struct node *n, char *err, size_t errlen)
{
	if (munmap(n->region, n->p->size) < 0) {
		snprintf(err, errlen, "--layout munmap: pid %d: munmap: %s", (int)getpid(),
			 strerror(errno));
		return -1;
	}
	n->region = NULL;
	n->action = "munmap";
	return 0;
}

/* mremap: the first child of every parent moves its region elsewhere; the
 * pages stay shared, the addresses no longer match the parent's. With
 * @grow, the moved VMA is one page longer than the parent's, so no VMA of
 * the parent has its length (a layout whose sharing restore cannot rebuild
 * by inheritance: dedup/README.md, "Still restored as a copy"). */
static int move_region(struct node *n, int grow, const char *name, char *err, size_t errlen)
{
	uint64_t len = n->p->size + (grow ? n->page_size : 0);
	void *to, *moved;

	if (n->sibling != 0)
		return 0;
	to = region_reserve_len(n, len);
	if (!to) {
		snprintf(err, errlen, "--layout %s: pid %d: reserve: %s", name, (int)getpid(),
			 strerror(errno));
		return -1;
	}
	moved = mremap(n->region, n->p->size, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (moved == MAP_FAILED) {
		snprintf(err, errlen, "--layout %s: pid %d: mremap: %s", name, (int)getpid(),
			 strerror(errno));
		munmap(to, len);
		return -1;
	}
	n->region = moved;
	n->action = name;
	return 0;
}

static int mremap_as_child(struct node *n, char *err, size_t errlen)
{
	return move_region(n, 0, "mremap", err, errlen);
}

static int mremap_grow_as_child(struct node *n, char *err, size_t errlen)
{
	return move_region(n, 1, "mremap-grow", err, errlen);
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

const struct layout layouts[] = {
    {"none", "no change after fork", 0, NULL, NULL},
    {"split", "each parent mprotects the middle page of its region (VMA split)", 1,
     split_after_forks, NULL},
    {"munmap", "each parent munmaps its region; children share only among siblings", 1,
     munmap_after_forks, NULL},
    {"mremap", "the first child of each parent mremaps its region to another address", 1, NULL,
     mremap_as_child},
    {"grandchild", "inner processes rewrite everything; grandchildren share with the root", 2,
     grandchild_after_forks, NULL},
    {"mremap-grow", "the first child of each parent mremaps its region elsewhere, one page longer",
     1, NULL, mremap_grow_as_child},
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
