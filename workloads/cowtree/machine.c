/* cowtree's parameters against this machine: THP state, the zero pages
 * the kernel maps, and the memory the tree needs. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "layout.h"
#include "params.h"
#include "zeropage.h"

static uint64_t mem_available(void)
{
	char line[256];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return UINT64_MAX;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb ? (uint64_t)kb << 10 : UINT64_MAX;
}

static int thp_check(char *err, size_t errlen)
{
	const char *path = "/sys/kernel/mm/transparent_hugepage/enabled";
	char buf[128] = "";
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(err, errlen, "--thp: %s: %s (no THP support?)", path, strerror(errno));
		return -1;
	}
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	if (strstr(buf, "[never]")) {
		snprintf(err, errlen, "--thp: transparent hugepages are disabled (%s is 'never')",
			 path);
		return -1;
	}
	return 0;
}

/*
 * Which zero page --zero uses: the 4 KiB one where the kernel maps it (a
 * page unit), else the huge one (2 MiB units). A --thp region reads whole
 * 2 MiB units anyway; a brk region cannot take the huge one (its VMA is the
 * process's heap, whose THP flags cowtree does not own).
 */
static int zero_page_choose(struct params *p, char *err, size_t errlen)
{
	const struct zero_probe *z;
	bool want_huge;

	z = zero_probe(); /* always: the ready line reports it */
	if (p->zero <= 0 || p->backing == BACKING_FILE)
		return 0;
	if (!z->known) {
		snprintf(err, errlen, "--zero: cannot tell which zero page the kernel maps: %s",
			 z->why);
		return -1;
	}
	want_huge = p->thp || p->zero_page == ZERO_PAGE_HUGE ||
		    (p->zero_page == ZERO_PAGE_AUTO && !z->small);
	if (want_huge && p->zero_page == ZERO_PAGE_4K) {
		snprintf(err, errlen,
			 "--zero-page: a --thp region reads whole 2 MiB units: "
			 "they map the huge zero page, not the 4k one");
		return -1;
	}
	if (want_huge && p->backing == BACKING_BRK) {
		snprintf(err, errlen,
			 "--zero: a brk region can only hold the 4k zero page, and this kernel "
			 "(%s) %s",
			 z->kernel,
			 z->small ? "was asked for the huge one" : "maps no 4k zero page");
		return -1;
	}
	if (!want_huge && !z->small) {
		snprintf(err, errlen,
			 "--zero-page: this kernel (%s) maps no 4k zero page (a read fault on "
			 "private anonymous memory allocates a new page)",
			 z->kernel);
		return -1;
	}
	if (want_huge && !z->huge) {
		snprintf(err, errlen, "--zero: this kernel (%s) maps no %szero page: %s%s",
			 z->kernel, z->small ? "huge " : "",
			 z->small ? "" : "a read fault allocates a new 4k page and ", z->why);
		return -1;
	}
	if (want_huge && p->size < HUGE_ZERO_SIZE) {
		snprintf(err, errlen,
			 "--zero: a %" PRIu64 " KiB region holds no whole 2 MiB unit of the huge "
			 "zero page",
			 p->size >> 10);
		return -1;
	}
	p->zero_page = want_huge ? ZERO_PAGE_HUGE : ZERO_PAGE_4K;
	return 0;
}

/* Bytes the tree will hold at most: the filled region, every rewrite and
 * what the layout adds. */
static double tree_bytes(const struct params *p)
{
	struct tree_counts c = params_counts(p);
	const struct layout *l = &layouts[p->layout];
	double copies =
	    1.0 - p->zero + (c.procs - 1) * p->child_write + c.parents * p->parent_write;

	return copies * (double)p->size + (l->memory_extra ? l->memory_extra(p, &c) : 0);
}

int params_check_machine(struct params *p, char *err, size_t errlen)
{
	uint64_t avail;

	if (p->thp && thp_check(err, errlen))
		return -1;
	if (zero_page_choose(p, err, errlen))
		return -1;
	avail = mem_available();
	if ((double)p->size > (double)avail || tree_bytes(p) > (double)avail) {
		snprintf(err, errlen,
			 "--size: %" PRIu64 " MiB needs about %.0f MiB for this tree, more than "
			 "MemAvailable (%" PRIu64 " MiB)",
			 p->size >> 20, tree_bytes(p) / (1 << 20), avail >> 20);
		return -1;
	}
	return 0;
}
