/* Scanning a process without its smaps: its VMAs from /proc/PID/maps and
 * the VmFlags CRIU's rules need, known otherwise (maps_path.h says how). */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "maps_path.h"

/* Filesystems whose regular files map as page cache (or shmem): no
 * VM_PFNMAP, VM_IO nor hugetlb VMA comes from them. EXT4_SUPER_MAGIC is
 * ext2's and ext3's too; TMPFS_MAGIC covers memfd, SysV shm and shared
 * anonymous memory. A file of any other is read through smaps. */
static const unsigned long plain_fs[] = {
    EXT4_SUPER_MAGIC, XFS_SUPER_MAGIC, BTRFS_SUPER_MAGIC, TMPFS_MAGIC, OVERLAYFS_SUPER_MAGIC,
};

/* Anonymous VMAs' names whose VMAs are no special mapping: a special
 * mapping (a name in brackets the kernel's vm_ops give) may be VM_IO
 * ([uprobes] is) or VM_PFNMAP. The kernel's own areas are skipped anyway. */
static bool known_anon_name(const char *name)
{
	return !name[0] || !strcmp(name, "[heap]") || !strcmp(name, "[stack]") ||
	       !strcmp(name, "[vdso]") || !strncmp(name, "[anon:", 6);
}

/* Droppable VMAs are anonymous and private, never growsdown. */
static bool may_be_droppable(const struct vma *v)
{
	return (v->flags & VMA_ANON) && (v->flags & VMA_PRIVATE) &&
	       !(v->flags & (VMA_KERNEL | VMA_VDSO | VMA_GROWSDOWN));
}

/* Both visible PFNs and the zero page's: read-fault a page of our own and
 * look up its frame. Returns the PFN, 0 when hidden or unreadable. */
static uint64_t probe_zero_page(unsigned long page_size, uint64_t *kflags)
{
	volatile char *p = mmap(NULL, page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t pme = 0;

	*kflags = 0;
	if (p != MAP_FAILED && pm >= 0) {
		(void)p[0];
		if (pread(pm, &pme, 8, (off_t)((uintptr_t)p / page_size * 8)) != 8)
			pme = 0;
	}
	if (pm >= 0)
		close(pm);
	if (p != MAP_FAILED)
		munmap((void *)p, page_size);
	return pme & PM_PRESENT ? pme & PM_PFN_MASK : 0;
}

void maps_path_init(struct maps_path *m, unsigned long page_size)
{
	uint64_t kf = 0, pfn;
	int count_fd;

	memset(m, 0, sizeof(*m));
	m->kpageflags_fd = -1;
	pthread_mutex_init(&m->lock, NULL);
	pfn = probe_zero_page(page_size, &kf);
	m->kpageflags_fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	count_fd = open("/proc/kpagecount", O_RDONLY | O_CLOEXEC);
	if (count_fd >= 0)
		close(count_fd);
	if (!pfn || m->kpageflags_fd < 0 || count_fd < 0 ||
	    pread(m->kpageflags_fd, &kf, 8, (off_t)(pfn * 8)) != 8)
		return;
	m->zero_pfn = kf & KPF_ZERO_PAGE ? pfn : 0;
	m->usable = !getenv("COWSCAN_SMAPS_ALL");
}

void maps_path_free(struct maps_path *m)
{
	if (m->kpageflags_fd >= 0)
		close(m->kpageflags_fd);
	free(m->files);
	pthread_mutex_destroy(&m->lock);
	memset(m, 0, sizeof(*m));
	m->kpageflags_fd = -1;
}

/* Is the file v maps a regular file of a plain filesystem? */
static bool plain_file(pid_t pid, const struct vma *v)
{
	char path[96];
	struct stat st;
	struct statfs fs;
	size_t i;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%lx-%lx", pid, v->start, v->end);
	if (stat(path, &st) || !S_ISREG(st.st_mode) || statfs(path, &fs))
		return false;
	for (i = 0; i < sizeof(plain_fs) / sizeof(plain_fs[0]); i++)
		if ((unsigned long)fs.f_type == plain_fs[i])
			return true;
	return false;
}

/* plain_file(), asked once per file of the tree. An allocation failure
 * only costs the cache. */
static bool plain_file_cached(struct maps_path *m, pid_t pid, const struct vma *v)
{
	struct checked_file f = {v->dev_major, v->dev_minor, v->ino, false};
	int i;

	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->nr_files; i++)
		if (m->files[i].ino == f.ino && m->files[i].dev_major == f.dev_major &&
		    m->files[i].dev_minor == f.dev_minor) {
			f.plain = m->files[i].plain;
			pthread_mutex_unlock(&m->lock);
			return f.plain;
		}
	pthread_mutex_unlock(&m->lock);
	f.plain = plain_file(pid, v);
	pthread_mutex_lock(&m->lock);
	if (m->nr_files == m->cap_files) {
		int cap = m->cap_files ? m->cap_files * 2 : 16;
		struct checked_file *nf = realloc(m->files, (size_t)cap * sizeof(*nf));

		if (nf) {
			m->files = nf;
			m->cap_files = cap;
		}
	}
	if (m->nr_files < m->cap_files)
		m->files[m->nr_files++] = f;
	pthread_mutex_unlock(&m->lock);
	return f.plain;
}

