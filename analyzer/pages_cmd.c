/* cowscan pages: the tests' oracle of page frames. Which pages of a range
 * (or of every private VMA) are present, on which frame, of what kind; how
 * many distinct frames, and anonymous ones, a set of processes maps; the
 * content hash of a range. Read from pagemap and kpageflags (scan.c's
 * readers) and, for the hash, memread.c: nothing here populates a page. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "memread.h"
#include "pagemap_read.h"
#include "scan.h"
#include "util.h"

/* What `pages` counts, per target and summed. */
struct page_counts {
	unsigned long long pages, present, swapped, file, zero_page, thp, anon, same_frame;
};

/* Every output field, in order: JSON name, table column, where it is, and
 * whether it exists only for ranges (--len). */
static const struct count_field {
	const char *name, *column;
	size_t at;
	bool ranges_only;
} count_fields[] = {
#define FIELD(n, col, f, r)                                                                        \
	{                                                                                          \
		n, col, offsetof(struct page_counts, f), r                                         \
	}
    FIELD("pages", "PAGES", pages, false),
    FIELD("present", "PRESENT", present, false),
    FIELD("swapped", "SWAPPED", swapped, false),
    FIELD("file", "FILE", file, false),
    FIELD("zero_page", "ZERO", zero_page, false),
    FIELD("thp", "THP", thp, false),
    FIELD("anon", "ANON", anon, false),
    FIELD("same_frame_as_first", "SAME_AS_1ST", same_frame, true),
#undef FIELD
};
#define NR_COUNT_FIELDS (sizeof(count_fields) / sizeof(count_fields[0]))

static unsigned long long *count_at(struct page_counts *c, size_t f)
{
	return (unsigned long long *)((char *)c + count_fields[f].at);
}

struct target {
	unsigned long start, end; /* the range, with --len */
	struct page_counts c;
	char hash[24]; /* with --hash */
};

struct pages_run {
	bool ranges, hash;
	unsigned long len;
	struct scan s; /* one "process" per target; scan.h's readers fill it */
	struct target *t;
};

/* "PID@ADDR" (ADDR decimal or 0x hex, page-aligned). */
static int parse_range(struct pages_run *r, const char *arg, int i)
{
	char pid_part[24], *end;
	const char *at = strchr(arg, '@');
	unsigned long long addr;

	if (!at || (size_t)(at - arg) >= sizeof(pid_part)) {
		err_line("pages: '%s' is not PID@ADDR (--len takes ranges)", arg);
		return -1;
	}
	memcpy(pid_part, arg, (size_t)(at - arg));
	pid_part[at - arg] = '\0';
	r->s.tree.procs[i].pid = parse_pid(pid_part);
	errno = 0;
	addr = strtoull(at + 1, &end, 0);
	if (r->s.tree.procs[i].pid < 0 || errno || end == at + 1 || *end || addr % r->s.page_size ||
	    addr + r->len < addr) {
		if (r->s.tree.procs[i].pid >= 0)
			err_line("pages: '%s': not a page-aligned address", at + 1);
		return -1;
	}
	r->t[i].start = (unsigned long)addr;
	r->t[i].end = (unsigned long)addr + r->len;
	return 0;
}

/* The targets: ranges, processes, or every process of each tree. */
static int list_targets(struct pages_run *r, const struct cli_args *a, bool trees)
{
	int i, j, n = a->nr_pos;

	if (trees) {
		for (n = 0, i = 0; i < a->nr_pos; i++) {
			struct proc_tree t;
			struct proc_id *np;
			int pid = parse_pid(a->pos[i]);

			if (pid < 0 || proc_tree_discover(pid, &t))
				return -1;
			np = realloc(r->s.tree.procs, (size_t)(n + t.nr) * sizeof(*np));
			if (!np) {
				proc_tree_free(&t);
				goto oom;
			}
			r->s.tree.procs = np;
			for (j = 0; j < t.nr; j++)
				np[n + j] = t.procs[j];
			n += t.nr;
			proc_tree_free(&t);
		}
	} else if (!(r->s.tree.procs = calloc((size_t)n, sizeof(struct proc_id)))) {
		goto oom;
	}
	r->s.tree.nr = n;
	r->s.ps = calloc((size_t)n, sizeof(*r->s.ps));
	r->t = calloc((size_t)n, sizeof(*r->t));
	if (!r->s.ps || !r->t)
		goto oom;
	for (i = 0; !trees && i < n; i++)
		if (r->ranges ? parse_range(r, a->pos[i], i)
			      : (r->s.tree.procs[i].pid = parse_pid(a->pos[i])) < 0)
			return -1;
	return 0;
oom:
	err_line("pages: out of memory listing the targets");
	return -1;
}

