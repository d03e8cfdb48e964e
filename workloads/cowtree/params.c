/* Parsing and checking cowtree's parameters. Every check ends in one error
 * line that names the option, e.g. "--child-write: 1.5 is not a ratio in
 * [0,1]"; the caller prefixes "cowtree: ". */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "params.h"

#define MAX_FANOUT 1024
#define MAX_PROCS  4096
#define THP_SIZE   (2UL << 20)

/* --scale: one knob that multiplies every scenario's region size. */
static const struct scale {
	const char *name;
	uint64_t num, den;
} scales[] = {
    {"small", 1, 16}, /* tests: a few MiB per region */
    {"default", 1, 1},
    {"large", 10, 1}, /* several GiB in total */
};

void params_init(struct params *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->scenario, sizeof(p->scenario), "custom");
	snprintf(p->scale, sizeof(p->scale), "default");
	p->size = 64UL << 20;
	p->fanout = 2;
	p->depth = 1;
	p->backing = BACKING_ANON;
	p->layout = 0;
	p->seed = 1;
	snprintf(p->file_dir, sizeof(p->file_dir), "/dev/shm");
}

/* "100M", "4096", "2G": bytes, or -1 with the reason in err. */
static int parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		int shift;
	} units[] = {{"", 0},	{"k", 10},   {"kib", 10}, {"m", 20},   {"mib", 20},
		     {"g", 30}, {"gib", 30}, {"t", 40},	  {"tib", 40}, {"b", 0}};
	char *end;
	size_t i;

	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(end, units[i].suffix) == 0) {
			if (v > (UINT64_MAX >> units[i].shift))
				return -1;
			*out = (uint64_t)v << units[i].shift;
			return 0;
		}
	}
	return -1;
}

static int parse_ratio(const char *s, double *out)
{
	char *end;

	if (!s || !*s)
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0 || v > 1)
		return -1;
	*out = v;
	return 0;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;

	if (!s || !*s)
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
	size_t i;

	if (!s) { /* a bare flag */
		*out = true;
		return 0;
	}
	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *out = true, 0;
		if (strcasecmp(s, no[i]) == 0)
			return *out = false, 0;
	}
	return -1;
}

