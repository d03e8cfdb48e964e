#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scan.h"
#include "util.h"

/* kpageflags/kpagecount: PFNs closer than this are read as one run (the
 * kernel's cost for a PFN we do not need is below one pread's). */
#define KPAGE_GAP     16
#define KPAGE_MAX_RUN 65536
/* Threads scanning processes: one per CPU, at most this many. */
#define MAX_SCAN_THREADS 8
/* Unique PFNs are found with a bitmap over PFN space up to this PFN (a
 * 64 MiB bitmap covers 2 TiB of RAM); beyond it, by sorting. */
#define PFN_BITMAP_MAX (1ULL << 29)

double scan_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int push_page(struct proc_scan *ps, size_t *cap, unsigned long vaddr, uint64_t pme,
		     int32_t vma)
{
	if (ps->nr_pages == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4096;
		struct page_ent *np = realloc(ps->pages, ncap * sizeof(*np));

		if (!np)
			return -1;
		ps->pages = np;
		*cap = ncap;
	}
	ps->pages[ps->nr_pages++] = (struct page_ent){vaddr, pme, NO_PFN, vma};
	return 0;
}

int scan_pagemap_range(int fd, unsigned long start, unsigned long end, int32_t vma,
		       unsigned long page_size, struct proc_scan *ps, size_t *cap, uint64_t *buf)
{
	unsigned long addr = start;

	while (addr < end) {
		size_t want = (end - addr) / page_size, k;
		ssize_t got;

		if (want > PAGEMAP_BATCH)
			want = PAGEMAP_BATCH;
		got = pread(fd, buf, want * 8, (off_t)(addr / page_size * 8));
		if (got <= 0) {
			ps->err = got == 0 ? ESRCH : errno;
			return -1;
		}
		want = (size_t)got / 8;
		for (k = 0; k < want; k++, addr += page_size) {
			if (!(buf[k] & (PM_PRESENT | PM_SWAP)))
				continue;
			if (push_page(ps, cap, addr, buf[k], vma)) {
				ps->err = ENOMEM;
				return -1;
			}
		}
	}
	return 0;
}

/* Read the pagemap entries of every VMA with struct pages behind it and
 * keep the present or swapped ones. Returns 0, 1 if the process is gone,
 * -1 on error (ps->err set). */
static int read_pagemap(const struct scan *s, struct proc_scan *ps, pid_t pid, uint64_t *buf)
{
	char path[64];
	/* smaps' Rss + Swap is the number of pages to expect, save zero-page
	 * mappings: size the array once instead of growing it. */
	size_t cap = (ps->rollup.rss + ps->rollup.swap) / s->page_size + 64;
	int fd, v;

	ps->what = "pagemap";
	ps->pages = malloc(cap * sizeof(*ps->pages));
	if (!ps->pages) {
		ps->err = ENOMEM;
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ps->err = errno;
		return errno_means_gone(errno) ? 1 : -1;
	}
	for (v = 0; v < ps->vmas.nr; v++) {
		const struct vma *vma = &ps->vmas.v[v];

		if (vma->flags & (VMA_KERNEL | VMA_PFNMAP))
			continue;
		if (scan_pagemap_range(fd, vma->start, vma->end, v, s->page_size, ps, &cap, buf)) {
			close(fd);
			return errno_means_gone(ps->err) ? 1 : -1;
		}
	}
	close(fd);
	/* An exited process reads as an empty pagemap; check it still exists. */
	if (kill(pid, 0) && errno == ESRCH) {
		ps->err = ESRCH;
		return 1;
	}
	return 0;
}

/* Everything about one process: smaps, then pagemap. */
static int scan_process(const struct scan *s, int i, uint64_t *buf)
{
	struct proc_scan *ps = &s->ps[i];
	pid_t pid = s->tree.procs[i].pid;
	double t0 = scan_now(), t1;
	int ret;

	ps->what = "smaps";
	if (vmas_read(pid, &ps->vmas, &ps->rollup)) {
		ps->err = errno;
		ret = errno_means_gone(errno) ? 1 : -1;
		t1 = scan_now();
	} else {
		t1 = scan_now();
		ret = read_pagemap(s, ps, pid, buf);
	}
	ps->t_smaps = t1 - t0;
	ps->t_pagemap = scan_now() - t1;
	if (ret > 0)
		ps->gone = true;
	return ret;
}

struct scan_work {
	const struct scan *s;
	atomic_int next; /* next process to scan */
	atomic_bool failed;
};

static void *scan_worker(void *arg)
{
	struct scan_work *w = arg;
	uint64_t *buf = malloc(PAGEMAP_BATCH * sizeof(uint64_t));
	int i;

	while (!atomic_load(&w->failed) && (i = atomic_fetch_add(&w->next, 1)) < w->s->tree.nr) {
		if (!buf) {
			w->s->ps[i].err = ENOMEM;
			w->s->ps[i].what = "pagemap";
			atomic_store(&w->failed, true);
			break;
		}
		if (scan_process(w->s, i, buf) < 0)
			atomic_store(&w->failed, true);
	}
	free(buf);
	return NULL;
}