/* CRIU's private VMAs but the vDSO: what "unique anonymous bytes" covers. */
static bool vma_counted(const struct vma *v)
{
	return vma_is_criu_private(v) && !(v->flags & (VMA_VDSO | VMA_PFNMAP));
}

/* The VMAs and the present or swapped pages of target i. */
static int read_target(struct pages_run *r, int i, struct pagemap_reader *rd)
{
	struct proc_scan *ps = &r->s.ps[i];
	struct target *t = &r->t[i];
	pid_t pid = r->s.tree.procs[i].pid;
	struct page_sink out = {0};
	char path[64];
	int v, ret = 0;

	if (vmas_read(pid, &ps->vmas, &ps->rollup)) {
		if (errno_means_gone(errno))
			err_line("pages: process %d: no such process", pid);
		else
			err_errno("pages: /proc/%d/smaps", pid);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	rd->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (rd->fd < 0) {
		err_errno("pages: %s", path);
		return -1;
	}
	if (r->ranges) {
		t->c.pages = (t->end - t->start) / r->s.page_size;
		ret = pagemap_read_range(rd, t->start, t->end, -1, &out);
	}
	for (v = 0; !r->ranges && !ret && v < ps->vmas.nr; v++) {
		const struct vma *m = &ps->vmas.v[v];

		if (!vma_counted(m))
			continue;
		t->c.pages += (m->end - m->start) / r->s.page_size;
		ret = pagemap_read_vma(rd, m, v, m->start, m->end, ps, &out);
	}
	close(rd->fd);
	rd->fd = -1;
	page_sink_store(&out, ps);
	if (ret) {
		errno = ps->err = out.err;
		err_errno("pages: %s", path);
	}
	return ret;
}

/* Pages present here and at the same offset of the first target's range,
 * on the same frame (both lists are in address order). */
static unsigned long long same_frame_as_first(const struct pages_run *r, int i)
{
	const struct proc_scan *a = &r->s.ps[0], *b = &r->s.ps[i];
	unsigned long long same = 0;
	size_t ka = 0, kb;

	for (kb = 0; kb < b->nr_pages; kb++) {
		unsigned long off = b->pages[kb].vaddr - r->t[i].start;

		while (ka < a->nr_pages && a->pages[ka].vaddr - r->t[0].start < off)
			ka++;
		if (ka < a->nr_pages && a->pages[ka].vaddr - r->t[0].start == off &&
		    b->pages[kb].uidx != NO_PFN && a->pages[ka].uidx == b->pages[kb].uidx)
			same++;
	}
	return same;
}

/* Count every target's pages; mark the distinct frames in seen (1: any
 * frame but the zero page, 2: an anonymous one too). */
static void count(struct pages_run *r, unsigned char *seen)
{
	int i;
	size_t k;

	for (i = 0; i < r->s.tree.nr; i++) {
		const struct proc_scan *ps = &r->s.ps[i];
		struct page_counts *c = &r->t[i].c;

		for (k = 0; k < ps->nr_pages; k++) {
			const struct page_ent *pg = &ps->pages[k];
			uint64_t kf = page_kflags(&r->s, pg);
			bool file = pg->pme & PM_FILE, zero = kf & KPF_ZERO_PAGE;

			if (!(pg->pme & PM_PRESENT)) {
				c->swapped++;
				continue;
			}
			c->present++;
			c->file += file;
			c->zero_page += zero;
			c->thp += !!(kf & KPF_THP);
			c->anon += !file && !zero;
			if (!zero && seen[pg->uidx] < 2)
				seen[pg->uidx] = file ? 1 : 2;
		}
		if (r->ranges)
			c->same_frame = same_frame_as_first(r, i);
	}
}

/* The content hash of target i's range (memread.c: never populates). */
static int hash_target(struct pages_run *r, int i)
{
	const struct vma_list *l = &r->s.ps[i].vmas;
	struct target *t = &r->t[i];
	pid_t pid = r->s.tree.procs[i].pid;
	int first = vma_find(l, t->start, -1), last = first;
	struct mem_reader mr;
	const char *why;
	uint64_t h;

	while (last >= 0 && l->v[last].end < t->end && last + 1 < l->nr &&
	       l->v[last + 1].start == l->v[last].end)
		last++;
	if (first < 0 || l->v[last].end < t->end) {
		err_line("pages: process %d: 0x%lx-0x%lx is not all mapped, cannot hash it", pid,
			 t->start, t->end);
		return -1;
	}
	if (mem_reader_open(&mr, pid)) {
		err_errno("pages: /proc/%d/mem", pid);
		return -1;
	}
	why = mem_hash_range(&mr, &l->v[first], last - first + 1, t->start, t->end, NULL, 0, &h);
	if (why)
		err_line("pages: process %d: 0x%lx-0x%lx: %s", pid, t->start, t->end, why);
	else
		snprintf(t->hash, sizeof(t->hash), "%016" PRIx64, h);
	mem_reader_close(&mr);
	return why ? -1 : 0;
}

static json_t *counts_json(const struct pages_run *r, const struct page_counts *c, json_t *o)
{
	size_t f;

	for (f = 0; f < NR_COUNT_FIELDS; f++)
		if (r->ranges || !count_fields[f].ranges_only)
			json_object_set_new(
			    o, count_fields[f].name,
			    json_integer((json_int_t)*count_at((struct page_counts *)c, f)));
	return o;
}

static int print_json(const struct pages_run *r, const struct page_counts *total,
		      unsigned long long frames, unsigned long long anon_frames)
{
	json_t *doc = json_object(), *procs = json_array(), *tot;
	int i;

	json_object_set_new(doc, "page_size", json_integer((json_int_t)r->s.page_size));
	for (i = 0; i < r->s.tree.nr; i++) {
		const struct target *t = &r->t[i];
		json_t *p = json_pack("{s:i}", "pid", r->s.tree.procs[i].pid);
		char s[24], e[24];

		if (r->ranges) {
			snprintf(s, sizeof(s), "0x%lx", t->start);
			snprintf(e, sizeof(e), "0x%lx", t->end);
			json_object_set_new(p, "start", json_string(s));
			json_object_set_new(p, "end", json_string(e));
		}
		counts_json(r, &t->c, p);
		if (r->hash)
			json_object_set_new(p, "hash", json_string(t->hash));
		json_array_append_new(procs, p);
	}
	json_object_set_new(doc, "procs", procs);
	tot = counts_json(r, total, json_object());
	json_object_del(tot, "same_frame_as_first");
	json_object_set_new(tot, "unique_frames", json_integer((json_int_t)frames));
	json_object_set_new(tot, "unique_anon_frames", json_integer((json_int_t)anon_frames));
	json_object_set_new(tot, "unique_anon_bytes",
			    json_integer((json_int_t)(anon_frames * r->s.page_size)));
	json_object_set_new(doc, "totals", tot);
	return json_print(doc);
}

/* One table row: the counts, those that do not sum ("-") in the total. */
static void print_row(const struct pages_run *r, const char *pid, const char *range,
		      const struct page_counts *c, bool total, const char *hash)
{
	size_t f;

	printf("%-8s %-29s", pid, range);
	for (f = 0; f < NR_COUNT_FIELDS; f++) {
		if (!r->ranges && count_fields[f].ranges_only)
			continue;
		if (total && count_fields[f].ranges_only)
			printf(" %11s", "-");
		else
			printf(" %11llu", *count_at((struct page_counts *)c, f));
	}
	printf("%s%s\n", hash[0] ? "  " : "", hash);
}

static void print_table(const struct pages_run *r, const struct page_counts *total,
			unsigned long long frames, unsigned long long anon_frames)
{
	char pid[16], range[40] = "";
	size_t f;
	int i;

	printf("%-8s %-29s", "PID", r->ranges ? "RANGE" : "");
	for (f = 0; f < NR_COUNT_FIELDS; f++)
		if (r->ranges || !count_fields[f].ranges_only)
			printf(" %11s", count_fields[f].column);
	printf("%s\n", r->hash ? "  HASH" : "");
	for (i = 0; i < r->s.tree.nr; i++) {
		snprintf(pid, sizeof(pid), "%d", r->s.tree.procs[i].pid);
		if (r->ranges)
			snprintf(range, sizeof(range), "0x%lx-0x%lx", r->t[i].start, r->t[i].end);
		print_row(r, pid, range, &r->t[i].c, false, r->hash ? r->t[i].hash : "");
	}
	print_row(r, "total", "", total, true, "");
	printf("distinct frames %llu, anonymous %llu (%s)\n", frames, anon_frames,
	       fmt_bytes(anon_frames * r->s.page_size));
}

static int run_pages(struct pages_run *r, bool json)
{
	struct page_counts total = {0};
	unsigned long long frames = 0, anon_frames = 0;
	struct pagemap_reader rd;
	unsigned char *seen = NULL;
	size_t u, f;
	int i;

	if (pagemap_reader_init(&rd, r->s.page_size)) {
		err_line("pages: out of memory");
		return 2;
	}
	for (i = 0; i < r->s.tree.nr; i++)
		if (read_target(r, i, &rd) || (r->hash && hash_target(r, i))) {
			pagemap_reader_free(&rd);
			return 2;
		}
	pagemap_reader_free(&rd);
	if (scan_index_pfns(&r->s) || !(seen = calloc(r->s.nr_upfn + 1, 1))) {
		err_line("pages: out of memory indexing frames");
		return 2;
	}
	if (!r->s.pfn_available) {
		err_line("pages: %s", r->s.pfn_why);
		free(seen);
		return 2;
	}
	count(r, seen);
	for (u = 0; u < r->s.nr_upfn; u++) {
		frames += seen[u] > 0;
		anon_frames += seen[u] == 2;
	}
	free(seen);
	for (i = 0; i < r->s.tree.nr; i++)
		for (f = 0; f < NR_COUNT_FIELDS; f++)
			*count_at(&total, f) += *count_at(&r->t[i].c, f);
	if (json)
		return print_json(r, &total, frames, anon_frames) ? 2 : 0;
	print_table(r, &total, frames, anon_frames);
	return 0;
}

int cmd_pages(const struct cli_args *a)
{
	const char *len = cli_value(a, "len");
	bool trees = cli_flag(a, "tree");
	struct pages_run r = {.ranges = len != NULL, .hash = cli_flag(a, "hash")};
	int ret = 2;

	r.s.page_size = (unsigned long)sysconf(_SC_PAGESIZE);
	if (len) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(len, &end, 0);
		if (errno || end == len || *end || !v || v % r.s.page_size || *len == '-') {
			err_line("pages: --len %s: not a positive multiple of the page size", len);
			return 2;
		}
		r.len = (unsigned long)v;
	}
	if (len && trees) {
		err_line("pages: --len (ranges) and --tree (whole trees) exclude each other");
		return 2;
	}
	if (r.hash && !len) {
		err_line("pages: --hash hashes ranges: give --len and PID@ADDR");
		return 2;
	}
	if (!list_targets(&r, a, trees))
		ret = run_pages(&r, cli_flag(a, "json"));
	free(r.t);
	scan_free(&r.s);
	return ret;
}
