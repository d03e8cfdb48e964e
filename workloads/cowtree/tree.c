/*
 * The fork tree. The root maps and fills the region and lets its layout
 * prepare (layout.h), then every process forks its children depth-first:
 * a child takes what its layout does at birth, rewrites its share of
 * pages, applies its layout change as a child, forks its own children,
 * rewrites its parent share, applies its layout change as a parent, and
 * sends a READY record up a pipe inherited from the root. The
 * parent sends a BORN record for each child as soon as fork() returns, so
 * the root knows every pid it may have to kill. Records are smaller than
 * PIPE_BUF, so writes from many processes never interleave.
 *
 * Nobody exits or reaps during setup or after it: the tree CRIU sees is the
 * tree that was built.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layout.h"
#include "node.h"
#include "root_arena.h"
#include "ready.h"
#include "record.h"
#include "region.h"
#include "tree.h"

static int record_fd = -1;  /* write end, inherited by every process */
static int record_rfd = -1; /* read end: the root's alone */
static int private_fd = -1; /* the root's own, not for children (tree_keep_private) */

void tree_keep_private(int fd)
{
	private_fd = fd;
}

static void send_record(const struct record *r)
{
	ssize_t n;

	do
		n = write(record_fd, r, sizeof(*r));
	while (n < 0 && errno == EINTR);
}

static void send_failed(const char *msg)
{
	struct record r = {.kind = REC_FAILED, .pid = getpid()};

	snprintf(r.msg, sizeof(r.msg), "%s", msg);
	send_record(&r);
}

static void fill_record(struct record *r, const struct node *n, int kind)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->pid = getpid();
	r->ppid = getppid();
	r->depth = n->depth;
	r->sibling = n->sibling;
	memcpy(r->path, n->path, sizeof(r->path));
	r->has_region = n->region != NULL;
	r->region_addr = (uintptr_t)n->region;
	r->written_pages = n->written_pages;
	r->absent_pages = n->absent_pages;
	snprintf(r->action, sizeof(r->action), "%s", n->action ? n->action : "");
}

/* A distinct writer id per process, from its place in the tree. */
static uint64_t writer_of(const struct node *n)
{
	uint64_t w = 0x9e3779b97f4a7c15ULL * (n->depth + 1);
	int i;

	for (i = 0; i < n->depth; i++)
		w = (w ^ (n->path[i] + 1)) * 0x100000001b3ULL;
	return w | 1;
}

struct collect {
	struct record *procs; /* by arrival; born and/or ready */
	int *born, *ready;
	long nr, cap;
};

static long collect_slot(struct collect *c, int pid)
{
	long i;

	for (i = 0; i < c->nr; i++)
		if (c->procs[i].pid == pid)
			return i;
	if (c->nr == c->cap)
		return -1;
	memset(&c->procs[c->nr], 0, sizeof(c->procs[0]));
	c->procs[c->nr].pid = pid;
	return c->nr++;
}

/* The root's collector: the root notes its own children's births here
 * rather than in the pipe, of which it is the only reader and which it
 * does not read until it has forked them all (a wide tree's records would
 * fill it: a deadlock). NULL in every other process. */
static struct collect *root_collect;

static int setup_after_forks(struct node *n, char *err, size_t errlen);

/* Everything a freshly forked child does before it sleeps. */
static void run_child(struct node *n)
{
	const struct layout *l = &layouts[n->p->layout];
	char err[512] = "";
	struct record r;

	n->writer = writer_of(n);
	n->written_pages = 0;
	n->action = NULL;
	if (n->written)
		memset(n->written, 0, n->npages);
	if ((l->born && l->born(n, err, sizeof(err))) ||
	    region_rewrite(n, n->p->child_write, PHASE_CHILD, err, sizeof(err)) ||
	    (l->as_child && l->as_child(n, err, sizeof(err))) ||
	    setup_after_forks(n, err, sizeof(err))) {
		send_failed(err);
		_exit(1);
	}
	fill_record(&r, n, REC_READY);
	send_record(&r);
	close(record_fd);
	/* Set up: from here on a parent's death no longer matters to us. */
	prctl(PR_SET_PDEATHSIG, 0);
	for (;;)
		pause();
}

/* Fork this node's children, then make the parent's own changes. */
static int setup_after_forks(struct node *n, char *err, size_t errlen)
{
	const struct layout *l = &layouts[n->p->layout];
	pid_t parent = getpid();
	int i;

	if (n->depth < n->p->depth) {
		for (i = 0; i < params_children_at(n->p, n->depth); i++) {
			pid_t pid = fork();
			if (pid < 0) {
				snprintf(err, errlen, "pid %d: fork of child %d: %s", (int)parent,
					 i, strerror(errno));
				return -1;
			}
			if (pid == 0) {
				/* Die with the parent while setting up, so that a
				 * killed root cannot leave a half-built tree. */
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				if (getppid() != parent)
					_exit(1);
				close(record_rfd);
				root_collect = NULL;
				if (private_fd >= 0)
					close(private_fd);
				n->depth++;
				n->sibling = i;
				n->path[n->depth - 1] = i;
				n->nr_children = 0;
				run_child(n);
			}
			struct record r = {.kind = REC_BORN, .pid = pid, .ppid = parent};
			long slot = root_collect ? collect_slot(root_collect, pid) : -1;
			if (slot >= 0)
				root_collect->born[slot] = 1;
			else
				send_record(&r);
			n->nr_children++;
		}
	}
	if (n->nr_children == 0)
		return 0;
	if (region_rewrite(n, n->p->parent_write, PHASE_PARENT, err, errlen))
		return -1;
	if (l->after_forks && l->after_forks(n, err, errlen))
		return -1;
	return 0;
}

