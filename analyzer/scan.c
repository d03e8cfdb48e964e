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
#include "pagemap_slices.h"
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

/* A process's pagemap is cut into jobs of about this many entries read
 * (pagemap_slices.h): at about 0.2 us an entry, 3 ms of work, so that 5
 * processes of 1 GiB make 85 jobs that 2 to 8 threads share evenly while
 * what each job costs besides (opening /proc/PID/pagemap, its place in the
 * queue) stays below a percent. A process of 64 MiB or less stays one job
 * (200 processes of 16 MiB: 200 jobs, as before).
 * COWSCAN_PAGEMAP_JOB_PAGES=N sets it, 0 for one job per process (the
 * tests compare both). */
#define PAGEMAP_JOB_PAGES 16384

/* Read slice k of process pid's pagemap, through r (NULL: no buffers). */
static void read_slice(struct pagemap_reader *r, struct pagemap_slices *sl, int k,
		       const struct proc_scan *ps, pid_t pid)
{
	struct pagemap_slice *s = &sl->s[k];
	double t0 = scan_now();
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	if (!r) {
		s->out.err = ENOMEM;
		s->ret = -1;
	} else if ((r->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		s->out.err = errno;
		s->ret = -1;
	} else {
		pagemap_slice_read(sl, k, r, ps);
		close(r->fd);
		r->fd = -1;
	}
	s->seconds = scan_now() - t0;
}

/* Once every slice is read: the process's pages, in ps. Returns 0, 1 if
 * the process is gone, -1 on error (ps->err set). */
static int join_pagemap(struct pagemap_slices *sl, struct proc_scan *ps, pid_t pid)
{
	int k;

	ps->what = "pagemap";
	for (k = 0; k < sl->nr; k++)
		ps->t_pagemap += sl->s[k].seconds;
	if (pagemap_slices_join(sl, ps))
		return errno_means_gone(ps->err) ? 1 : -1;
	/* An exited process reads as an empty pagemap; check it still exists. */
	if (kill(pid, 0) && errno == ESRCH) {
		ps->err = ESRCH;
		return 1;
	}
	return 0;
}

/* Read the pagemap entries of every VMA with struct pages behind it and
 * keep the present or swapped ones, as one job. Returns 0, 1 if the
 * process is gone, -1 on error (ps->err set). */
static int read_pagemap(struct pagemap_reader *r, struct proc_scan *ps, pid_t pid)
{
	struct pagemap_slices sl;

	if (pagemap_slices_plan(&sl, r, ps, 0)) {
		ps->what = "pagemap";
		ps->err = ENOMEM;
		return -1;
	}
	read_slice(r, &sl, 0, ps, pid);
	return join_pagemap(&sl, ps, pid);
}

/* Scheduling: every process is a VMA job (maps, or smaps with its
 * figures) and then its pagemap jobs, which need the VMA list: slices of
 * about PAGEMAP_JOB_PAGES entries. Every VMA job is handed out first, a
 * process's pagemap jobs, in address order, as soon as its VMAs are read:
 * with 5 processes on 2 CPUs, whole processes read through smaps would
 * leave one CPU idle for a fifth of the time, and so would whole pagemaps.
 * The thread that reads a process's last slice joins the slices. */
struct proc_pagemap {
	struct pagemap_slices sl;
	int next;  /* next slice to hand out */
	int left;  /* slices not read yet */
	bool stop; /* a slice failed: the rest are handed out to read nothing */
};

struct scan_work {
	struct scan *s;
	struct maps_path maps;
	unsigned long job_pages; /* PAGEMAP_JOB_PAGES, or the tests' */
	pthread_mutex_t lock;
	pthread_cond_t more; /* a pagemap job became ready, or none will */
	int next_vmas;	     /* next process whose VMAs to read */
	int *ready;	     /* processes whose VMAs are read, in that order */
	int nr_ready, next_pagemap;
	struct proc_pagemap *pm; /* per process */
	int vmas_running;
	bool failed;
};

enum job { JOB_NONE, JOB_VMAS, JOB_PAGEMAP };

/* The next job, its process and for a pagemap job its slice, and whether
 * to skip it (called with w->lock held). */
static enum job next_job(struct scan_work *w, int *i, int *k, bool *skip)
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
			struct proc_pagemap *pm = &w->pm[w->ready[w->next_pagemap]];

			*i = w->ready[w->next_pagemap];
			*k = pm->next++;
			*skip = pm->stop;
			if (pm->next == pm->sl.nr)
				w->next_pagemap++;
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

/* Once process i's slices are read: its pages; read through smaps after
 * all, and the pagemap again (with r, NULL when this thread has no
 * buffers), when a VMA read from maps may be MAP_DROPPABLE. Returns 0, 1
 * if it is gone, -1 on error. */
static int finish_pages(struct maps_path *m, struct pagemap_reader *r, const struct proc_tree *t,
			int i, struct pagemap_slices *sl, struct proc_scan *ps)
{
	const struct proc_id *me = &t->procs[i];
	pid_t pid = me->pid;
	bool counts_vmas = me->parent_index >= 0 && proc_same_exe(me, &t->procs[me->parent_index]);
	double t0 = scan_now();
	int ret = join_pagemap(sl, ps, pid);

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
	if (!ret && !r) {
		ps->what = "pagemap";
		ps->err = ENOMEM;
		ret = -1;
	}
	return ret ? ret : read_pagemap(r, ps, pid);
}

static void *scan_worker(void *arg)
{
	struct scan_work *w = arg;
	struct pagemap_reader r;
	bool have_reader = !pagemap_reader_init(&r, w->s->page_size);
	enum job job;
	bool skip = false;
	int i, k = 0;

	pthread_mutex_lock(&w->lock);
	while ((job = next_job(w, &i, &k, &skip)) != JOB_NONE) {
		struct proc_scan *ps = &w->s->ps[i];
		struct proc_pagemap *pm = &w->pm[i];
		pid_t pid = w->s->tree.procs[i].pid;
		int ret = 0;

		pthread_mutex_unlock(&w->lock);
		if (job == JOB_VMAS) {
			ret = read_vmas(&w->maps, ps, pid);
			/* The plan needs only r's page size and switches,
			 * set even when its buffers are missing. */
			if (!ret && pagemap_slices_plan(&pm->sl, &r, ps, w->job_pages)) {
				ps->what = "pagemap";
				ps->err = ENOMEM;
				ret = -1;
			}
		} else if (!skip) {
			read_slice(have_reader ? &r : NULL, &pm->sl, k, ps, pid);
		}
		pthread_mutex_lock(&w->lock);
		if (job == JOB_PAGEMAP) {
			pm->stop |= pm->sl.s[k].ret != 0;
			if (--pm->left)
				continue;
			/* The process's last slice: join them. */
			pthread_mutex_unlock(&w->lock);
			ret = finish_pages(&w->maps, have_reader ? &r : NULL, &w->s->tree, i,
					   &pm->sl, ps);
			pthread_mutex_lock(&w->lock);
		}
		if (ret > 0)
			ps->gone = true;
		if (ret < 0)
			w->failed = true;
		if (job == JOB_VMAS) {
			w->vmas_running--;
			if (!ret) {
				pm->left = pm->sl.nr;
				w->ready[w->nr_ready++] = i;
				w->s->timing.pagemap_jobs += (size_t)pm->sl.nr;
			}
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

/* PAGEMAP_JOB_PAGES, or COWSCAN_PAGEMAP_JOB_PAGES (analyzer/README.md). */
static unsigned long job_pages_setting(void)
{
	const char *env = getenv("COWSCAN_PAGEMAP_JOB_PAGES");
	char *end;
	unsigned long n;

	if (!env || !*env)
		return PAGEMAP_JOB_PAGES;
	errno = 0;
	n = strtoul(env, &end, 10);
	return errno || *end || env[0] == '-' ? PAGEMAP_JOB_PAGES : n;
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
	w.pm = calloc((size_t)s->tree.nr, sizeof(*w.pm));
	if (!w.ready || !w.pm) {
		free(w.ready);
		free(w.pm);
		err_line("out of memory");
		return -1;
	}
	w.job_pages = job_pages_setting();
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
	/* Slices left unjoined when the scan stopped at an error. */
	for (i = 0; i < s->tree.nr; i++)
		pagemap_slices_free(&w.pm[i].sl);
	free(w.pm);
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
