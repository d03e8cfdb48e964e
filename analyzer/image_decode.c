/* Decoders for pstree.img, mm-PID.img and pagemap-PID.img. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "image_decode.h"
#include "util.h"

#include "mm.pb-c.h"
#include "pagemap.pb-c.h"
#include "pstree.pb-c.h"

/* Grow *ARR (of *CAP elements of SIZE bytes) to hold at least NEED. */
static int grow(void **arr, size_t *cap, size_t need, size_t size, const char *path)
{
	size_t ncap = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	p = reallocarray(*arr, ncap, size);
	if (!p) {
		err_line("%s: out of memory for %zu entries", path, ncap);
		return -1;
	}
	*arr = p;
	*cap = ncap;
	return 0;
}

int pstree_decode(struct img_file *f, struct pstree *t)
{
	const uint8_t *buf;
	size_t len, at, cap = 0;
	int ret;

	memset(t, 0, sizeof(*t));
	if (img_file_check_magic(f, PSTREE_MAGIC, "PSTREE"))
		return -1;
	while ((ret = img_file_next(f, &buf, &len, &at)) == 1) {
		PstreeEntry *e = pstree_entry__unpack(NULL, len, buf);
		struct pstree_proc *p;

		if (!e) {
			err_line("%s: entry at offset %zu is not a pstree_entry", f->path, at);
			goto err;
		}
		if (e->pid == 0) {
			err_line("%s: entry at offset %zu has pid 0", f->path, at);
			pstree_entry__free_unpacked(e, NULL);
			goto err;
		}
		for (size_t i = 0; i < t->nr; i++) {
			if (t->procs[i].pid == e->pid) {
				err_line("%s: entry at offset %zu repeats pid %u", f->path, at,
					 e->pid);
				pstree_entry__free_unpacked(e, NULL);
				goto err;
			}
		}
		if (grow((void **)&t->procs, &cap, t->nr + 1, sizeof(*t->procs), f->path)) {
			pstree_entry__free_unpacked(e, NULL);
			goto err;
		}
		p = &t->procs[t->nr++];
		p->pid = e->pid;
		p->ppid = e->ppid;
		p->nr_threads = (uint32_t)e->n_threads;
		pstree_entry__free_unpacked(e, NULL);
	}
	if (ret < 0)
		goto err;
	if (t->nr == 0) {
		err_line("%s: no processes in the tree", f->path);
		goto err;
	}
	return 0;
err:
	pstree_free(t);
	return -1;
}

void pstree_free(struct pstree *t)
{
	free(t->procs);
	memset(t, 0, sizeof(*t));
}

int mm_decode(struct img_file *f, struct mm_summary *mm)
{
	const uint8_t *buf;
	size_t len, at;
	MmEntry *e;
	int ret;

	memset(mm, 0, sizeof(*mm));
	if (img_file_check_magic(f, MM_MAGIC, "MM"))
		return -1;
	ret = img_file_next(f, &buf, &len, &at);
	if (ret < 0)
		return -1;
	if (ret == 0) {
		err_line("%s: no mm_entry at offset %zu", f->path, at);
		return -1;
	}
	e = mm_entry__unpack(NULL, len, buf);
	if (!e) {
		err_line("%s: entry at offset %zu is not an mm_entry", f->path, at);
		return -1;
	}
	for (size_t i = 0; i < e->n_vmas; i++) {
		const VmaEntry *v = e->vmas[i];

		if (v->end <= v->start) {
			err_line("%s: entry at offset %zu: vma %zu ends (0x%llx) before it starts "
				 "(0x%llx)",
				 f->path, at, i, (unsigned long long)v->end,
				 (unsigned long long)v->start);
			mm_entry__free_unpacked(e, NULL);
			return -1;
		}
		mm->vma_bytes += v->end - v->start;
	}
	mm->nr_vmas = e->n_vmas;
	mm_entry__free_unpacked(e, NULL);
	return 0;
}

/* Images written before pagemap_entry.flags/nr_pages existed use in_parent
 * and compat_nr_pages; read them as criu/pagemap.c's
 * init_compat_pagemap_entry() does. */
static void normalise_entry(const PagemapEntry *e, struct pagemap_ent *out)
{
	out->vaddr = e->vaddr;
	out->flags = e->has_flags ? e->flags : 0;
	if (e->has_in_parent && e->in_parent)
		out->flags |= PE_PARENT;
	else if (!e->has_flags)
		out->flags = PE_PRESENT;
	out->nr_pages = e->has_nr_pages ? e->nr_pages : e->compat_nr_pages;
}

/* Where the content of an entry lives: at most one of these. */
#define PE_LOCATION (PE_PARENT | PE_PRESENT | PE_COW | PE_COW_REF)

static int check_entry(const struct img_file *f, size_t at, const struct pagemap_ent *pe,
		       uint64_t page_size, uint64_t prev_end)
{
	uint32_t loc = pe->flags & PE_LOCATION;

	if (pe->flags & ~PE_KNOWN) {
		err_line("%s: entry at offset %zu has unknown flags 0x%x", f->path, at,
			 pe->flags & ~PE_KNOWN);
		return -1;
	}
	if (loc & (loc - 1)) {
		err_line("%s: entry at offset %zu has contradictory flags 0x%x (content in more "
			 "than one place)",
			 f->path, at, pe->flags);
		return -1;
	}
	if (pe->vaddr % page_size) {
		err_line("%s: entry at offset %zu: vaddr 0x%llx is not page-aligned", f->path, at,
			 (unsigned long long)pe->vaddr);
		return -1;
	}
	if (pe->nr_pages > (UINT64_MAX - pe->vaddr) / page_size) {
		err_line("%s: entry at offset %zu: %llu pages at 0x%llx run past the end of the "
			 "address space",
			 f->path, at, (unsigned long long)pe->nr_pages,
			 (unsigned long long)pe->vaddr);
		return -1;
	}
	if (pe->vaddr < prev_end) {
		err_line("%s: entry at offset %zu: vaddr 0x%llx overlaps or precedes the previous "
			 "entry (ends 0x%llx)",
			 f->path, at, (unsigned long long)pe->vaddr, (unsigned long long)prev_end);
		return -1;
	}
	return 0;
}

