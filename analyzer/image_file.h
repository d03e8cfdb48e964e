/*
 * The framing of a CRIU image file, the layer under every decoder:
 *
 *   [IMG_COMMON_MAGIC or IMG_SERVICE_MAGIC]  (absent in v1 images)
 *   image magic                               (e.g. PAGEMAP_MAGIC)
 *   { u32 size (little-endian), size bytes of protobuf } ...
 *
 * as written by CRIU's criu/image.c and criu/protobuf.c. A file is read
 * into memory whole (these images are small; pages-*.img are not read
 * here) and every read is checked against what is left, so a missing,
 * truncated or corrupt file is an error line naming the file and the
 * offset, never a read past the end.
 */
#ifndef COWSCAN_IMAGE_FILE_H
#define COWSCAN_IMAGE_FILE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* Magics from CRIU's criu/include/magic.h. */
#define IMG_COMMON_MAGIC  0x54564319u
#define IMG_SERVICE_MAGIC 0x55105940u
#define PSTREE_MAGIC	  0x50273030u
#define PAGEMAP_MAGIC	  0x56084025u
#define MM_MAGIC	  0x57492820u

/* No entry of the images we read comes near this; a larger size prefix is
 * corruption, refused before anything is allocated for it. */
#define IMG_ENTRY_MAX (64u << 20)

struct img_file {
	char path[PATH_MAX]; /* as printed in error lines: DIR/name */
	const uint8_t *data;
	size_t size;
	size_t off;  /* next byte to read */
	void *owned; /* buffer to free, when img_file_load() read the file */
};

/* Read DIR/NAME into memory. A missing or unreadable file is an error line
 * naming it; returns 0 or -1. */
int img_file_load(struct img_file *f, const char *dir, const char *name);
/* Wrap a buffer (not copied, not freed) under the name PATH. */
void img_file_wrap(struct img_file *f, const char *path, const uint8_t *data, size_t size);
void img_file_release(struct img_file *f);

/* Consume the head: an optional common/service magic, then MAGIC (called
 * NAME in the error line). Returns 0 or -1 with an error line. */
int img_file_check_magic(struct img_file *f, uint32_t magic, const char *name);

/* The next entry: *ENTRY points at its LEN protobuf bytes, *AT is the
 * offset of its size prefix (for error lines). Returns 1 for an entry, 0
 * at a clean end of file, -1 with an error line. */
int img_file_next(struct img_file *f, const uint8_t **entry, size_t *len, size_t *at);

#endif
