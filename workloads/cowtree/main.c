/*
 * cowtree: build a process tree whose memory is copy-on-write shared in a
 * chosen way, report it ready in one JSON line, and hold it still for
 * checkpointing. See workloads/README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layout.h"
#include "params.h"
#include "scenario.h"
#include "tree.h"

/* The options, one row each: getopt's table and --help come from here. */
static const struct opt {
	const char *name;
	const char *arg; /* NULL for a flag */
	const char *help;
} opts[] = {
    {"scenario", "NAME", "load workloads/scenarios/NAME.conf; later options override it"},
    {"scale", "S", "small (1/16), default or large (x10): scales the region size"},
    {"size", "SIZE", "region size, bytes with optional K/M/G/T (default 64M; not scaled)"},
    {"fanout", "N", "children of every non-leaf process (default 2)"},
    {"inner-fanout", "N", "children of every parent below the root (default: --fanout)"},
    {"depth", "N", "levels below the root (default 1)"},
    {"child-write", "R", "fraction of pages every non-root process rewrites after fork"},
    {"parent-write", "R", "fraction of pages every parent rewrites after its forks"},
    {"zero", "R", "fraction of pages left on a zero page (default 0: none)"},
    {"zero-page", "auto|4k|huge",
     "which zero page --zero uses (auto: 4k where the kernel maps it)"},
    {"thp", NULL, "2 MiB-aligned region with MADV_HUGEPAGE"},
    {"backing", "anon|file|brk", "anonymous, MAP_PRIVATE of a file in --file-dir, or the brk heap"},
    {"layout", "L", "the change after fork: one of the layouts below (default none)"},
    {"seed", "N", "chooses the written and zero pages and their contents (default 1)"},
    {"detach", NULL, "start the tree in a new session, print the ready line, exit"},
    {"ready-file", "PATH", "also write the ready line (atomically) to PATH"},
    {"file-dir", "DIR", "where --backing file creates its file (default /dev/shm)"},
    {"scenario-dir", "DIR", "where scenarios live (default: the checkout's)"},
    {"list-scenarios", NULL, "print every scenario, its expectations and purpose, and exit"},
    {"list-layouts", NULL, "print every layout and exit"},
    {"json", NULL, "--list-scenarios and --list-layouts print JSON"},
    {"help", NULL, "this text"},
};
#define NR_OPTS (int)(sizeof(opts) / sizeof(opts[0]))

static void usage(FILE *out)
{
	int i;

	fprintf(out, "usage: cowtree [OPTION]...\n"
		     "Build a fork tree sharing a memory region copy-on-write, print one JSON\n"
		     "ready line when every process is set up, then sleep until killed.\n\n");
	for (i = 0; i < NR_OPTS; i++) {
		char left[64];
		snprintf(left, sizeof(left), "--%s%s%s", opts[i].name, opts[i].arg ? " " : "",
			 opts[i].arg ? opts[i].arg : "");
		fprintf(out, "  %-24s %s\n", left, opts[i].help);
	}
	fprintf(out, "\nlayouts:\n");
	for (i = 0; i < nr_layouts; i++)
		fprintf(out, "  %-24s %s\n", layouts[i].name, layouts[i].what);
	fprintf(out, "\nExit: 0 ready (with --detach: the tree runs on), 1 setup failed (nothing\n"
		     "left behind), 2 bad option.\n");
}

