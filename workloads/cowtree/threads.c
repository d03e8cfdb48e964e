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
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "layout.h"
#include "region.h"

/* Pieces below glibc's mmap threshold (128 KiB) come from the arena. */
#define ARENA_PIECE (64UL << 10)
/* At most what fits in an arena's first heap (64 MiB): one contiguous run. */
#define ARENA_MAX (32UL << 20)
/* Stack each thread writes before it sleeps. */
#define STACK_TOUCH (64UL << 10)
/* How long the main thread waits for the threads to sleep. */
#define SLEEP_WAIT_MS 10000

/* The system call glibc's pause() blocks in */
#ifdef SYS_pause
#define PAUSE_NR SYS_pause
#else
#define PAUSE_NR SYS_rt_sigsuspend /* no pause(2): glibc's pause() is sigsuspend() */
#endif

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

/*
 * COWTREE_TEST_THREAD_LAG_MS=N: a thread lingers N ms between the barrier
 * and pause(), writing its stack late, as a thread the scheduler wakes
 * late does (tests/t-workloads-layouts.sh widens that race with it).
 */
static void test_lag(void)
{
	const char *lag = getenv("COWTREE_TEST_THREAD_LAG_MS");

	if (lag && atoi(lag) > 0)
		usleep((useconds_t)atoi(lag) * 1000);
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
	test_lag();
	for (;;)
		pause();
	return NULL;
}

/*
 * Whether thread @tid is blocked in pause(): 1 yes, 0 not yet, -1 when its
 * /proc/self/task/TID/syscall cannot be read. The file starts with the
 * number of the system call a blocked thread is in, or "running".
 */
static int thread_asleep(pid_t tid)
{
	char path[64], buf[256];
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -1;
	buf[len] = '\0';
	return isdigit((unsigned char)buf[0]) && strtol(buf, NULL, 10) == PAUSE_NR;
}

/*
 * Wait until every thread sleeps in pause(). A thread returns from the
 * start barrier whenever the scheduler runs it, writing its stack on the
 * way to pause(); a child forked before that write shares one page of the
 * stack less with the root than a child forked after it.
 */
static int threads_wait_asleep(struct node *n, char *err, size_t errlen)
{
	int i, waited;

	for (i = 0; i < ROOT_THREADS; i++) {
		for (waited = 0;; waited++) {
			int asleep = thread_asleep(n->threads[i].tid);

			if (asleep > 0)
				break;
			if (asleep < 0 || waited >= SLEEP_WAIT_MS) {
				snprintf(err, errlen,
					 "--layout threads: pid %d: thread %d (tid %d) %s",
					 (int)getpid(), i, (int)n->threads[i].tid,
					 asleep < 0 ? "has no readable /proc/self/task/TID/syscall"
						    : "not asleep in pause() after 10 s");
				return -1;
			}
			usleep(1000);
		}
	}
	return 0;
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
	if (threads_wait_asleep(n, err, errlen))
		return -1;
	n->nr_threads = ROOT_THREADS;
	n->action = "threads";
	return 0;
}
