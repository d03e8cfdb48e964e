/* The pair-sharing matrix of `cowscan tree`: for every two processes, the
 * pages (PFNs) both map. A PFN mapped by np processes adds to every pair
 * of them, np^2 / 2 additions; in a COW tree most PFNs are mapped by
 * nearly every process (200 processes: 20000 additions per PFN). Such a
 * PFN is added through its complement instead, the processes that do not
 * map it: [a maps it][b maps it] = 1 - [a misses it] - [b misses it] +
 * [a and b miss it], so it costs (n - np)^2 / 2 additions and one count
 * per missing process. Exact either way; each PFN takes the cheaper. */
#ifndef COWSCAN_PAIR_MATRIX_H
#define COWSCAN_PAIR_MATRIX_H

#include <stdbool.h>
#include <stdint.h>

struct pair_matrix {
	int n;			  /* processes of the tree */
	int nr_live;		  /* those not gone */
	int *live;		  /* their indices, ascending */
	int *missing;		  /* scratch: a complement */
	uint64_t *both;		  /* n x n, a < b: PFNs added directly */
	uint64_t *both_missing;	  /* n x n, a < b: complement PFNs both miss */
	uint64_t *missed;	  /* per process: complement PFNs it misses */
	uint64_t nr_complemented; /* PFNs added through their complement */
};

/* gone[i]: process i is left out. Returns 0, -1 out of memory. */
int pair_matrix_init(struct pair_matrix *m, int n, const bool *gone);
/* One PFN mapped by procs[0..np): distinct, ascending, none gone. */
void pair_matrix_add(struct pair_matrix *m, const int *procs, int np);
/* out[a * n + b] = bytes both a and b map, for a != b (the diagonal is
 * left as it is). */
void pair_matrix_bytes(const struct pair_matrix *m, unsigned long long page_size,
		       unsigned long long *out);
void pair_matrix_free(struct pair_matrix *m);

#endif
