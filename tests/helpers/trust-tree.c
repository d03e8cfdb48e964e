// SPDX-License-Identifier: MIT
/*
 * trust-tree: small fork trees for the dedup trust tests, one case per
 * row of the table below (the cases cowtree has no option for: huge page
 * advice the restore must honour, and content-equal pages written after
 * fork). A root maps a region, prepares it, forks its children; each
 * process then does the case's after-fork step. Once all are done the
 * root writes a ready file (cowtree's shape: {"root":N,"procs":[{"pid":N}]})
 * and every process sleeps until killed.
 *
 * usage: trust-tree --case NAME --ready-file PATH [--size MIB] [--children N]
 * The tree runs detached (own session, stdio on /dev/null); trust-tree
 * itself exits 0 once the ready file is written, 1 if setup failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE		      4096UL
#define HUGE		      (2UL << 20)
#define SPARSE_PAGES_PER_HUGE 4
#define MAX_CHILDREN	      16

struct region {
	unsigned char *addr;
	size_t size;
};

/* A page's bytes depend on its index only: equal in every process */
static void fill_page(struct region *r, size_t page)
{
	uint64_t *w = (uint64_t *)(r->addr + page * PAGE);
	size_t i;

	for (i = 0; i < PAGE / sizeof(*w); i++)
		w[i] = (page + 1) * 0x9e3779b97f4a7c15ULL ^ i;
}

static void fill_all(struct region *r)
{
	size_t p;

	for (p = 0; p < r->size / PAGE; p++)
		fill_page(r, p);
}

static int advise(struct region *r, int advice)
{
	return madvise(r->addr, r->size, advice);
}

/* MADV_HUGEPAGE, then filled: huge pages a restore may keep */
static int thp_before(struct region *r)
{
	if (advise(r, MADV_HUGEPAGE))
		return -1;
	fill_all(r);
	return 0;
}

/* Huge pages made, then MADV_NOHUGEPAGE: no huge pages wanted any more */
static int nohugepage_before(struct region *r)
{
	return thp_before(r) || advise(r, MADV_NOHUGEPAGE);
}

/* Huge pages made, then THP disabled for the process (and its children) */
static int thp_disabled_before(struct region *r)
{
	return thp_before(r) || prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
}

/*
 * A few pages per 2 MiB written as small pages, then MADV_HUGEPAGE: a
 * restore that faults huge pages into it would fill whole 2 MiB pages.
 */
static int sparse_before(struct region *r)
{
	size_t h, i;

	for (h = 0; h < r->size / HUGE; h++)
		for (i = 0; i < SPARSE_PAGES_PER_HUGE; i++)
			fill_page(r, h * (HUGE / PAGE) + i * 97);
	return advise(r, MADV_HUGEPAGE);
}

/* After fork every process writes the same bytes to the same pages */
static int equal_writes_after(struct region *r)
{
	fill_all(r);
	return 0;
}

static const struct tree_case {
	const char *name;
	const char *what;
	int (*before_fork)(struct region *r);
	int (*after_fork)(struct region *r); /* in every process */
} cases[] = {
    {"thp", "MADV_HUGEPAGE region, filled before fork", thp_before, NULL},
    {"nohugepage", "filled with huge pages, then MADV_NOHUGEPAGE", nohugepage_before, NULL},
    {"thp-disabled", "filled with huge pages, then PR_SET_THP_DISABLE", thp_disabled_before, NULL},
    {"sparse", "4 pages per 2 MiB written, then MADV_HUGEPAGE", sparse_before, NULL},
    {"equal-writes", "untouched before fork; every process writes the same bytes after", NULL,
     equal_writes_after},
};

static int map_region(struct region *r, size_t size)
{
	unsigned char *p =
	    mmap(NULL, size + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t start;

	if (p == MAP_FAILED)
		return -1;
	/* 2 MiB aligned, so that huge pages are possible at all */
	start = ((uintptr_t)p + HUGE - 1) & ~(HUGE - 1);
	if (start > (uintptr_t)p)
		munmap(p, start - (uintptr_t)p);
	munmap((unsigned char *)start + size, (uintptr_t)p + HUGE - start);
	r->addr = (unsigned char *)start;
	r->size = size;
	return 0;
}

static int write_ready(const char *path, const struct tree_case *c, struct region *r, pid_t *kids,
		       int n)
{
	char tmp[4096];
	FILE *f;
	int i;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "{\"ready\":true,\"tool\":\"trust-tree\",\"case\":\"%s\",\"root\":%d,", c->name,
		getpid());
	fprintf(f, "\"region_addr\":\"%p\",\"region_size\":%zu,\"procs\":[{\"pid\":%d}",
		(void *)r->addr, r->size, getpid());
	for (i = 0; i < n; i++)
		fprintf(f, ",{\"pid\":%d}", kids[i]);
	fprintf(f, "]}\n");
	if (fclose(f))
		return -1;
	return rename(tmp, path);
}