/* VmRSS + VmSwap and VmStk of /proc/PID/status, in bytes. Returns 0, -1
 * with errno. */
static int read_status(pid_t pid, unsigned long long *held, unsigned long long *stack)
{
	char path[64], line[256];
	unsigned long long kb;
	int seen = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	*held = *stack = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1 ||
		    sscanf(line, "VmSwap: %llu kB", &kb) == 1) {
			*held += kb * 1024;
			seen++;
		} else if (sscanf(line, "VmStk: %llu kB", &kb) == 1) {
			*stack = kb * 1024;
			seen++;
		}
	}
	fclose(f);
	if (seen < 3) {
		/* A zombie's status has no Vm lines. */
		errno = ESRCH;
		return -1;
	}
	return 0;
}

/* Every flag of l known: set gd and tell whether pf, io, ht are absent. */
static bool flags_known(struct maps_path *m, pid_t pid, struct vma_list *l,
			unsigned long long stack)
{
	unsigned long long growsdown = 0;
	int v;

	for (v = 0; v < l->nr; v++) {
		struct vma *vma = &l->v[v];

		if (vma->flags & VMA_KERNEL)
			continue;
		if (vma->flags & VMA_ANON) {
			if (!known_anon_name(vma->name))
				return false;
			if (!strcmp(vma->name, "[stack]")) {
				vma->flags |= VMA_GROWSDOWN;
				growsdown += vma->end - vma->start;
			}
		} else if (!plain_file_cached(m, pid, vma)) {
			return false;
		}
	}
	return growsdown == stack;
}

int maps_path_read_vmas(struct maps_path *m, pid_t pid, struct vma_list *out,
			unsigned long long *held_bound)
{
	char path[64], line[4096];
	unsigned long long stack;
	int cap = 0;
	FILE *f;

	out->v = NULL;
	out->nr = 0;
	if (read_status(pid, held_bound, &stack))
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	setvbuf(f, NULL, _IOFBF, 1 << 16);
	errno = 0;
	while (fgets(line, sizeof(line), f)) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (vmas_reserve(out, &cap)) {
			fclose(f);
			vmas_free(out);
			return -1;
		}
		if (vma_parse_header(line, &out->v[out->nr]))
			out->nr++;
	}
	if (ferror(f) || out->nr == 0) {
		int e = ferror(f) ? errno : ESRCH; /* empty: a zombie */

		fclose(f);
		vmas_free(out);
		errno = e;
		return -1;
	}
	fclose(f);
	if (!flags_known(m, pid, out, stack)) {
		vmas_free(out);
		return 0;
	}
	return 1;
}

/* Pages a VMA's proof may look at before giving up (KSM pages, lazily
 * freed ones): beyond, smaps decides. */
#define DROPPABLE_TRIES 4

bool maps_path_not_droppable(const struct maps_path *m, const struct proc_scan *ps,
			     bool counts_vmas)
{
	const uint64_t want = KPF_ANON | KPF_SWAPBACKED;
	size_t k = 0;
	int v;

	for (v = 0; v < ps->vmas.nr; v++) {
		bool proven = false, dumped = false;
		int tries = 0;

		if (!may_be_droppable(&ps->vmas.v[v]))
			continue;
		k = proc_first_page(ps, k, v);
		for (; k < ps->nr_pages && ps->pages[k].vma == v && !proven &&
		       tries < DROPPABLE_TRIES;
		     k++) {
			uint64_t pme = ps->pages[k].pme, pfn = pme & PM_PFN_MASK, kf;

			/* The zero page and file pages (the huge zero page
			 * reads as one) are not dumped and prove nothing; a
			 * swapped page is dumped and proves nothing. */
			if (pme & PM_SWAP)
				dumped = true;
			if (!(pme & PM_PRESENT) || (pme & PM_FILE) || pfn == m->zero_pfn)
				continue;
			dumped = true;
			tries++;
			if (pread(m->kpageflags_fd, &kf, 8, (off_t)(pfn * 8)) != 8)
				return false;
			proven = (kf & want) == want && !(kf & (KPF_KSM | KPF_ZERO_PAGE));
		}
		if (!proven && (dumped || counts_vmas || tries == DROPPABLE_TRIES))
			return false;
	}
	return true;
}
