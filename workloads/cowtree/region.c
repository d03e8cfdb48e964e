/* The region every process of the tree starts out sharing. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "region.h"
#include "zeropage.h"

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

/* Fill one page (or len bytes) from its tag: the first word is the tag
 * itself (never 0), the rest follow from it, so no two writes leave the
 * same bytes. */
static void fill_page(uint64_t *page, uint64_t len, uint64_t t)
{
	uint64_t i, x = t | 1;

	page[0] = x;
	for (i = 1; i < len / 8; i++) {
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

void *region_reserve_len(const struct node *n, uint64_t len)
{
	return reserve_aligned(len, params_region_align(n->p, n->page_size));
}

char *region_at(const struct node *n, uint64_t page)
{
	return n->region + page * n->page_size;
}

/* Layouts cut the region on THP boundaries with --thp: a cut inside a huge
 * page would split it and measure something else. */
static uint64_t cut_unit(const struct node *n)
{
	return n->p->thp ? HUGE_ZERO_SIZE / n->page_size : 1;
}

struct page_range region_middle(const struct node *n)
{
	uint64_t unit = cut_unit(n);

	return (struct page_range){n->npages / 2 / unit * unit, unit};
}

struct page_range region_quarter(const struct node *n, int q)
{
	uint64_t unit = cut_unit(n);
	uint64_t lo = n->npages * q / 4 / unit * unit;
	uint64_t hi = q == 3 ? n->npages : n->npages * (q + 1) / 4 / unit * unit;

	return (struct page_range){lo, hi - lo};
}

void region_mark_absent(struct node *n, struct page_range r)
{
	uint64_t i;

	for (i = r.first; i < r.first + r.count && i < n->npages; i++) {
		n->absent_pages += !n->absent[i];
		n->absent[i] = 1;
	}
}

/* The brk heap: the region is its end, page aligned. Nothing here may
 * change the heap VMA's flags (no madvise): a child's heap must still be
 * one VMA after sbrk. PR_SET_THP_DISABLE keeps THP "always" from backing
 * it with huge pages without touching the VMA. */
static char *map_brk(struct node *n, char *err, size_t errlen)
{
	uintptr_t cur = (uintptr_t)sbrk(0),
		  pad = (n->page_size - cur % n->page_size) % n->page_size;
	char *start;

	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	start = sbrk(pad + n->p->size);
	if (start == (void *)-1) {
		snprintf(err, errlen, "--backing brk: sbrk of %llu bytes: %s",
			 (unsigned long long)n->p->size, strerror(errno));
		return NULL;
	}
	return start + pad;
}

int region_map(struct node *n, char *file_path, size_t pathlen, char *err, size_t errlen)
{
	const struct params *p = n->p;
	int flags = MAP_PRIVATE | MAP_FIXED, fd = -1;
	char *addr;

	file_path[0] = '\0';
	n->npages = p->size / n->page_size;
	if (p->backing == BACKING_BRK) {
		n->region = map_brk(n, err, errlen);
		return n->region ? 0 : -1;
	}
	addr = region_reserve_len(n, p->size);
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
	return 0;
}

/*
 * Pick k distinct items of the nitems, the same ones for the same (seed,
 * writer, salt): a partial Fisher-Yates shuffle. Items set in skip_a or
 * skip_b (either may be NULL) are never picked; *k drops to what is left
 * when fewer remain. The scratch array is mmapped and unmapped so that it
 * leaves nothing in the process. Returns the array (munmap it, nitems
 * entries) with the picks first.
 */
static uint32_t *choose(const struct node *n, uint64_t nitems, uint64_t *k,
			const unsigned char *skip_a, const unsigned char *skip_b, uint64_t salt)
{
	uint64_t len = (nitems ? nitems : 1) * sizeof(uint32_t), m = 0, i;
	uint64_t rng = tag(n->p->seed, n->writer, salt, 0x73656c);
	uint32_t *idx;

	idx = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (idx == MAP_FAILED)
		return NULL;
	for (i = 0; i < nitems; i++)
		if (!(skip_a && skip_a[i]) && !(skip_b && skip_b[i]))
			idx[m++] = i;
	if (*k > m)
		*k = m;
	for (i = 0; i < *k; i++) {
		uint64_t j = i + (rng = mix64(rng)) % (m - i);
		uint32_t t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
	return idx;
}

/* Leave the zero share on a zero page: round(zero * size / unit) whole
 * units (pages, or 2 MiB with the huge zero page), only read; n->zero
 * marks their pages. */
static int map_zero_share(struct node *n, char *err, size_t errlen)
{
	const struct params *p = n->p;
	uint64_t unit = params_zero_unit(p, n->page_size) / n->page_size;
	uint64_t nunits = n->npages / unit, i, j;
	uint64_t k = (uint64_t)llround(p->zero * (double)n->npages / (double)unit);
	uint32_t *units;
	long mapped;

	if (k == 0)
		return 0;
	units = choose(n, nunits, &k, NULL, NULL, 0x7a65726f);
	if (!units) {
		snprintf(err, errlen, "--zero: page selection: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < k; i++) {
		char *addr = region_at(n, (uint64_t)units[i] * unit);
		for (j = 0; j < unit; j++)
			n->zero[units[i] * unit + j] = 1;
		if (unit == 1) {
			(void)*(volatile char *)addr;
		} else if (zero_map_huge_unit(addr, p->thp) < 0) {
			snprintf(err, errlen, "--zero: madvise: %s", strerror(errno));
			munmap(units, (nunits ? nunits : 1) * sizeof(uint32_t));
			return -1;
		}
	}
	munmap(units, (nunits ? nunits : 1) * sizeof(uint32_t));
	n->zero_pages = k * unit;
	if (p->backing == BACKING_FILE) /* the file's holes: page cache, not a zero page */
		return 0;
	mapped = zero_pages_mapped(n->region, n->npages, n->page_size, n->zero, err, errlen);
	if (mapped < 0)
		return -1;
	if ((uint64_t)mapped != n->zero_pages) {
		snprintf(err, errlen,
			 "--zero: %llu pages were read to map the %s zero page, %ld of "
			 "them map it",
			 (unsigned long long)n->zero_pages, unit == 1 ? "4k" : "huge", mapped);
		return -1;
	}
	return 0;
}

int region_fill(struct node *n, char *err, size_t errlen)
{
	uint64_t i;

	/* zero units first: a huge one must be read before anything writes
	 * into its 2 MiB */
	if (map_zero_share(n, err, errlen))
		return -1;
	for (i = 0; i < n->npages; i++)
		if (!n->zero[i])
			fill_page((uint64_t *)region_at(n, i), n->page_size,
				  tag(n->p->seed, i, n->writer, PHASE_FILL));
	return 0;
}

int region_rewrite(struct node *n, double ratio, enum phase phase, char *err, size_t errlen)
{
	uint64_t k, i;
	uint32_t *pages;

	if (!n->region || ratio <= 0)
		return 0;
	k = (uint64_t)llround(ratio * (double)(n->npages - n->absent_pages));
	pages = choose(n, n->npages, &k, n->absent, n->zero, phase);
	if (!pages) {
		snprintf(err, errlen, "pid %d: page selection: %s", (int)getpid(), strerror(errno));
		return -1;
	}
	for (i = 0; i < k; i++) {
		uint64_t pg = pages[i];
		fill_page((uint64_t *)region_at(n, pg), n->page_size,
			  tag(n->p->seed, pg, n->writer, phase));
		if (!n->written[pg]) {
			n->written[pg] = 1;
			n->written_pages++;
		}
	}
	munmap(pages, (n->npages ? n->npages : 1) * sizeof(uint32_t));
	return 0;
}

void region_write_extra(const struct node *n, void *addr, uint64_t len, uint64_t salt)
{
	fill_page(addr, len, tag(n->p->seed, salt, n->writer, PHASE_EXTRA));
}
