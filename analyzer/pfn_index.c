/* The PFN index of a scan (scan_index_pfns, scan.h): the distinct PFNs
 * the scanned pages map, the pages grouped by PFN, and the PFNs'
 * /proc/kpageflags and /proc/kpagecount entries (kpage.c).
 *
 * A page's PFN is at random among the PFNs: a pass that adds each page to
 * its PFN's count or group straight away misses the cache on every page
 * (measured: 100 ms for the 1.3 M pages of a 5 x 1 GiB tree, whether on
 * one thread or two). So pages are grouped in two steps, a radix sort:
 * first into buckets of BUCKET_PFNS consecutive unique PFNs, written as a
 * few sequential streams into recs; then each bucket, whose counts fit in
 * L1 and whose pages fit in L2, by PFN, in place (through a copy). 12
 * bytes a page in all: memory cowscan touches first costs a page fault
 * and the zeroing of the page (measured: a fifth of the CPU time on that
 * tree, when the buckets were a 16-byte array of their own). Every pass
 * runs on one thread per CPU: over the pages, each thread takes a
 * contiguous part of them in tree order; over the buckets, a contiguous
 * run of buckets. Both sorts are stable, so a PFN's group lists its pages
 * in tree order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpage.h"
#include "scan.h"
#include "threads.h"

/* Unique PFNs are found with a bitmap over PFN space up to this PFN (a
 * 64 MiB bitmap covers 2 TiB of RAM); beyond it, by sorting. */
#define PFN_BITMAP_MAX (1ULL << 29)
/* Pages per part at least: fewer are not worth a thread. */
#define MIN_PART_PAGES 65536
#define BUCKET_SHIFT   12
#define BUCKET_PFNS    (1U << BUCKET_SHIFT)

/* A word of the PFN bitmap and the bits set below it: a PFN's index among
 * the unique ones costs one cache line. */
struct rank_word {
	uint64_t bits;
	uint64_t below;
};

/* A page on its way to its group: its record in s->recs and, at the same
 * index in x->meta, its unique PFN within the bucket and what pagemap
 * says of its kpage entries (KNOWN_*). */
enum {
	KNOWN_COUNT = 1 << BUCKET_SHIFT,       /* kpagecount 1 */
	KNOWN_FLAGS = 1 << (BUCKET_SHIFT + 1), /* kpageflags KPF_ANON */
};

/* The index being built, shared by the threads. */
struct index {
	struct scan *s;
	struct rank_word *rank; /* NULL: PFNs too high, search s->upfn */
	size_t words, nr_buckets;
	uint32_t *meta;	      /* by page, beside s->recs: see KNOWN_* */
	size_t *bucket_start; /* nr_buckets + 1 */
};

/* One thread's share: pages from (from_proc, from_page) to (to_proc,
 * to_page), exclusive (gone processes' pages aside); buckets [from_bucket,
 * to_bucket). */
struct index_part {
	struct index *x;
	int from_proc, to_proc;
	size_t from_page, to_page;
	size_t from_bucket, to_bucket;
	uint64_t *bits;		   /* this part's PFNs, before they are merged */
	size_t *in_bucket;	   /* this part's pages per bucket; then where its next goes */
	uint32_t *count;	   /* a bucket's pages per PFN */
	struct pfn_rec *copy_recs; /* a bucket's pages, while they are sorted */
	uint32_t *copy_meta;
};

static size_t part_end(const struct index_part *p, int i)
{
	const struct proc_scan *ps = &p->x->s->ps[i];

	if (ps->gone)
		return 0;
	return i == p->to_proc && p->to_page < ps->nr_pages ? p->to_page : ps->nr_pages;
}

/* Every page k of process i in part p. */
#define FOR_PART_PAGES(p, i, k)                                                                    \
	for (i = (p)->from_proc; i <= (p)->to_proc; i++)                                           \
		for (k = i == (p)->from_proc ? (p)->from_page : 0; k < part_end(p, i); k++)

/* Bits set in x (SWAR; a call into libgcc without -mpopcnt would cost
 * more than this for every page). */
