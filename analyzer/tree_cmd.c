/* cowscan tree PID: COW sharing of a live process tree, and predictions of
 * what CRIU 4.2.1 will write and restore. */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
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
	fprintf(stderr,
		"cowscan: timing: total %.1f ms: discover %.1f, processes %.1f (smaps %.1f + "
		"pagemap %.1f summed over threads), pfn index %.1f, kpageflags+kpagecount %.1f, "
		"group %.1f, stats+predict %.1f, output %.1f; %zu unique PFNs, %zu pages, "
		"%zu sparse VMAs listed by PAGEMAP_SCAN\n",
		(t_end - t0) * 1e3, s->timing.discover * 1e3, s->timing.procs_wall * 1e3,
		s->timing.smaps * 1e3, s->timing.pagemap * 1e3, s->timing.pfn_index * 1e3,
		s->timing.kpage * 1e3, s->timing.group * 1e3, (t_stats - t_scan) * 1e3,
		(t_end - t_stats) * 1e3, s->nr_upfn, s->nr_recs, s->timing.pagemap_scan_vmas);
}

int cmd_tree(const struct cli_args *a)
{
	bool json = cli_flag(a, "json"), with_vmas = cli_flag(a, "vmas");
	struct scan s;
	struct tree_stats t;
	struct prediction pr, *prp = NULL;
	struct tree_view view;
	int pid, ret = 0;
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
	if (tree_stats_compute(&s, &t)) {
		err_line("out of memory computing tree figures");
		scan_free(&s);
		return 2;
	}
	if (s.pfn_available) {
		if (predict_compute(&s, &t, &pr)) {
			err_line("out of memory computing predictions");
			ret = 2;
			goto out;
		}
		prp = &pr;
	}
	t_stats = scan_now();
	view = (struct tree_view){&s, &t, prp};
	if (json) {
		if (json_print(tree_json(&view, with_vmas)))
			ret = 2;
	} else {
		tree_table(&view);
	}
	if (getenv("COWSCAN_TIMING"))
		print_timing(&s, t0, t_scan, t_stats, scan_now());
	if (prp)
		predict_free(prp);
out:
	tree_stats_free(&t);
	scan_free(&s);
	return ret;
}
