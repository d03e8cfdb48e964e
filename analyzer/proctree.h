/* The process tree under a root pid, discovered from /proc, in pre-order
 * (root first, then each child followed by its descendants): the order
 * cowtree's ready line and every cowscan output use. */
#ifndef COWSCAN_PROCTREE_H
#define COWSCAN_PROCTREE_H

#include <stdbool.h>
#include <sys/types.h>

struct proc_id {
	pid_t pid;
	pid_t ppid;
	int depth;
	int index;	  /* position in pre-order */
	int parent_index; /* index of the parent in the tree, -1 for the root */
	char comm[32];
	unsigned long long start_time; /* clock ticks after boot, from stat */
	dev_t exe_dev;		       /* identity of /proc/PID/exe, for CRIU's */
	ino_t exe_ino;		       /* "same executable" rule */
	bool exe_known;
};

struct proc_tree {
	struct proc_id *procs;
	int nr;
};

/* CRIU's "same executable" rule: both /proc/PID/exe known and the same file. */
static inline bool proc_same_exe(const struct proc_id *a, const struct proc_id *b)
{
	return a->exe_known && b->exe_known && a->exe_dev == b->exe_dev && a->exe_ino == b->exe_ino;
}

/* Walk the tree under root. Returns 0, or -1 with an error line when the
 * root itself cannot be read. Descendants that vanish during the walk are
 * skipped with a warning. */
int proc_tree_discover(pid_t root, struct proc_tree *tree);
void proc_tree_free(struct proc_tree *tree);

#endif
