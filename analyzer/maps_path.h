/* Scanning a process without its smaps (analyzer/README.md "Speed").
 *
 * Reading /proc/PID/smaps walks every page table and looks up every page's
 * mapcount: as much kernel time as the pagemap read cowscan needs anyway.
 * What `cowscan tree` takes from smaps can be had otherwise:
 *  - the VMA list: /proc/PID/maps prints the same header lines, without
 *    walking a page table;
 *  - smaps' Rss and Pss of each VMA: from the pagemap, kpageflags and
 *    kpagecount entries cowscan reads anyway, summed as the kernel's
 *    smaps_account() sums them (page_smaps.c);
 *  - the VmFlags CRIU's rules need (vmas.h):
 *    pf, io  (VM_PFNMAP, VM_IO) are set by special mappings and by device
 *            drivers' mmap only: an anonymous VMA with a name cowscan knows,
 *            or a mapping of a regular file of a disk filesystem or tmpfs
 *            (stat and statfs of /proc/PID/map_files/START-END, once per
 *            file), has neither;
 *    ht      (hugetlb) exists only on hugetlbfs files, which that excludes;
 *    gd      (VM_GROWSDOWN): the kernel counts the pages of growsdown VMAs
 *            in VmStk (/proc/PID/status, mm->stack_vm); VmStk equal to the
 *            size of [stack] says [stack] is the one;
 *    dp      (MAP_DROPPABLE) is anonymous and private only, and a droppable
 *            VMA's pages are never swap-backed (folio_add_new_anon_rmap()):
 *            a VMA holding a swap-backed anonymous page is not droppable
 *            (one kpageflags entry, read once its pagemap is). dp decides
 *            whether a VMA's pages are dumped and whether the VMA counts
 *            among those a restore inherits or not (predict.c), which is
 *            counted only in a child of a process of the same executable:
 *            elsewhere a VMA with nothing to dump needs no proof.
 * A process of which any of these is not known (a device or hugetlbfs
 * mapping, a split stack, an anonymous VMA holding no anonymous page, ...)
 * is read through smaps after all, its pagemap again if it was read, so
 * every figure is the one smaps gives. Only with PFNs visible (the page
 * figures need kpagecount). COWSCAN_SMAPS_ALL=1 reads every process
 * through smaps: the tests compare both paths. */
#ifndef COWSCAN_MAPS_PATH_H
#define COWSCAN_MAPS_PATH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "scan.h"

/* A mapped file already checked: (dev, inode) as maps prints them. */
struct checked_file {
	unsigned int dev_major, dev_minor;
	unsigned long long ino;
	bool plain; /* a regular file of a filesystem in plain_fs[] */
};

/* Shared by the scanning threads. */
struct maps_path {
	bool usable;	   /* false: every process through smaps */
	int kpageflags_fd; /* for the droppable check */
	uint64_t zero_pfn; /* the shared zero page, 0 when unknown (probed
			    * whether usable or not) */
	pthread_mutex_t lock;
	struct checked_file *files; /* under lock */
	int nr_files, cap_files;
};

/* Decide whether the maps path can be taken at all: PFNs visible,
 * /proc/kpageflags and /proc/kpagecount readable, COWSCAN_SMAPS_ALL unset.
 * Never fails: an unusable path means smaps for every process. */
void maps_path_init(struct maps_path *m, unsigned long page_size);
void maps_path_free(struct maps_path *m);

/* Process pid's VMAs from /proc/PID/maps, each VmFlags cowscan needs set
 * but dp (see maps_path_not_droppable), and in *held_bound the bytes it
 * has resident or swapped (/proc/PID/status), a bound on any one VMA's.
 * Returns 1 with the list when every flag is known; 0 when one is not
 * (nothing kept: read smaps); -1 with errno. */
int maps_path_read_vmas(struct maps_path *m, pid_t pid, struct vma_list *out,
			unsigned long long *held_bound);

/* Once ps's pagemap is read: is each of its anonymous private VMAs known
 * not to be MAP_DROPPABLE (it holds a swap-backed anonymous page), or
 * would it not matter (nothing to dump, and !counts_vmas: the process's
 * parent in the tree runs another executable, or there is none)? */
bool maps_path_not_droppable(const struct maps_path *m, const struct proc_scan *ps,
			     bool counts_vmas);

#endif
