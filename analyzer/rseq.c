#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "proctree.h"
#include "rseq.h"
#include "util.h"

/* glibc's struct rseq is 32 bytes; the kernel reports the registered size. */
#define RSEQ_DEFAULT_LEN 32

struct rseq_config { /* struct ptrace_rseq_configuration */
	uint64_t rseq_abi_pointer;
	uint32_t rseq_abi_size;
	uint32_t signature;
	uint32_t flags;
	uint32_t pad;
};

static int thread_rseq(pid_t tid, struct rseq_config *conf)
{
	int status, ret = -1, e = 0;

	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL))
		return -1;
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) || waitpid(tid, &status, __WALL) != tid) {
		e = errno;
		goto detach;
	}
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, (void *)sizeof(*conf), conf) < 0)
		e = errno;
	else
		ret = 0;
detach:
	ptrace(PTRACE_DETACH, tid, NULL, NULL);
	if (ret)
		errno = e;
	return ret;
}

int rseq_areas_read(pid_t pid, struct rseq_area **out)
{
	char path[64];
	DIR *d;
	struct dirent *de;
	int nr = 0, cap = 0;

	*out = NULL;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		struct rseq_config conf = {0};
		pid_t tid;

		if (de->d_name[0] == '.')
			continue;
		tid = atoi(de->d_name);
		if (thread_rseq(tid, &conf)) {
			if (errno_means_gone(errno))
				continue; /* the thread exited */
			err_errno("ptrace(PTRACE_GET_RSEQ_CONFIGURATION) on thread %d of %d", tid,
				  pid);
			closedir(d);
			free(*out);
			*out = NULL;
			return -1;
		}
		if (!conf.rseq_abi_pointer)
			continue;
		if (nr == cap) {
			struct rseq_area *n;

			cap = cap ? cap * 2 : 4;
			n = realloc(*out, (size_t)cap * sizeof(*n));
			if (!n) {
				closedir(d);
				free(*out);
				*out = NULL;
				errno = ENOMEM;
				return -1;
			}
			*out = n;
		}
		(*out)[nr++] =
		    (struct rseq_area){tid, (unsigned long)conf.rseq_abi_pointer,
				       conf.rseq_abi_size ? conf.rseq_abi_size : RSEQ_DEFAULT_LEN};
	}
	closedir(d);
	return nr;
}
