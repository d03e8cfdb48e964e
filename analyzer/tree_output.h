/* What `cowscan tree` prints: the JSON document (schema in
 * analyzer/README.md) or the human table, from one table of figures. */
#ifndef COWSCAN_TREE_OUTPUT_H
#define COWSCAN_TREE_OUTPUT_H

#include <jansson.h>
#include <stdbool.h>

#include "predict.h"
#include "scan.h"
#include "tree_stats.h"

/* A scanned tree with its figures; pr is NULL without PFNs. */
struct tree_view {
	const struct scan *s;
	const struct tree_stats *t;
	const struct prediction *pr;
};

json_t *tree_json(const struct tree_view *v, bool with_vmas);
void tree_table(const struct tree_view *v);

#endif