/* Scan every process, on one thread per CPU: the kernel's page walks of
 * different processes run in parallel. */
static int scan_processes(struct scan *s)
{
	struct scan_work w = {.s = s};
	pthread_t th[MAX_SCAN_THREADS];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int nth = ncpu < 1 ? 1 : ncpu > MAX_SCAN_THREADS ? MAX_SCAN_THREADS : (int)ncpu, t, started;
	int i;

	atomic_init(&w.next, 0);
	atomic_init(&w.failed, false);
	if (nth > s->tree.nr)
		nth = s->tree.nr;
	for (started = 1; started < nth; started++)
		if (pthread_create(&th[started], NULL, scan_worker, &w))
			break;
	scan_worker(&w);
	for (t = 1; t < started; t++)
		pthread_join(th[t], NULL);
	/* Report in tree order, from this thread only. */
	for (i = 0; i < s->tree.nr; i++) {
		struct proc_scan *ps = &s->ps[i];
		pid_t pid = s->tree.procs[i].pid;

		s->timing.smaps += ps->t_smaps;
		s->timing.pagemap += ps->t_pagemap;
		if (ps->gone) {
			warn_line("process %d exited during the scan (%s); skipped", pid, ps->what);
		} else if (ps->err) {
			errno = ps->err;
			if (ps->err == ENOMEM)
				err_line("out of memory reading /proc/%d/%s", pid, ps->what);
			else
				err_errno("/proc/%d/%s", pid, ps->what);
			return -1;
		}
	}
	return atomic_load(&w.failed) ? -1 : 0;
}

/* Read one /proc/kpage* file for every unique PFN, by runs of nearby PFNs. */
static int read_kpage(const char *path, const uint64_t *pfn, size_t n, uint64_t *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t *buf;
	size_t i = 0;

	if (fd < 0)
		return -1;
	buf = malloc(KPAGE_MAX_RUN * sizeof(uint64_t));
	if (!buf) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	while (i < n) {
		size_t j = i, k;
		ssize_t got;

		while (j + 1 < n && pfn[j + 1] - pfn[j] <= KPAGE_GAP &&
		       pfn[j + 1] - pfn[i] < KPAGE_MAX_RUN)
			j++;
		got = pread(fd, buf, (pfn[j] - pfn[i] + 1) * 8, (off_t)(pfn[i] * 8));
		if (got < (ssize_t)((pfn[j] - pfn[i] + 1) * 8)) {
			if (got >= 0)
				errno = EIO;
			free(buf);
			close(fd);
			return -1;
		}
		for (k = i; k <= j; k++)
			out[k] = buf[pfn[k] - pfn[i]];
		i = j + 1;
	}
	free(buf);
	close(fd);
	return 0;
}

struct kpage_read {
	const char *path;
	const struct scan *s;
	uint64_t *out;
	int err; /* 0 or errno */
};

static void *kpage_worker(void *arg)
{
	struct kpage_read *r = arg;

	r->err = read_kpage(r->path, r->s->upfn, r->s->nr_upfn, r->out) ? errno : 0;
	return NULL;
}

/* kpageflags and kpagecount, read concurrently (the kernel computes each
 * entry on the fly: that is where the time goes). */
static void read_kpages(struct scan *s)
{
	struct kpage_read fl = {"/proc/kpageflags", s, s->kflags, 0};
	struct kpage_read cn = {"/proc/kpagecount", s, s->kcount, 0};
	pthread_t th;
	bool threaded = !pthread_create(&th, NULL, kpage_worker, &cn);

	kpage_worker(&fl);
	if (threaded)
		pthread_join(th, NULL);
	else
		kpage_worker(&cn);
	if (fl.err || cn.err) {
		struct kpage_read *bad = fl.err ? &fl : &cn;

		s->pfn_available = false;
		snprintf(s->pfn_why, sizeof(s->pfn_why), "%s: %s%s", bad->path, strerror(bad->err),
			 bad->err == EACCES || bad->err == EPERM ? " (need CAP_SYS_ADMIN for PFNs)"
								 : "");
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

/* Unique PFNs through a bitmap over [0, max_pfn]: set a bit per mapped
 * PFN, then a PFN's index among the unique ones is the number of bits set
 * below it (a per-word prefix count plus a popcount). No sort, no hash. */
static int unique_pfns_bitmap(struct scan *s, uint64_t max_pfn)
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

			if (pg->pme & PM_PRESENT)
				pg->uidx = rank[pfn / 64] +
					   bits_set(bits[pfn / 64] & ((1ULL << (pfn % 64)) - 1));
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
static int unique_pfns_sorted(struct scan *s, size_t n)
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
			pg->uidx = (uint32_t)(at - s->upfn);
		}
	return 0;
}

/* Group every page by unique PFN with one counting-sort pass over the
 * PFN indices; pages are visited in tree order, so each group stays in
 * tree order (what COW attribution and the pair matrix walk). */
