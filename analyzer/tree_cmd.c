/* cowscan tree PID: COW sharing of a live process tree, and predictions of
 * what CRIU 4.2.1 will write and restore. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "commands.h"
#include "page_smaps.h"
#include "predict.h"
#include "scan.h"
#include "tree_output.h"
#include "tree_stats.h"
#include "util.h"

/* COWSCAN_TIMING=1: where the time went, one line on stderr (milliseconds;
 * smaps and pagemap are summed over the scanning threads). */
static void print_timing(const struct scan *s, double t0, double t_scan, double t_stats,
			 double t_end)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	fprintf(stderr,
		"cowscan: timing: total %.1f ms (cpu: user %.1f, system %.1f): discover %.1f, "
		"processes %.1f (maps or smaps %.1f + "
		"pagemap %.1f summed over threads), pfn index %.1f, kpageflags+kpagecount %.1f, "
		"stats+predict %.1f, output %.1f; "
		"%zu unique PFNs, %zu pages, %zu pagemap jobs, %zu sparse VMAs listed by "
		"PAGEMAP_SCAN, "
		"%zu kpagecounts known from pagemap, %zu kpageflags known from pagemap, "
		"%zu processes scanned without smaps (of %d)\n",
		(t_end - t0) * 1e3,
		(double)ru.ru_utime.tv_sec * 1e3 + (double)ru.ru_utime.tv_usec / 1e3,
		(double)ru.ru_stime.tv_sec * 1e3 + (double)ru.ru_stime.tv_usec / 1e3,
		s->timing.discover * 1e3, s->timing.procs_wall * 1e3, s->timing.vmas * 1e3,
		s->timing.pagemap * 1e3, s->timing.pfn_index * 1e3, s->timing.kpage * 1e3,
		(t_stats - t_scan) * 1e3, (t_end - t_stats) * 1e3, s->nr_upfn, s->nr_recs,
		s->timing.pagemap_jobs, s->timing.pagemap_scan_vmas, s->timing.counts_from_pagemap,
		s->timing.flags_from_pagemap, s->timing.procs_without_smaps, s->tree.nr);
}

/* The predictions need the scan only: they are computed on a thread of
 * their own while the tree figures, then the smaps figures of processes
 * scanned without smaps, are computed on this one (the two sides take
 * about as long). */
struct predict_job {
	const struct scan *s;
	struct prediction pr;
	int ret;
};

static void *predict_job_run(void *arg)
{
	struct predict_job *j = arg;

	j->ret = predict_compute(j->s, &j->pr);
	return NULL;
}

int cmd_tree(const struct cli_args *a)
{
	bool json = cli_flag(a, "json"), with_vmas = cli_flag(a, "vmas"), threaded = false;
	struct scan s;
	struct tree_stats t;
	struct predict_job job = {.s = &s, .ret = -1};
	struct tree_view view;
	pthread_t th;
	int pid, ret = 0, stats_ret, smaps_ret = 0;
	double t0, t_scan, t_stats;

	pid = parse_pid(a->pos[0]);
	if (pid < 0)
		return 2;
	t0 = scan_now();
	if (scan_tree(pid, &s)) {
		scan_free(&s);
		return 2;
	}
	t_scan = scan_now();
	if (!s.pfn_available)
		warn_line("PFN-based figures unavailable: %s", s.pfn_why);
	if (s.pfn_available)
		threaded = !pthread_create(&th, NULL, predict_job_run, &job);
	stats_ret = tree_stats_compute(&s, &t);
	if (s.pfn_available)
		smaps_ret = page_smaps_sum(&s);
	if (threaded)
		pthread_join(th, NULL);
	else if (s.pfn_available)
		predict_job_run(&job);
	if (stats_ret) {
		err_line("out of memory computing tree figures");
		ret = 2;
		goto out;
	}
	if (s.pfn_available && job.ret) {
		err_line("out of memory computing predictions");
		ret = 2;
		goto out;
	}
	if (smaps_ret) {
		err_line("out of memory summing smaps figures from the pages");
		ret = 2;
		goto out;
	}
	if (s.pfn_available)
		predict_relate_to_pss(&job.pr, &t);
	t_stats = scan_now();
	view = (struct tree_view){&s, &t, s.pfn_available ? &job.pr : NULL};
	if (json) {
		if (json_print(tree_json(&view, with_vmas)))
			ret = 2;
	} else {
		tree_table(&view);
	}
	if (getenv("COWSCAN_TIMING"))
		print_timing(&s, t0, t_scan, t_stats, scan_now());
out:
	if (!job.ret)
		predict_free(&job.pr);
	if (!stats_ret)
		tree_stats_free(&t);
	scan_free(&s);
	return ret;
}
