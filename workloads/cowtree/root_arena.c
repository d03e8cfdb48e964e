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

/*
 * Sized for the tree: a collector record (under 1 KiB) and its JSON (about
 * 2 KiB with jansson's objects) per process, 4 KiB to spare each, and 1 MiB
 * for the rest. A larger mapping would be dumped and cored for nothing
 * (criu-coredump writes a task's whole VMAs).
 */
#define ARENA_BASE     (1UL << 20)
#define ARENA_PER_PROC (8UL << 10)

static char *arena;
static size_t used, arena_size;

static void *arena_malloc(size_t size)
{
	size_t at = (used + 15) & ~(size_t)15;

	if (!arena || at > arena_size || size > arena_size - at)
		return NULL;
	used = at + size;
	return arena + at;
}

int root_arena_init(long procs, char *err, size_t errlen)
{
	arena_size = ARENA_BASE + (size_t)procs * ARENA_PER_PROC;
	arena = mmap(NULL, arena_size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (arena == MAP_FAILED) {
		snprintf(err, errlen, "root arena: mmap of %zu bytes: %s", arena_size,
			 strerror(errno));
		arena = NULL;
		return -1;
	}
	/* not inherited; and no huge page for a few KiB with THP "always" */
	if (madvise(arena, arena_size, MADV_DONTFORK) ||
	    (madvise(arena, arena_size, MADV_NOHUGEPAGE) && errno != EINVAL)) {
		snprintf(err, errlen, "root arena: madvise: %s", strerror(errno));
		munmap(arena, arena_size);
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