static int group_by_pfn(struct scan *s)
{
	size_t u, k;
	int i;

	s->rec_start = calloc(s->nr_upfn + 2, sizeof(uint32_t));
	s->recs = malloc((s->nr_recs + 1) * sizeof(*s->recs));
	if (!s->rec_start || !s->recs)
		return -1;
	for (i = 0; i < s->tree.nr; i++)
		for (k = 0; !s->ps[i].gone && k < s->ps[i].nr_pages; k++)
			if (s->ps[i].pages[k].uidx != NO_PFN)
				s->rec_start[s->ps[i].pages[k].uidx + 2]++;
	for (u = 2; u < s->nr_upfn + 2; u++)
		s->rec_start[u] += s->rec_start[u - 1];
	/* rec_start[u + 1] is now where group u starts; fill it, moving it to
	 * the group's end, which is rec_start[u + 1] as finally wanted. */
	for (i = 0; i < s->tree.nr; i++)
		for (k = 0; !s->ps[i].gone && k < s->ps[i].nr_pages; k++) {
			uint32_t ux = s->ps[i].pages[k].uidx;

			if (ux != NO_PFN)
				s->recs[s->rec_start[ux + 1]++] =
				    (struct pfn_rec){(uint32_t)i, (uint32_t)k};
		}
	return 0;
}

int scan_index_pfns(struct scan *s)
{
	uint64_t max_pfn = 0;
	double start = scan_now(), t0, t1;
	size_t k;
	int i, ret;

	s->pfn_available = true;
	s->nr_recs = 0;
	for (i = 0; i < s->tree.nr; i++) {
		const struct proc_scan *ps = &s->ps[i];

		for (k = 0; !ps->gone && k < ps->nr_pages; k++) {
			uint64_t pme = ps->pages[k].pme, pfn = pme & PM_PFN_MASK;

			if (!(pme & PM_PRESENT))
				continue;
			if (pfn == 0) {
				/* The kernel hides PFNs from readers without
				 * CAP_SYS_ADMIN by reporting zero. */
				s->pfn_available = false;
				snprintf(s->pfn_why, sizeof(s->pfn_why),
					 "the kernel reports PFN 0 (need CAP_SYS_ADMIN for PFNs)");
				s->nr_recs = 0;
				return 0;
			}
			if (pfn > max_pfn)
				max_pfn = pfn;
			s->nr_recs++;
		}
	}
	if (s->nr_recs > UINT32_MAX - 2)
		return -1;
	if (max_pfn < PFN_BITMAP_MAX ? unique_pfns_bitmap(s, max_pfn)
				     : unique_pfns_sorted(s, s->nr_recs))
		return -1;
	s->kflags = calloc(s->nr_upfn + 1, sizeof(uint64_t));
	s->kcount = calloc(s->nr_upfn + 1, sizeof(uint64_t));
	if (!s->kflags || !s->kcount)
		return -1;
	t0 = scan_now();
	s->timing.pfn_index = t0 - start;
	read_kpages(s);
	t1 = scan_now();
	s->timing.kpage = t1 - t0;
	ret = group_by_pfn(s);
	s->timing.group = scan_now() - t1;
	return ret;
}

/* Test hook (documented in analyzer/README.md): COWSCAN_TEST_KILL_INDEX=N
 * kills the N-th process of the tree after the tree is listed and before
 * it is scanned, to exercise the "exited mid-scan" path deterministically. */
static void test_hook_kill(struct scan *s)
{
	const char *env = getenv("COWSCAN_TEST_KILL_INDEX");
	int idx, tries;

	if (!env || (idx = atoi(env)) <= 0 || idx >= s->tree.nr)
		return;
	kill(s->tree.procs[idx].pid, SIGKILL);
	for (tries = 0; tries < 200; tries++) {
		struct smaps_totals t;

		if (smaps_rollup_read(s->tree.procs[idx].pid, &t))
			return;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
}

int scan_tree(pid_t root, struct scan *s)
{
	double t0 = scan_now();

	memset(s, 0, sizeof(*s));
	s->page_size = (unsigned long)sysconf(_SC_PAGESIZE);
	if (proc_tree_discover(root, &s->tree))
		return -1;
	s->ps = calloc((size_t)s->tree.nr, sizeof(*s->ps));
	if (!s->ps) {
		err_line("out of memory");
		return -1;
	}
	s->timing.discover = scan_now() - t0;
	test_hook_kill(s);
	t0 = scan_now();
	if (scan_processes(s))
		return -1;
	s->timing.procs_wall = scan_now() - t0;
	if (s->tree.procs[0].pid == root && s->ps[0].gone) {
		err_line("process %d: exited during the scan", root);
		return -1;
	}
	if (scan_index_pfns(s)) {
		err_line("out of memory indexing PFNs");
		return -1;
	}
	return 0;
}

void scan_free(struct scan *s)
{
	int i;

	for (i = 0; i < s->tree.nr && s->ps; i++) {
		vmas_free(&s->ps[i].vmas);
		free(s->ps[i].pages);
	}
	free(s->ps);
	free(s->recs);
	free(s->rec_start);
	free(s->upfn);
	free(s->kflags);
	free(s->kcount);
	proc_tree_free(&s->tree);
	memset(s, 0, sizeof(*s));
}
