/*
 * forktree: a small detached fork tree for the dedup tests.
 *
 * The root maps SIZE MiB of private anonymous memory, fills every page
 * with distinct content, then forks FANOUT children; each child writes
 * CHILD_WRITE percent of the region's pages (so those stop being shared)
 * and, with DEPTH > 1, forks one child of its own that does the same
 * (a chain of generations). Every process then sleeps until killed.
 *
 * The launcher exits 0 after printing, and writing to READY_FILE, one
 * JSON line in the shape of cowtree's ready line:
 *   {"ready":true,"tool":"forktree","root":P,"page_size":4096,
 *    "region_size":B,"procs":[{"pid":P,"ppid":Q,"region_addr":"0x..."},...]}
 *
 * Usage: forktree SIZE_MIB FANOUT DEPTH CHILD_WRITE_PERCENT READY_FILE
 *
 * Used only by tests/t-dedup-basic.sh when build/bin/cowtree is absent.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PROCS 64

struct report {
	int pid;
	int ppid;
};

static void die(const char *what)
{
	fprintf(stderr, "forktree: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void write_pages(unsigned char *region, size_t npages, long psz, int percent,
			unsigned int salt)
{
	size_t i;

	for (i = 0; i < npages; i++)
		if ((i * 7919 + salt) % 100 < (size_t)percent)
			memset(region + i * psz, (int)(salt + i) | 1, 64);
}

/* Report our pid over the pipe, then sleep forever. */
static _Noreturn void report_and_sleep(int wfd)
{
	struct report r = {getpid(), getppid()};

	if (write(wfd, &r, sizeof(r)) != sizeof(r))
		_exit(1);
	close(wfd);
	for (;;)
		pause();
}

/* Write our share of pages; with depth left, fork the next generation. */
static _Noreturn void run_child(unsigned char *region, size_t npages, long psz, int depth,
				int percent, unsigned int salt, int wfd)
{
	for (;;) {
		pid_t c;

		write_pages(region, npages, psz, percent, salt);
		if (depth <= 1)
			break;
		c = fork();
		if (c < 0)
			_exit(1);
		if (c > 0)
			break;
		depth--;
		salt = salt * 31 + 7;
	}
	report_and_sleep(wfd);
}

int main(int argc, char **argv)
{
	int size_mib, fanout, depth, percent, nprocs, i, p[2], fd;
	struct report reps[MAX_PROCS];
	unsigned char *region;
	long psz = sysconf(_SC_PAGESIZE);
	size_t npages;
	char line[8192];
	int len;
	pid_t root;

	if (argc != 6) {
		fprintf(stderr,
			"usage: forktree SIZE_MIB FANOUT DEPTH CHILD_WRITE_PERCENT READY_FILE\n");
		return 2;
	}
	size_mib = atoi(argv[1]);
	fanout = atoi(argv[2]);
	depth = atoi(argv[3]);
	percent = atoi(argv[4]);
	nprocs = 1 + fanout * depth;
	if (size_mib <= 0 || fanout < 0 || depth < 1 || percent < 0 || percent > 100 ||
	    nprocs > MAX_PROCS) {
		fprintf(stderr, "forktree: bad arguments\n");
		return 2;
	}
	npages = (size_t)size_mib * 1024 * 1024 / psz;

	if (pipe(p))
		die("pipe");
	root = fork();
	if (root < 0)
		die("fork");
	if (root == 0) {
		/* The tree's root: new session, stdio on /dev/null. */
		setsid();
		fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(p[0]);
		region = mmap(NULL, npages * psz, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (region == MAP_FAILED)
			_exit(1);
		for (size_t k = 0; k < npages; k++)
			snprintf((char *)region + k * psz, 64, "forktree page %zu", k);
		{
			struct report r = {getpid(), getppid()};
			char addr[32];

			/* The region address goes first, as text. */
			snprintf(addr, sizeof(addr), "%p", (void *)region);
			if (write(p[1], addr, sizeof(addr)) != sizeof(addr) ||
			    write(p[1], &r, sizeof(r)) != sizeof(r))
				_exit(1);
		}
		for (i = 0; i < fanout; i++) {
			pid_t c = fork();

			if (c < 0)
				_exit(1);
			if (c == 0)
				run_child(region, npages, psz, depth, percent, 1000 + i, p[1]);
		}
		close(p[1]);
		for (;;)
			pause();
	}

	close(p[1]);
	{
		char addr[32];

		if (read(p[0], addr, sizeof(addr)) != sizeof(addr))
			die("read root report");
		for (i = 0; i < nprocs; i++)
			if (read(p[0], &reps[i], sizeof(reps[i])) != sizeof(reps[i])) {
				kill(root, SIGKILL);
				die("read child report");
			}
		waitpid(root, NULL, WNOHANG);
		len = snprintf(line, sizeof(line),
			       "{\"ready\":true,\"tool\":\"forktree\",\"root\":%d,\"page_size\":%"
			       "ld,\"region_size\":%zu,"
			       "\"procs\":[",
			       (int)root, psz, npages * psz);
		for (i = 0; i < nprocs; i++)
			len += snprintf(line + len, sizeof(line) - len,
					"%s{\"pid\":%d,\"ppid\":%d,\"region_addr\":\"%s\"}",
					i ? "," : "", reps[i].pid, reps[i].ppid, addr);
		len += snprintf(line + len, sizeof(line) - len, "]}\n");
	}
	fd = open(argv[5], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, line, len) != len || close(fd))
		die(argv[5]);
	fputs(line, stdout);
	return 0;
}
