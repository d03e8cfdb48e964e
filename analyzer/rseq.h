/* Where each thread's struct rseq lives. The kernel rewrites its cpu_id
 * fields whenever the thread migrates, so these bytes differ after a
 * restore although nothing is wrong; snapshots mask exactly them. */
#ifndef COWSCAN_RSEQ_H
#define COWSCAN_RSEQ_H

#include <sys/types.h>

struct rseq_area {
	pid_t tid;
	unsigned long addr;
	unsigned int len;
};

/* Ask the kernel (PTRACE_GET_RSEQ_CONFIGURATION, each thread briefly
 * seized and interrupted, then detached) for every thread of pid. Threads
 * without a registered rseq are left out. Returns the number of areas, or
 * -1 with an error line (errno kept, ESRCH/ENOENT when the process is gone). */
int rseq_areas_read(pid_t pid, struct rseq_area **out);

#endif
