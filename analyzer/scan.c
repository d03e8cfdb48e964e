#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scan.h"
#include "util.h"

/* pagemap is read in batches of this many entries (512 KiB). */
#define PAGEMAP_BATCH 65536
/* kpageflags/kpagecount: PFNs closer than this are read as one run. */
#define KPAGE_GAP     64
#define KPAGE_MAX_RUN 65536

static int proc_gone(struct scan *s, int i, const char *what)
{
	warn_line("process %d exited during the scan (%s); skipped", s->tree.procs[i].pid, what);
	s->ps[i].gone = true;
	return 0;
}

static int push_page(struct proc_scan *ps, size_t *cap, unsigned long vaddr, uint64_t pme, int vma)
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

/* Read the pagemap entries of every VMA with struct pages behind it and
 * keep the present or swapped ones. Returns 0, 1 if the process is gone,
 * -1 on error. */
static int read_pagemap(struct scan *s, int i, uint64_t *buf)
{
	struct proc_scan *ps = &s->ps[i];
	pid_t pid = s->tree.procs[i].pid;
	char path[64];
	size_t cap = 0;
	int fd, v;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno_means_gone(errno))
			return 1;
		err_errno("%s", path);
		return -1;
	}
	for (v = 0; v < ps->vmas.nr; v++) {
		const struct vma *vma = &ps->vmas.v[v];
		unsigned long addr = vma->start;

		if (vma->flags & (VMA_KERNEL | VMA_PFNMAP))
			continue;
		while (addr < vma->end) {
			size_t want = (vma->end - addr) / s->page_size, k;
			ssize_t got;

			if (want > PAGEMAP_BATCH)
				want = PAGEMAP_BATCH;
			got = pread(fd, buf, want * 8, (off_t)(addr / s->page_size * 8));
			if (got <= 0) {
				int e = got == 0 ? ESRCH : errno;

				close(fd);
				if (errno_means_gone(e))
					return 1;
				errno = e;
				err_errno("%s", path);
				return -1;
			}
			want = (size_t)got / 8;
			for (k = 0; k < want; k++, addr += s->page_size) {
				if (!(buf[k] & (PM_PRESENT | PM_SWAP)))
					continue;
				if (push_page(ps, &cap, addr, buf[k], v)) {
					close(fd);
					err_line("out of memory reading %s", path);
					return -1;
				}
			}
		}
	}
	close(fd);
	/* An exited process reads as an empty pagemap; check it still exists. */
	if (kill(pid, 0) && errno == ESRCH)
		return 1;
	return 0;
}

/* Stable LSD radix sort by pfn, 8 bits per pass: keeps tree order within
 * a PFN, and sorts 1.3 M records in a few milliseconds. */