static int copy_str(char *dst, size_t len, const char *s)
{
	if (!s || !*s || strlen(s) >= len)
		return -1;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

#define BAD(fmt, ...)                                                                              \
	do {                                                                                       \
		snprintf(err, errlen, "--%s: " fmt, name, ##__VA_ARGS__);                          \
		return -1;                                                                         \
	} while (0)

int params_set(struct params *p, const char *name, const char *value, char *err, size_t errlen)
{
	const char *v = value ? value : "";
	long l;
	size_t i;

	if (strcmp(name, "size") == 0) {
		if (parse_size(value, &p->size) || p->size == 0)
			BAD("'%s' is not a size (a positive number with optional K, M, G or T)", v);
	} else if (strcmp(name, "fanout") == 0) {
		if (parse_long(value, 0, MAX_FANOUT, &l))
			BAD("'%s' is not a child count in [0,%d]", v, MAX_FANOUT);
		p->fanout = l;
	} else if (strcmp(name, "depth") == 0) {
		if (parse_long(value, 0, MAX_DEPTH - 1, &l))
			BAD("'%s' is not a depth in [0,%d]", v, MAX_DEPTH - 1);
		p->depth = l;
	} else if (strcmp(name, "child-write") == 0) {
		if (parse_ratio(value, &p->child_write))
			BAD("%s is not a ratio in [0,1]", v);
	} else if (strcmp(name, "parent-write") == 0) {
		if (parse_ratio(value, &p->parent_write))
			BAD("%s is not a ratio in [0,1]", v);
	} else if (strcmp(name, "zero") == 0) {
		if (parse_ratio(value, &p->zero))
			BAD("%s is not a ratio in [0,1]", v);
	} else if (strcmp(name, "thp") == 0) {
		if (parse_bool(value, &p->thp))
			BAD("'%s' is not a boolean (true/false)", v);
	} else if (strcmp(name, "backing") == 0) {
		if (strcmp(v, "anon") == 0)
			p->backing = BACKING_ANON;
		else if (strcmp(v, "file") == 0)
			p->backing = BACKING_FILE;
		else
			BAD("'%s' is not anon or file", v);
	} else if (strcmp(name, "layout") == 0) {
		int idx = layout_find(v);
		if (idx < 0)
			BAD("'%s' is not a layout (none, split, munmap, mremap, grandchild, mremap-grow)", v);
		p->layout = idx;
	} else if (strcmp(name, "seed") == 0) {
		char *end;
		errno = 0;
		unsigned long long s = value && isdigit((unsigned char)*value)
					   ? strtoull(value, &end, 10)
					   : (end = (char *)"x", 0);
		if (errno || *end)
			BAD("'%s' is not a non-negative integer", v);
		p->seed = s;
	} else if (strcmp(name, "scale") == 0) {
		for (i = 0; i < sizeof(scales) / sizeof(scales[0]); i++)
			if (strcmp(v, scales[i].name) == 0)
				break;
		if (i == sizeof(scales) / sizeof(scales[0]))
			BAD("'%s' is not small, default or large", v);
		copy_str(p->scale, sizeof(p->scale), v);
	} else if (strcmp(name, "ready-file") == 0) {
		if (copy_str(p->ready_file, sizeof(p->ready_file), value))
			BAD("needs a path");
	} else if (strcmp(name, "file-dir") == 0) {
		if (copy_str(p->file_dir, sizeof(p->file_dir), value))
			BAD("needs a directory");
	} else if (strcmp(name, "scenario-dir") == 0) {
		if (copy_str(p->scenario_dir, sizeof(p->scenario_dir), value))
			BAD("needs a directory");
	} else {
		snprintf(err, errlen, "unknown parameter '%s'", name);
		return -1;
	}
	return 0;
}

void params_scenario_dir(const struct params *p, char *buf, size_t len)
{
	char exe[4096];
	ssize_t n;

	if (p->scenario_dir[0]) {
		snprintf(buf, len, "%s", p->scenario_dir);
		return;
	}
	if (getenv("COWTREE_SCENARIO_DIR")) {
		snprintf(buf, len, "%s", getenv("COWTREE_SCENARIO_DIR"));
		return;
	}
#ifdef COWTREE_SCENARIO_DIR
	snprintf(buf, len, "%s", COWTREE_SCENARIO_DIR);
	return;
#endif
	/* build/bin/cowtree -> workloads/scenarios in the same checkout */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		snprintf(buf, len, "workloads/scenarios");
		return;
	}
	exe[n] = '\0';
	snprintf(buf, len, "%s/../../workloads/scenarios", dirname(exe));
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Options a scenario may set: the shape of the tree, not how it is run. */
static bool scenario_key_allowed(const char *key)
{
	static const char *keys[] = {"size", "fanout", "depth",	  "child-write", "parent-write",
				     "zero", "thp",    "backing", "layout",	 "seed"};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

int params_load_scenario(struct params *p, const char *name, char *err, size_t errlen)
{
	char path[8192], dir[4096], line[1024], sub[512];
	bool has_purpose = false;
	int lineno = 0;
	FILE *f;

	if (strchr(name, '/')) {
		snprintf(path, sizeof(path), "%s", name);
	} else {
		params_scenario_dir(p, dir, sizeof(dir));
		snprintf(path, sizeof(path), "%s/%s.conf", dir, name);
	}
	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "--scenario: %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s = trim(line), *eq, *key, *val;

		lineno++;
		if (strncmp(s, "# purpose:", 10) == 0)
			has_purpose = true;
		if (!*s || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%d: expected 'key = value'", path, lineno);
			goto fail;
		}
		*eq = '\0';
		key = trim(s);
		val = trim(eq + 1);
		if (!scenario_key_allowed(key)) {
			snprintf(err, errlen, "%s:%d: '%s' is not a scenario key", path, lineno,
				 key);
			goto fail;
		}
		if (params_set(p, key, val, sub, sizeof(sub))) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, sub);
			goto fail;
		}
	}
	fclose(f);
	if (!has_purpose) {
		snprintf(err, errlen, "%s: no '# purpose:' line", path);
		return -1;
	}
	/* the catalogue name is the file's base name */
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	snprintf(p->scenario, sizeof(p->scenario), "%.*s", (int)strcspn(base, "."), base);
	return 0;
fail:
	fclose(f);
	return -1;
}

