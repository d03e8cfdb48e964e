#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "memread.h"
#include "snapshot.h"
#include "util.h"

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
	struct mem_reader r;
	json_t *arr;
	int v, last;

	if (mem_reader_open(&r, pid)) {
		if (!errno_means_gone(errno))
			err_errno("/proc/%d/mem and pagemap", pid);
		return NULL;
	}
	arr = json_array();
	if (!arr) {
		mem_reader_close(&r);
		err_line("out of memory");
		errno = ENOMEM;
		return NULL;
	}
	for (v = 0; v < vmas->nr; v = last + 1) {
		const struct vma *m = &vmas->v[v];
		char s[24], e[24], hex[24];
		const char *why;
		uint64_t h = 0;
		json_t *o;

		last = region_last(vmas, v);
		snprintf(s, sizeof(s), "0x%lx", m->start);
		snprintf(e, sizeof(e), "0x%lx", vmas->v[last].end);
		o = json_pack("{s:s,s:s,s:s,s:s,s:I}", "start", s, "end", e, "perms", m->perms,
			      "name", m->name, "bytes", (json_int_t)(vmas->v[last].end - m->start));
		if (m->flags & VMA_KERNEL) {
			json_object_set_new(o, "status", json_string("kernel-area"));
		} else if ((why = mem_hash_range(&r, m, last - v + 1, m->start, vmas->v[last].end,
						 rseq, nr_rseq, &h))) {
			json_object_set_new(o, "status", json_string("unreadable"));
			json_object_set_new(o, "error", json_string(why));
		} else {
			snprintf(hex, sizeof(hex), "%016" PRIx64, h);
			json_object_set_new(o, "status", json_string("hashed"));
			json_object_set_new(o, "hash", json_string(hex));
		}
		json_array_append_new(arr, o);
	}
	mem_reader_close(&r);
	/* A process gone meanwhile reads as unreadable everywhere: say so. */
	if (kill(pid, 0) && errno == ESRCH) {
		json_decref(arr);
		errno = ESRCH;
		return NULL;
	}
	return arr;
}
