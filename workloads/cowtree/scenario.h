/*
 * A scenario of the catalogue (workloads/scenarios/NAME.conf): the tree's
 * parameters, its purpose, what each CRIU build is expected to do with its
 * sharing on restore (and why where it restores a copy), and bounds that
 * override the thresholds config's defaults for it. The one place these
 * facts live; everything else reads them through --list-scenarios --json.
 */
#ifndef COWTREE_SCENARIO_H
#define COWTREE_SCENARIO_H

#include <jansson.h>
#include <stdbool.h>

#include "params.h"

enum build { BUILD_BASELINE, BUILD_DEDUP, NR_BUILDS };
enum restore { RESTORE_UNSET, RESTORE_SHARED, RESTORE_COPY };

#define MAX_BOUNDS 8

struct scenario {
	char name[64];
	char file[4096];
	char purpose[512];
	enum restore restore[NR_BUILDS];
	char why[NR_BUILDS][512];
	struct {
		const char *name; /* a row of the known bounds (scenario.c) */
		double value;
	} bounds[MAX_BOUNDS];
	int nr_bounds;
};

/* Load NAME.conf from the scenario dir (or a path containing '/') into p
 * and sc. Errors name the file and line. */
int scenario_load(struct params *p, struct scenario *sc, const char *name, char *err,
		  size_t errlen);

/* {name, purpose, file, params, expect, bounds} of a loaded scenario
 * whose parameters p have been resolved. */
json_t *scenario_json(const struct scenario *sc, const struct params *p);

/* --list-scenarios: every scenario of base's scenario dir, resolved at
 * base's scale, as a table or a JSON array on stdout. Exit code. */
int scenario_list(const struct params *base, bool json);

#endif