long params_nprocs(const struct params *p)
{
	long n = 1, level = 1;
	int d;

	for (d = 1; d <= p->depth; d++) {
		level *= p->fanout;
		n += level;
		if (n > MAX_PROCS)
			return n;
	}
	return n;
}

static uint64_t mem_available(void)
{
	char line[256];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return UINT64_MAX;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb ? (uint64_t)kb << 10 : UINT64_MAX;
}

static int thp_check(char *err, size_t errlen)
{
	const char *path = "/sys/kernel/mm/transparent_hugepage/enabled";
	char buf[128] = "";
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(err, errlen, "--thp: %s: %s (no THP support?)", path, strerror(errno));
		return -1;
	}
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	if (strstr(buf, "[never]")) {
		snprintf(err, errlen, "--thp: transparent hugepages are disabled (%s is 'never')",
			 path);
		return -1;
	}
	return 0;
}

/* Bytes the tree will hold at most: the filled region plus every rewrite. */
static double tree_bytes(const struct params *p, long nprocs)
{
	long parents = p->fanout ? (nprocs - 1) / p->fanout : 0;
	double copies = 1.0 - p->zero + (nprocs - 1) * p->child_write + parents * p->parent_write;

	if (strcmp(layouts[p->layout].name, "grandchild") == 0)
		copies += parents; /* inner processes rewrite everything */
	return copies * (double)p->size;
}

int params_finish(struct params *p, char *err, size_t errlen)
{
	uint64_t align = p->thp ? THP_SIZE : (uint64_t)sysconf(_SC_PAGESIZE);
	long nprocs = params_nprocs(p);
	uint64_t avail;
	size_t i;

	if (!p->size_explicit) {
		for (i = 0; i < sizeof(scales) / sizeof(scales[0]); i++)
			if (strcmp(p->scale, scales[i].name) == 0)
				p->size = p->size / scales[i].den * scales[i].num;
	}
	if (p->size > (UINT64_MAX >> 1)) {
		snprintf(err, errlen, "--size: %" PRIu64 " bytes is too large", p->size);
		return -1;
	}
	p->size = (p->size + align - 1) / align * align;
	if (nprocs > MAX_PROCS) {
		snprintf(err, errlen, "--fanout/--depth: %d^%d makes more than %d processes",
			 p->fanout, p->depth, MAX_PROCS);
		return -1;
	}
	if (p->depth < layouts[p->layout].min_depth) {
		snprintf(err, errlen, "--layout: %s needs --depth >= %d", layouts[p->layout].name,
			 layouts[p->layout].min_depth);
		return -1;
	}
	if (p->layout != 0 && nprocs == 1) {
		snprintf(err, errlen, "--layout: %s needs at least one child",
			 layouts[p->layout].name);
		return -1;
	}
	if (p->thp && thp_check(err, errlen))
		return -1;
	avail = mem_available();
	if ((double)p->size > (double)avail || tree_bytes(p, nprocs) > (double)avail) {
		snprintf(err, errlen,
			 "--size: %" PRIu64 " MiB needs about %.0f MiB for this tree, more than "
			 "MemAvailable (%" PRIu64 " MiB)",
			 p->size >> 20, tree_bytes(p, nprocs) / (1 << 20), avail >> 20);
		return -1;
	}
	return 0;
}
