/* What "cowscan image" reports, and its two renderings: a human table
 * and the JSON of contracts.md. */
#ifndef COWSCAN_IMAGE_REPORT_H
#define COWSCAN_IMAGE_REPORT_H

#include <stdint.h>

#include "image_decode.h"
#include "image_pages.h"

struct image_proc {
	uint32_t pid;
	uint32_t ppid;
	uint32_t nr_threads;
	uint32_t pages_id;
	struct mm_summary mm;
	struct pagemap_counts pm;
	uint64_t pages_zero;  /* all-zero pages among those written */
	uint64_t image_bytes; /* pages-<id>.img + pagemap-PID.img + mm-PID.img */
};

struct image_report {
	const char *dir;
	uint64_t page_size;
	struct image_proc *procs; /* pstree.img order */
	size_t nr_procs;
	struct pagemap_counts total; /* sums over the processes */
	uint64_t pages_marked;	     /* total.cow + total.ref: not written, another's page */
	uint64_t pages_files;	     /* every pages-*.img, shmem's too */
	uint64_t pages_img_bytes;
	struct content_stats content;
};

int image_report_print_table(const struct image_report *r);
int image_report_print_json(const struct image_report *r);

#endif
