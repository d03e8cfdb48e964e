/* The output of `cowscan tree`: JSON and the human table. Every figure is
 * one row of a table below (JSON key, table label, where its value lives),
 * so the two renderings and the figure list cannot drift apart. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "tree_output.h"
#include "util.h"

/* Where a figure's value lives. */
enum figure_src {
	OF_PROC_STATS,	    /* struct proc_stats of the process */
	OF_PROC_SMAPS,	    /* struct smaps_totals of the process */
	OF_PROC_PREDICTION, /* struct proc_prediction of the process */
	OF_TREE_STATS,	    /* struct tree_stats */
	OF_TREE_SMAPS,	    /* struct smaps_totals summed over the tree */
	OF_TREE_PREDICTION, /* struct prediction */
	NR_FIGURE_SRCS
};

enum {
	FIG_PFN = 1 << 0,	  /* PFN-derived: null (n/a) without PFNs */
	FIG_FIXED_POINT = 1 << 1, /* PSS in 1 / (1 << PSS_SHIFT) byte units */
};

struct figure {
	const char *json;  /* JSON key; NULL: table only */
	const char *label; /* table column or label; NULL: JSON only */
	enum figure_src src;
	size_t at; /* offset of its unsigned long long in src */
	unsigned int flags;
};

#define FIG(src, type, j, l, f, fl)                                                                \
	{                                                                                          \
		j, l, src, offsetof(struct type, f), fl                                            \
	}
#define PROC(j, l, f, fl)   FIG(OF_PROC_STATS, proc_stats, j, l, f, fl)
#define SMAPS(j, l, f, fl)  FIG(OF_PROC_SMAPS, smaps_totals, j, l, f, fl)
#define PRED(j, l, f, fl)   FIG(OF_PROC_PREDICTION, proc_prediction, j, l, f, fl)
#define TREE(j, l, f, fl)   FIG(OF_TREE_STATS, tree_stats, j, l, f, fl)
#define TSMAPS(j, l, f, fl) FIG(OF_TREE_SMAPS, smaps_totals, j, l, f, fl)
#define TPRED(j, l, f, fl)  FIG(OF_TREE_PREDICTION, prediction, j, l, f, fl)

static const struct figure proc_figures[] = {
    PROC("rss_bytes", "RSS", rss, FIG_PFN),
    PROC("pss_bytes", "PSS", pss_fp, FIG_PFN | FIG_FIXED_POINT),
    PROC("pss_anon_bytes", NULL, pss_anon_fp, FIG_PFN | FIG_FIXED_POINT),
    PROC("uss_bytes", "USS", uss, FIG_PFN),
    SMAPS("smaps_rss_bytes", "SMAPS_RSS", rss, 0),
    SMAPS("smaps_pss_bytes", "SMAPS_PSS", pss, 0),
    PROC("anon_bytes", NULL, anon, FIG_PFN),
    PROC("swap_bytes", NULL, swap, 0),
    PROC("thp_bytes", NULL, thp, FIG_PFN),
    PROC("zero_page_bytes", NULL, zero, FIG_PFN),
    PROC("ksm_bytes", NULL, ksm, FIG_PFN),
    PROC("unique_pfn_bytes", NULL, unique, FIG_PFN),
    PRED("baseline_image_bytes", NULL, baseline_image, FIG_PFN),
    PRED("baseline_restore_private_bytes", NULL, restored_private, FIG_PFN),
    PRED("vmas_inherited_on_restore", NULL, inherited_vmas, FIG_PFN),
    PRED("vmas_not_inherited_on_restore", NULL, vmas_not_inherited, FIG_PFN),
    PROC(NULL, "ATTRIB", attributed, FIG_PFN), /* JSON: cow_attribution */
};

static const struct figure total_figures[] = {
    TREE("rss_bytes", "RSS", rss, FIG_PFN),
    TREE("pss_bytes", "PSS", pss_fp, FIG_PFN | FIG_FIXED_POINT),
    TREE("pss_anon_bytes", NULL, pss_anon_fp, FIG_PFN | FIG_FIXED_POINT),
    TREE("uss_bytes", "USS", uss, FIG_PFN),
    TREE("unique_pfn_bytes", "unique PFNs", unique_pfn, FIG_PFN),
    TREE("private_anon_bytes", "private anon", private_anon, FIG_PFN),
    TREE("shared_bytes", "shared", shared, FIG_PFN),
    TREE("zero_page_bytes", "zero page", zero, FIG_PFN),
    TREE("thp_bytes", "THP", thp, FIG_PFN),
    TREE("swap_bytes", "swap", swap, 0),
    TREE("ksm_bytes", NULL, ksm, FIG_PFN),
    TSMAPS("smaps_rss_bytes", NULL, rss, 0),
    TSMAPS("smaps_pss_bytes", NULL, pss, 0),
};