/* --- the root's side: collect, check, report -------------------------------- */

/* Dead or a zombie: it will never report. */
static int gone(int pid)
{
	char path[64], buf[256], *rp;
	FILE *f;
	int dead = 1;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 1;
	if (fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')) && rp[1] == ' ')
		dead = rp[2] == 'Z' || rp[2] == 'X';
	fclose(f);
	return dead;
}

/* Read records until every non-root process is ready or one has failed. */
static int collect_ready(struct collect *c, int rfd, long expected, char *err, size_t errlen)
{
	long nready = 0, i;

	while (nready < expected) {
		struct pollfd pfd = {.fd = rfd, .events = POLLIN};
		int ret = poll(&pfd, 1, 200);
		if (ret < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
		if (ret > 0) {
			struct record r;
			ssize_t n = read(rfd, &r, sizeof(r));
			if (n != sizeof(r)) {
				snprintf(err, errlen, "short read from the tree (%zd bytes)", n);
				return -1;
			}
			if (r.kind == REC_FAILED) {
				snprintf(err, errlen, "%s", r.msg);
				return -1;
			}
			long s = collect_slot(c, r.pid);
			if (s < 0) {
				snprintf(err, errlen, "more processes than the tree should have");
				return -1;
			}
			if (r.kind == REC_BORN) {
				c->born[s] = 1;
			} else if (!c->ready[s]) {
				c->procs[s] = r;
				c->ready[s] = 1;
				nready++;
			}
			continue;
		}
		for (i = 0; i < c->nr; i++) {
			if (!c->ready[i] && gone(c->procs[i].pid)) {
				snprintf(err, errlen, "pid %d died while setting up",
					 c->procs[i].pid);
				return -1;
			}
		}
	}
	return 0;
}

static void kill_all(const struct collect *c)
{
	long i;

	for (i = 0; i < c->nr; i++)
		kill(c->procs[i].pid, SIGKILL);
	/* reap our own children; orphaned grandchildren go to init */
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
}

int tree_run(const struct params *p, void (*report_ready)(const char *line, void *arg),
	     void (*report_error)(const char *msg, void *arg), void *arg)
{
	long expected = params_counts(p).procs - 1;
	struct node n = {.p = p, .page_size = sysconf(_SC_PAGESIZE)};
	struct collect c = {.cap = expected + 1};
	char err[600] = "", file[4096] = "";
	struct record root;
	int fds[2];
	char *line;

	if (root_arena_init(c.cap, err, sizeof(err))) {
		report_error(err, arg);
		return 1;
	}
	c.procs = root_arena_calloc(c.cap, sizeof(*c.procs));
	c.born = root_arena_calloc(c.cap, sizeof(int));
	c.ready = root_arena_calloc(c.cap, sizeof(int));
	if (!c.procs || !c.born || !c.ready || pipe(fds) < 0) {
		report_error("out of memory setting up the collector", arg);
		return 1;
	}
	record_rfd = fds[0];
	record_fd = fds[1];
	n.writer = writer_of(&n);
	if (layouts[p->layout].before_region &&
	    layouts[p->layout].before_region(&n, err, sizeof(err)))
		goto fail;
	if (region_map(&n, file, sizeof(file), err, sizeof(err)))
		goto fail;
	/* one byte per page each: which pages this process rewrote, which it
	 * does not hold, which are the zero share (forked along) */
	n.written =
	    mmap(NULL, 3 * n.npages, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (n.written == MAP_FAILED) {
		snprintf(err, sizeof(err), "--size: page maps of %" PRIu64 " bytes: %s",
			 3 * n.npages, strerror(errno));
		goto fail;
	}
	n.absent = n.written + n.npages;
	n.zero = n.absent + n.npages;
	if (region_fill(&n, err, sizeof(err)))
		goto fail;
	if (layouts[p->layout].prepare && layouts[p->layout].prepare(&n, err, sizeof(err)))
		goto fail;

	root_collect = &c;
	/* Children read nothing: only the root holds the read end. */
	pid_t root_pid = getpid();
	if (setup_after_forks(&n, err, sizeof(err))) {
		if (getpid() != root_pid) /* not reached: children never return */
			_exit(1);
		goto fail_collect;
	}
	close(fds[1]);
	fds[1] = -1;
	if (collect_ready(&c, fds[0], expected, err, sizeof(err)))
		goto fail_collect;
	close(fds[0]);

	fill_record(&root, &n, REC_READY);
	c.procs[c.nr++] = root;
	line = ready_line(&n, c.procs, c.nr, file);
	if (!line) {
		snprintf(err, sizeof(err), "cannot format the ready line");
		goto fail_collect;
	}
	report_ready(line, arg);
	root_arena_free(line);
	for (;;)
		pause();

fail_collect:
	/* Records of processes that were born before the failure. */
	if (fds[1] >= 0)
		close(fds[1]);
	{
		struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
		struct record r;
		while (poll(&pfd, 1, 0) > 0 && read(fds[0], &r, sizeof(r)) == sizeof(r))
			if (r.kind != REC_FAILED)
				collect_slot(&c, r.pid);
	}
	kill_all(&c);
fail:
	if (*file)
		unlink(file);
	report_error(err, arg);
	return 1;
}
