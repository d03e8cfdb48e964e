#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "hash.h"
#include "memread.h"
#include "pagebits.h"

/* pages read at once from mem or a file (1 MiB of 4 KiB pages) */
#define RUN_PAGES 256
/* page hashes fed to the range's hash at once: a multiple of 4, as
 * hash64_update wants whole 32-byte blocks until its last call */
#define HASH_BATCH 1024

/* Where the content of a page comes from. */
enum page_source {
	FROM_MEM,      /* present or swapped: /proc/PID/mem */
	FROM_ZEROS,    /* absent anonymous: never written, zeros */
	FROM_FILE,     /* absent, file-backed: the file */
	FROM_OWN_VDSO, /* absent [vdso]: cowscan's own */
	FROM_NOWHERE   /* a guard region: reading it faults */
};

struct range_hash {
	struct hash64 h;
	uint64_t page_hash[HASH_BATCH];
	int n;
};

static void add_page_hash(struct range_hash *rh, uint64_t v)
{
	rh->page_hash[rh->n++] = v;
	if (rh->n == HASH_BATCH) {
		hash64_update(&rh->h, rh->page_hash, sizeof(rh->page_hash));
		rh->n = 0;
	}
}

static uint64_t page_hash(const unsigned char *page, size_t len)
{
	struct hash64 h;

	hash64_init(&h);
	hash64_update(&h, page, len);
	return hash64_final(&h);
}

int mem_reader_open(struct mem_reader *r, pid_t pid)
{
	char path[64];
	int e;

	memset(r, 0, sizeof(*r));
	r->pid = pid;
	r->mem_fd = r->pagemap_fd = r->file_fd = -1;
	r->page_size = (unsigned long)sysconf(_SC_PAGESIZE);
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	r->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	if (r->mem_fd >= 0)
		r->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->pagemap_fd < 0)
		goto fail;
	r->pme = malloc(PAGEMAP_BATCH * sizeof(*r->pme));
	r->buf = calloc(RUN_PAGES, r->page_size);
	if (!r->pme || !r->buf) {
		errno = ENOMEM;
		goto fail;
	}
	r->zero_page_hash = page_hash(r->buf, r->page_size);
	return 0;
fail:
	e = errno;
	mem_reader_close(r);
	errno = e;
	return -1;
}

void mem_reader_close(struct mem_reader *r)
{
	if (r->mem_fd >= 0)
		close(r->mem_fd);
	if (r->pagemap_fd >= 0)
		close(r->pagemap_fd);
	if (r->file_fd >= 0)
		close(r->file_fd);
	free(r->pme);
	free(r->buf);
	memset(r, 0, sizeof(*r));
	r->mem_fd = r->pagemap_fd = r->file_fd = -1;
}

static const char *failed(struct mem_reader *r, const char *what, int err)
{
	snprintf(r->why, sizeof(r->why), "%s: %s", what, strerror(err));
	return r->why;
}

static enum page_source page_source(const struct vma *v, uint64_t pme)
{
	if ((v->flags & VMA_PFNMAP) || (pme & (PM_PRESENT | PM_SWAP)))
		return FROM_MEM;
	if (pme & PM_GUARD_REGION)
		return FROM_NOWHERE;
	if (v->flags & VMA_VDSO)
		return FROM_OWN_VDSO;
	return v->flags & VMA_ANON ? FROM_ZEROS : FROM_FILE;
}

/* pread all of len bytes, or fail (a short read is an error: EIO). */
static int pread_full(int fd, unsigned char *buf, size_t len, off_t at, bool zeros_past_end)
{
	size_t done = 0;

	while (done < len) {
		ssize_t got = pread(fd, buf + done, len - done, at + (off_t)done);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -1;
		if (got == 0) {
			if (!zeros_past_end) {
				errno = EIO;
				return -1;
			}
			memset(buf + done, 0, len - done);
			return 0;
		}
		done += (size_t)got;
	}
	return 0;
}

/* The file behind v, through map_files (the very file mapped, even when
 * deleted or shmem); without CAP_SYS_ADMIN map_files is closed, so the
 * path is tried, if it still names the same inode. */
static int open_backing_file(pid_t pid, const struct vma *v)
{
	char path[96];
	struct stat st;
	int fd, e;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%lx-%lx", pid, v->start, v->end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 || v->name[0] != '/')
		return fd;
	e = errno;
	fd = open(v->name, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && !fstat(fd, &st) && st.st_ino == v->ino && major(st.st_dev) == v->dev_major &&
	    minor(st.st_dev) == v->dev_minor)
		return fd;
	if (fd >= 0)
		close(fd);
	errno = e;
	return -1;
}

static const char *read_from_file(struct mem_reader *r, const struct vma *v, unsigned long addr,
				  size_t len)
{
	if (r->file_fd < 0 || r->file_vma_start != v->start) {
		if (r->file_fd >= 0)
			close(r->file_fd);
		r->file_vma_start = v->start;
		r->file_fd = open_backing_file(r->pid, v);
		if (r->file_fd < 0)
			return failed(r, "opening the mapped file", errno);
	}
	if (pread_full(r->file_fd, r->buf, len, (off_t)(v->offset + (addr - v->start)), true))
		return failed(r, "reading the mapped file", errno);
	return NULL;
}

/* Present pages, through /proc/PID/mem. Not process_vm_readv, although
 * it costs less kernel time: it pins the pages (FOLL_PIN), and a read-only
 * pin of a COW-shared anonymous page unshares it, i.e. copies it: one
 * snapshot of a 64 MiB fanout tree took it from 82 to 203 MB of distinct
 * frames. mem reads with a plain reference (FOLL_FORCE), which shares. */