static const struct figure predict_figures[] = {
    TPRED("ideal_image_bytes", "ideal image", ideal_image, FIG_PFN),
    TPRED("baseline_image_bytes", "CRIU 4.2.1 image", baseline_image, FIG_PFN),
    TPRED("baseline_restore_pss_bytes", "PSS after its restore", restore_pss, FIG_PFN),
};

#define NR(table) (sizeof(table) / sizeof(table[0]))

/* Where each source is for one process (i >= 0) or the tree (i < 0). */
struct figure_ctx {
	const void *base[NR_FIGURE_SRCS];
	bool pfn_ok;
};

static void ctx_for(struct figure_ctx *c, const struct tree_view *v, int i,
		    const struct smaps_totals *tree_smaps)
{
	c->pfn_ok = v->s->pfn_available;
	if (i >= 0) {
		c->base[OF_PROC_STATS] = &v->t->p[i];
		c->base[OF_PROC_SMAPS] = &v->s->ps[i].rollup;
		c->base[OF_PROC_PREDICTION] = v->pr ? &v->pr->p[i] : NULL;
	}
	c->base[OF_TREE_STATS] = v->t;
	c->base[OF_TREE_SMAPS] = tree_smaps;
	c->base[OF_TREE_PREDICTION] = v->pr;
}

/* A figure's bytes (0 when its source is absent: no predictions). */
static unsigned long long figure_value(const struct figure *f, const struct figure_ctx *c)
{
	const char *base = c->base[f->src];
	unsigned long long v = base ? *(const unsigned long long *)(base + f->at) : 0;

	return f->flags & FIG_FIXED_POINT ? v >> PSS_SHIFT : v;
}

static bool figure_known(const struct figure *f, const struct figure_ctx *c)
{
	return c->pfn_ok || !(f->flags & FIG_PFN);
}

static void figures_json(json_t *o, const struct figure *fs, size_t n, const struct figure_ctx *c)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (fs[k].json)
			json_object_set_new(o, fs[k].json,
					    figure_known(&fs[k], c)
						? json_integer((json_int_t)figure_value(&fs[k], c))
						: json_null());
}

static const char *figure_text(const struct figure *f, const struct figure_ctx *c)
{
	return figure_known(f, c) ? fmt_bytes(figure_value(f, c)) : "n/a";
}

