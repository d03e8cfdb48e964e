/*
 * The threads layout: before it maps its region (so that no thread stack
 * lands next to it: a MAP_STACK mapping is VM_NOHUGEPAGE like the region,
 * and the two would merge into one VMA) the root starts ROOT_THREADS
 * threads. Each fills memory in its own malloc arena (glibc gives every new
 * thread a fresh arena, an mmapped heap of its own, up to 8 per core) and
 * some of its stack, reports where both are, and then sleeps. The children
 * are forked by the main thread: they inherit the arenas and stacks of
 * threads they do not have, copy-on-write shared with the root.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "region.h"

/* Pieces below glibc's mmap threshold (128 KiB) come from the arena. */
#define ARENA_PIECE (64UL << 10)
/* At most what fits in an arena's first heap (64 MiB): one contiguous run. */
#define ARENA_MAX (32UL << 20)
/* Stack each thread writes before it sleeps. */
#define STACK_TOUCH (64UL << 10)

_Static_assert(ROOT_THREADS <= MAX_THREADS, "node.h holds the root's threads");

struct thread_start {
	struct node *n;
	int index;
	pthread_barrier_t *ready;
};

static uint64_t arena_bytes(const struct params *p)
{
	uint64_t want = p->size / 8 / ARENA_PIECE * ARENA_PIECE;

	return want > ARENA_MAX ? ARENA_MAX : want < ARENA_PIECE ? ARENA_PIECE : want;
}

double threads_memory(const struct params *p, const struct tree_counts *c)
{
	(void)c;
	return (double)ROOT_THREADS * (double)(arena_bytes(p) + STACK_TOUCH);
}

static void *thread_main(void *arg)
{
	struct thread_start *s = arg;
	struct thread_info *t = &s->n->threads[s->index];
	uint64_t page = s->n->page_size, lo = UINT64_MAX, hi = 0, i;
	uint64_t stack[STACK_TOUCH / 8]; /* written, and kept while it sleeps */
	pthread_attr_t attr;
	void *stack_addr;
	size_t stack_size;

	t->tid = gettid();
	for (i = 0; i < arena_bytes(s->n->p) / ARENA_PIECE; i++) {
		char *piece = malloc(ARENA_PIECE); /* kept for the tree's life */
		if (!piece)
			break;
		region_write_extra(s->n, piece, ARENA_PIECE, (uint64_t)s->index << 32 | i);
		lo = (uintptr_t)piece < lo ? (uintptr_t)piece : lo;
		hi = (uintptr_t)piece + ARENA_PIECE > hi ? (uintptr_t)piece + ARENA_PIECE : hi;
	}
	t->arena_addr = lo / page * page;
	t->arena_bytes = hi > lo ? (hi + page - 1) / page * page - t->arena_addr : 0;
	region_write_extra(s->n, stack, sizeof(stack), (uint64_t)s->index << 32 | 0xffffffffUL);
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		if (pthread_attr_getstack(&attr, &stack_addr, &stack_size) == 0) {
			t->stack_addr = (uintptr_t)stack_addr;
			t->stack_bytes = stack_size;
		}
		pthread_attr_destroy(&attr);
	}
	pthread_barrier_wait(s->ready);
	for (;;)
		pause();
	return NULL;
}

int threads_start(struct node *n, char *err, size_t errlen)
{
	static struct thread_start starts[ROOT_THREADS];
	static pthread_barrier_t ready;
	pthread_t tid;
	int i, e;

	pthread_barrier_init(&ready, NULL, ROOT_THREADS + 1);
	for (i = 0; i < ROOT_THREADS; i++) {
		starts[i] = (struct thread_start){.n = n, .index = i, .ready = &ready};
		e = pthread_create(&tid, NULL, thread_main, &starts[i]);
		if (e) {
			snprintf(err, errlen, "--layout threads: pid %d: pthread_create: %s",
				 (int)getpid(), strerror(e));
			return -1;
		}
		pthread_detach(tid);
	}
	pthread_barrier_wait(&ready);
	for (i = 0; i < ROOT_THREADS; i++) {
		if (!n->threads[i].arena_bytes) {
			snprintf(err, errlen, "--layout threads: pid %d: thread %d: malloc failed",
				 (int)getpid(), i);
			return -1;
		}
	}
	n->nr_threads = ROOT_THREADS;
	n->action = "threads";
	return 0;
}
