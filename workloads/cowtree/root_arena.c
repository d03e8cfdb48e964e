/*
 * The root's bookkeeping after it forked the tree (the collector's arrays,
 * the ready line's JSON) must not write to a page it shares with its
 * children: the children would keep sharing the page among themselves
 * while the root has a copy of its own, and that sharing is not the
 * scenario's. A restore that rebuilds sharing only from the parent (CRIU
 * 4.2.1) gives each child a copy of such a page: 9 heap pages per child
 * on fanout-64 at --scale small, 14 pages in all with libc's and jansson's
 * data, more than CRIU's own footprint the tests allow.
 *
 * So the root allocates all of it from a mapping the children do not
 * inherit (MADV_DONTFORK), with a bump allocator: the root formats one
 * ready line and then only waits. jansson's hash seed is set before the
 * fork for the same reason (it is a global jansson writes on first use).
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "root_arena.h"

/* Virtual size; only what is used becomes memory (a 256-process ready
 * line takes well under 1 MiB). */
#define ARENA_SIZE (64UL << 20)

static char *arena;
static size_t used;

static void *arena_malloc(size_t size)
{
	size_t at = (used + 15) & ~(size_t)15;

	if (!arena || size > ARENA_SIZE - at)
		return NULL;
	used = at + size;
	return arena + at;
}

int root_arena_init(char *err, size_t errlen)
{
	arena = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (arena == MAP_FAILED) {
		snprintf(err, errlen, "root arena: mmap of %lu bytes: %s", ARENA_SIZE,
			 strerror(errno));
		arena = NULL;
		return -1;
	}
	if (madvise(arena, ARENA_SIZE, MADV_DONTFORK)) {
		snprintf(err, errlen, "root arena: madvise(MADV_DONTFORK): %s", strerror(errno));
		munmap(arena, ARENA_SIZE);
		arena = NULL;
		return -1;
	}
	json_object_seed(0);
	json_set_alloc_funcs(arena_malloc, root_arena_free);
	return 0;
}

void *root_arena_calloc(size_t nmemb, size_t size)
{
	void *p;

	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	p = arena_malloc(nmemb * size);
	/* fresh pages of the mapping are zero: nothing to clear */
	return p;
}

void root_arena_free(void *p)
{
	(void)p;
}
