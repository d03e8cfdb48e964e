/* The content of a process's memory, read without changing it.
 *
 * Reading a page nobody has touched through /proc/PID/mem faults it in: on
 * this kernel a read fault on never-written private anonymous memory
 * allocates a page, and a file page gets mapped. A measuring tool must not
 * do that (the kernel's page-types.c reads flags, never contents). So the
 * reader looks at /proc/PID/pagemap first and reads through /proc/PID/mem
 * only pages that are present or swapped; an absent page is taken from
 * where a fault would take it:
 *   - anonymous (private, or no backing file): zeros, nothing read;
 *   - backed by a file (private or shared, shmem included): the file itself
 *     through /proc/PID/map_files/START-END at the VMA's offset, zeros
 *     past its end;
 *   - [vdso]: cowscan's own vDSO (the same kernel maps the same pages).
 * VM_PFNMAP/VM_IO VMAs have no pagemap; they are read through mem as is. A
 * guard region (MADV_GUARD_INSTALL) cannot be read: an error, as a read
 * would be. Swapped pages are read through mem, which swaps them in.
 *
 * Content is hashed page by page (hash.h), and a range's hash is the hash
 * of its pages' hashes: equal content gives an equal hash whatever was
 * present, and an untouched page costs one precomputed hash. */
#ifndef COWSCAN_MEMREAD_H
#define COWSCAN_MEMREAD_H

#include <stdint.h>
#include <sys/types.h>

#include "rseq.h"
#include "vmas.h"

struct mem_reader {
	pid_t pid;
	int mem_fd, pagemap_fd;
	unsigned long page_size;
	uint64_t *pme;	    /* a batch of pagemap entries */
	unsigned char *buf; /* a run of pages' content */
	uint64_t zero_page_hash;
	/* The backing file of the VMA last read from its file, and which. */
	int file_fd;
	unsigned long file_vma_start;
	char why[160]; /* what made the last range unreadable */
};

/* Open /proc/PID/mem and /proc/PID/pagemap. Returns 0, or -1 with errno
 * set (ENOENT/ESRCH when the process is gone) and no message. */
int mem_reader_open(struct mem_reader *r, pid_t pid);
void mem_reader_close(struct mem_reader *r);

/* Hash [start, end) of the process: vmas[0..nr) must cover it without a
 * gap (the caller checks), page-aligned. Bytes of the rseq areas are
 * hashed as zeros. Returns NULL with *out set, or what made the range
 * unreadable (a static string, e.g. strerror's). */
const char *mem_hash_range(struct mem_reader *r, const struct vma *vmas, int nr,
			   unsigned long start, unsigned long end, const struct rseq_area *rseq,
			   int nr_rseq, uint64_t *out);

/* The name of the content hash, recorded in snapshots: two snapshots are
 * comparable only when they name the same. */
#define MEM_CONTENT_HASH "hash64-of-page-hash64"

#endif
