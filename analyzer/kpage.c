/* /proc/kpageflags and /proc/kpagecount for the PFN index (pfn_index.c):
 * the unique PFNs' entries, read by runs of nearby PFNs on one thread per
 * CPU, and whether pagemap's exclusive bit can stand for a kpagecount of 1. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kpage.h"
#include "threads.h"

/* kpageflags/kpagecount: the kernel builds every entry it is asked for (a
 * snapshot of the page and its folio, ~100 ns here), so PFNs are read as
 * one pread only when at most this far apart: a wider gap costs more in
 * entries nobody needs than it saves in syscalls (measured: gap 16 read
 * 24% more entries than needed on a 5 x 1 GiB tree, and took longer). */
#define KPAGE_GAP     2
#define KPAGE_MAX_RUN 65536

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

/* The number in a sysfs counter file, or -1 (errno set) when there is
 * none or it cannot be read. */
static long long read_counter(const char *path)
{
	FILE *f = fopen(path, "re");
	long long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1) {
		v = -1;
		errno = EINVAL;
	}
	fclose(f);
	return v;
}

/* Does pagemap's exclusive bit (56) mean "mapped once", kpagecount 1? On
 * kernels with per-page mapcounts (CONFIG_PAGE_MAPCOUNT) it is set when
 * the page's mapcount is 1; without them (CONFIG_NO_PAGE_MAPCOUNT) it is
 * set for a folio mapped by one process, however many times. So map one
 * page twice here and look: set on either mapping, it is not "once", and
 * every count is read from kpagecount. Large folios mapped by a PMD never
 * carry the bit (measured), so they are read too. */
bool exclusive_bit_means_once(unsigned long page_size)
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

/* The smallest order of the anonymous large folios the kernel holds now:
 * of the mTHP sizes whose nr_anon is not 0 (hugepages-<size>kB/stats
 * under THP_SYSFS), the smallest; NO_ANON_LARGE_FOLIO when every count is
 * 0, -1 when one cannot be read. A size without an "enabled" file is
 * never anonymous (order 1: shmem and files only). */
#define THP_SYSFS "/sys/kernel/mm/transparent_hugepage"

static int smallest_anon_large_order(unsigned long page_size)
{
	DIR *d = opendir(THP_SYSFS);
	struct dirent *e;
	int order = NO_ANON_LARGE_FOLIO;

	if (!d)
		return errno == ENOENT ? NO_ANON_LARGE_FOLIO : -1; /* no THP in this kernel */
	while ((e = readdir(d))) {
		char path[PATH_MAX];
		unsigned long kb, pages;
		int o = 0;

		if (sscanf(e->d_name, "hugepages-%lukB", &kb) != 1)
			continue;
		snprintf(path, sizeof(path), THP_SYSFS "/%s/enabled", e->d_name);
		if (access(path, F_OK) && errno == ENOENT)
			continue;
		snprintf(path, sizeof(path), THP_SYSFS "/%s/stats/nr_anon", e->d_name);
		switch (read_counter(path)) {
		case -1:
			order = -1;
			break;
		case 0:
			continue;
		default:
			for (pages = kb * 1024 / page_size; pages > 1; pages >>= 1)
				o++;
			if (order >= 0 && o < order)
				order = o;
			continue;
		}
		break;
	}
	closedir(d);
	return order;
}

int anon_flags_order(unsigned long page_size)
{
	long long ksm;

	if (getenv("COWSCAN_KPAGEFLAGS_ALL"))
		return -1;
	ksm = read_counter("/sys/kernel/mm/ksm/pages_shared");
	if (ksm > 0 || (ksm < 0 && errno != ENOENT)) /* no KSM in this kernel: none shared */
		return -1;
	return smallest_anon_large_order(page_size);
}

void check_large_folios(struct scan *s, int order)
{
	int fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	size_t u = 0, v;

	while (u < s->nr_upfn) {
		uint64_t block = s->upfn[u] >> order, kf = 0;

		if (s->kflags[u] != KPF_ANON) {
			u++;
			continue;
		}
		/* u is the block's first PFN taken for anonymous: read its
		 * entry; in a large folio, so is every PFN of the block. */
		if (fd < 0 || pread(fd, &kf, 8, (off_t)(s->upfn[u] * 8)) != 8)
			kf = KPF_COMPOUND_HEAD; /* unknown: read them all */
		for (v = u + 1; v < s->nr_upfn && s->upfn[v] >> order == block; v++)
			if (kf & (KPF_COMPOUND_HEAD | KPF_COMPOUND_TAIL) &&
			    s->kflags[v] == KPF_ANON)
				s->kflags[v] = 0;
		s->kflags[u] = kf & (KPF_COMPOUND_HEAD | KPF_COMPOUND_TAIL) ? 0 : kf;
		u = v;
	}
	if (fd >= 0)
		close(fd);
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
	if (read_kpage("/proc/kpageflags", s->upfn + w->from, n, s->kflags + w->from, true, buf)) {
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
void read_kpages(struct scan *s)
{
	struct kpage_slice w[MAX_THREADS];
	int nth = threads_for_cpus(), t;
	size_t entries = s->nr_upfn, done = 0, u = 0;

	if ((size_t)nth > s->nr_upfn / 1024 + 1)
		nth = (int)(s->nr_upfn / 1024 + 1);
	/* Equal shares of entries to build: the flags and counts not known
	 * already. */
	for (u = 0, entries = 0; u < s->nr_upfn; u++)
		entries += !s->kflags[u] + !s->kcount[u];
	for (t = 0, u = 0; t < nth; t++) {
		w[t] = (struct kpage_slice){s, u, u, NULL, 0};
		while (u < s->nr_upfn && done < entries * (size_t)(t + 1) / (size_t)nth) {
			done += !s->kflags[u] + !s->kcount[u];
			u++;
		}
		w[t].to = t == nth - 1 ? s->nr_upfn : u;
	}
	threads_run(kpage_worker, w, sizeof(w[0]), nth);
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
