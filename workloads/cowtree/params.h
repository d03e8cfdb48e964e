/* cowtree's parameters: what the tree looks like and how its memory is
 * shared. Filled from defaults, then a scenario file, then the command line
 * (later sources override earlier ones), then resolved (scale, rounding,
 * the tree's shape) and checked against the machine. */
#ifndef COWTREE_PARAMS_H
#define COWTREE_PARAMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum backing { BACKING_ANON, BACKING_FILE, BACKING_BRK };

/* Which zero page --zero leaves its pages on (zeropage.h). */
enum zero_page { ZERO_PAGE_AUTO, ZERO_PAGE_4K, ZERO_PAGE_HUGE };

struct params {
	char scenario[64];   /* catalogue name, "custom" without --scenario */
	char scale[16];	     /* small | default | large */
	uint64_t size;	     /* region bytes; at default scale until resolved */
	bool size_explicit;  /* --size on the command line: not scaled */
	int fanout;	     /* children of the root (and of every parent by default) */
	int inner_fanout;    /* children of every parent below the root; -1: fanout */
	int depth;	     /* levels below the root */
	double child_write;  /* fraction of pages each non-root rewrites */
	double parent_write; /* fraction each parent rewrites after its forks */
	double zero;	     /* fraction of pages left on a zero page */
	enum zero_page zero_page;
	bool thp;
	enum backing backing;
	int layout; /* index into the layout table (layout.h) */
	uint64_t seed;
	bool detach;
	char ready_file[4096];
	char file_dir[4096];
	char scenario_dir[4096];
};

/* How many processes of each kind the tree has (params_counts). */
struct tree_counts {
	long procs;   /* everyone, the root included */
	long parents; /* processes with children, the root included */
	long inner;   /* parents below the root */
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

/* Whether a scenario file may set this option (the tree's shape, not how
 * it is run). */
bool params_is_scenario_key(const char *name);

/* Apply the scale, round the size, check the tree's shape and the layout's
 * needs. Touches nothing outside: --list-scenarios uses it too. */
int params_resolve(struct params *p, char *err, size_t errlen);

/* Checks against this machine: THP state, memory the tree needs against
 * MemAvailable, and the zero page --zero can use (an "auto" zero_page
 * becomes the one the kernel maps). After params_resolve. */
int params_check_machine(struct params *p, char *err, size_t errlen);

/* The tree's process counts (procs saturates just above the limit). */
struct tree_counts params_counts(const struct params *p);

/* Children of a process at the given depth. */
int params_children_at(const struct params *p, int depth);

/* Bytes in which --zero leaves pages unwritten: a page, or 2 MiB with the
 * huge zero page. After params_check_machine. */
uint64_t params_zero_unit(const struct params *p, uint64_t page_size);

/* The alignment of the region: 2 MiB with --thp or huge zero units. */
uint64_t params_region_align(const struct params *p, uint64_t page_size);

/* The resolved parameters as JSON (ready line and --list-scenarios). */
json_t *params_json(const struct params *p);

/* The directory holding the scenario files. */
void params_scenario_dir(const struct params *p, char *buf, size_t len);

const char *params_backing_name(enum backing b);

#endif
