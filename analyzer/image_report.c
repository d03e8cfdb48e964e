/* Rendering of the image report: table or JSON, both from the field tables
 * below (JSON key, table column, where the number is). */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "image_report.h"
#include "util.h"

#define NO_TOTAL ((size_t)-1)

enum {
	F_U32 = 1 << 0,		   /* a uint32_t, not a uint64_t */
	F_PAGES_AS_BYTES = 1 << 1, /* pages, shown x page size */
	F_SIZE = 1 << 2,	   /* shown as a size in the table ("8.2 KiB") */
};

/* A number of one process: where it is in struct image_proc, how it is
 * shown; in the table, its column (header, width) and the matching total
 * of struct image_report, if any. */
struct proc_field {
	const char *json;
	size_t at;
	unsigned int flags;
	const char *column;
	int width;
	size_t total_at;
};

#define PROC(j, f, fl, col, w, tot)                                                                \
	{                                                                                          \
		j, offsetof(struct image_proc, f), fl, col, w, tot                                 \
	}
#define TOTAL_OF(f) offsetof(struct image_report, total.f)

/* In JSON order (analyzer/README.md, contracts.md fields first). */
static const struct proc_field proc_fields[] = {
    PROC("pid", pid, F_U32, "PID", 8, NO_TOTAL),
    PROC("ppid", ppid, F_U32, "PPID", 8, NO_TOTAL),
    PROC("pages_written", pm.present, 0, "WRITTEN", 10, TOTAL_OF(present)),
    PROC("pages_cow_marked", pm.cow, 0, "COW", 10, TOTAL_OF(cow)),
    PROC("pages_ref_marked", pm.ref, 0, "REF", 10, TOTAL_OF(ref)),
    PROC("pages_in_parent", pm.parent, 0, "PARENT", 10, TOTAL_OF(parent)),
    PROC("pages_lazy", pm.lazy, 0, "LAZY", 10, TOTAL_OF(lazy)),
    PROC("pages_zero", pages_zero, 0, "ZERO", 10, NO_TOTAL),
    PROC("image_bytes", image_bytes, F_SIZE, "IMAGE", 11, NO_TOTAL),
    PROC("pages_referenced", pm.referenced, 0, "REFERENCED", 10, TOTAL_OF(referenced)),
    PROC("written_bytes", pm.present, F_PAGES_AS_BYTES, NULL, 0, NO_TOTAL),
    PROC("pagemap_entries", pm.entries, 0, "ENTRIES", 7, TOTAL_OF(entries)),
    PROC("pages_id", pages_id, F_U32, NULL, 0, NO_TOTAL),
    PROC("threads", nr_threads, F_U32, NULL, 0, NO_TOTAL),
    PROC("vmas", mm.nr_vmas, 0, "VMAS", 5, NO_TOTAL),
    PROC("vma_bytes", mm.vma_bytes, 0, NULL, 0, NO_TOTAL),
};

/* The table's columns, left to right, by JSON key. */
static const char *const table_columns[] = {
    "pid",
    "ppid",
    "vmas",
    "pagemap_entries",
    "pages_referenced",
    "pages_written",
    "pages_cow_marked",
    "pages_ref_marked",
    "pages_in_parent",
    "pages_lazy",
    "pages_zero",
    "image_bytes",
};

/* A total: a uint64_t of struct image_report, pages shown as bytes when
 * times_page_size. */
struct total_field {
	const char *json;
	size_t at;
	bool times_page_size;
};

#define TOTAL(j, f, tps)                                                                           \
	{                                                                                          \
		j, offsetof(struct image_report, f), tps                                           \
	}

static const struct total_field total_fields[] = {
    TOTAL("pages_img_bytes", pages_img_bytes, false),
    TOTAL("pages_written", total.present, false),
    TOTAL("pages_cow_marked", total.cow, false),
    TOTAL("pages_ref_marked", total.ref, false),
    TOTAL("pages_in_parent", total.parent, false),
    TOTAL("content_unique_pages", content.unique, false),
    TOTAL("content_duplicate_pages", content.duplicate, false),
    TOTAL("perfect_dedup_saved_bytes", content.duplicate, true),
    TOTAL("cow_dedup_saved_bytes", pages_marked, true),
    TOTAL("pages_lazy", total.lazy, false),
    TOTAL("pages_referenced", total.referenced, false),
    TOTAL("pages_img_files", pages_files, false),
    TOTAL("content_pages", content.pages, false),
    TOTAL("content_zero_pages", content.zero, false),
};

#define NR(table) (sizeof(table) / sizeof(table[0]))

static uint64_t u64_at(const void *base, size_t at)
{
	uint64_t v;

	memcpy(&v, (const char *)base + at, sizeof(v));
	return v;
}

