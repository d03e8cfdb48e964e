/* A process's VMAs as the kernel reports them in /proc/PID/smaps, with the
 * attributes CRIU's dump and restore rules look at, and the process totals.
 *
 * The VmFlags CRIU's rules need (gd, ht, pf/io, dp) appear only in smaps
 * (CRIU itself parses smaps for them), so the VMAs and the totals come
 * from that single walk; `cowscan tree` reads /proc/PID/maps instead where
 * it can know those flags otherwise (maps_path.h). */
#ifndef COWSCAN_VMAS_H
#define COWSCAN_VMAS_H

#include <stdbool.h>
#include <sys/types.h>

enum vma_flag {
	VMA_PRIVATE = 1 << 0,	  /* 'p' in the permissions */
	VMA_ANON = 1 << 1,	  /* no backing file (CRIU's MAP_ANONYMOUS) */
	VMA_KERNEL = 1 << 2,	  /* [vvar], [vvar_vclock], [vsyscall]: kernel data */
	VMA_VDSO = 1 << 3,	  /* [vdso]: dumped whole by CRIU */
	VMA_GROWSDOWN = 1 << 4,	  /* VmFlags gd */
	VMA_HUGETLB = 1 << 5,	  /* VmFlags ht */
	VMA_PFNMAP = 1 << 6,	  /* VmFlags pf or io: no struct pages behind */
	VMA_READABLE = 1 << 7,	  /* 'r' in the permissions */
	VMA_DROPPABLE = 1 << 8,	  /* VmFlags dp (MAP_DROPPABLE), skipped by CRIU */
	VMA_SHARED_ANON = 1 << 9, /* shared anonymous (/dev/zero, SysV shm) */
	VMA_MIXEDMAP = 1 << 10	  /* VmFlags mm: pages may have no struct page */
};

struct vma {
	unsigned long start, end;
	unsigned long long offset;
	unsigned long long ino;
	unsigned int dev_major, dev_minor;
	char perms[5];
	char name[256];
	unsigned int flags;
	unsigned long long smaps_rss, smaps_pss; /* bytes, from this VMA's smaps */
	unsigned long long smaps_swap;		 /* bytes; with smaps_rss, says how sparse it is */
};

struct smaps_totals {
	unsigned long long rss, pss, anon, swap, anon_huge, private_clean, private_dirty;
};

struct vma_list {
	struct vma *v;
	int nr;
};

/* Parse /proc/PID/smaps: the VMAs and, summed over them, the totals
 * smaps_rollup would report (one page-table walk instead of two; Pss may
 * be below smaps_rollup's by the per-VMA rounding to kB). Returns 0, -1
 * with errno set (ENOENT/ESRCH when the process is gone). */
int vmas_read(pid_t pid, struct vma_list *out, struct smaps_totals *tot);
/* Room for one more VMA in @l, whose array holds *@cap (grown by doubling).
 * Returns 0, or -1 with errno ENOMEM (@l as it was). */
int vmas_reserve(struct vma_list *l, int *cap);
void vmas_free(struct vma_list *l);
/* A header line of smaps or a line of maps, "start-end perms offset
 * maj:min inode [name]", into v (zeroed first, then classified by its
 * permissions and name). Returns false for any other line. */
bool vma_parse_header(const char *line, struct vma *v);
/* Parse /proc/PID/smaps_rollup (bytes). Same return convention. */
int smaps_rollup_read(pid_t pid, struct smaps_totals *out);

/* CRIU 4.2.1's vma_area_is_private() for a regular VMA below task size:
 * private anonymous or private file mapping, not a kernel special area. */
bool vma_is_criu_private(const struct vma *v);
/* The index of the VMA containing addr, or -1; hint speeds up sequential use. */
int vma_find(const struct vma_list *l, unsigned long addr, int hint);

#endif