static inline uint64_t bits_set(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (x * 0x0101010101010101ULL) >> 56;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* A present PFN's index among the unique ones. */
static uint64_t unique_index(const struct index *x, uint64_t pfn)
{
	const struct rank_word *w;
	const uint64_t *at;

	if (x->rank) {
		w = &x->rank[pfn / 64];
		return w->below + bits_set(w->bits & ((1ULL << (pfn % 64)) - 1));
	}
	at = bsearch(&pfn, x->s->upfn, x->s->nr_upfn, sizeof(uint64_t), cmp_u64);
	return (uint64_t)(at - x->s->upfn);
}

/* Pass 1: this part's PFNs into its bitmap. */
static void *set_bits(void *arg)
{
	struct index_part *p = arg;
	size_t k;
	int i;

	FOR_PART_PAGES(p, i, k)
	{
		uint64_t pme = p->x->s->ps[i].pages[k].pme, pfn = pme & PM_PFN_MASK;

		if (pme & PM_PRESENT)
			p->bits[pfn / 64] |= 1ULL << (pfn % 64);
	}
	return NULL;
}

/* Pass 2: number every page and count it in its bucket. */
static void *number_pages(void *arg)
{
	struct index_part *p = arg;
	struct scan *s = p->x->s;
	size_t k;
	int i;

	FOR_PART_PAGES(p, i, k)
	{
		struct page_ent *pg = &s->ps[i].pages[k];
		uint64_t u;

		if (!(pg->pme & PM_PRESENT))
			continue;
		u = unique_index(p->x, pg->pme & PM_PFN_MASK);
		pg->uidx = (uint32_t)u;
		p->in_bucket[u >> BUCKET_SHIFT]++;
	}
	return NULL;
}

/* What pagemap tells of a present page's kpage entries. When it says the
 * page is mapped once (bit 56, see kpage.h), kpagecount is 1; when it
 * says anonymous (no PM_FILE, not the zero page) and the kernel has no
 * KSM page nor, at its PFN, anonymous large folio (anon_flags_order(),
 * check_large_folios(), kpage.h),
 * kpageflags is KPF_ANON. Those entries are not read. */
static uint32_t known_from_pagemap(const struct scan *s, uint64_t pme)
{
	uint32_t known = 0;

	if (s->count_from_exclusive && (pme & PM_EXCLUSIVE))
		known |= KNOWN_COUNT;
	if (s->anon_flags_known && !(pme & PM_FILE) && (pme & PM_PFN_MASK) != s->zero_pfn)
		known |= KNOWN_FLAGS;
	return known;
}

/* Pass 3: every page into its bucket, after the earlier parts' pages. */
static void *to_buckets(void *arg)
{
	struct index_part *p = arg;
	struct scan *s = p->x->s;
	/* A shift, not a division by a variable: 30 cycles a page. */
	int page_shift = __builtin_ctzl(s->page_size);
	size_t k;
	int i;

	FOR_PART_PAGES(p, i, k)
	{
		const struct page_ent *pg = &s->ps[i].pages[k];
		size_t at;

		if (pg->uidx == NO_PFN)
			continue;
		at = p->in_bucket[pg->uidx >> BUCKET_SHIFT]++;
		s->recs[at].proc_vpn = (uint64_t)i << REC_VPN_BITS | pg->vaddr >> page_shift;
		p->x->meta[at] = (pg->uidx & (BUCKET_PFNS - 1)) | known_from_pagemap(s, pg->pme);
	}
	return NULL;
}

/* Pass 4: each of this part's buckets into the groups by PFN (a counting
 * sort of a copy of the bucket back into its place), the groups' starts,
 * and the kpage entries known from pagemap (PFN by PFN, in sequence). */
static void *sort_buckets(void *arg)
{
	struct index_part *p = arg;
	struct index *x = p->x;
	struct scan *s = x->s;
	size_t b, e;

	for (b = p->from_bucket; b < p->to_bucket; b++) {
		size_t first = b << BUCKET_SHIFT, pfns = s->nr_upfn - first,
		       start = x->bucket_start[b], n = x->bucket_start[b + 1] - start, at = start;
		uint32_t j;

		if (pfns > BUCKET_PFNS)
			pfns = BUCKET_PFNS;
		memcpy(p->copy_recs, s->recs + start, n * sizeof(*s->recs));
		memcpy(p->copy_meta, x->meta + start, n * sizeof(*x->meta));
		memset(p->count, 0, pfns * sizeof(*p->count));
		for (e = 0; e < n; e++)
			p->count[p->copy_meta[e] & (BUCKET_PFNS - 1)]++;
		for (j = 0; j < pfns; j++) {
			uint32_t pages = p->count[j];

			s->rec_start[first + j] = (uint32_t)at;
			p->count[j] = (uint32_t)at;
			at += pages;
		}
		for (e = 0; e < n; e++) {
			uint32_t m = p->copy_meta[e], u = m & (BUCKET_PFNS - 1);

			s->recs[p->count[u]++] = p->copy_recs[e];
			if (m & KNOWN_COUNT)
				s->kcount[first + u] = 1;
			if (m & KNOWN_FLAGS)
				s->kflags[first + u] = KPF_ANON;
		}
	}
	return NULL;
}

/* Split the tree's pages into n parts of equal size. */
static void split_pages(struct index *x, struct index_part *parts, int n)
{
	struct scan *s = x->s;
	size_t total = 0, seen = 0, want;
	int i, t;

	for (i = 0; i < s->tree.nr; i++)
		total += s->ps[i].gone ? 0 : s->ps[i].nr_pages;
	i = 0;
	for (t = 0; t < n; t++) {
		struct index_part *p = &parts[t];

		p->x = x;
		p->from_proc = i;
		p->from_page = t ? parts[t - 1].to_page : 0;
		want = total * (size_t)(t + 1) / (size_t)n;
		/* The process holding page number want. */
		while (i < s->tree.nr - 1 &&
		       seen + (s->ps[i].gone ? 0 : s->ps[i].nr_pages) <= want) {
			seen += s->ps[i].gone ? 0 : s->ps[i].nr_pages;
			i++;
		}
		p->to_proc = i;
		p->to_page = t == n - 1 ? SIZE_MAX : want - seen;
	}
}

/* Unique PFNs through a bitmap over [0, max_pfn], each part's bits set
 * apart and merged: s->upfn ascending, x->rank. */
static int unique_pfns_bitmap(struct index *x, struct index_part *parts, int n, uint64_t max_pfn)
{
	struct scan *s = x->s;
	size_t w, u = 0;
	int t;

	x->words = (size_t)(max_pfn / 64) + 1;
	x->rank = malloc(x->words * sizeof(*x->rank));
	if (!x->rank)
		return -1;
	for (t = 0; t < n; t++)
		if (!(parts[t].bits = calloc(x->words, sizeof(uint64_t))))
			return -1;
	threads_run(set_bits, parts, sizeof(parts[0]), n);
	for (w = 0; w < x->words; w++) {
		uint64_t bits = 0;

		for (t = 0; t < n; t++)
			bits |= parts[t].bits[w];
		x->rank[w] = (struct rank_word){bits, u};
		u += bits_set(bits);
	}
	s->nr_upfn = u;
	s->upfn = malloc((u + 1) * sizeof(uint64_t));
	if (!s->upfn)
		return -1;
	for (w = 0, u = 0; w < x->words; w++)
		for (uint64_t b = x->rank[w].bits; b; b &= b - 1)
			s->upfn[u++] = w * 64 + (uint64_t)__builtin_ctzll(b);
	return 0;
}

/* The same for PFNs too high for a bitmap: sort, deduplicate (and
 * unique_index() searches). */
static int unique_pfns_sorted(struct scan *s)
{
	size_t k, u = 0, n;
	int i;

	s->upfn = malloc((s->nr_recs + 1) * sizeof(uint64_t));
	if (!s->upfn)
		return -1;
	for (i = 0; i < s->tree.nr; i++)
		for (k = 0; !s->ps[i].gone && k < s->ps[i].nr_pages; k++)
			if (s->ps[i].pages[k].pme & PM_PRESENT)
				s->upfn[u++] = s->ps[i].pages[k].pme & PM_PFN_MASK;
	qsort(s->upfn, u, sizeof(uint64_t), cmp_u64);
	for (k = 0, n = 0; k < u; k++)
		if (k == 0 || s->upfn[k] != s->upfn[n - 1])
			s->upfn[n++] = s->upfn[k];
	s->nr_upfn = n;
	return 0;
}

/* Number the pages, then group them by PFN through the buckets. */
static int group_pages(struct index *x, struct index_part *parts, int n)
{
	struct scan *s = x->s;
	size_t b, at = 0;
	int t;

	x->nr_buckets = (s->nr_upfn >> BUCKET_SHIFT) + 1;
	x->bucket_start = malloc((x->nr_buckets + 1) * sizeof(size_t));
	x->meta = malloc((s->nr_recs + 1) * sizeof(*x->meta));
	if (!x->bucket_start || !x->meta)
		return -1;
	for (t = 0; t < n; t++) {
		parts[t].in_bucket = calloc(x->nr_buckets, sizeof(size_t));
		parts[t].count = malloc(BUCKET_PFNS * sizeof(uint32_t));
		if (!parts[t].in_bucket || !parts[t].count)
			return -1;
	}
	threads_run(number_pages, parts, sizeof(parts[0]), n);
	/* Bucket by bucket, part after part: where each part's pages go. */
	for (b = 0; b < x->nr_buckets; b++) {
		x->bucket_start[b] = at;
		for (t = 0; t < n; t++) {
			size_t pages = parts[t].in_bucket[b];

			parts[t].in_bucket[b] = at;
			at += pages;
		}
	}
	x->bucket_start[x->nr_buckets] = at;
	threads_run(to_buckets, parts, sizeof(parts[0]), n);
	/* Runs of buckets holding equal shares of the pages, and room for a
	 * copy of the largest. */
	for (t = 0, b = 0; t < n; t++) {
		size_t largest = 1;

		parts[t].from_bucket = b;
		while (b < x->nr_buckets &&
		       (t == n - 1 || x->bucket_start[b + 1] <= at * (size_t)(t + 1) / (size_t)n)) {
			if (x->bucket_start[b + 1] - x->bucket_start[b] > largest)
				largest = x->bucket_start[b + 1] - x->bucket_start[b];
			b++;
		}
		parts[t].to_bucket = b;
		parts[t].copy_recs = malloc(largest * sizeof(*parts[t].copy_recs));
		parts[t].copy_meta = malloc(largest * sizeof(*parts[t].copy_meta));
		if (!parts[t].copy_recs || !parts[t].copy_meta)
			return -1;
	}
	threads_run(sort_buckets, parts, sizeof(parts[0]), n);
	s->rec_start[s->nr_upfn] = (uint32_t)at;
	return 0;
}

static int build_index(struct scan *s, uint64_t max_pfn)
{
	struct index_part parts[MAX_THREADS] = {{0}};
	struct index x = {.s = s};
	int n = threads_for_cpus(), t, ret = -1;

	if ((size_t)n > s->nr_recs / MIN_PART_PAGES + 1)
		n = (int)(s->nr_recs / MIN_PART_PAGES + 1);
	split_pages(&x, parts, n);
	if (max_pfn < PFN_BITMAP_MAX ? unique_pfns_bitmap(&x, parts, n, max_pfn)
				     : unique_pfns_sorted(s))
		goto out;
	ret = group_pages(&x, parts, n);
out:
	for (t = 0; t < n; t++) {
		free(parts[t].bits);
		free(parts[t].in_bucket);
		free(parts[t].count);
		free(parts[t].copy_recs);
		free(parts[t].copy_meta);
	}
	free(x.rank);
	free(x.meta);
	free(x.bucket_start);
	return ret;
}

/* A scanned VMA whose present pages pagemap may show anonymous while they
 * are not an anonymous folio: hugetlb, or VM_MIXEDMAP (no struct page). */
static bool pages_without_struct_page(const struct scan *s)
{
	int i, v;

	for (i = 0; i < s->tree.nr; i++)
		for (v = 0; !s->ps[i].gone && v < s->ps[i].vmas.nr; v++)
			if (s->ps[i].vmas.v[v].flags & (VMA_HUGETLB | VMA_MIXEDMAP))
				return true;
	return false;
}

int scan_index_pfns(struct scan *s)
{
	uint64_t max_pfn = 0;
	double start = scan_now(), t0;
	size_t u;
	int i, order;

	s->pfn_available = true;
	s->nr_recs = 0;
	for (i = 0; i < s->tree.nr; i++) {
		const struct proc_scan *ps = &s->ps[i];

		if (ps->gone)
			continue;
		if (ps->pfn_zero) {
			/* The kernel hides PFNs from readers without
			 * CAP_SYS_ADMIN by reporting zero. */
			s->pfn_available = false;
			snprintf(s->pfn_why, sizeof(s->pfn_why),
				 "the kernel reports PFN 0 (need CAP_SYS_ADMIN for PFNs)");
			s->nr_recs = 0;
			return 0;
		}
		if (ps->max_pfn > max_pfn)
			max_pfn = ps->max_pfn;
		s->nr_recs += ps->nr_present;
	}
	if (s->nr_recs > UINT32_MAX - 2 || (unsigned)s->tree.nr > REC_MAX_PROCS)
		return -1;
	/* Sized for one PFN per present page, before the PFNs are known: the
	 * pass that numbers them fills in known counts. */
	s->rec_start = calloc(s->nr_recs + 2, sizeof(uint32_t));
	s->recs = malloc((s->nr_recs + 1) * sizeof(*s->recs));
	s->kflags = calloc(s->nr_recs + 1, sizeof(uint64_t));
	s->kcount = calloc(s->nr_recs + 1, sizeof(uint64_t));
	if (!s->rec_start || !s->recs || !s->kflags || !s->kcount)
		return -1;
	s->count_from_exclusive =
	    !getenv("COWSCAN_KPAGECOUNT_ALL") && exclusive_bit_means_once(s->page_size);
	order = s->zero_pfn && !pages_without_struct_page(s) ? anon_flags_order(s->page_size) : -1;
	s->anon_flags_known = order >= 0;
	if (build_index(s, max_pfn))
		return -1;
	if (s->anon_flags_known && order != NO_ANON_LARGE_FOLIO)
		check_large_folios(s, order);
	for (u = 0; u < s->nr_upfn; u++) {
		s->timing.counts_from_pagemap += s->kcount[u] != 0;
		s->timing.flags_from_pagemap += s->kflags[u] != 0;
	}
	t0 = scan_now();
	s->timing.pfn_index = t0 - start;
	read_kpages(s);
	s->timing.kpage = scan_now() - t0;
	return 0;
}
