#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include "threads.h"

int threads_for_cpus(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	return ncpu < 1 ? 1 : ncpu > MAX_THREADS ? MAX_THREADS : (int)ncpu;
}

void threads_run(void *(*fn)(void *), void *args, size_t arg_size, int n)
{
	pthread_t th[MAX_THREADS];
	bool started[MAX_THREADS] = {false};
	char *a = args;
	int t;

	for (t = 1; t < n; t++)
		started[t] = !pthread_create(&th[t], NULL, fn, a + (size_t)t * arg_size);
	fn(a);
	for (t = 1; t < n; t++) {
		if (started[t])
			pthread_join(th[t], NULL);
		else
			fn(a + (size_t)t * arg_size);
	}
}
