/* What a process of the tree tells the root, up one pipe shared by all. */
#ifndef COWTREE_RECORD_H
#define COWTREE_RECORD_H

#include <limits.h>
#include <stdint.h>

#include "node.h"

enum record_kind { REC_BORN, REC_READY, REC_FAILED };

struct record {
	int kind;
	int pid, ppid, depth, sibling;
	unsigned char path[MAX_DEPTH];
	int has_region;
	uint64_t region_addr;
	uint64_t written_pages;
	uint64_t absent_pages;
	char action[24];
	char msg[512];
};

_Static_assert(sizeof(struct record) <= PIPE_BUF, "records must be written atomically");

#endif
