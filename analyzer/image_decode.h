/*
 * Decoders for the CRIU images cowscan reads: pstree.img (the process
 * tree), mm-PID.img (VMAs) and pagemap-PID.img (which pages were dumped and
 * where their content is). Each decodes an img_file with the protobuf-c
 * code generated from CRIU's .proto files, checks what CRIU's own reader
 * relies on, and keeps only the plain numbers cowscan reports.
 */
#ifndef COWSCAN_IMAGE_DECODE_H
#define COWSCAN_IMAGE_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "image_file.h"

/* pagemap_entry.flags (CRIU's criu/include/pagemap.h, plus the dedup
 * series' PE_COW). */
#define PE_PARENT  (1u << 0) /* content is in the parent (incremental) dump */
#define PE_LAZY	   (1u << 1) /* may be restored lazily */
#define PE_PRESENT (1u << 2) /* content is in pages-ID.img */
#define PE_COW	   (1u << 3) /* same as the parent process's page at this address */
#define PE_COW_REF (1u << 4) /* same as process ref_pid's page at ref_vaddr */
#define PE_KNOWN   (PE_PARENT | PE_LAZY | PE_PRESENT | PE_COW | PE_COW_REF)

struct pstree_proc {
	uint32_t pid;
	uint32_t ppid;
	uint32_t nr_threads;
};

struct pstree {
	struct pstree_proc *procs; /* in pstree.img order: CRIU's pre-order */
	size_t nr;
};

struct mm_summary {
	uint64_t nr_vmas;
	uint64_t vma_bytes; /* sum of VMA lengths */
};

struct pagemap_ent {
	uint64_t vaddr;
	uint64_t nr_pages;
	uint32_t flags; /* normalised: old in_parent/compat images as CRIU does */
	size_t at;	/* offset of the entry in the pagemap file, for errors */
};

struct pagemap {
	uint32_t pages_id; /* content of PE_PRESENT entries is in pages-<id>.img */
	struct pagemap_ent *ents;
	size_t nr;
};

/* Page counts of a pagemap by flag. A page is counted in every category
 * whose flag its entry carries (lazy pages are also present, usually). */
struct pagemap_counts {
	uint64_t entries;
	uint64_t referenced; /* every page the pagemap covers */
	uint64_t present;    /* PE_PRESENT: content in pages-<id>.img */
	uint64_t parent;     /* PE_PARENT */
	uint64_t lazy;	     /* PE_LAZY */
	uint64_t cow;	     /* PE_COW: the parent's page at the same address */
	uint64_t ref;	     /* PE_COW_REF: another process's page, named in the entry */
};

/* Each returns 0, or -1 with one error line naming the file and offset.
 * The *_free functions accept a zeroed struct. */
int pstree_decode(struct img_file *f, struct pstree *t);
void pstree_free(struct pstree *t);

int mm_decode(struct img_file *f, struct mm_summary *mm);

/* PAGE_SIZE is the page size of the dumping machine (entries hold page
 * counts). Checks that entries are page-aligned, ascending, do not overlap
 * or wrap, carry known flags and at most one content location. */
int pagemap_decode(struct img_file *f, uint64_t page_size, struct pagemap *pm);
void pagemap_free(struct pagemap *pm);
void pagemap_count(const struct pagemap *pm, struct pagemap_counts *c);
/* sum += c, counter by counter. */
void pagemap_counts_add(struct pagemap_counts *sum, const struct pagemap_counts *c);
/* The PE_PRESENT pages of PM, in order, must fit in the NR_PAGES pages of
 * PAGES_PATH (its pages-<id>.img). Returns 0 (with a warning when pages at
 * the end are unreferenced) or -1 with an error line naming the entry that
 * runs past the end. */
int pagemap_check_pages(const struct img_file *f, const struct pagemap *pm, const char *pages_path,
			uint64_t nr_pages);

#endif