static const char *read_present(struct mem_reader *r, unsigned long addr, size_t len)
{
	if (pread_full(r->mem_fd, r->buf, len, (off_t)addr, false))
		return failed(r, "reading /proc/PID/mem", errno);
	return NULL;
}

/* cowscan's own [vdso]: where it is and how long. */
static const unsigned char *own_vdso(size_t *len)
{
	static const unsigned char *at;
	static size_t size;
	static bool looked;

	if (!looked) {
		unsigned long base = getauxval(AT_SYSINFO_EHDR), s, e;
		char line[512];
		FILE *f = fopen("/proc/self/maps", "re");

		looked = true;
		while (base && f && fgets(line, sizeof(line), f))
			if (sscanf(line, "%lx-%lx", &s, &e) == 2 && s == base) {
				at = (const unsigned char *)base;
				size = e - s;
				break;
			}
		if (f)
			fclose(f);
	}
	*len = size;
	return at;
}

/* Zero the bytes of the page at addr that are an rseq area. */
static void mask_rseq(unsigned char *page, unsigned long addr, size_t len,
		      const struct rseq_area *rseq, int nr)
{
	int i;

	for (i = 0; i < nr; i++) {
		unsigned long s = rseq[i].addr, e = rseq[i].addr + rseq[i].len;

		if (e <= addr || s >= addr + len)
			continue;
		if (s < addr)
			s = addr;
		if (e > addr + len)
			e = addr + len;
		memset(page + (s - addr), 0, e - s);
	}
}

/* Hash npages pages at addr of v, all from the same source. */
static const char *hash_run(struct mem_reader *r, const struct vma *v, enum page_source src,
			    unsigned long addr, size_t npages, const struct rseq_area *rseq,
			    int nr_rseq, struct range_hash *rh)
{
	size_t len = npages * r->page_size, k, vdso_len;
	const unsigned char *vdso;
	const char *err = NULL;

	switch (src) {
	case FROM_ZEROS: /* masking zeros leaves zeros */
		for (k = 0; k < npages; k++)
			add_page_hash(rh, r->zero_page_hash);
		return NULL;
	case FROM_NOWHERE:
		return "guard region (MADV_GUARD_INSTALL): reading it faults";
	case FROM_MEM:
		err = read_present(r, addr, len);
		break;
	case FROM_FILE:
		err = read_from_file(r, v, addr, len);
		break;
	case FROM_OWN_VDSO:
		vdso = own_vdso(&vdso_len);
		if (!vdso || vdso_len != v->end - v->start)
			return "[vdso] page absent and cowscan's own [vdso] differs";
		memcpy(r->buf, vdso + (addr - v->start), len);
		break;
	}
	if (err)
		return err;
	for (k = 0; k < npages; k++) {
		unsigned char *page = r->buf + k * r->page_size;
		unsigned long at = addr + k * r->page_size;

		mask_rseq(page, at, r->page_size, rseq, nr_rseq);
		add_page_hash(rh, page_hash(page, r->page_size));
	}
	return NULL;
}

/* The pagemap entries of n pages at addr (none for VM_PFNMAP/VM_IO,
 * which have no struct pages: their source is mem whatever the entry). */
static int read_pagemap(struct mem_reader *r, const struct vma *v, unsigned long addr, size_t n)
{
	if (v->flags & VMA_PFNMAP) {
		memset(r->pme, 0, n * sizeof(*r->pme));
		return 0;
	}
	return pread_full(r->pagemap_fd, (unsigned char *)r->pme, n * sizeof(*r->pme),
			  (off_t)(addr / r->page_size * sizeof(*r->pme)), false);
}

const char *mem_hash_range(struct mem_reader *r, const struct vma *vmas, int nr,
			   unsigned long start, unsigned long end, const struct rseq_area *rseq,
			   int nr_rseq, uint64_t *out)
{
	struct range_hash rh = {.n = 0};
	unsigned long addr = start, ps = r->page_size;
	int vi = 0;

	hash64_init(&rh.h);
	while (addr < end) {
		const struct vma *v;
		unsigned long stop;
		size_t n, k, run;

		while (vi < nr && addr >= vmas[vi].end)
			vi++;
		if (vi == nr || addr < vmas[vi].start)
			return failed(r, "range not mapped", EFAULT);
		v = &vmas[vi];
		stop = end < v->end ? end : v->end;
		n = (stop - addr) / ps;
		if (n == 0)
			return failed(r, "range not page-aligned", EINVAL);
		if (n > PAGEMAP_BATCH)
			n = PAGEMAP_BATCH;
		if (read_pagemap(r, v, addr, n))
			return failed(r, "reading /proc/PID/pagemap", errno);
		for (k = 0; k < n; k += run) {
			enum page_source src = page_source(v, r->pme[k]);
			const char *err;

			for (run = 1; k + run < n && run < RUN_PAGES &&
				      page_source(v, r->pme[k + run]) == src;
			     run++)
				;
			err = hash_run(r, v, src, addr + k * ps, run, rseq, nr_rseq, &rh);
			if (err)
				return err;
		}
		addr += n * ps;
	}
	hash64_update(&rh.h, rh.page_hash, (size_t)rh.n * sizeof(rh.page_hash[0]));
	*out = hash64_final(&rh.h);
	return NULL;
}
