/*
 * pagecmp: compare two processes' pages frame by frame, to check that a
 * cowtree was built as asked. Reads /proc/PID/pagemap (PFN bits 0-54,
 * present bit 63; PFNs need CAP_SYS_ADMIN) and /proc/kpageflags.
 *
 *   pagecmp PID_A ADDR_A PID_B ADDR_B NPAGES
 *
 * prints one JSON line:
 *   {"pages":N,"present_a":N,"present_b":N,"same_pfn":N,"zero_a":N,"thp_a":N}
 * same_pfn counts pages present in both with the same frame; zero_a and
 * thp_a count A's pages on the zero page and in a transparent huge page.
 * Exit 0, or 1 with one error line.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PM_PRESENT    (1ULL << 63)
#define PM_PFN_MASK   ((1ULL << 55) - 1)
#define KPF_THP	      22
#define KPF_ZERO_PAGE 24

static void die(const char *what, const char *why)
{
	fprintf(stderr, "pagecmp: %s: %s\n", what, why);
	exit(1);
}

static uint64_t parse_u64(const char *s, const char *what)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || !*s || *s == '-')
		die(what, "not a non-negative number");
	return v;
}

/* The pagemap entries of npages pages from addr. */
static uint64_t *read_pagemap(const char *pid, uint64_t addr, uint64_t npages)
{
	char path[64];
	uint64_t *pm = calloc(npages ? npages : 1, sizeof(*pm));
	long psize = sysconf(_SC_PAGESIZE);
	size_t want = npages * sizeof(*pm);
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/pagemap", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0 || !pm)
		die(path, strerror(errno));
	if (pread(fd, pm, want, addr / psize * sizeof(*pm)) != (ssize_t)want)
		die(path, "short read (is the range mapped?)");
	close(fd);
	return pm;
}

static uint64_t kpageflags(int fd, uint64_t pfn)
{
	uint64_t flags = 0;

	if (pread(fd, &flags, sizeof(flags), pfn * sizeof(flags)) != sizeof(flags))
		return 0;
	return flags;
}

int main(int argc, char **argv)
{
	uint64_t npages, i, present_a = 0, present_b = 0, same = 0, zero = 0, thp = 0;
	uint64_t *a, *b;
	int kfd;

	if (argc != 6) {
		fprintf(stderr, "usage: pagecmp PID_A ADDR_A PID_B ADDR_B NPAGES\n");
		return 1;
	}
	npages = parse_u64(argv[5], "NPAGES");
	a = read_pagemap(argv[1], parse_u64(argv[2], "ADDR_A"), npages);
	b = read_pagemap(argv[3], parse_u64(argv[4], "ADDR_B"), npages);
	kfd = open("/proc/kpageflags", O_RDONLY);
	for (i = 0; i < npages; i++) {
		int pa = !!(a[i] & PM_PRESENT), pb = !!(b[i] & PM_PRESENT);
		present_a += pa;
		present_b += pb;
		if (pa && (a[i] & PM_PFN_MASK) == 0)
			die("pagemap", "PFNs are hidden (need CAP_SYS_ADMIN)");
		if (pa && pb && (a[i] & PM_PFN_MASK) == (b[i] & PM_PFN_MASK))
			same++;
		if (pa && kfd >= 0) {
			uint64_t f = kpageflags(kfd, a[i] & PM_PFN_MASK);
			zero += !!(f & (1ULL << KPF_ZERO_PAGE));
			thp += !!(f & (1ULL << KPF_THP));
		}
	}
	printf("{\"pages\":%" PRIu64 ",\"present_a\":%" PRIu64 ",\"present_b\":%" PRIu64
	       ",\"same_pfn\":%" PRIu64 ",\"zero_a\":%" PRIu64 ",\"thp_a\":%" PRIu64 "}\n",
	       npages, present_a, present_b, same, zero, thp);
	free(a);
	free(b);
	return 0;
}
