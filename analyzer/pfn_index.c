/* The PFN index of a scan (scan_index_pfns, scan.h): the distinct PFNs
 * the scanned pages map, how many pages map each, and their
 * /proc/kpageflags and /proc/kpagecount entries. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "scan.h"

/* kpageflags/kpagecount: the kernel builds every entry it is asked for (a
 * snapshot of the page and its folio, ~100 ns here), so PFNs are read as
 * one pread only when at most this far apart: a wider gap costs more in
 * entries nobody needs than it saves in syscalls (measured: gap 16 read
 * 24% more entries than needed on a 5 x 1 GiB tree, and took longer). */
#define KPAGE_GAP     2
#define KPAGE_MAX_RUN 65536
/* Threads reading the kpage files: one per CPU, at most this many. */
#define MAX_KPAGE_THREADS 8
/* Unique PFNs are found with a bitmap over PFN space up to this PFN (a
 * 64 MiB bitmap covers 2 TiB of RAM); beyond it, by sorting. */
#define PFN_BITMAP_MAX (1ULL << 29)

/* Read one /proc/kpage* file for PFNs pfn[0..n), by runs of nearby PFNs,
 * into out[0..n); with only_unset, only the entries of out still 0 (the
 * others are known already). Returns 0 or -1 with errno. */
static int read_kpage(const char *path, const uint64_t *pfn, size_t n, uint64_t *out,
		      bool only_unset, uint64_t *buf)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t i = 0;

	if (fd < 0)
		return -1;
	while (i < n) {
		size_t last = i, j;
		ssize_t got, want;

		if (only_unset && out[i]) {
			i++;
			continue;
		}
		/* The run ends at the last wanted PFN close enough to the one
		 * before it; known PFNs inside it are read but left alone. */
		for (j = i + 1;
		     j < n && pfn[j] - pfn[last] <= KPAGE_GAP && pfn[j] - pfn[i] < KPAGE_MAX_RUN;
		     j++)
			if (!only_unset || !out[j])
				last = j;
		want = (ssize_t)((pfn[last] - pfn[i] + 1) * 8);
		got = pread(fd, buf, (size_t)want, (off_t)(pfn[i] * 8));
		if (got < want) {
			if (got >= 0)
				errno = EIO;
			close(fd);
			return -1;
		}
		for (j = i; j <= last; j++)
			if (j == i || !only_unset || !out[j])
				out[j] = buf[pfn[j] - pfn[i]];
		i = last + 1;
	}
	close(fd);
	return 0;
}

/* Does pagemap's exclusive bit (56) mean "mapped once", kpagecount 1? On
 * kernels with per-page mapcounts (CONFIG_PAGE_MAPCOUNT) it is set when
 * the page's mapcount is 1; without them (CONFIG_NO_PAGE_MAPCOUNT) it is
 * set for a folio mapped by one process, however many times. So map one
 * page twice here and look: set on either mapping, it is not "once", and
 * every count is read from kpagecount. Large folios mapped by a PMD never
 * carry the bit (measured), so they are read too. */
static bool exclusive_bit_means_once(unsigned long page_size)
{
	int mfd = memfd_create("cowscan-probe", MFD_CLOEXEC), pm;
	volatile char *a = MAP_FAILED, *b = MAP_FAILED;
	uint64_t ea = 0, eb = 0;
	bool once = false;

	if (mfd < 0 || ftruncate(mfd, (off_t)page_size))
		goto out;
	a = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	b = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (a == MAP_FAILED || b == MAP_FAILED)
		goto out;
	a[0] = 1;
	b[0] = 2;
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		goto out;
	if (pread(pm, &ea, 8, (off_t)((uintptr_t)a / page_size * 8)) == 8 &&
	    pread(pm, &eb, 8, (off_t)((uintptr_t)b / page_size * 8)) == 8)
		once = (ea & PM_PRESENT) && (eb & PM_PRESENT) && !((ea | eb) & PM_EXCLUSIVE);
	close(pm);
out:
	if (a != MAP_FAILED)
		munmap((void *)a, page_size);
	if (b != MAP_FAILED)
		munmap((void *)b, page_size);
	if (mfd >= 0)
		close(mfd);
	return once;
}

