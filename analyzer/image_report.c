/* Rendering of the image report: table or JSON. */
#include <stdio.h>

#include "image_report.h"
#include "util.h"

static json_t *proc_json(const struct image_proc *p, uint64_t page_size)
{
	json_t *o = json_object();

	json_object_set_new(o, "pid", json_integer(p->pid));
	json_object_set_new(o, "ppid", json_integer(p->ppid));
	json_object_set_new(o, "pages_written", json_integer((json_int_t)p->pm.present));
	json_object_set_new(o, "pages_cow_marked", json_integer((json_int_t)p->pm.cow));
	json_object_set_new(o, "pages_ref_marked", json_integer((json_int_t)p->pm.ref));
	json_object_set_new(o, "pages_in_parent", json_integer((json_int_t)p->pm.parent));
	json_object_set_new(o, "pages_lazy", json_integer((json_int_t)p->pm.lazy));
	json_object_set_new(o, "pages_zero", json_integer((json_int_t)p->pages_zero));
	json_object_set_new(o, "image_bytes", json_integer((json_int_t)p->image_bytes));
	json_object_set_new(o, "pages_referenced", json_integer((json_int_t)p->pm.referenced));
	json_object_set_new(o, "written_bytes",
			    json_integer((json_int_t)(p->pm.present * page_size)));
	json_object_set_new(o, "pagemap_entries", json_integer((json_int_t)p->pm.entries));
	json_object_set_new(o, "pages_id", json_integer(p->pages_id));
	json_object_set_new(o, "threads", json_integer(p->nr_threads));
	json_object_set_new(o, "vmas", json_integer((json_int_t)p->mm.nr_vmas));
	json_object_set_new(o, "vma_bytes", json_integer((json_int_t)p->mm.vma_bytes));
	return o;
}

int image_report_print_json(const struct image_report *r)
{
	json_t *doc = json_object(), *procs = json_array(), *t = json_object();
	const struct content_stats *c = &r->content;

	json_object_set_new(doc, "dir", json_string(r->dir));
	json_object_set_new(doc, "page_size", json_integer((json_int_t)r->page_size));
	for (size_t i = 0; i < r->nr_procs; i++)
		json_array_append_new(procs, proc_json(&r->procs[i], r->page_size));
	json_object_set_new(doc, "procs", procs);

	json_object_set_new(t, "pages_img_bytes", json_integer((json_int_t)r->pages_img_bytes));
	json_object_set_new(t, "pages_written", json_integer((json_int_t)r->total.present));
	json_object_set_new(t, "pages_cow_marked", json_integer((json_int_t)r->total.cow));
	json_object_set_new(t, "pages_ref_marked", json_integer((json_int_t)r->total.ref));
	json_object_set_new(t, "pages_in_parent", json_integer((json_int_t)r->total.parent));
	json_object_set_new(t, "content_unique_pages", json_integer((json_int_t)c->unique));
	json_object_set_new(t, "content_duplicate_pages", json_integer((json_int_t)c->duplicate));
	json_object_set_new(t, "perfect_dedup_saved_bytes",
			    json_integer((json_int_t)(c->duplicate * r->page_size)));
	json_object_set_new(
	    t, "cow_dedup_saved_bytes",
	    json_integer((json_int_t)((r->total.cow + r->total.ref) * r->page_size)));
	json_object_set_new(t, "pages_lazy", json_integer((json_int_t)r->total.lazy));
	json_object_set_new(t, "pages_referenced", json_integer((json_int_t)r->total.referenced));
	json_object_set_new(t, "pages_img_files", json_integer((json_int_t)r->pages_files));
	json_object_set_new(t, "content_pages", json_integer((json_int_t)c->pages));
	json_object_set_new(t, "content_zero_pages", json_integer((json_int_t)c->zero));
	json_object_set_new(doc, "totals", t);
	return json_print(doc);
}

int image_report_print_table(const struct image_report *r)
{
	const struct content_stats *c = &r->content;
	const struct pagemap_counts *t = &r->total;

	printf("CRIU image %s (page size %llu)\n\n", r->dir, (unsigned long long)r->page_size);
	printf("%8s %8s %5s %7s %10s %10s %10s %10s %10s %10s %10s %11s\n", "PID", "PPID", "VMAS",
	       "ENTRIES", "REFERENCED", "WRITTEN", "COW", "REF", "PARENT", "LAZY", "ZERO", "IMAGE");
	for (size_t i = 0; i < r->nr_procs; i++) {
		const struct image_proc *p = &r->procs[i];

		printf(
		    "%8u %8u %5llu %7llu %10llu %10llu %10llu %10llu %10llu %10llu %10llu %11s\n",
		    p->pid, p->ppid, (unsigned long long)p->mm.nr_vmas,
		    (unsigned long long)p->pm.entries, (unsigned long long)p->pm.referenced,
		    (unsigned long long)p->pm.present, (unsigned long long)p->pm.cow,
		    (unsigned long long)p->pm.ref, (unsigned long long)p->pm.parent,
		    (unsigned long long)p->pm.lazy, (unsigned long long)p->pages_zero,
		    fmt_bytes(p->image_bytes));
	}
	printf("%8s %8s %5s %7llu %10llu %10llu %10llu %10llu %10llu %10llu %10s\n\n", "total", "",
	       "", (unsigned long long)t->entries, (unsigned long long)t->referenced,
	       (unsigned long long)t->present, (unsigned long long)t->cow,
	       (unsigned long long)t->ref, (unsigned long long)t->parent,
	       (unsigned long long)t->lazy, "");
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
	       fmt_bytes((t->cow + t->ref) * r->page_size), (unsigned long long)t->cow,
	       (unsigned long long)t->ref);
	if (fflush(stdout) || ferror(stdout)) {
		err_errno("writing to stdout");
		return -1;
	}
	return 0;
}
