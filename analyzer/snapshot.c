#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "proctree.h"
#include "snapshot.h"
#include "util.h"

#define MEM_CHUNK (1UL << 20)

/* Zero the bytes of buf (covering [addr, addr+len)) that are an rseq area. */
static void mask_rseq(unsigned char *buf, unsigned long addr, size_t len,
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
		memset(buf + (s - addr), 0, e - s);
	}
}

/* Hash [start, end) of /proc/PID/mem. Returns 0, or errno of the failing read. */
static int hash_range(int fd, unsigned long start, unsigned long end, unsigned char *buf,
		      const struct rseq_area *rseq, int nr_rseq, uint64_t *out)
{
	struct hash64 h;
	unsigned long addr = start;

	hash64_init(&h);
	while (addr < end) {
		size_t want = end - addr > MEM_CHUNK ? MEM_CHUNK : end - addr;
		ssize_t got = pread(fd, buf, want, (off_t)addr);

		if (got <= 0)
			return got == 0 ? EIO : errno;
		mask_rseq(buf, addr, (size_t)got, rseq, nr_rseq);
		hash64_update(&h, buf, (size_t)got);
		addr += (unsigned long)got;
	}
	*out = hash64_final(&h);
	return 0;
}

/* The last VMA of the region starting at v: the kernel splits and merges
 * VMAs by anon_vma and history (a restored libc's RELRO part merges with
 * its neighbour, for one), so content is compared per region of adjacent
 * VMAs with the same permissions and the same backing, contiguous in the
 * file. Both snapshots normalise the same way. */
static int region_last(const struct vma_list *l, int v)
{
	while (v + 1 < l->nr) {
		const struct vma *a = &l->v[v], *b = &l->v[v + 1];

		if (a->end != b->start || strcmp(a->perms, b->perms) || strcmp(a->name, b->name) ||
		    a->ino != b->ino || ((a->flags | b->flags) & VMA_KERNEL) ||
		    (a->ino && a->offset + (a->end - a->start) != b->offset))
			break;
		v++;
	}
	return v;
}

json_t *snapshot_vmas(pid_t pid, const struct vma_list *vmas, const struct rseq_area *rseq,
		      int nr_rseq)
{
	char path[64];
	unsigned char *buf;
	json_t *arr;
	int fd, v, last;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (!errno_means_gone(errno))
			err_errno("%s", path);
		return NULL;
	}
	buf = malloc(MEM_CHUNK);
	arr = json_array();
	if (!buf || !arr) {
		close(fd);
		free(buf);
		json_decref(arr);
		err_line("out of memory");
		errno = ENOMEM;
		return NULL;
	}
	for (v = 0; v < vmas->nr; v = last + 1) {
		const struct vma *m = &vmas->v[v];
		char s[24], e[24], hex[24];
		uint64_t h = 0;
		json_t *o;
		int rc;

		last = region_last(vmas, v);
		snprintf(s, sizeof(s), "0x%lx", m->start);
		snprintf(e, sizeof(e), "0x%lx", vmas->v[last].end);
		o = json_pack("{s:s,s:s,s:s,s:s,s:I}", "start", s, "end", e, "perms", m->perms,
			      "name", m->name, "bytes", (json_int_t)(vmas->v[last].end - m->start));
		if (m->flags & VMA_KERNEL) {
			json_object_set_new(o, "status", json_string("kernel-area"));
		} else if ((rc = hash_range(fd, m->start, vmas->v[last].end, buf, rseq, nr_rseq,
					    &h))) {
			json_object_set_new(o, "status", json_string("unreadable"));
			json_object_set_new(o, "error", json_string(strerror(rc)));
		} else {
			snprintf(hex, sizeof(hex), "%016" PRIx64, h);
			json_object_set_new(o, "status", json_string("hashed"));
			json_object_set_new(o, "hash", json_string(hex));
		}
		json_array_append_new(arr, o);
	}
	free(buf);
	close(fd);
	/* A process gone meanwhile reads as unreadable everywhere: say so. */
	if (kill(pid, 0) && errno == ESRCH) {
		json_decref(arr);
		errno = ESRCH;
		return NULL;
	}
	return arr;
}
