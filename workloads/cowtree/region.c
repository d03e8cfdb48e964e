/* The region every process of the tree starts out sharing. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "region.h"

#define THP_SIZE (2UL << 20)

/* splitmix64: cheap, well mixed, and the same everywhere for a given seed. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t tag(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
	return mix64(mix64(mix64(seed ^ 0x636f77ULL) ^ a) ^ b) ^ mix64(c + 0x7a65726fULL);
}

/* Fill one page from its tag: the first word is the tag itself (never 0),
 * the rest follow from it, so no two writes leave the same bytes. */
static void fill_page(uint64_t *page, uint64_t page_size, uint64_t t)
{
	uint64_t i, x = t | 1;

	page[0] = x;
	for (i = 1; i < page_size / 8; i++) {
		x += 0x9e3779b97f4a7c15ULL;
		page[i] = mix64(x);
	}
}

/* Map len bytes of PROT_NONE at an address aligned to align. */
static void *reserve_aligned(uint64_t len, uint64_t align)
{
	uint64_t total = len + align;
	char *p = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *start;

	if (p == MAP_FAILED)
		return NULL;
	start = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (start > p)
		munmap(p, start - p);
	if (p + total > start + len)
		munmap(start + len, p + total - (start + len));
	return start;
}

void *region_reserve(const struct node *n)
{
	return region_reserve_len(n, n->p->size);
}

void *region_reserve_len(const struct node *n, uint64_t len)
{
	return reserve_aligned(len, n->p->thp ? THP_SIZE : n->page_size);
}

int region_map(struct node *n, char *file_path, size_t pathlen, char *err, size_t errlen)
{
	const struct params *p = n->p;
	int flags = MAP_PRIVATE | MAP_FIXED, fd = -1;
	char *addr = region_reserve(n);

	file_path[0] = '\0';
	if (!addr) {
		snprintf(err, errlen, "--size: cannot reserve %llu bytes: %s",
			 (unsigned long long)p->size, strerror(errno));
		return -1;
	}
	if (p->backing == BACKING_FILE) {
		/* CRIU restores a private file mapping from its path: the file
		 * stays (named in the ready line) until whoever ends the tree
		 * removes it. */
		snprintf(file_path, pathlen, "%s/cowtree-%d-XXXXXX", p->file_dir, (int)getpid());
		fd = mkstemp(file_path);
		if (fd < 0 || ftruncate(fd, p->size) < 0) {
			snprintf(err, errlen, "--file-dir: %s: %s", file_path, strerror(errno));
			if (fd >= 0) {
				close(fd);
				unlink(file_path);
			}
			munmap(addr, p->size);
			return -1;
		}
	} else {
		flags |= MAP_ANONYMOUS;
	}
	if (mmap(addr, p->size, PROT_READ | PROT_WRITE, flags, fd, 0) == MAP_FAILED) {
		snprintf(err, errlen, "--size: mmap of %llu bytes: %s", (unsigned long long)p->size,
			 strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(file_path);
		}
		munmap(addr, p->size);
		return -1;
	}
	if (fd >= 0)
		close(fd);
	/* Say it either way: with THP "always" a plain run would otherwise get
	 * huge pages too and measure something else. */
	if (madvise(addr, p->size, p->thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) < 0 && p->thp) {
		snprintf(err, errlen, "--thp: madvise(MADV_HUGEPAGE): %s", strerror(errno));
		munmap(addr, p->size);
		return -1;
	}
	n->region = addr;
	n->npages = p->size / n->page_size;
	return 0;
}

/*
 * Pick round(ratio * npages) distinct pages, the same ones for the same
 * (seed, writer, phase): a partial Fisher-Yates shuffle. The scratch array
 * is mmapped and unmapped so that it leaves nothing in the process.
 */
static uint32_t *choose_pages(const struct node *n, double ratio, uint64_t salt, uint64_t *count)
{
	uint64_t k = (uint64_t)llround(ratio * (double)n->npages), i;
	uint64_t len = n->npages * sizeof(uint32_t);
	uint64_t rng = tag(n->p->seed, n->writer, salt, 0x73656c);
	uint32_t *idx;

	idx = mmap(NULL, len ? len : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (idx == MAP_FAILED)
		return NULL;
	for (i = 0; i < n->npages; i++)
		idx[i] = i;
	for (i = 0; i < k; i++) {
		uint64_t j = i + (rng = mix64(rng)) % (n->npages - i);
		uint32_t t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
	*count = k;
	return idx;
}

void region_fill(struct node *n)
{
	uint64_t nzero = 0, i;
	uint32_t *zero = choose_pages(n, n->p->zero, 0x7a65726f, &nzero);
	unsigned char *is_zero = calloc(n->npages ? n->npages : 1, 1);

	if (!zero || !is_zero) { /* fall back: no zero pages rather than a wrong fill */
		nzero = 0;
	}
	for (i = 0; i < nzero; i++)
		is_zero[zero[i]] = 1;
	for (i = 0; i < n->npages; i++) {
		char *page = n->region + i * n->page_size;
		if (is_zero && is_zero[i])
			(void)*(volatile char *)page; /* maps the zero page */
		else
			fill_page((uint64_t *)page, n->page_size,
				  tag(n->p->seed, i, n->writer, PHASE_FILL));
	}
	if (zero)
		munmap(zero, n->npages * sizeof(uint32_t));
	free(is_zero);
}

int region_rewrite(struct node *n, double ratio, enum phase phase, char *err, size_t errlen)
{
	uint64_t k, i;
	uint32_t *pages;

	if (!n->region || ratio <= 0)
		return 0;
	pages = choose_pages(n, ratio, phase, &k);
	if (!pages) {
		snprintf(err, errlen, "pid %d: page selection: %s", (int)getpid(), strerror(errno));
		return -1;
	}
	for (i = 0; i < k; i++) {
		uint64_t pg = pages[i];
		fill_page((uint64_t *)(n->region + pg * n->page_size), n->page_size,
			  tag(n->p->seed, pg, n->writer, phase));
		if (!n->written[pg]) {
			n->written[pg] = 1;
			n->written_pages++;
		}
	}
	munmap(pages, n->npages * sizeof(uint32_t));
	return 0;
}
