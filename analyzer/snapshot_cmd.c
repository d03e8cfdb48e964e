/* cowscan snapshot PID -o FILE: what a tree holds, to compare after a
 * dump and restore (compare_cmd.c). Processes are recorded in tree
 * pre-order; compare matches them by that position. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "memread.h"
#include "scan.h"
#include "snapshot.h"
#include "tree_stats.h"
#include "util.h"

static json_t *rseq_json(const struct rseq_area *r, int nr)
{
	json_t *arr = json_array();
	int i;

	for (i = 0; i < nr; i++) {
		char a[24];

		snprintf(a, sizeof(a), "0x%lx", r[i].addr);
		json_array_append_new(arr, json_pack("{s:i,s:s,s:i}", "tid", r[i].tid, "addr", a,
						     "len", (int)r[i].len));
	}
	return arr;
}

static json_t *or_null(bool ok, unsigned long long v)
{
	return ok ? json_integer((json_int_t)v) : json_null();
}

/* Process i's entry: rseq areas, region hashes, PSS and USS. NULL with
 * errno set when it failed (ESRCH/ENOENT: the process exited). */
static json_t *proc_entry(const struct scan *s, const struct tree_stats *t, int i)
{
	const struct proc_id *id = &s->tree.procs[i];
	bool ok = s->pfn_available;
	struct rseq_area *rseq = NULL;
	json_t *p, *vmas;
	int nr = rseq_areas_read(id->pid, &rseq), e;

	if (nr < 0)
		return NULL;
	vmas = snapshot_vmas(id->pid, &s->ps[i].vmas, rseq, nr);
	if (!vmas) {
		e = errno;
		free(rseq);
		errno = e;
		return NULL;
	}
	p = json_pack("{s:i,s:i,s:i,s:i,s:s}", "index", id->index, "pid", id->pid, "ppid", id->ppid,
		      "depth", id->depth, "comm", id->comm);
	json_object_set_new(p, "pss_bytes", or_null(ok, t->p[i].pss_fp >> PSS_SHIFT));
	json_object_set_new(p, "uss_bytes", or_null(ok, t->p[i].uss));
	json_object_set_new(p, "rseq_masked", rseq_json(rseq, nr));
	json_object_set_new(p, "vmas", vmas);
	free(rseq);
	return p;
}

static json_t *snapshot_doc(const struct scan *s, const struct tree_stats *t)
{
	bool ok = s->pfn_available;
	json_t *doc = json_object(), *procs = json_array(), *p;
	int i;

	json_object_set_new(doc, "tool", json_string("cowscan"));
	json_object_set_new(doc, "kind", json_string("snapshot"));
	json_object_set_new(doc, "root", json_integer(s->tree.procs[0].pid));
	json_object_set_new(doc, "page_size", json_integer((json_int_t)s->page_size));
	json_object_set_new(doc, "pfn_available", json_boolean(ok));
	json_object_set_new(doc, "rseq_masking", json_string("ptrace-get-rseq-configuration"));
	json_object_set_new(doc, "content_hash", json_string(MEM_CONTENT_HASH));
	json_object_set_new(doc, "pss_bytes", or_null(ok, t->pss_fp >> PSS_SHIFT));
	json_object_set_new(doc, "unique_bytes", or_null(ok, t->unique_pfn));
	for (i = 0; i < s->tree.nr; i++) {
		if (s->ps[i].gone)
			continue;
		if ((p = proc_entry(s, t, i))) {
			json_array_append_new(procs, p);
		} else if (errno_means_gone(errno)) {
			warn_line("process %d exited during the snapshot; skipped",
				  s->tree.procs[i].pid);
		} else {
			json_decref(doc);
			json_decref(procs);
			return NULL;
		}
	}
	json_object_set_new(doc, "procs", procs);
	return doc;
}

int cmd_snapshot(const struct cli_args *a)
{
	const char *out = cli_value(a, "output");
	struct scan s;
	struct tree_stats t;
	json_t *doc;
	int pid, ret = 0;

	pid = parse_pid(a->pos[0]);
	if (pid < 0)
		return 2;
	if (scan_tree(pid, &s)) {
		scan_free(&s);
		return 2;
	}
	if (!s.pfn_available)
		warn_line("PSS and unique bytes unavailable: %s", s.pfn_why);
	if (tree_stats_compute(&s, &t)) {
		err_line("out of memory");
		scan_free(&s);
		return 2;
	}
	doc = snapshot_doc(&s, &t);
	if (!doc) {
		ret = 2;
	} else if (json_dump_file(doc, out, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) {
		err_errno("%s: cannot write the snapshot", out);
		ret = 2;
	}
	json_decref(doc);
	tree_stats_free(&t);
	scan_free(&s);
	return ret;
}