/* One thread's share: both files for a contiguous slice of the PFNs. */
struct kpage_slice {
	struct scan *s;
	size_t from, to;
	const char *bad_path; /* the file that failed, or NULL */
	int err;
};

static void *kpage_worker(void *arg)
{
	struct kpage_slice *w = arg;
	struct scan *s = w->s;
	uint64_t *buf = malloc(KPAGE_MAX_RUN * sizeof(uint64_t));
	size_t n = w->to - w->from;

	if (!buf) {
		w->bad_path = "/proc/kpageflags";
		w->err = ENOMEM;
		return NULL;
	}
	if (read_kpage("/proc/kpageflags", s->upfn + w->from, n, s->kflags + w->from, false, buf)) {
		w->bad_path = "/proc/kpageflags";
		w->err = errno;
	} else if (read_kpage("/proc/kpagecount", s->upfn + w->from, n, s->kcount + w->from, true,
			      buf)) {
		w->bad_path = "/proc/kpagecount";
		w->err = errno;
	}
	free(buf);
	return NULL;
}

/* kpageflags and kpagecount of every unique PFN, the PFNs split in slices
 * read in parallel (the kernel computes each entry on the fly: that is
 * where the time goes). */
static void read_kpages(struct scan *s)
{
	struct kpage_slice w[MAX_KPAGE_THREADS];
	pthread_t th[MAX_KPAGE_THREADS];
	bool started[MAX_KPAGE_THREADS] = {false};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int nth = ncpu < 1 ? 1 : ncpu > MAX_KPAGE_THREADS ? MAX_KPAGE_THREADS : (int)ncpu, t;

	size_t entries = s->nr_upfn, done = 0, u = 0;

	if ((size_t)nth > s->nr_upfn / 1024 + 1)
		nth = (int)(s->nr_upfn / 1024 + 1);
	/* Equal shares of entries to build: every PFN's flags, and the
	 * counts not known already. */
	for (u = 0; u < s->nr_upfn; u++)
		entries += !s->kcount[u];
	for (t = 0, u = 0; t < nth; t++) {
		w[t] = (struct kpage_slice){s, u, u, NULL, 0};
		while (u < s->nr_upfn && done < entries * (size_t)(t + 1) / (size_t)nth)
			done += 1 + !s->kcount[u++];
		w[t].to = t == nth - 1 ? s->nr_upfn : u;
	}
	for (t = 1; t < nth; t++)
		started[t] = !pthread_create(&th[t], NULL, kpage_worker, &w[t]);
	kpage_worker(&w[0]);
	for (t = 1; t < nth; t++) {
		if (started[t])
			pthread_join(th[t], NULL);
		else
			kpage_worker(&w[t]);
	}
	for (t = 0; t < nth; t++) {
		if (!w[t].err)
			continue;
		s->pfn_available = false;
		snprintf(s->pfn_why, sizeof(s->pfn_why), "%s: %s%s", w[t].bad_path,
			 strerror(w[t].err),
			 w[t].err == EACCES || w[t].err == EPERM ? " (need CAP_SYS_ADMIN for PFNs)"
								 : "");
		return;
	}
}

/* Bits set in x (SWAR; a call into libgcc without -mpopcnt would cost
 * more than this for every page). */
static inline uint32_t bits_set(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (uint32_t)((x * 0x0101010101010101ULL) >> 56);
}

/* Page pg maps unique PFN u: number it, count it in u's group, and when
 * pagemap says it is mapped once (bit 56, see exclusive_bit_means_once),
 * take kpagecount 1 from there: that PFN's count is not read. */
static inline void number_page(struct scan *s, struct page_ent *pg, uint32_t u,
			       bool count_from_exclusive)
{
	pg->uidx = u;
	s->rec_start[u + 1]++;
	if (count_from_exclusive && (pg->pme & PM_EXCLUSIVE))
		s->kcount[u] = 1;
}

/* Unique PFNs through a bitmap over [0, max_pfn]: set a bit per mapped
 * PFN, then a PFN's index among the unique ones is the number of bits set
 * below it (a per-word prefix count plus a popcount). No sort, no hash. */
