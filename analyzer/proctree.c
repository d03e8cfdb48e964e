#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proctree.h"
#include "util.h"

/* Fill ppid, comm and start time from /proc/PID/stat. The comm may hold
 * spaces and parentheses, so fields are counted from its last ')'. */
static int read_stat(struct proc_id *p)
{
	char path[64], buf[1024], *open, *close;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", p->pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	open = strchr(buf, '(');
	close = strrchr(buf, ')');
	if (!open || !close || close < open) {
		errno = EINVAL;
		return -1;
	}
	n = (size_t)(close - open - 1);
	if (n >= sizeof(p->comm))
		n = sizeof(p->comm) - 1;
	memcpy(p->comm, open + 1, n);
	p->comm[n] = '\0';
	/* after ")": state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime priority nice threads
	 * itrealvalue starttime */
	if (sscanf(close + 2,
		   "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
		   "%*d %*d %llu",
		   &p->ppid, &p->start_time) != 2) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static void read_exe(struct proc_id *p)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/exe", p->pid);
	p->exe_known = stat(path, &st) == 0;
	if (p->exe_known) {
		p->exe_dev = st.st_dev;
		p->exe_ino = st.st_ino;
	}
}

static int add_proc(struct proc_tree *t, int *cap, pid_t pid, int depth, int parent_index)
{
	struct proc_id *p;

	if (t->nr == *cap) {
		int ncap = *cap ? *cap * 2 : 16;
		struct proc_id *np = realloc(t->procs, (size_t)ncap * sizeof(*np));

		if (!np) {
			err_line("out of memory listing the process tree");
			return -1;
		}
		t->procs = np;
		*cap = ncap;
	}
	p = &t->procs[t->nr];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->depth = depth;
	p->parent_index = parent_index;
	p->index = t->nr;
	if (read_stat(p))
		return errno_means_gone(errno) ? 1 : -1;
	read_exe(p);
	t->nr++;
	return 0;
}

/* Children of every thread of pid, appended to *kids. */
static int list_children(pid_t pid, pid_t **kids, int *nr)
{
	char path[64];
	DIR *d;
	struct dirent *de;
	int cap = 0;

	*kids = NULL;
	*nr = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char cpath[300];
		FILE *f;
		int c;

		if (de->d_name[0] == '.')
			continue;
		snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", pid, de->d_name);
		f = fopen(cpath, "re");
		if (!f)
			continue; /* the thread exited */
		while (fscanf(f, "%d", &c) == 1) {
			if (*nr == cap) {
				pid_t *nk;

				cap = cap ? cap * 2 : 16;
				nk = realloc(*kids, (size_t)cap * sizeof(pid_t));
				if (!nk) {
					fclose(f);
					closedir(d);
					return -1;
				}
				*kids = nk;
			}
			(*kids)[(*nr)++] = c;
		}
		fclose(f);
	}
	closedir(d);
	return 0;
}

/* A child and the pid that orders it among its siblings. */
struct kid {
	pid_t pid;
	pid_t ns_pid;
};

/* The pid of a process in its own (innermost) pid namespace: the last field
 * of NSpid in /proc/PID/status; the host pid when it cannot be read. Inside
 * a container these are the pids CRIU restores, while the host pids of a
 * restored container follow CRIU's fork order. */
static pid_t own_ns_pid(pid_t pid)
{
	char path[64], line[256], *tok, *save = NULL;
	pid_t ns = pid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return pid;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "NSpid:", 6))
			continue;
		for (tok = strtok_r(line + 6, " \t\n", &save); tok;
		     tok = strtok_r(NULL, " \t\n", &save))
			ns = (pid_t)atoi(tok);
		break;
	}
	fclose(f);
	return ns;
}

static int cmp_kid(const void *a, const void *b)
{
	const struct kid *x = a, *y = b;

	if (x->ns_pid != y->ns_pid)
		return (x->ns_pid > y->ns_pid) - (x->ns_pid < y->ns_pid);
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Children in creation order: pids grow with creation, except after a pid
 * wrap-around, which only costs a different order. The pids of the
 * children's own pid namespace are used, so a tree restored into a new pid
 * namespace (runc restore) lists in the order it had when it was dumped. */
static int sort_children(pid_t *kids, int nr)
{
	struct kid *order;
	int i;

	if (nr < 2)
		return 0;
	order = malloc((size_t)nr * sizeof(*order));
	if (!order)
		return -1;
	for (i = 0; i < nr; i++)
		order[i] = (struct kid){.pid = kids[i], .ns_pid = own_ns_pid(kids[i])};
	qsort(order, (size_t)nr, sizeof(*order), cmp_kid);
	for (i = 0; i < nr; i++)
		kids[i] = order[i].pid;
	free(order);
	return 0;
}

static int walk(struct proc_tree *t, int *cap, pid_t pid, int depth, int parent_index)
{
	pid_t *kids;
	int nr, i, me, ret;

	ret = add_proc(t, cap, pid, depth, parent_index);
	if (ret == 1) {
		warn_line("process %d exited while listing the tree; skipped", pid);
		return 0;
	}
	if (ret)
		return -1;
	me = t->nr - 1;
	if (list_children(pid, &kids, &nr)) {
		if (errno_means_gone(errno)) {
			warn_line("process %d exited while listing the tree; skipped", pid);
			t->nr--;
			return 0;
		}
		err_errno("/proc/%d/task", pid);
		return -1;
	}
	if (sort_children(kids, nr)) {
		free(kids);
		err_line("out of memory listing the process tree");
		return -1;
	}
	for (i = 0; i < nr; i++) {
		if (walk(t, cap, kids[i], depth + 1, me)) {
			free(kids);
			return -1;
		}
	}
	free(kids);
	return 0;
}

int proc_tree_discover(pid_t root, struct proc_tree *tree)
{
	int cap = 0;
	char path[64];

	tree->procs = NULL;
	tree->nr = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", root);
	if (access(path, R_OK)) {
		err_errno("process %d", root);
		return -1;
	}
	if (walk(tree, &cap, root, 0, -1)) { /* reported */
		proc_tree_free(tree);
		return -1;
	}
	if (tree->nr == 0) {
		err_line("process %d: exited before it could be read", root);
		proc_tree_free(tree);
		return -1;
	}
	return 0;
}

void proc_tree_free(struct proc_tree *tree)
{
	free(tree->procs);
	tree->procs = NULL;
	tree->nr = 0;
}
