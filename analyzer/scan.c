/* Scanning a live tree (scan_tree, scan.h): every process's VMAs (maps or
 * smaps, maps_path.h) and pagemap, read by one thread per CPU, then the
 * PFN index (pfn_index.c) and the smaps figures of processes read without
 * smaps (page_smaps.c). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "maps_path.h"
#include "page_smaps.h"
#include "pagemap_read.h"
#include "scan.h"
#include "util.h"

/* Threads scanning processes: one per CPU, at most this many. */
#define MAX_SCAN_THREADS 8

double scan_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read the pagemap entries of every VMA with struct pages behind it and
 * keep the present or swapped ones. Returns 0, 1 if the process is gone,
 * -1 on error (ps->err set). */
static int read_pagemap(struct pagemap_reader *r, struct proc_scan *ps, pid_t pid)
{
	char path[64];
	/* Rss + Swap (smaps', or the status' bound) is the number of pages to
	 * expect, save zero-page mappings: size the array once instead of
	 * growing it. */
	size_t cap = (ps->smaps_from_pages ? ps->held_bound : ps->rollup.rss + ps->rollup.swap) /
			 r->page_size +
		     64;
	struct page_sink out = {.pages = malloc(cap * sizeof(*out.pages)), .cap = cap};
	int v, ret = 0;

	ps->what = "pagemap";
	if (!out.pages) {
		ps->err = ENOMEM;
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		free(out.pages);
		ps->err = errno;
		return errno_means_gone(errno) ? 1 : -1;
	}
	for (v = 0; v < ps->vmas.nr && !ret; v++) {
		const struct vma *vma = &ps->vmas.v[v];

		if (!(vma->flags & (VMA_KERNEL | VMA_PFNMAP)) &&
		    pagemap_read_vma(r, vma, v, vma->start, vma->end, ps, &out)) {
			ps->err = out.err;
			ret = errno_means_gone(ps->err) ? 1 : -1;
		}
	}
	close(r->fd);
	r->fd = -1;
	page_sink_store(&out, ps);
	/* An exited process reads as an empty pagemap; check it still exists. */
	if (!ret && kill(pid, 0) && errno == ESRCH) {
		ps->err = ESRCH;
		ret = 1;
	}
	return ret;
}

/* Scheduling: every process is two jobs, its VMAs (maps, or smaps with
 * its figures) and then its pagemap, which needs the VMA list. Every VMA
 * job is handed out first, a pagemap job as soon as its VMAs are read:
 * with 5 processes on 2 CPUs, whole processes read through smaps would
 * leave one CPU idle for a fifth of the time; jobs half that size keep
 * both busy. */
struct scan_work {
	struct scan *s;
	struct maps_path maps;
	pthread_mutex_t lock;
	pthread_cond_t more; /* a pagemap job became ready, or none will */
	int next_vmas;	     /* next process whose VMAs to read */
	int *ready;	     /* processes whose VMAs are read, in that order */
	int nr_ready, next_pagemap;
	int vmas_running;
	bool failed;
};

enum job { JOB_NONE, JOB_VMAS, JOB_PAGEMAP };

/* The next job and its process (called with w->lock held). */
static enum job next_job(struct scan_work *w, int *i)
{
	for (;;) {
		if (w->failed)
			return JOB_NONE;
		if (w->next_vmas < w->s->tree.nr) {
			*i = w->next_vmas++;
			w->vmas_running++;
			return JOB_VMAS;
		}
		if (w->next_pagemap < w->nr_ready) {
			*i = w->ready[w->next_pagemap++];
			return JOB_PAGEMAP;
		}
		if (!w->vmas_running)
			return JOB_NONE;
		pthread_cond_wait(&w->more, &w->lock);
	}
}

/* Read process i's smaps. Returns 0, 1 if it is gone, -1 on error. */
static int read_smaps(struct proc_scan *ps, pid_t pid)
{
	double t0 = scan_now();
	int ret = 0;

	ps->what = "smaps";
	if (vmas_read(pid, &ps->vmas, &ps->rollup)) {
		ps->err = errno;
		ret = errno_means_gone(errno) ? 1 : -1;
	}
	ps->t_vmas += scan_now() - t0;
	return ret;
}

/* Process i's VMAs: from maps when every VmFlags cowscan needs is known
 * without smaps, else from smaps. Returns 0, 1 if it is gone, -1 on error. */
static int read_vmas(struct maps_path *m, struct proc_scan *ps, pid_t pid)
{
	double t0 = scan_now();
	int known;

	if (!m->usable)
		return read_smaps(ps, pid);
	ps->what = "maps";
	known = maps_path_read_vmas(m, pid, &ps->vmas, &ps->held_bound);
	ps->t_vmas += scan_now() - t0;
	if (known < 0) {
		ps->err = errno;
		return errno_means_gone(errno) ? 1 : -1;
	}
	ps->smaps_from_pages = known;
	return known ? 0 : read_smaps(ps, pid);
}

