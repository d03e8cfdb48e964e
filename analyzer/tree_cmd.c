/* cowscan tree PID: COW sharing of a live process tree, and predictions of
 * what CRIU 4.2.1 will write and restore. */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "predict.h"
#include "scan.h"
#include "tree_stats.h"
#include "util.h"

static json_t *bytes_or_null(bool ok, unsigned long long v)
{
	return ok ? json_integer((json_int_t)v) : json_null();
}

static json_t *vmas_json(const struct proc_scan *ps)
{
	json_t *arr = json_array();
	int v;

	for (v = 0; v < ps->vmas.nr; v++) {
		const struct vma *m = &ps->vmas.v[v];
		char s[24], e[24];

		snprintf(s, sizeof(s), "0x%lx", m->start);
		snprintf(e, sizeof(e), "0x%lx", m->end);
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "start", s, "end",
						     e, "perms", m->perms, "name", m->name,
						     "smaps_rss_bytes", (json_int_t)m->smaps_rss,
						     "smaps_pss_bytes", (json_int_t)m->smaps_pss));
	}
	return arr;
}

static json_t *tree_json(const struct scan *s, const struct tree_stats *t,
			 const struct prediction *pr, bool with_vmas)
{
	bool ok = s->pfn_available;
	json_t *doc = json_object(), *procs = json_array(), *totals, *pids, *rows, *attr, *pred;
	int i, j, n = s->tree.nr;

	json_object_set_new(doc, "root", json_integer(s->tree.procs[0].pid));
	json_object_set_new(doc, "page_size", json_integer((json_int_t)s->page_size));
	json_object_set_new(doc, "pfn_available", json_boolean(ok));
	if (!ok)
		json_object_set_new(doc, "pfn_unavailable_reason", json_string(s->pfn_why));
	for (i = 0; i < n; i++) {
		const struct proc_id *id = &s->tree.procs[i];
		const struct proc_scan *ps = &s->ps[i];
		const struct proc_stats *st = &t->p[i];
		json_t *p;

		if (ps->gone)
			continue;
		p = json_pack("{s:i,s:i,s:i,s:i,s:s}", "pid", id->pid, "ppid", id->ppid, "depth",
			      id->depth, "index", id->index, "comm", id->comm);
		json_object_set_new(p, "rss_bytes", bytes_or_null(ok, st->rss));
		json_object_set_new(p, "pss_bytes", bytes_or_null(ok, st->pss_fp >> PSS_SHIFT));
		json_object_set_new(p, "pss_anon_bytes",
				    bytes_or_null(ok, st->pss_anon_fp >> PSS_SHIFT));
		json_object_set_new(p, "uss_bytes", bytes_or_null(ok, st->uss));
		json_object_set_new(p, "smaps_rss_bytes", json_integer((json_int_t)ps->rollup.rss));
		json_object_set_new(p, "smaps_pss_bytes", json_integer((json_int_t)ps->rollup.pss));
		json_object_set_new(p, "anon_bytes", bytes_or_null(ok, st->anon));
		json_object_set_new(p, "swap_bytes", json_integer((json_int_t)st->swap));
		json_object_set_new(p, "thp_bytes", bytes_or_null(ok, st->thp));
		json_object_set_new(p, "zero_page_bytes", bytes_or_null(ok, st->zero));
		json_object_set_new(p, "ksm_bytes", bytes_or_null(ok, st->ksm));
		json_object_set_new(p, "unique_pfn_bytes", bytes_or_null(ok, st->unique));
		json_object_set_new(p, "baseline_image_bytes",
				    bytes_or_null(ok, pr ? pr->p[i].baseline_image : 0));
		json_object_set_new(p, "baseline_restore_private_bytes",
				    bytes_or_null(ok, pr ? pr->p[i].restored_private : 0));
		json_object_set_new(p, "vmas_inherited_on_restore",
				    bytes_or_null(ok, pr ? pr->p[i].inherited_vmas : 0));
		json_object_set_new(p, "vmas_not_inherited_on_restore",
				    bytes_or_null(ok, pr ? pr->p[i].vmas_not_inherited : 0));
		if (with_vmas)
			json_object_set_new(p, "vmas", vmas_json(ps));
		json_array_append_new(procs, p);
	}
	json_object_set_new(doc, "procs", procs);

	totals = json_object();
	json_object_set_new(totals, "rss_bytes", bytes_or_null(ok, t->rss));
	json_object_set_new(totals, "pss_bytes", bytes_or_null(ok, t->pss_fp >> PSS_SHIFT));
	json_object_set_new(totals, "pss_anon_bytes",
			    bytes_or_null(ok, t->pss_anon_fp >> PSS_SHIFT));
	json_object_set_new(totals, "uss_bytes", bytes_or_null(ok, t->uss));
	json_object_set_new(totals, "unique_pfn_bytes", bytes_or_null(ok, t->unique_pfn));
	json_object_set_new(totals, "private_anon_bytes", bytes_or_null(ok, t->private_anon));
	json_object_set_new(totals, "shared_bytes", bytes_or_null(ok, t->shared));
	json_object_set_new(totals, "zero_page_bytes", bytes_or_null(ok, t->zero));
	json_object_set_new(totals, "thp_bytes", bytes_or_null(ok, t->thp));
	json_object_set_new(totals, "swap_bytes", json_integer((json_int_t)t->swap));
	json_object_set_new(totals, "ksm_bytes", bytes_or_null(ok, t->ksm));
	{
		unsigned long long srss = 0, spss = 0;

		for (i = 0; i < n; i++)
			if (!s->ps[i].gone)
				srss += s->ps[i].rollup.rss, spss += s->ps[i].rollup.pss;
		json_object_set_new(totals, "smaps_rss_bytes", json_integer((json_int_t)srss));
		json_object_set_new(totals, "smaps_pss_bytes", json_integer((json_int_t)spss));
	}
	json_object_set_new(doc, "totals", totals);

	pids = json_array();
	rows = json_array();
	attr = json_array();
	for (i = 0; ok && i < n; i++) {
		json_t *row = json_array();

		if (s->ps[i].gone)
			continue;
		json_array_append_new(pids, json_integer(s->tree.procs[i].pid));
		for (j = 0; j < n; j++)
			if (!s->ps[j].gone)
				json_array_append_new(
				    row, json_integer((json_int_t)t->matrix[i * n + j]));
		json_array_append_new(rows, row);
		json_array_append_new(attr, json_pack("{s:i,s:I}", "pid", s->tree.procs[i].pid,
						      "attributed_bytes",
						      (json_int_t)t->p[i].attributed));
	}
	json_object_set_new(doc, "shared_matrix",
			    ok ? json_pack("{s:o,s:o}", "pids", pids, "bytes", rows) : json_null());
	if (!ok) {
		json_decref(pids);
		json_decref(rows);
	}
	json_object_set_new(doc, "cow_attribution", ok ? attr : json_null());
	if (!ok)
		json_decref(attr);
	pred = json_object();
	json_object_set_new(pred, "ideal_image_bytes", bytes_or_null(ok, pr ? pr->ideal_image : 0));
	json_object_set_new(pred, "baseline_image_bytes",
			    bytes_or_null(ok, pr ? pr->baseline_image : 0));
	json_object_set_new(pred, "baseline_restore_pss_bytes",
			    bytes_or_null(ok, pr ? pr->restore_pss : 0));
	json_object_set_new(pred, "baseline_restore_inflation",
			    ok && pr ? json_real(pr->restore_inflation) : json_null());
	json_object_set_new(doc, "predict", pred);
	return doc;
}

