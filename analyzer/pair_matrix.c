#include <stdlib.h>
#include <string.h>

#include "pair_matrix.h"

int pair_matrix_init(struct pair_matrix *m, int n, const bool *gone)
{
	size_t cells = (size_t)n * (size_t)n;
	int i;

	memset(m, 0, sizeof(*m));
	m->n = n;
	m->live = malloc((size_t)n * sizeof(*m->live));
	m->missing = malloc((size_t)n * sizeof(*m->missing));
	m->both = calloc(cells, sizeof(*m->both));
	m->both_missing = calloc(cells, sizeof(*m->both_missing));
	m->missed = calloc((size_t)n, sizeof(*m->missed));
	if (!m->live || !m->missing || !m->both || !m->both_missing || !m->missed) {
		pair_matrix_free(m);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (!gone[i])
			m->live[m->nr_live++] = i;
	return 0;
}

/* Count one for every pair a < b of list[0..len). */
static void add_pairs(uint64_t *cells, int n, const int *list, int len)
{
	int a, b;

	for (a = 0; a < len; a++) {
		uint64_t *row = cells + (size_t)list[a] * (size_t)n;

		for (b = a + 1; b < len; b++)
			row[list[b]]++;
	}
}

void pair_matrix_add(struct pair_matrix *m, const int *procs, int np)
{
	long long direct = (long long)np * np, nm = m->nr_live - np;
	int k, j = 0, nr_missing = 0;

	if (nm * nm + m->nr_live >= direct) {
		add_pairs(m->both, m->n, procs, np);
		return;
	}
	/* The live processes not in procs (both lists ascending). */
	for (k = 0; k < m->nr_live; k++) {
		while (j < np && procs[j] < m->live[k])
			j++;
		if (j < np && procs[j] == m->live[k])
			continue;
		m->missing[nr_missing++] = m->live[k];
		m->missed[m->live[k]]++;
	}
	m->nr_complemented++;
	add_pairs(m->both_missing, m->n, m->missing, nr_missing);
}

void pair_matrix_bytes(const struct pair_matrix *m, unsigned long long page_size,
		       unsigned long long *out)
{
	size_t n = (size_t)m->n;
	int x, y;

	for (x = 0; x < m->nr_live; x++)
		for (y = x + 1; y < m->nr_live; y++) {
			size_t a = (size_t)m->live[x], b = (size_t)m->live[y];
			uint64_t pfns = m->both[a * n + b] + m->nr_complemented - m->missed[a] -
					m->missed[b] + m->both_missing[a * n + b];

			out[a * n + b] = out[b * n + a] = pfns * page_size;
		}
}

void pair_matrix_free(struct pair_matrix *m)
{
	free(m->live);
	free(m->missing);
	free(m->both);
	free(m->both_missing);
	free(m->missed);
	memset(m, 0, sizeof(*m));
}
