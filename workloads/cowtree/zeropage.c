/* Which zero pages the kernel maps, and mapping the huge one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "zeropage.h"

#define PM_PRESENT    (1ULL << 63)
#define PM_PFN_MASK   ((1ULL << 55) - 1)
#define KPF_THP	      22
#define KPF_ZERO_PAGE 24

/* The page flags of the page mapped at addr in this process: 0 when not
 * present; -1 with the reason in err when PFNs or flags are unreadable. */
static int page_flags_at(const void *addr, uint64_t *flags, char *err, size_t errlen)
{
	uint64_t page_size = sysconf(_SC_PAGESIZE), entry = 0;
	int pm = open("/proc/self/pagemap", O_RDONLY), kpf;
	ssize_t n;

	*flags = 0;
	if (pm < 0) {
		snprintf(err, errlen, "/proc/self/pagemap: %s", strerror(errno));
		return -1;
	}
	n = pread(pm, &entry, sizeof(entry), (uintptr_t)addr / page_size * sizeof(entry));
	close(pm);
	if (n != sizeof(entry)) {
		snprintf(err, errlen, "/proc/self/pagemap: short read");
		return -1;
	}
	if (!(entry & PM_PRESENT))
		return 0;
	if (!(entry & PM_PFN_MASK)) {
		snprintf(err, errlen, "/proc/self/pagemap: no PFNs (need CAP_SYS_ADMIN)");
		return -1;
	}
	kpf = open("/proc/kpageflags", O_RDONLY);
	if (kpf < 0) {
		snprintf(err, errlen, "/proc/kpageflags: %s", strerror(errno));
		return -1;
	}
	n = pread(kpf, flags, sizeof(*flags), (entry & PM_PFN_MASK) * sizeof(*flags));
	close(kpf);
	if (n != sizeof(*flags)) {
		snprintf(err, errlen, "/proc/kpageflags: short read");
		return -1;
	}
	return 0;
}

/* Read one never-written page of a fresh mapping: what does it map? */
static int probe_small(bool *small, char *err, size_t errlen)
{
	uint64_t page_size = sysconf(_SC_PAGESIZE), flags;
	char *p = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ret;

	if (p == MAP_FAILED) {
		snprintf(err, errlen, "mmap: %s", strerror(errno));
		return -1;
	}
	madvise(p, page_size, MADV_NOHUGEPAGE);
	(void)*(volatile char *)p;
	ret = page_flags_at(p, &flags, err, errlen);
	*small = ret == 0 && (flags >> KPF_ZERO_PAGE & 1) && !(flags >> KPF_THP & 1);
	munmap(p, page_size);
	return ret;
}

/* The same in a 2 MiB-aligned MADV_HUGEPAGE range. why says what stopped
 * it when it maps no huge zero page. */
static int probe_huge(bool *huge, char *why, size_t whylen, char *err, size_t errlen)
{
	uint64_t flags, len = 2 * HUGE_ZERO_SIZE;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
	     *unit;
	char use_zero[16] = "?";
	FILE *f;
	int ret;

	*huge = false;
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "mmap: %s", strerror(errno));
		return -1;
	}
	unit = (char *)(((uintptr_t)p + HUGE_ZERO_SIZE - 1) & ~(uintptr_t)(HUGE_ZERO_SIZE - 1));
	if (madvise(unit, HUGE_ZERO_SIZE, MADV_HUGEPAGE) < 0) {
		snprintf(why, whylen, "madvise(MADV_HUGEPAGE): %s (THP disabled?)",
			 strerror(errno));
		munmap(p, len);
		return 0;
	}
	(void)*(volatile char *)unit;
	ret = page_flags_at(unit, &flags, err, errlen);
	*huge = ret == 0 && (flags >> KPF_ZERO_PAGE & 1) && (flags >> KPF_THP & 1);
	munmap(p, len);
	if (ret == 0 && !*huge) {
		f = fopen("/sys/kernel/mm/transparent_hugepage/use_zero_page", "r");
		if (f) {
			if (!fgets(use_zero, sizeof(use_zero), f))
				snprintf(use_zero, sizeof(use_zero), "?");
			use_zero[strcspn(use_zero, "\n")] = '\0';
			fclose(f);
		}
		snprintf(why, whylen,
			 "a MADV_HUGEPAGE read maps no huge zero page "
			 "(transparent_hugepage/use_zero_page is %s)",
			 use_zero);
	}
	return ret;
}

const struct zero_probe *zero_probe(void)
{
	static struct zero_probe z;
	static bool done;
	struct utsname u;

	if (done)
		return &z;
	done = true;
	snprintf(z.kernel, sizeof(z.kernel), "%s", uname(&u) == 0 ? u.release : "?");
	z.known = probe_small(&z.small, z.why, sizeof(z.why)) == 0 &&
		  probe_huge(&z.huge, z.why, sizeof(z.why), z.why, sizeof(z.why)) == 0;
	return &z;
}

int zero_map_huge_unit(char *addr, bool region_thp)
{
	if (!region_thp && madvise(addr, HUGE_ZERO_SIZE, MADV_HUGEPAGE) < 0)
		return -1;
	(void)*(volatile char *)addr;
	/* VM_HUGEPAGE off again: the flags match the rest of the region and
	 * the VMAs merge back into one; the mapped huge zero page stays. */
	if (!region_thp && madvise(addr, HUGE_ZERO_SIZE, MADV_NOHUGEPAGE) < 0)
		return -1;
	return 0;
}

long zero_pages_mapped(const char *base, uint64_t npages, uint64_t page_size,
		       const unsigned char *mark, char *err, size_t errlen)
{
	int pm = open("/proc/self/pagemap", O_RDONLY), kpf = open("/proc/kpageflags", O_RDONLY);
	uint64_t len = npages * sizeof(uint64_t), i, flags;
	uint64_t *entries = MAP_FAILED;
	long zero = -1;

	if (pm < 0 || kpf < 0) {
		snprintf(err, errlen, "%s: %s", pm < 0 ? "/proc/self/pagemap" : "/proc/kpageflags",
			 strerror(errno));
		goto out;
	}
	entries =
	    mmap(NULL, len ? len : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (entries == MAP_FAILED ||
	    pread(pm, entries, len, (uintptr_t)base / page_size * sizeof(uint64_t)) !=
		(ssize_t)len) {
		snprintf(err, errlen, "/proc/self/pagemap: %s", strerror(errno));
		goto out;
	}
	for (zero = 0, i = 0; i < npages; i++) {
		if (!mark[i] || !(entries[i] & PM_PRESENT))
			continue;
		if (pread(kpf, &flags, sizeof(flags), (entries[i] & PM_PFN_MASK) * sizeof(flags)) !=
		    sizeof(flags)) {
			snprintf(err, errlen, "/proc/kpageflags: short read");
			zero = -1;
			goto out;
		}
		zero += flags >> KPF_ZERO_PAGE & 1;
	}
out:
	if (entries != MAP_FAILED)
		munmap(entries, len ? len : 1);
	if (pm >= 0)
		close(pm);
	if (kpf >= 0)
		close(kpf);
	return zero;
}