int pagemap_decode(struct img_file *f, uint64_t page_size, struct pagemap *pm)
{
	const uint8_t *buf;
	size_t len, at, cap = 0;
	uint64_t prev_end = 0;
	PagemapHead *h;
	int ret;

	memset(pm, 0, sizeof(*pm));
	if (img_file_check_magic(f, PAGEMAP_MAGIC, "PAGEMAP"))
		return -1;
	ret = img_file_next(f, &buf, &len, &at);
	if (ret < 0)
		return -1;
	if (ret == 0) {
		err_line("%s: no pagemap_head at offset %zu", f->path, at);
		return -1;
	}
	h = pagemap_head__unpack(NULL, len, buf);
	if (!h) {
		err_line("%s: entry at offset %zu is not a pagemap_head", f->path, at);
		return -1;
	}
	pm->pages_id = h->pages_id;
	pagemap_head__free_unpacked(h, NULL);

	while ((ret = img_file_next(f, &buf, &len, &at)) == 1) {
		PagemapEntry *e = pagemap_entry__unpack(NULL, len, buf);
		struct pagemap_ent pe;

		if (!e) {
			err_line("%s: entry at offset %zu is not a pagemap_entry", f->path, at);
			goto err;
		}
		normalise_entry(e, &pe);
		pe.at = at;
		pagemap_entry__free_unpacked(e, NULL);
		if (check_entry(f, at, &pe, page_size, prev_end))
			goto err;
		prev_end = pe.vaddr + pe.nr_pages * page_size;
		if (grow((void **)&pm->ents, &cap, pm->nr + 1, sizeof(*pm->ents), f->path))
			goto err;
		pm->ents[pm->nr++] = pe;
	}
	if (ret < 0)
		goto err;
	return 0;
err:
	pagemap_free(pm);
	return -1;
}

void pagemap_free(struct pagemap *pm)
{
	free(pm->ents);
	memset(pm, 0, sizeof(*pm));
}

/* Which counter of struct pagemap_counts each entry flag adds its pages
 * to. PE_COW and PE_COW_REF pages are another process's, not written here. */
static const struct {
	uint32_t flag;
	size_t at;
} flag_counters[] = {
    {PE_PRESENT, offsetof(struct pagemap_counts, present)},
    {PE_PARENT, offsetof(struct pagemap_counts, parent)},
    {PE_LAZY, offsetof(struct pagemap_counts, lazy)},
    {PE_COW, offsetof(struct pagemap_counts, cow)},
    {PE_COW_REF, offsetof(struct pagemap_counts, ref)},
};

/* Every counter of struct pagemap_counts, for sums. */
static const size_t all_counters[] = {
    offsetof(struct pagemap_counts, entries), offsetof(struct pagemap_counts, referenced),
    offsetof(struct pagemap_counts, present), offsetof(struct pagemap_counts, parent),
    offsetof(struct pagemap_counts, lazy),    offsetof(struct pagemap_counts, cow),
    offsetof(struct pagemap_counts, ref),
};

static uint64_t *counter(struct pagemap_counts *c, size_t at)
{
	return (uint64_t *)((char *)c + at);
}

void pagemap_count(const struct pagemap *pm, struct pagemap_counts *c)
{
	memset(c, 0, sizeof(*c));
	c->entries = pm->nr;
	for (size_t i = 0; i < pm->nr; i++) {
		const struct pagemap_ent *pe = &pm->ents[i];

		c->referenced += pe->nr_pages;
		for (size_t f = 0; f < sizeof(flag_counters) / sizeof(flag_counters[0]); f++)
			if (pe->flags & flag_counters[f].flag)
				*counter(c, flag_counters[f].at) += pe->nr_pages;
	}
}

void pagemap_counts_add(struct pagemap_counts *sum, const struct pagemap_counts *c)
{
	for (size_t k = 0; k < sizeof(all_counters) / sizeof(all_counters[0]); k++)
		*counter(sum, all_counters[k]) +=
		    *counter((struct pagemap_counts *)c, all_counters[k]);
}

int pagemap_check_pages(const struct img_file *f, const struct pagemap *pm, const char *pages_path,
			uint64_t nr_pages)
{
	uint64_t used = 0;

	for (size_t i = 0; i < pm->nr; i++) {
		const struct pagemap_ent *pe = &pm->ents[i];

		if (!(pe->flags & PE_PRESENT))
			continue;
		used += pe->nr_pages;
		if (used > nr_pages) {
			err_line("%s: entry at offset %zu needs %llu pages of %s, which has %llu",
				 f->path, pe->at, (unsigned long long)used, pages_path,
				 (unsigned long long)nr_pages);
			return -1;
		}
	}
	if (used < nr_pages)
		warn_line("%s: %llu pages at its end are not referenced by %s", pages_path,
			  (unsigned long long)(nr_pages - used), f->path);
	return 0;
}
