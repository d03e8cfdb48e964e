/*
 * pages-ID.img, the raw page content of a dump, and the content index over
 * all of them: which written pages hold the same bytes as another written
 * page anywhere in the image (what a perfect content dedup would not
 * write), and which are all zeros.
 *
 * Pages are compared by a 64-bit hash and, when hashes match, by their
 * bytes (memcmp), so counts are exact: a hash collision costs time, never
 * a wrong number.
 */
#ifndef COWSCAN_IMAGE_PAGES_H
#define COWSCAN_IMAGE_PAGES_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct pages_file {
	uint32_t id; /* pages-<id>.img */
	char path[PATH_MAX];
	const uint8_t *map; /* read-only mapping, NULL when empty */
	size_t size;
	uint64_t nr_pages;
	uint64_t zero_pages; /* filled by pages_content_index() */
	uint32_t user_pid;   /* pid whose pagemap reads it; 0: none yet */
};

struct pages_set {
	struct pages_file *files; /* sorted by id */
	size_t nr;
	uint64_t page_size;
};

struct content_stats {
	uint64_t pages;	    /* every page of every pages-*.img */
	uint64_t unique;    /* distinct contents among them */
	uint64_t duplicate; /* pages - unique: same bytes as an earlier page */
	uint64_t zero;	    /* all-zero pages (one distinct content, if any) */
};

/* Map every DIR/pages-<id>.img. A size that is not a whole number of pages
 * is an error. Returns 0 or -1 with an error line. */
int pages_set_open(const char *dir, uint64_t page_size, struct pages_set *s);
void pages_set_close(struct pages_set *s);
struct pages_file *pages_set_find(struct pages_set *s, uint32_t id);

/* Hash every page of every file; fills each file's zero_pages. */
int pages_content_index(struct pages_set *s, struct content_stats *st);

#endif
