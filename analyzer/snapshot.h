/* Content hashes of a process's memory, one per region of alike VMAs,
 * read without populating anything (memread.h), with each thread's rseq
 * area masked (rseq.h). */
#ifndef COWSCAN_SNAPSHOT_H
#define COWSCAN_SNAPSHOT_H

#include <jansson.h>
#include <sys/types.h>

#include "rseq.h"
#include "vmas.h"

/* Hash every region of adjacent, alike VMAs of pid into a JSON array of
 * {"start","end","perms","name","status","hash","bytes"[,"error"]}:
 * status "hashed", "kernel-area" ([vvar], [vsyscall]: kernel data, not
 * hashed) or "unreadable" (with the read error). Returns NULL with errno
 * set when the process is gone, or with an error line on other failures. */
json_t *snapshot_vmas(pid_t pid, const struct vma_list *vmas, const struct rseq_area *rseq,
		      int nr_rseq);

#endif