/* Process i's pagemap; read through smaps after all, and the pagemap
 * again, when a VMA read from maps may be MAP_DROPPABLE. Returns 0, 1 if
 * it is gone, -1 on error. */
static int read_pages(struct maps_path *m, struct pagemap_reader *r, const struct proc_tree *t,
		      int i, struct proc_scan *ps)
{
	const struct proc_id *me = &t->procs[i];
	pid_t pid = me->pid;
	bool counts_vmas = me->parent_index >= 0 && proc_same_exe(me, &t->procs[me->parent_index]);
	double t0 = scan_now();
	int ret = read_pagemap(r, ps, pid);

	ps->t_pagemap += scan_now() - t0;
	if (ret || !ps->smaps_from_pages || maps_path_not_droppable(m, ps, counts_vmas))
		return ret;
	ps->smaps_from_pages = false;
	vmas_free(&ps->vmas);
	free(ps->pages);
	ps->pages = NULL;
	ps->nr_pages = ps->nr_swapped = ps->nr_present = 0;
	ps->max_pfn = 0;
	ps->pfn_zero = false;
	ret = read_smaps(ps, pid);
	if (!ret) {
		t0 = scan_now();
		ret = read_pagemap(r, ps, pid);
		ps->t_pagemap += scan_now() - t0;
	}
	return ret;
}

static void *scan_worker(void *arg)
{
	struct scan_work *w = arg;
	struct pagemap_reader r;
	bool have_reader = !pagemap_reader_init(&r, w->s->page_size);
	enum job job;
	int i;

	pthread_mutex_lock(&w->lock);
	while ((job = next_job(w, &i)) != JOB_NONE) {
		struct proc_scan *ps = &w->s->ps[i];
		pid_t pid = w->s->tree.procs[i].pid;
		int ret;

		pthread_mutex_unlock(&w->lock);
		if (job == JOB_VMAS) {
			ret = read_vmas(&w->maps, ps, pid);
		} else if (!have_reader) {
			ps->what = "pagemap";
			ps->err = ENOMEM;
			ret = -1;
		} else {
			ret = read_pages(&w->maps, &r, &w->s->tree, i, ps);
		}
		pthread_mutex_lock(&w->lock);
		if (ret > 0)
			ps->gone = true;
		if (ret < 0)
			w->failed = true;
		if (job == JOB_VMAS) {
			w->vmas_running--;
			if (!ret)
				w->ready[w->nr_ready++] = i;
			pthread_cond_broadcast(&w->more);
		}
	}
	/* Wake the others: nothing is left for them either. */
	pthread_cond_broadcast(&w->more);
	if (have_reader)
		w->s->timing.pagemap_scan_vmas += r.scanned_vmas;
	pthread_mutex_unlock(&w->lock);
	if (have_reader)
		pagemap_reader_free(&r);
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

	w.ready = malloc((size_t)s->tree.nr * sizeof(*w.ready));
	if (!w.ready) {
		err_line("out of memory");
		return -1;
	}
	maps_path_init(&w.maps, s->page_size);
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.more, NULL);
	if (nth > 2 * s->tree.nr)
		nth = 2 * s->tree.nr;
	for (started = 1; started < nth; started++)
		if (pthread_create(&th[started], NULL, scan_worker, &w))
			break;
	scan_worker(&w);
	for (t = 1; t < started; t++)
		pthread_join(th[t], NULL);
	pthread_cond_destroy(&w.more);
	pthread_mutex_destroy(&w.lock);
	s->zero_pfn = w.maps.zero_pfn;
	maps_path_free(&w.maps);
	free(w.ready);
	/* Report in tree order, from this thread only. */
	for (i = 0; i < s->tree.nr; i++) {
		struct proc_scan *ps = &s->ps[i];
		pid_t pid = s->tree.procs[i].pid;

		s->timing.vmas += ps->t_vmas;
		s->timing.pagemap += ps->t_pagemap;
		s->timing.procs_without_smaps += ps->smaps_from_pages && !ps->gone;
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
	return w.failed ? -1 : 0;
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
	if (!s->pfn_available && page_smaps_read(s))
		return -1;
	if (s->tree.procs[0].pid == root && s->ps[0].gone) {
		err_line("process %d: exited during the scan", root);
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
	free(s->rec_start);
	free(s->recs);
	free(s->upfn);
	free(s->kflags);
	free(s->kcount);
	proc_tree_free(&s->tree);
	memset(s, 0, sizeof(*s));
}