static int list_layouts(bool json)
{
	json_t *all = layouts_json(), *l;
	size_t i;

	if (json) {
		json_dumpf(all, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
		printf("\n");
	} else {
		printf("%-16s %-9s %s\n", "LAYOUT", "MIN-DEPTH", "WHAT");
		json_array_foreach(all, i, l)
		{
			printf("%-16s %-9d %s\n", json_string_value(json_object_get(l, "name")),
			       (int)json_integer_value(json_object_get(l, "min_depth")),
			       json_string_value(json_object_get(l, "what")));
		}
	}
	json_decref(all);
	return 0;
}

/* Write the ready line to PATH atomically: readers never see half of it. */
static int write_ready_file(const char *path, const char *line)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%s\n", line) < 0 || fclose(f) != 0 || rename(tmp, path) < 0) {
		fprintf(stderr, "cowtree: --ready-file: %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

struct reporter {
	const struct params *p;
	int fd; /* pipe to the --detach launcher, or -1 */
};

/* Without --detach the root prints; with it, it hands the line over. */
static void report_ready(const char *line, void *arg)
{
	struct reporter *r = arg;

	if (r->fd >= 0) {
		dprintf(r->fd, "R%s\n", line);
		close(r->fd);
		return;
	}
	printf("%s\n", line);
	fflush(stdout);
	if (r->p->ready_file[0])
		write_ready_file(r->p->ready_file, line);
}

static void report_error(const char *msg, void *arg)
{
	struct reporter *r = arg;

	if (r->fd >= 0) {
		dprintf(r->fd, "E%s\n", msg);
		close(r->fd);
		return;
	}
	fprintf(stderr, "cowtree: %s\n", msg);
}

/* Wait for the detached root's one message; print it; exit code. */
static int launcher_wait(const struct params *p, int fd)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	ssize_t n;
	int ret = 1;

	if (!buf)
		return 1;
	for (;;) {
		if (len + 1 == cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb)
				goto out;
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
		if (buf[len - 1] == '\n')
			break;
	}
	buf[len] = '\0';
	if (len < 2 || buf[len - 1] != '\n') {
		fprintf(stderr, "cowtree: the tree's root died before reporting\n");
		goto out;
	}
	buf[len - 1] = '\0';
	if (buf[0] == 'E') {
		fprintf(stderr, "cowtree: %s\n", buf + 1);
		goto out;
	}
	printf("%s\n", buf + 1);
	fflush(stdout);
	ret = p->ready_file[0] && write_ready_file(p->ready_file, buf + 1) ? 1 : 0;
out:
	free(buf);
	return ret;
}

/*
 * --detach: launcher -> (fork) mid -> (fork) root. mid exits at once, so
 * the root is reparented like any daemon and leads a new session with no
 * controlling terminal; CRIU then needs no --shell-job.
 */
static int run_detached(const struct params *p)
{
	struct reporter r = {.p = p};
	int fds[2], devnull, status;
	pid_t mid, root;

	if (pipe(fds) < 0) {
		fprintf(stderr, "cowtree: pipe: %s\n", strerror(errno));
		return 1;
	}
	fflush(NULL);
	mid = fork();
	if (mid < 0) {
		fprintf(stderr, "cowtree: fork: %s\n", strerror(errno));
		return 1;
	}
	if (mid == 0) {
		close(fds[0]);
		pid_t mid_pid = getpid();
		root = fork();
		if (root != 0)
			_exit(root < 0 ? 1 : 0);
		/* the root leads its own session (CRIU wants that without
		 * --shell-job) and reports the ppid it keeps, not mid's */
		setsid();
		while (getppid() == mid_pid)
			usleep(1000);
		/* nothing of the caller's but the pipe back to the launcher */
		if (fds[1] > 3)
			close_range(3, fds[1] - 1, 0);
		close_range(fds[1] + 1, ~0U, 0);
		devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		if (devnull > 2)
			close(devnull);
		r.fd = fds[1];
		tree_keep_private(fds[1]);
		_exit(tree_run(p, report_ready, report_error, &r));
	}
	close(fds[1]);
	waitpid(mid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "cowtree: --detach: could not start the tree's root\n");
		return 1;
	}
	return launcher_wait(p, fds[0]);
}

int main(int argc, char **argv)
{
	struct option lopts[NR_OPTS + 1];
	const char *scenario = NULL, *names[256], *values[256];
	int nset = 0, i, c, idx;
	bool list_scen = false, list_lay = false, json = false;
	struct scenario sc;
	struct params p;
	char err[1300];

	memset(lopts, 0, sizeof(lopts));
	for (i = 0; i < NR_OPTS; i++) {
		lopts[i].name = opts[i].name;
		lopts[i].has_arg = opts[i].arg ? required_argument : no_argument;
		lopts[i].val = 0;
	}
	params_init(&p);
	while ((c = getopt_long(argc, argv, "h", lopts, &idx)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c != 0) {
			fprintf(stderr, "cowtree: bad option (see --help)\n");
			return 2;
		}
		const char *name = lopts[idx].name;
		if (strcmp(name, "help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(name, "scenario") == 0) {
			scenario = optarg;
		} else if (strcmp(name, "detach") == 0) {
			p.detach = true;
		} else if (strcmp(name, "list-scenarios") == 0) {
			list_scen = true;
		} else if (strcmp(name, "list-layouts") == 0) {
			list_lay = true;
		} else if (strcmp(name, "json") == 0) {
			json = true;
		} else if (nset < 256) {
			names[nset] = name;
			values[nset++] = optarg;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cowtree: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (list_lay)
		return list_layouts(json);
	if (json && !list_scen) {
		fprintf(stderr,
			"cowtree: --json: goes with --list-scenarios or --list-layouts (the "
			"ready line is JSON already)\n");
		return 2;
	}
	/* scenario-dir first: the scenario is read from there; the scale too:
	 * the list resolves the catalogue at it */
	for (i = 0; i < nset; i++)
		if ((strcmp(names[i], "scenario-dir") == 0 || strcmp(names[i], "scale") == 0) &&
		    params_set(&p, names[i], values[i], err, sizeof(err)))
			goto bad;
	if (list_scen)
		return scenario_list(&p, json);
	if (scenario && scenario_load(&p, &sc, scenario, err, sizeof(err)))
		goto bad;
	for (i = 0; i < nset; i++) {
		if (params_set(&p, names[i], values[i], err, sizeof(err)))
			goto bad;
		if (strcmp(names[i], "size") == 0)
			p.size_explicit = true;
	}
	if (params_resolve(&p, err, sizeof(err)) || params_check_machine(&p, err, sizeof(err)))
		goto bad;
	if (p.detach)
		return run_detached(&p);
	struct reporter r = {.p = &p, .fd = -1};
	return tree_run(&p, report_ready, report_error, &r);
bad:
	fprintf(stderr, "cowtree: %s\n", err);
	return 2;
}