#define NA(ok, v) ((ok) ? fmt_bytes(v) : "n/a")

static void tree_table(const struct scan *s, const struct tree_stats *t,
		       const struct prediction *pr)
{
	bool ok = s->pfn_available;
	int i;

	printf("%-8s %-8s %5s %-15s %11s %11s %11s %11s %11s %11s\n", "PID", "PPID", "DEPTH",
	       "COMM", "RSS", "PSS", "USS", "SMAPS_RSS", "SMAPS_PSS", "ATTRIB");
	for (i = 0; i < s->tree.nr; i++) {
		const struct proc_id *id = &s->tree.procs[i];
		const struct proc_stats *st = &t->p[i];

		if (s->ps[i].gone)
			continue;
		printf("%-8d %-8d %5d %-15s %11s %11s %11s %11s %11s %11s\n", id->pid, id->ppid,
		       id->depth, id->comm, NA(ok, st->rss), NA(ok, st->pss_fp >> PSS_SHIFT),
		       NA(ok, st->uss), fmt_bytes(s->ps[i].rollup.rss),
		       fmt_bytes(s->ps[i].rollup.pss), NA(ok, st->attributed));
	}
	if (!ok)
		printf("PFN-based figures unavailable: %s\n", s->pfn_why);
	printf("\ntotals: RSS %s  PSS %s  USS %s  unique PFNs %s  private anon %s\n",
	       NA(ok, t->rss), NA(ok, t->pss_fp >> PSS_SHIFT), NA(ok, t->uss),
	       NA(ok, t->unique_pfn), NA(ok, t->private_anon));
	printf("        shared %s  zero page %s  THP %s  swap %s\n", NA(ok, t->shared),
	       NA(ok, t->zero), NA(ok, t->thp), fmt_bytes(t->swap));
	if (ok && pr)
		printf("predict: ideal image %s  CRIU 4.2.1 image %s  PSS after its restore %s "
		       "(x%.2f)\n",
		       fmt_bytes(pr->ideal_image), fmt_bytes(pr->baseline_image),
		       fmt_bytes(pr->restore_pss), pr->restore_inflation);
}

/* COWSCAN_TIMING=1: where the time went, one line on stderr (milliseconds;
 * smaps and pagemap are summed over the scanning threads). */
static void print_timing(const struct scan *s, double t0, double t_scan, double t_stats,
			 double t_end)
{
	fprintf(stderr,
		"cowscan: timing: total %.1f ms: discover %.1f, processes %.1f (smaps %.1f + "
		"pagemap %.1f summed over threads), pfn index %.1f, kpageflags+kpagecount %.1f, "
		"group %.1f, stats+predict %.1f, output %.1f; %zu unique PFNs, %zu pages\n",
		(t_end - t0) * 1e3, s->timing.discover * 1e3, s->timing.procs_wall * 1e3,
		s->timing.smaps * 1e3, s->timing.pagemap * 1e3, s->timing.pfn_index * 1e3,
		s->timing.kpage * 1e3, s->timing.group * 1e3, (t_stats - t_scan) * 1e3,
		(t_end - t_stats) * 1e3, s->nr_upfn, s->nr_recs);
}

int cmd_tree(const struct cli_args *a)
{
	bool json = cli_flag(a, "json"), with_vmas = cli_flag(a, "vmas");
	struct scan s;
	struct tree_stats t;
	struct prediction pr, *prp = NULL;
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
	if (json) {
		if (json_print(tree_json(&s, &t, prp, with_vmas)))
			ret = 2;
	} else {
		tree_table(&s, &t, prp);
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
