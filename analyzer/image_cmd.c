/*
 * cowscan image DIR: what a CRIU dump holds, per process and in total.
 *
 * Reads pstree.img for the processes, then for each mm-PID.img (VMAs) and
 * pagemap-PID.img (which pages were dumped and where their content went),
 * checks every pagemap against the pages-ID.img it points to, and indexes
 * the content of every written page to find duplicates across the image.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_cmd.h"
#include "image_decode.h"
#include "image_file.h"
#include "image_pages.h"
#include "image_report.h"
#include "util.h"

static uint64_t file_size(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) ? 0 : (uint64_t)st.st_size;
}

/* Decode mm-PID.img and pagemap-PID.img of P and tie the pagemap to its
 * pages file. */
static int read_proc(const char *dir, struct pages_set *pages, struct image_proc *p)
{
	char name[64];
	struct img_file f;
	struct pagemap pm;
	struct pages_file *pf;
	int ret = -1;

	snprintf(name, sizeof(name), "mm-%u.img", p->pid);
	if (img_file_load(&f, dir, name))
		return -1;
	ret = mm_decode(&f, &p->mm);
	img_file_release(&f);
	if (ret)
		return -1;
	p->image_bytes += file_size(dir, name);

	ret = -1;
	snprintf(name, sizeof(name), "pagemap-%u.img", p->pid);
	if (img_file_load(&f, dir, name))
		return -1;
	if (pagemap_decode(&f, pages->page_size, &pm))
		goto out_file;
	pagemap_count(&pm, &p->pm);
	p->pages_id = pm.pages_id;
	p->image_bytes += f.size;

	pf = pages_set_find(pages, pm.pages_id);
	if (!pf) {
		if (p->pm.present) {
			err_line("%s/pages-%u.img: missing from the image directory (%s has %llu "
				 "pages in it)",
				 dir, pm.pages_id, f.path, (unsigned long long)p->pm.present);
			goto out_pm;
		}
	} else {
		if (pf->user_pid) {
			err_line("%s: read by both pagemap-%u.img and %s", pf->path, pf->user_pid,
				 f.path);
			goto out_pm;
		}
		pf->user_pid = p->pid;
		if (pagemap_check_pages(&f, &pm, pf->path, pf->nr_pages))
			goto out_pm;
		p->image_bytes += pf->size;
	}
	ret = 0;
out_pm:
	pagemap_free(&pm);
out_file:
	img_file_release(&f);
	return ret;
}

static int scan_image(const char *dir, struct image_report *r)
{
	struct pages_set pages;
	struct pstree tree;
	struct img_file f;
	int ret = -1;

	if (img_file_load(&f, dir, "pstree.img"))
		return -1;
	ret = pstree_decode(&f, &tree);
	img_file_release(&f);
	if (ret)
		return -1;
	ret = -1;
	if (pages_set_open(dir, r->page_size, &pages))
		goto out_tree;
	r->procs = calloc(tree.nr, sizeof(*r->procs));
	if (!r->procs) {
		err_line("out of memory for %zu processes", tree.nr);
		goto out_pages;
	}
	r->nr_procs = tree.nr;
	for (size_t i = 0; i < tree.nr; i++) {
		struct image_proc *p = &r->procs[i];

		p->pid = tree.procs[i].pid;
		p->ppid = tree.procs[i].ppid;
		p->nr_threads = tree.procs[i].nr_threads;
		if (read_proc(dir, &pages, p))
			goto out_pages;
		pagemap_counts_add(&r->total, &p->pm);
	}
	r->pages_marked = r->total.cow + r->total.ref;
	if (pages_content_index(&pages, &r->content))
		goto out_pages;
	for (size_t i = 0; i < pages.nr; i++)
		r->pages_img_bytes += pages.files[i].size;
	r->pages_files = pages.nr;
	for (size_t i = 0; i < r->nr_procs; i++) {
		struct pages_file *pf = pages_set_find(&pages, r->procs[i].pages_id);

		r->procs[i].pages_zero = pf ? pf->zero_pages : 0;
	}
	ret = 0;
out_pages:
	pages_set_close(&pages);
out_tree:
	pstree_free(&tree);
	return ret;
}

int cmd_image(const struct cli_args *a)
{
	struct image_report r = {0};
	bool json = cli_flag(a, "json");
	long ps;
	int ret;

	/* CRIU images count pages of the dumping machine; dumps are read
	 * where they were made. */
	ps = sysconf(_SC_PAGESIZE);
	r.dir = a->pos[0];
	r.page_size = ps > 0 ? (uint64_t)ps : 4096;

	ret = scan_image(r.dir, &r);
	if (!ret)
		ret = json ? image_report_print_json(&r) : image_report_print_table(&r);
	free(r.procs);
	/* 2 for every error, as the other subcommands (1 is compare's "differs"). */
	return ret ? 2 : 0;
}