static int unique_pfns_bitmap(struct scan *s, uint64_t max_pfn, bool count_from_exclusive)
{
	size_t words = (size_t)(max_pfn / 64) + 1, w, u = 0, k;
	uint64_t *bits = calloc(words, sizeof(uint64_t));
	uint32_t *rank = malloc(words * sizeof(uint32_t));
	int i;

	if (!bits || !rank)
		goto oom;
	for (i = 0; i < s->tree.nr; i++)
		for (k = 0; !s->ps[i].gone && k < s->ps[i].nr_pages; k++) {
			uint64_t pme = s->ps[i].pages[k].pme, pfn = pme & PM_PFN_MASK;

			if (pme & PM_PRESENT)
				bits[pfn / 64] |= 1ULL << (pfn % 64);
		}
	for (w = 0; w < words; w++) {
		rank[w] = (uint32_t)u;
		u += bits_set(bits[w]);
	}
	s->nr_upfn = u;
	s->upfn = malloc((u + 1) * sizeof(uint64_t));
	if (!s->upfn)
		goto oom;
	for (w = 0, u = 0; w < words; w++)
		for (uint64_t b = bits[w]; b; b &= b - 1)
			s->upfn[u++] = w * 64 + (uint64_t)__builtin_ctzll(b);
	for (i = 0; i < s->tree.nr; i++)
		for (k = 0; !s->ps[i].gone && k < s->ps[i].nr_pages; k++) {
			struct page_ent *pg = &s->ps[i].pages[k];
			uint64_t pfn = pg->pme & PM_PFN_MASK;

			if (!(pg->pme & PM_PRESENT))
				continue;
			number_page(s, pg,
				    rank[pfn / 64] +
					bits_set(bits[pfn / 64] & ((1ULL << (pfn % 64)) - 1)),
				    count_from_exclusive);
		}
	free(bits);
	free(rank);
	return 0;
oom:
	free(bits);
	free(rank);
	return -1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The same for PFNs too high for a bitmap: sort, deduplicate, search. */
static int unique_pfns_sorted(struct scan *s, size_t n, bool count_from_exclusive)
{
	size_t k, u = 0;
	int i;

	s->upfn = malloc((n + 1) * sizeof(uint64_t));
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
	for (i = 0; i < s->tree.nr; i++)
		for (k = 0; !s->ps[i].gone && k < s->ps[i].nr_pages; k++) {
			struct page_ent *pg = &s->ps[i].pages[k];
			uint64_t pfn = pg->pme & PM_PFN_MASK;
			const uint64_t *at;

			if (!(pg->pme & PM_PRESENT))
				continue;
			at = bsearch(&pfn, s->upfn, n, sizeof(uint64_t), cmp_u64);
			number_page(s, pg, (uint32_t)(at - s->upfn), count_from_exclusive);
		}
	return 0;
}

int scan_index_pfns(struct scan *s)
{
	uint64_t max_pfn = 0;
	double start = scan_now(), t0;
	size_t u;
	int i;

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
	if (s->nr_recs > UINT32_MAX - 2)
		return -1;
	/* Sized for one PFN per present page, before the PFNs are known: the
	 * pass that numbers them fills in group sizes and known counts. */
	s->rec_start = calloc(s->nr_recs + 2, sizeof(uint32_t));
	s->kflags = calloc(s->nr_recs + 1, sizeof(uint64_t));
	s->kcount = calloc(s->nr_recs + 1, sizeof(uint64_t));
	if (!s->rec_start || !s->kflags || !s->kcount)
		return -1;
	s->count_from_exclusive =
	    !getenv("COWSCAN_KPAGECOUNT_ALL") && exclusive_bit_means_once(s->page_size);
	if (max_pfn < PFN_BITMAP_MAX ? unique_pfns_bitmap(s, max_pfn, s->count_from_exclusive)
				     : unique_pfns_sorted(s, s->nr_recs, s->count_from_exclusive))
		return -1;
	for (u = 1; u <= s->nr_upfn; u++) {
		s->rec_start[u] += s->rec_start[u - 1];
		s->timing.counts_from_pagemap += s->kcount[u - 1] != 0;
	}
	t0 = scan_now();
	s->timing.pfn_index = t0 - start;
	read_kpages(s);
	s->timing.kpage = scan_now() - t0;
	return 0;
}
