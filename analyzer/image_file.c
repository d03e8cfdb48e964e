/* CRIU image file framing: magics and size-prefixed entries, bounds-checked. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_file.h"
#include "util.h"

/* pstree/mm/pagemap images of even huge trees are megabytes; anything this
 * big is not one of them. */
#define IMG_FILE_MAX (1ull << 30)

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int read_whole(int fd, struct img_file *f)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;

	if (fstat(fd, &st) < 0) {
		err_errno("%s: stat", f->path);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		err_line("%s: not a regular file", f->path);
		return -1;
	}
	if ((unsigned long long)st.st_size > IMG_FILE_MAX) {
		err_line("%s: %lld bytes, larger than any image cowscan reads", f->path,
			 (long long)st.st_size);
		return -1;
	}
	/* One spare byte so that an empty file still gets a buffer. */
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err_line("%s: out of memory for %lld bytes", f->path, (long long)st.st_size);
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_errno("%s: read at offset %zu", f->path, got);
			free(buf);
			return -1;
		}
		if (n == 0)
			break; /* shrank under us: parse what is there */
		got += (size_t)n;
	}
	f->owned = buf;
	f->data = buf;
	f->size = got;
	f->off = 0;
	return 0;
}

int img_file_load(struct img_file *f, const char *dir, const char *name)
{
	int fd, ret;

	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s/%s", dir, name);
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			err_line("%s: missing from the image directory", f->path);
		else
			err_errno("%s: open", f->path);
		return -1;
	}
	ret = read_whole(fd, f);
	close(fd);
	return ret;
}

void img_file_wrap(struct img_file *f, const char *path, const uint8_t *data, size_t size)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->data = data;
	f->size = size;
}

void img_file_release(struct img_file *f)
{
	free(f->owned);
	f->owned = NULL;
	f->data = NULL;
	f->size = f->off = 0;
}

/* Read a little-endian u32 called WHAT at the current offset. */
static int read_u32(struct img_file *f, uint32_t *v, const char *what)
{
	size_t left = f->size - f->off;

	if (left < 4) {
		err_line("%s: truncated %s at offset %zu: %zu bytes left, need 4", f->path, what,
			 f->off, left);
		return -1;
	}
	*v = get_le32(f->data + f->off);
	f->off += 4;
	return 0;
}

int img_file_check_magic(struct img_file *f, uint32_t magic, const char *name)
{
	uint32_t m;

	if (read_u32(f, &m, "magic"))
		return -1;
	/* CRTOOLS_IMAGES_V1_1 images carry a common or service magic first;
	 * v1 images start with the image magic itself. */
	if (m == IMG_COMMON_MAGIC || m == IMG_SERVICE_MAGIC) {
		if (read_u32(f, &m, "magic"))
			return -1;
	}
	if (m != magic) {
		err_line("%s: bad magic 0x%08x at offset %zu, want 0x%08x (%s)", f->path, m,
			 f->off - 4, magic, name);
		return -1;
	}
	return 0;
}

int img_file_next(struct img_file *f, const uint8_t **entry, size_t *len, size_t *at)
{
	uint32_t size;
	size_t left;

	*at = f->off;
	if (f->off == f->size)
		return 0;
	if (read_u32(f, &size, "entry size"))
		return -1;
	left = f->size - f->off;
	if (size > left || size > IMG_ENTRY_MAX) {
		err_line("%s: entry at offset %zu claims %u bytes, file has %zu left", f->path, *at,
			 size, left);
		return -1;
	}
	*entry = f->data + f->off;
	*len = size;
	f->off += size;
	return 1;
}
