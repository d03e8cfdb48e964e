/* cowtree's parameters: what the tree looks like and how its memory is
 * shared. Filled from defaults, then a scenario file, then the command line
 * (later sources override earlier ones), then checked as a whole. */
#ifndef COWTREE_PARAMS_H
#define COWTREE_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum backing { BACKING_ANON, BACKING_FILE };

struct params {
	char scenario[64];   /* catalogue name, "custom" without --scenario */
	char scale[16];	     /* small | default | large */
	uint64_t size;	     /* region bytes at default scale */
	bool size_explicit;  /* --size on the command line: not scaled */
	int fanout;	     /* children of every non-leaf process */
	int depth;	     /* levels below the root */
	double child_write;  /* fraction of pages each non-root rewrites */
	double parent_write; /* fraction each parent rewrites after its forks */
	double zero;	     /* fraction of pages left as the zero page */
	bool thp;
	enum backing backing;
	int layout; /* index into the layout table (layout.h) */
	uint64_t seed;
	bool detach;
	char ready_file[4096];
	char file_dir[4096];
	char scenario_dir[4096];
};

/* Set the defaults (a plain two-child tree over 64 MiB, nothing written). */
void params_init(struct params *p);

/*
 * Apply one option given by its long name ("child-write") and value (NULL
 * for flags). On bad input write one line naming the option into err and
 * return -1. Used for the command line and for scenario files alike, so a
 * scenario key means exactly what the option means.
 */
int params_set(struct params *p, const char *name, const char *value, char *err, size_t errlen);

/* Load workloads/scenarios/NAME.conf (or a path containing '/'). */
int params_load_scenario(struct params *p, const char *name, char *err, size_t errlen);

/* Final checks across parameters (sizes against MemAvailable, THP state,
 * tree size); applies the scale. */
int params_finish(struct params *p, char *err, size_t errlen);

/* Number of processes in the tree: 1 + F + F^2 + ... + F^depth. */
long params_nprocs(const struct params *p);

/* The directory holding the scenario files. */
void params_scenario_dir(const struct params *p, char *buf, size_t len);

#endif
