/*
 * The fork tree. The root maps and fills the region, then every process
 * forks its children depth-first: a child rewrites its share of pages,
 * applies its layout change, forks its own children, rewrites its parent
 * share, and sends a READY record up a pipe inherited from the root. The
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
#include "region.h"
#include "tree.h"

enum record_kind { REC_BORN, REC_READY, REC_FAILED };

struct record {
	int kind;
	int pid, ppid, depth, sibling;
	unsigned char path[MAX_DEPTH];
	int has_region;
	uint64_t region_addr;
	uint64_t written_pages;
	char action[16];
	char msg[512];
};

_Static_assert(sizeof(struct record) <= PIPE_BUF, "records must be written atomically");

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
	if (region_rewrite(n, n->p->child_write, PHASE_CHILD, err, sizeof(err)) ||
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
		for (i = 0; i < n->p->fanout; i++) {
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
				if (private_fd >= 0)
					close(private_fd);
				n->depth++;
				n->sibling = i;
				n->path[n->depth - 1] = i;
				n->nr_children = 0;
				run_child(n);
			}
			struct record r = {.kind = REC_BORN, .pid = pid, .ppid = parent};
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

static const char *role_of(const struct record *r)
{
	static const char *roles[] = {"root", "child", "grandchild"};

	return r->depth < 3 ? roles[r->depth] : "descendant";
}

/* Pre-order: a prefix (ancestor) first, then by sibling position. */
static int cmp_preorder(const void *a, const void *b)
{
	const struct record *x = a, *y = b;
	int i, n = x->depth < y->depth ? x->depth : y->depth;

	for (i = 0; i < n; i++)
		if (x->path[i] != y->path[i])
			return (int)x->path[i] - (int)y->path[i];
	return x->depth - y->depth;
}

static char *ready_line(const struct params *p, struct record *procs, long nr, const char *file,
			uint64_t page_size)
{
	json_t *o = json_object(), *arr = json_array();
	char addr[32], *s;
	long i;

	qsort(procs, nr, sizeof(*procs), cmp_preorder);
	json_object_set_new(o, "ready", json_true());
	json_object_set_new(o, "tool", json_string("cowtree"));
	json_object_set_new(o, "scenario", json_string(p->scenario));
	json_object_set_new(o, "root", json_integer(procs[0].pid));
	json_object_set_new(o, "page_size", json_integer(page_size));
	json_object_set_new(o, "region_size", json_integer(p->size));
	json_object_set_new(o, "backing",
			    json_string(p->backing == BACKING_FILE ? "file" : "anon"));
	json_object_set_new(o, "thp", json_boolean(p->thp));
	json_object_set_new(o, "layout", json_string(layouts[p->layout].name));
	json_object_set_new(o, "scale", json_string(p->scale));
	json_object_set_new(o, "fanout", json_integer(p->fanout));
	json_object_set_new(o, "depth", json_integer(p->depth));
	json_object_set_new(o, "child_write", json_real(p->child_write));
	json_object_set_new(o, "parent_write", json_real(p->parent_write));
	json_object_set_new(o, "zero", json_real(p->zero));
	json_object_set_new(o, "seed", json_integer((json_int_t)p->seed));
	json_object_set_new(o, "backing_file", *file ? json_string(file) : json_null());
	for (i = 0; i < nr; i++) {
		const struct record *r = &procs[i];
		json_t *e = json_object();
		json_object_set_new(e, "pid", json_integer(r->pid));
		json_object_set_new(e, "ppid", json_integer(r->ppid));
		json_object_set_new(e, "role", json_string(role_of(r)));
		json_object_set_new(e, "depth", json_integer(r->depth));
		json_object_set_new(e, "index", json_integer(i));
		json_object_set_new(e, "sibling", json_integer(r->sibling));
		snprintf(addr, sizeof(addr), "0x%" PRIx64, r->region_addr);
		json_object_set_new(e, "region_addr",
				    r->has_region ? json_string(addr) : json_null());
		json_object_set_new(e, "written_pages", json_integer(r->written_pages));
		json_object_set_new(e, "layout_action",
				    *r->action ? json_string(r->action) : json_null());
		json_array_append_new(arr, e);
	}
	json_object_set_new(o, "procs", arr);
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

int tree_run(const struct params *p, void (*report_ready)(const char *line, void *arg),
	     void (*report_error)(const char *msg, void *arg), void *arg)
{
	long expected = params_nprocs(p) - 1;
	struct node n = {.p = p, .page_size = sysconf(_SC_PAGESIZE)};
	struct collect c = {.cap = expected + 1};
	char err[600] = "", file[4096] = "";
	struct record root;
	int fds[2];
	char *line;

	c.procs = calloc(c.cap, sizeof(*c.procs));
	c.born = calloc(c.cap, sizeof(int));
	c.ready = calloc(c.cap, sizeof(int));
	if (!c.procs || !c.born || !c.ready || pipe(fds) < 0) {
		report_error("out of memory setting up the collector", arg);
		return 1;
	}
	record_rfd = fds[0];
	record_fd = fds[1];
	n.writer = writer_of(&n);
	if (region_map(&n, file, sizeof(file), err, sizeof(err)))
		goto fail;
	/* one byte per page: which pages this process rewrote (forked along) */
	n.written =
	    mmap(NULL, n.npages, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (n.written == MAP_FAILED) {
		snprintf(err, sizeof(err), "--size: page map of %" PRIu64 " bytes: %s", n.npages,
			 strerror(errno));
		goto fail;
	}
	region_fill(&n);

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
	line = ready_line(p, c.procs, c.nr, file, n.page_size);
	if (!line) {
		snprintf(err, sizeof(err), "cannot format the ready line");
		goto fail_collect;
	}
	report_ready(line, arg);
	free(line);
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
