/* The shared region: mapping it, filling it, rewriting pages of it. */
#ifndef COWTREE_REGION_H
#define COWTREE_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "node.h"

/* Content tags: a page's bytes depend on (seed, page, writer, phase), so
 * every write in the tree leaves a page no other write produces. */
enum phase { PHASE_FILL, PHASE_CHILD, PHASE_PARENT, PHASE_REWRITE_ALL, PHASE_EXTRA };

/* Pages [first, first + count) of the region. */
struct page_range {
	uint64_t first, count;
};

/* Map the root's region: anonymous, MAP_PRIVATE of a new file, or the end
 * of the brk heap; 2 MiB aligned with MADV_HUGEPAGE for THP. file_path
 * receives the backing file's path ("" for anon and brk). */
int region_map(struct node *n, char *file_path, size_t pathlen, char *err, size_t errlen);

/* Fill every page with unique contents except the zero share, which is
 * only read so that it maps a zero page (or the file's hole); checks that
 * it does, marks it in n->zero and counts it in n->zero_pages. */
int region_fill(struct node *n, char *err, size_t errlen);

/* Rewrite round(ratio * pages held) pages (not absent), chosen by the seed
 * among those that are not the zero share (fewer if those run out). */
int region_rewrite(struct node *n, double ratio, enum phase phase, char *err, size_t errlen);

/* Fill len bytes (a multiple of 8) at addr, outside the region, with
 * contents unique to this process and salt (memory a layout adds: a grown
 * heap, a thread's arena). */
void region_write_extra(const struct node *n, void *addr, uint64_t len, uint64_t salt);

/* Reserve @len bytes of address space aligned like the region (mremap). */
void *region_reserve_len(const struct node *n, uint64_t len);

/* Address of a page of the region. */
char *region_at(const struct node *n, uint64_t page);

/* The middle page (the middle 2 MiB with THP), and quarter q (0-3) on the
 * same unit boundaries: the parts layouts protect, unmap or drop. */
struct page_range region_middle(const struct node *n);
struct page_range region_quarter(const struct node *n, int q);

/* This process no longer holds these pages (absent_pages in the ready line). */
void region_mark_absent(struct node *n, struct page_range r);

#endif
