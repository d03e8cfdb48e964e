/* Work split over one thread per CPU: the kernel's page walks and the
 * passes over every page that follow them. */
#ifndef COWSCAN_THREADS_H
#define COWSCAN_THREADS_H

#include <stddef.h>

/* Threads cowscan runs at most, whatever the CPU count. */
#define MAX_THREADS 8

/* One per online CPU, at least 1, at most MAX_THREADS. */
int threads_for_cpus(void);

/* Run fn(args + t * arg_size) for t in [0, n), n <= MAX_THREADS: on n - 1
 * new threads and this one. A share whose thread cannot be created runs
 * on this thread afterwards. Returns when every share is done. */
void threads_run(void *(*fn)(void *), void *args, size_t arg_size, int n);

#endif