static uint64_t proc_value(const struct proc_field *f, const struct image_proc *p,
			   uint64_t page_size)
{
	uint64_t v;

	if (f->flags & F_U32) {
		uint32_t v32;

		memcpy(&v32, (const char *)p + f->at, sizeof(v32));
		v = v32;
	} else {
		v = u64_at(p, f->at);
	}
	return f->flags & F_PAGES_AS_BYTES ? v * page_size : v;
}

static const struct proc_field *proc_field(const char *json)
{
	size_t i;

	for (i = 0; i < NR(proc_fields); i++)
		if (!strcmp(proc_fields[i].json, json))
			return &proc_fields[i];
	return NULL; /* not reached: table_columns names proc_fields */
}

int image_report_print_json(const struct image_report *r)
{
	json_t *doc = json_object(), *procs = json_array(), *t = json_object();
	size_t i, f;

	json_object_set_new(doc, "dir", json_string(r->dir));
	json_object_set_new(doc, "page_size", json_integer((json_int_t)r->page_size));
	for (i = 0; i < r->nr_procs; i++) {
		json_t *o = json_object();

		for (f = 0; f < NR(proc_fields); f++)
			json_object_set_new(o, proc_fields[f].json,
					    json_integer((json_int_t)proc_value(
						&proc_fields[f], &r->procs[i], r->page_size)));
		json_array_append_new(procs, o);
	}
	json_object_set_new(doc, "procs", procs);
	for (f = 0; f < NR(total_fields); f++)
		json_object_set_new(
		    t, total_fields[f].json,
		    json_integer(
			(json_int_t)(u64_at(r, total_fields[f].at) *
				     (total_fields[f].times_page_size ? r->page_size : 1))));
	json_object_set_new(doc, "totals", t);
	return json_print(doc);
}

/* Append one cell of column f to line (at: its length so far). */
static void add_cell(char *line, size_t len, size_t *at, const struct proc_field *f,
		     const char *text)
{
	if (*at < len)
		*at += (size_t)snprintf(line + *at, len - *at, "%s%*s", *at ? " " : "", f->width,
					text);
}

/* One row of the table: a process (p), or the totals (p NULL), without
 * trailing blanks. */
static void print_row(const struct image_report *r, const struct image_proc *p)
{
	char line[256], num[32];
	size_t at = 0, k;

	for (k = 0; k < NR(table_columns); k++) {
		const struct proc_field *f = proc_field(table_columns[k]);
		uint64_t v = p ? proc_value(f, p, r->page_size) : 0;
		const char *text = num;

		if (!p && k == 0)
			text = "total";
		else if (!p && f->total_at == NO_TOTAL)
			text = "";
		else if (!p)
			v = u64_at(r, f->total_at);
		if (text == num && f->flags & F_SIZE)
			text = fmt_bytes(v);
		else if (text == num)
			snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
		add_cell(line, sizeof(line), &at, f, text);
	}
	while (at > 0 && line[at - 1] == ' ')
		at--;
	printf("%.*s\n", (int)at, line);
}

int image_report_print_table(const struct image_report *r)
{
	const struct content_stats *c = &r->content;
	char line[256];
	size_t i, k, at = 0;

	printf("CRIU image %s (page size %llu)\n\n", r->dir, (unsigned long long)r->page_size);
	for (k = 0; k < NR(table_columns); k++) {
		const struct proc_field *f = proc_field(table_columns[k]);

		add_cell(line, sizeof(line), &at, f, f->column);
	}
	printf("%s\n", line);
	for (i = 0; i < r->nr_procs; i++)
		print_row(r, &r->procs[i]);
	print_row(r, NULL);
	printf("\n");
	printf("pages-*.img:            %llu files, %s (%llu pages)\n",
	       (unsigned long long)r->pages_files, fmt_bytes(r->pages_img_bytes),
	       (unsigned long long)c->pages);
	printf("page content:           %llu unique, %llu duplicate, %llu all-zero\n",
	       (unsigned long long)c->unique, (unsigned long long)c->duplicate,
	       (unsigned long long)c->zero);
	printf("perfect dedup would save: %s (%llu duplicate pages)\n",
	       fmt_bytes(c->duplicate * r->page_size), (unsigned long long)c->duplicate);
	printf("cow dedup saved:        %s (%llu pages marked as the parent's, %llu as another "
	       "process's)\n",
	       fmt_bytes(r->pages_marked * r->page_size), (unsigned long long)r->total.cow,
	       (unsigned long long)r->total.ref);
	if (fflush(stdout) || ferror(stdout)) {
		err_errno("writing to stdout");
		return -1;
	}
	return 0;
}