static void tree_smaps_sum(const struct scan *s, struct smaps_totals *sum)
{
	int i;

	*sum = (struct smaps_totals){0};
	for (i = 0; i < s->tree.nr; i++)
		if (!s->ps[i].gone) {
			sum->rss += s->ps[i].rollup.rss;
			sum->pss += s->ps[i].rollup.pss;
		}
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

/* The pair matrix and COW attribution, or null without PFNs. */
static void sharing_json(json_t *doc, const struct tree_view *v)
{
	const struct scan *s = v->s;
	json_t *pids, *rows, *attr;
	int i, j, n = s->tree.nr;

	if (!s->pfn_available) {
		json_object_set_new(doc, "shared_matrix", json_null());
		json_object_set_new(doc, "cow_attribution", json_null());
		return;
	}
	pids = json_array();
	rows = json_array();
	attr = json_array();
	for (i = 0; i < n; i++) {
		json_t *row = json_array();

		if (s->ps[i].gone) {
			json_decref(row);
			continue;
		}
		json_array_append_new(pids, json_integer(s->tree.procs[i].pid));
		for (j = 0; j < n; j++)
			if (!s->ps[j].gone)
				json_array_append_new(
				    row, json_integer((json_int_t)v->t->matrix[i * n + j]));
		json_array_append_new(rows, row);
		json_array_append_new(attr, json_pack("{s:i,s:I}", "pid", s->tree.procs[i].pid,
						      "attributed_bytes",
						      (json_int_t)v->t->p[i].attributed));
	}
	json_object_set_new(doc, "shared_matrix",
			    json_pack("{s:o,s:o}", "pids", pids, "bytes", rows));
	json_object_set_new(doc, "cow_attribution", attr);
}

json_t *tree_json(const struct tree_view *v, bool with_vmas)
{
	const struct scan *s = v->s;
	json_t *doc = json_object(), *procs = json_array(), *totals, *pred;
	struct smaps_totals sum;
	struct figure_ctx c = {0};
	int i;

	tree_smaps_sum(s, &sum);
	json_object_set_new(doc, "root", json_integer(s->tree.procs[0].pid));
	json_object_set_new(doc, "page_size", json_integer((json_int_t)s->page_size));
	json_object_set_new(doc, "pfn_available", json_boolean(s->pfn_available));
	if (!s->pfn_available)
		json_object_set_new(doc, "pfn_unavailable_reason", json_string(s->pfn_why));
	for (i = 0; i < s->tree.nr; i++) {
		const struct proc_id *id = &s->tree.procs[i];
		json_t *p;

		if (s->ps[i].gone)
			continue;
		p = json_pack("{s:i,s:i,s:i,s:i,s:s}", "pid", id->pid, "ppid", id->ppid, "depth",
			      id->depth, "index", id->index, "comm", id->comm);
		ctx_for(&c, v, i, &sum);
		figures_json(p, proc_figures, NR(proc_figures), &c);
		if (with_vmas)
			json_object_set_new(p, "vmas", vmas_json(&s->ps[i]));
		json_array_append_new(procs, p);
	}
	json_object_set_new(doc, "procs", procs);
	ctx_for(&c, v, -1, &sum);
	totals = json_object();
	figures_json(totals, total_figures, NR(total_figures), &c);
	json_object_set_new(doc, "totals", totals);
	sharing_json(doc, v);
	pred = json_object();
	figures_json(pred, predict_figures, NR(predict_figures), &c);
	json_object_set_new(pred, "baseline_restore_inflation",
			    c.pfn_ok && v->pr ? json_real(v->pr->restore_inflation) : json_null());
	json_object_set_new(doc, "predict", pred);
	return doc;
}

/* "label value  label value ...", five to a line, continued indented. */
static void labelled_line(const char *head, const struct figure *fs, size_t n,
			  const struct figure_ctx *c)
{
	size_t k, shown = 0;

	printf("%s", head);
	for (k = 0; k < n; k++) {
		if (!fs[k].label)
			continue;
		if (shown && shown % 5 == 0)
			printf("\n%*s", (int)strlen(head), "");
		printf("%s%s %s", shown % 5 ? "  " : "", fs[k].label, figure_text(&fs[k], c));
		shown++;
	}
}

void tree_table(const struct tree_view *v)
{
	const struct scan *s = v->s;
	struct smaps_totals sum;
	struct figure_ctx c = {0};
	size_t k;
	int i;

	tree_smaps_sum(s, &sum);
	printf("%-8s %-8s %5s %-15s", "PID", "PPID", "DEPTH", "COMM");
	for (k = 0; k < NR(proc_figures); k++)
		if (proc_figures[k].label)
			printf(" %11s", proc_figures[k].label);
	printf("\n");
	for (i = 0; i < s->tree.nr; i++) {
		const struct proc_id *id = &s->tree.procs[i];

		if (s->ps[i].gone)
			continue;
		ctx_for(&c, v, i, &sum);
		printf("%-8d %-8d %5d %-15s", id->pid, id->ppid, id->depth, id->comm);
		for (k = 0; k < NR(proc_figures); k++)
			if (proc_figures[k].label)
				printf(" %11s", figure_text(&proc_figures[k], &c));
		printf("\n");
	}
	if (!s->pfn_available)
		printf("PFN-based figures unavailable: %s\n", s->pfn_why);
	ctx_for(&c, v, -1, &sum);
	printf("\n");
	labelled_line("totals: ", total_figures, NR(total_figures), &c);
	printf("\n");
	if (s->pfn_available && v->pr) {
		labelled_line("predict: ", predict_figures, NR(predict_figures), &c);
		printf(" (x%.2f)\n", v->pr->restore_inflation);
	}
}
