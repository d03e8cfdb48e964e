/* pages-*.img mapping and the exact content index over their pages. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_pages.h"
#include "util.h"

/* "pages-<decimal id>.img" and nothing else (no sign, no spaces). */
static bool parse_pages_name(const char *name, uint32_t *id)
{
	unsigned long long v = 0;
	const char *p = name + strlen("pages-");

	if (strncmp(name, "pages-", 6) || *p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > UINT32_MAX)
			return false;
	}
	if (strcmp(p, ".img"))
		return false;
	*id = (uint32_t)v;
	return true;
}

static int map_file(struct pages_file *pf, uint64_t page_size)
{
	struct stat st;
	int fd = open(pf->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		err_errno("%s: open", pf->path);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		err_errno("%s: stat", pf->path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		err_line("%s: not a regular file", pf->path);
		close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size % page_size) {
		err_line("%s: size %lld is not a whole number of %llu-byte pages (truncated at "
			 "offset %llu)",
			 pf->path, (long long)st.st_size, (unsigned long long)page_size,
			 (unsigned long long)((uint64_t)st.st_size / page_size * page_size));
		close(fd);
		return -1;
	}
	pf->size = (size_t)st.st_size;
	pf->nr_pages = pf->size / page_size;
	if (pf->size) {
		void *m = mmap(NULL, pf->size, PROT_READ, MAP_PRIVATE, fd, 0);

		if (m == MAP_FAILED) {
			err_errno("%s: mmap of %zu bytes", pf->path, pf->size);
			close(fd);
			return -1;
		}
		madvise(m, pf->size, MADV_SEQUENTIAL);
		pf->map = m;
	}
	close(fd);
	return 0;
}

static int by_id(const void *a, const void *b)
{
	const struct pages_file *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

int pages_set_open(const char *dir, uint64_t page_size, struct pages_set *s)
{
	struct dirent *de;
	size_t cap = 0;
	DIR *d;

	memset(s, 0, sizeof(*s));
	s->page_size = page_size;
	d = opendir(dir);
	if (!d) {
		err_errno("%s: open directory", dir);
		return -1;
	}
	while ((errno = 0, de = readdir(d))) {
		struct pages_file *pf;
		uint32_t id;

		if (!parse_pages_name(de->d_name, &id))
			continue;
		if (s->nr == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			void *p = reallocarray(s->files, ncap, sizeof(*s->files));

			if (!p) {
				err_line("%s: out of memory listing pages files", dir);
				goto err;
			}
			s->files = p;
			cap = ncap;
		}
		pf = &s->files[s->nr];
		memset(pf, 0, sizeof(*pf));
		pf->id = id;
		snprintf(pf->path, sizeof(pf->path), "%s/%s", dir, de->d_name);
		s->nr++;
		if (map_file(pf, page_size))
			goto err;
	}
	if (errno) {
		err_errno("%s: read directory", dir);
		goto err;
	}
	closedir(d);
	qsort(s->files, s->nr, sizeof(*s->files), by_id);
	return 0;
err:
	closedir(d);
	pages_set_close(s);
	return -1;
}

void pages_set_close(struct pages_set *s)
{
	for (size_t i = 0; i < s->nr; i++)
		if (s->files[i].map)
			munmap((void *)s->files[i].map, s->files[i].size);
	free(s->files);
	memset(s, 0, sizeof(*s));
}

struct pages_file *pages_set_find(struct pages_set *s, uint32_t id)
{
	struct pages_file key = {.id = id};

	return bsearch(&key, s->files, s->nr, sizeof(*s->files), by_id);
}

static inline uint64_t rotl64(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

/* A fast 4-lane multiply-rotate hash of one page (length a multiple of 32).
 * Its quality only matters for speed: equal hashes are confirmed by
 * memcmp. Also reports whether every byte is zero. */
static uint64_t page_hash(const uint8_t *p, size_t len, bool *zero)
{
	const uint64_t k1 = 0x9e3779b185ebca87ull, k2 = 0xc2b2ae3d27d4eb4full;
	uint64_t a = k1, b = k2, c = ~k1, d = ~k2, any = 0;

	for (size_t i = 0; i < len; i += 32) {
		uint64_t w[4];

		memcpy(w, p + i, sizeof(w));
		any |= w[0] | w[1] | w[2] | w[3];
		a = rotl64(a + w[0] * k2, 31) * k1;
		b = rotl64(b + w[1] * k2, 31) * k1;
		c = rotl64(c + w[2] * k2, 31) * k1;
		d = rotl64(d + w[3] * k2, 31) * k1;
	}
	*zero = !any;
	a = rotl64(a, 1) + rotl64(b, 7) + rotl64(c, 12) + rotl64(d, 18);
	a ^= a >> 33;
	a *= k2;
	a ^= a >> 29;
	return a;
}

struct slot {
	uint64_t hash;
	uint32_t file; /* UINT32_MAX: empty */
	uint32_t page;
};

static const uint8_t *slot_page(const struct pages_set *s, const struct slot *sl)
{
	return s->files[sl->file].map + (size_t)sl->page * s->page_size;
}

int pages_content_index(struct pages_set *s, struct content_stats *st)
{
	size_t cap = 16, mask;
	uint64_t total = 0;
	struct slot *tab;

	memset(st, 0, sizeof(*st));
	for (size_t f = 0; f < s->nr; f++)
		total += s->files[f].nr_pages;
	if (total > UINT32_MAX || s->nr > UINT32_MAX - 1) {
		err_line("%llu pages in %zu pages files: more than the content index handles",
			 (unsigned long long)total, s->nr);
		return -1;
	}
	/* Load factor at most 1/2 keeps linear probing short. */
	while (cap < 2 * total)
		cap *= 2;
	tab = malloc(cap * sizeof(*tab));
	if (!tab) {
		err_line("out of memory for a content index of %llu pages",
			 (unsigned long long)total);
		return -1;
	}
	for (size_t i = 0; i < cap; i++)
		tab[i].file = UINT32_MAX;
	mask = cap - 1;

	for (size_t f = 0; f < s->nr; f++) {
		struct pages_file *pf = &s->files[f];

		pf->zero_pages = 0;
		for (uint64_t pg = 0; pg < pf->nr_pages; pg++) {
			const uint8_t *page = pf->map + pg * s->page_size;
			bool zero, dup = false;
			uint64_t h = page_hash(page, s->page_size, &zero);
			size_t i = h & mask;

			for (; tab[i].file != UINT32_MAX; i = (i + 1) & mask) {
				if (tab[i].hash == h &&
				    !memcmp(slot_page(s, &tab[i]), page, s->page_size)) {
					dup = true;
					break;
				}
			}
			if (!dup)
				tab[i] = (struct slot){
				    .hash = h, .file = (uint32_t)f, .page = (uint32_t)pg};
			st->pages++;
			st->unique += !dup;
			st->duplicate += dup;
			st->zero += zero;
			pf->zero_pages += zero;
		}
	}
	free(tab);
	return 0;
}