/* The tree's root: set up, fork, wait for the children, report, sleep */
static int run_root(const struct tree_case *c, size_t size, int nkids, const char *ready)
{
	pid_t root = getpid(), kids[MAX_CHILDREN];
	struct region r;
	int sync[2], i;
	char b;

	if (map_region(&r, size) || (c->before_fork && c->before_fork(&r)) || pipe(sync))
		return -1;
	for (i = 0; i < nkids; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			return -1;
		if (kids[i] == 0) {
			/* die with the root while the tree is set up */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != root)
				_exit(1);
			if (c->after_fork && c->after_fork(&r))
				_exit(1);
			if (write(sync[1], "x", 1) != 1)
				_exit(1);
			prctl(PR_SET_PDEATHSIG, 0);
			for (;;)
				pause();
		}
	}
	if (c->after_fork && c->after_fork(&r))
		return -1;
	for (i = 0; i < nkids; i++)
		if (read(sync[0], &b, 1) != 1)
			return -1;
	close(sync[0]);
	close(sync[1]);
	return write_ready(ready, c, &r, kids, nkids);
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"usage: trust-tree --case NAME --ready-file PATH [--size MIB] [--children N]\n"
		"  --case NAME        one of the cases below\n"
		"  --ready-file PATH  written (atomically) once the tree is set up\n"
		"  --size MIB         region size, a multiple of 2 (default 8)\n"
		"  --children N       children of the root, at most %d (default 2)\n"
		"  --help             this text\ncases:\n",
		MAX_CHILDREN);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		fprintf(f, "  %-13s %s\n", cases[i].name, cases[i].what);
}

/* A decimal count, or -1 for anything else */
static long parse_count(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	return errno || end == s || *end ? -1 : v;
}

/* Wait (up to 30 s) for the ready file, or for the tree's root to die */
static int wait_ready(pid_t root, const char *ready)
{
	struct timespec tick = {0, 10 * 1000 * 1000};
	int i;

	for (i = 0; i < 3000; i++) {
		if (access(ready, F_OK) == 0)
			return 0;
		if (waitpid(root, NULL, WNOHANG) == root)
			break;
		nanosleep(&tick, NULL);
	}
	fprintf(stderr, "trust-tree: the tree did not get ready\n");
	kill(root, SIGKILL);
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"case", required_argument, NULL, 'c'}, {"ready-file", required_argument, NULL, 'r'},
	    {"size", required_argument, NULL, 's'}, {"children", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},	    {NULL, 0, NULL, 0},
	};
	const struct tree_case *c = NULL;
	const char *ready = NULL;
	long mib = 8, nkids = 2;
	size_t i;
	pid_t root;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
				if (!strcmp(optarg, cases[i].name))
					c = &cases[i];
			if (!c) {
				fprintf(stderr, "trust-tree: unknown case %s (--help lists them)\n",
					optarg);
				return 2;
			}
			break;
		case 'r':
			ready = optarg;
			break;
		case 's':
			mib = parse_count(optarg);
			break;
		case 'n':
			nkids = parse_count(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!c || !ready || mib < 2 || mib % 2 || nkids < 0 || nkids > MAX_CHILDREN) {
		fprintf(stderr,
			"trust-tree: need a known --case and --ready-file; --size even, --children "
			"0..%d\n",
			MAX_CHILDREN);
		return 2;
	}
	unlink(ready);

	root = fork();
	if (root < 0) {
		perror("trust-tree: fork");
		return 1;
	}
	if (root == 0) {
		int null = open("/dev/null", O_RDWR);

		if (setsid() < 0 || null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
		    dup2(null, 2) < 0)
			_exit(1);
		close(null);
		if (run_root(c, (size_t)mib << 20, (int)nkids, ready))
			_exit(1);
		for (;;)
			pause();
	}
	return wait_ready(root, ready);
}