static int sort_recs(struct pfn_rec *r, size_t n, uint64_t max_pfn)
{
	struct pfn_rec *tmp = malloc(n * sizeof(*tmp) + 1);
	unsigned int shift;

	if (!tmp)
		return -1;
	for (shift = 0; shift < 64 && (max_pfn >> shift); shift += 8) {
		size_t count[257] = {0}, k;

		for (k = 0; k < n; k++)
			count[((r[k].pfn >> shift) & 0xff) + 1]++;
		for (k = 1; k < 257; k++)
			count[k] += count[k - 1];
		for (k = 0; k < n; k++)
			tmp[count[(r[k].pfn >> shift) & 0xff]++] = r[k];
		memcpy(r, tmp, n * sizeof(*r));
	}
	free(tmp);
	return 0;
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

/* Collect every mapped PFN, sort, deduplicate, read its flags and count. */
static int index_pfns(struct scan *s)
{
	size_t n = 0, k, u;
	uint64_t max_pfn = 0;
	int i;

	for (i = 0; i < s->tree.nr; i++)
		if (!s->ps[i].gone)
			n += s->ps[i].nr_pages;
	s->recs = malloc(n * sizeof(*s->recs) + 1);
	if (!s->recs)
		return -1;
	for (i = 0; i < s->tree.nr; i++) {
		const struct proc_scan *ps = &s->ps[i];

		if (ps->gone)
			continue;
		for (k = 0; k < ps->nr_pages; k++) {
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
			s->recs[s->nr_recs++] = (struct pfn_rec){pfn, (uint32_t)i, (uint32_t)k};
		}
	}
	if (sort_recs(s->recs, s->nr_recs, max_pfn))
		return -1;
	s->upfn = malloc((s->nr_recs + 1) * sizeof(uint64_t));
	if (!s->upfn)
		return -1;
	for (k = 0, u = 0; k < s->nr_recs; k++) {
		if (k == 0 || s->recs[k].pfn != s->recs[k - 1].pfn)
			s->upfn[u++] = s->recs[k].pfn;
		s->ps[s->recs[k].proc].pages[s->recs[k].page].uidx = (uint32_t)(u - 1);
	}
	s->nr_upfn = u;
	s->kflags = calloc(u + 1, sizeof(uint64_t));
	s->kcount = calloc(u + 1, sizeof(uint64_t));
	if (!s->kflags || !s->kcount)
		return -1;
	if (read_kpage("/proc/kpageflags", s->upfn, u, s->kflags) ||
	    read_kpage("/proc/kpagecount", s->upfn, u, s->kcount)) {
		s->pfn_available = false;
		snprintf(s->pfn_why, sizeof(s->pfn_why), "/proc/kpageflags: %s%s", strerror(errno),
			 errno == EACCES || errno == EPERM ? " (need CAP_SYS_ADMIN for PFNs)" : "");
	}
	return 0;
}

/* Test hook (documented in analyzer/README.md): COWSCAN_TEST_KILL_INDEX=N
 * kills the N-th process of the tree after the tree is listed and before
 * it is scanned, to exercise the "exited mid-scan" path deterministically. */
static void test_hook_kill(struct scan *s)
{
	const char *env = getenv("COWSCAN_TEST_KILL_INDEX");
	int idx, tries;
	char path[64];

	if (!env || (idx = atoi(env)) <= 0 || idx >= s->tree.nr)
		return;
	kill(s->tree.procs[idx].pid, SIGKILL);
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", s->tree.procs[idx].pid);
	for (tries = 0; tries < 200; tries++) {
		struct smaps_totals t;

		if (smaps_rollup_read(s->tree.procs[idx].pid, &t))
			return;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
}

int scan_tree(pid_t root, struct scan *s)
{
	uint64_t *buf;
	int i, ret;

	memset(s, 0, sizeof(*s));
	s->page_size = (unsigned long)sysconf(_SC_PAGESIZE);
	s->pfn_available = true;
	if (proc_tree_discover(root, &s->tree))
		return -1;
	s->ps = calloc((size_t)s->tree.nr, sizeof(*s->ps));
	buf = malloc(PAGEMAP_BATCH * sizeof(uint64_t));
	if (!s->ps || !buf) {
		free(buf);
		err_line("out of memory");
		return -1;
	}
	test_hook_kill(s);
	for (i = 0; i < s->tree.nr; i++) {
		struct proc_scan *ps = &s->ps[i];
		pid_t pid = s->tree.procs[i].pid;

		if (vmas_read(pid, &ps->vmas)) {
			if (errno_means_gone(errno)) {
				proc_gone(s, i, "smaps");
				continue;
			}
			err_errno("/proc/%d/smaps", pid);
			goto err;
		}
		if (smaps_rollup_read(pid, &ps->rollup)) {
			if (errno_means_gone(errno)) {
				proc_gone(s, i, "smaps_rollup");
				continue;
			}
			err_errno("/proc/%d/smaps_rollup", pid);
			goto err;
		}
		ret = read_pagemap(s, i, buf);
		if (ret < 0)
			goto err;
		if (ret > 0)
			proc_gone(s, i, "pagemap");
	}
	free(buf);
	buf = NULL;
	if (s->tree.procs[0].pid == root && s->ps[0].gone) {
		err_line("process %d: exited during the scan", root);
		return -1;
	}
	if (index_pfns(s)) {
		err_line("out of memory indexing PFNs");
		return -1;
	}
	return 0;
err:
	free(buf);
	return -1;
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
	free(s->upfn);
	free(s->kflags);
	free(s->kcount);
	proc_tree_free(&s->tree);
	memset(s, 0, sizeof(*s));
}
