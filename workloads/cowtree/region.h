/* The shared region: mapping it, filling it, rewriting pages of it. */
#ifndef COWTREE_REGION_H
#define COWTREE_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "node.h"

/* Content tags: a page's bytes depend on (seed, page, writer, phase), so
 * every write in the tree leaves a page no other write produces. */
enum phase { PHASE_FILL, PHASE_CHILD, PHASE_PARENT, PHASE_REWRITE_ALL };

/* Map the root's region (anonymous or MAP_PRIVATE of a new file; 2 MiB
 * aligned with MADV_HUGEPAGE for THP). file_path receives the backing
 * file's path ("" for anon). */
int region_map(struct node *n, char *file_path, size_t pathlen, char *err, size_t errlen);

/* Fill every page with unique contents except the zero fraction, which is
 * only read so that it maps the zero page (or the file's hole). */
void region_fill(struct node *n);

/* Rewrite round(ratio * npages) pages chosen by the seed. */
int region_rewrite(struct node *n, double ratio, enum phase phase, char *err, size_t errlen);

/* Reserve an address range for a region of the node's size, aligned like
 * the original (for mremap). */
void *region_reserve(const struct node *n);
/* The same for @len bytes (a region moved and grown) */
void *region_reserve_len(const struct node *n, uint64_t len);

#endif
