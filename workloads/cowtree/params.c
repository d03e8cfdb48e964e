/* Parsing, resolving and checking cowtree's parameters. Every check ends in
 * one error line that names the option, e.g. "--child-write: 1.5 is not a
 * ratio in [0,1]"; the caller prefixes "cowtree: ". */
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
#include "node.h"
#include "params.h"
#include "zeropage.h"

#define MAX_FANOUT 1024
#define MAX_PROCS  4096

/* --scale: one knob that multiplies every scenario's region size. */
static const struct scale {
	const char *name;
	uint64_t num, den;
} scales[] = {
    {"small", 1, 16}, /* tests: a few MiB per region */
    {"default", 1, 1},
    {"large", 10, 1}, /* several GiB in total */
};
#define NR_SCALES (sizeof(scales) / sizeof(scales[0]))

static const char *backing_names[] = {"anon", "file", "brk"};
static const char *zero_page_names[] = {"auto", "4k", "huge"};

/* Options a scenario may set: the shape of the tree, not how it is run. */
static const char *scenario_keys[] = {"size",	      "fanout",	 "inner-fanout", "depth",
				      "child-write",  "zero",	 "zero-page",	 "thp",
				      "parent-write", "backing", "layout",	 "seed"};

const char *params_backing_name(enum backing b)
{
	return backing_names[b];
}

bool params_is_scenario_key(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(scenario_keys) / sizeof(scenario_keys[0]); i++)
		if (strcmp(name, scenario_keys[i]) == 0)
			return true;
	return false;
}

void params_init(struct params *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->scenario, sizeof(p->scenario), "custom");
	snprintf(p->scale, sizeof(p->scale), "default");
	p->size = 64UL << 20;
	p->fanout = 2;
	p->inner_fanout = -1;
	p->depth = 1;
	p->backing = BACKING_ANON;
	p->zero_page = ZERO_PAGE_AUTO;
	p->layout = 0;
	p->seed = 1;
	snprintf(p->file_dir, sizeof(p->file_dir), "/dev/shm");
}

/* "100M", "4096", "2G": bytes, or -1. */
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

/* Index of s in names[], or -1. */
static int parse_name(const char *s, const char **names, int n)
{
	int i;

	for (i = 0; s && i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
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
	char names[512];
	long l;
	int i;

	if (strcmp(name, "size") == 0) {
		if (parse_size(value, &p->size) || p->size == 0)
			BAD("'%s' is not a size (a positive number with optional K, M, G or T)", v);
	} else if (strcmp(name, "fanout") == 0) {
		if (parse_long(value, 0, MAX_FANOUT, &l))
			BAD("'%s' is not a child count in [0,%d]", v, MAX_FANOUT);
		p->fanout = l;
	} else if (strcmp(name, "inner-fanout") == 0) {
		if (parse_long(value, 0, MAX_FANOUT, &l))
			BAD("'%s' is not a child count in [0,%d]", v, MAX_FANOUT);
		p->inner_fanout = l;
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
	} else if (strcmp(name, "zero-page") == 0) {
		if ((i = parse_name(value, zero_page_names, 3)) < 0)
			BAD("'%s' is not auto, 4k or huge", v);
		p->zero_page = i;
	} else if (strcmp(name, "thp") == 0) {
		if (parse_bool(value, &p->thp))
			BAD("'%s' is not a boolean (true/false)", v);
	} else if (strcmp(name, "backing") == 0) {
		if ((i = parse_name(value, backing_names, 3)) < 0)
			BAD("'%s' is not anon, file or brk", v);
		p->backing = i;
	} else if (strcmp(name, "layout") == 0) {
		if ((p->layout = layout_find(v)) < 0)
			BAD("'%s' is not a layout (%s)", v, layout_names(names, sizeof(names)));
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
		for (i = 0; i < (int)NR_SCALES; i++)
			if (strcmp(v, scales[i].name) == 0)
				break;
		if (i == (int)NR_SCALES)
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

int params_children_at(const struct params *p, int depth)
{
	if (depth >= p->depth)
		return 0;
	return depth == 0 || p->inner_fanout < 0 ? p->fanout : p->inner_fanout;
}

struct tree_counts params_counts(const struct params *p)
{
	struct tree_counts c = {.procs = 1};
	long level = 1;
	int d;

	for (d = 0; d < p->depth && level; d++) {
		if (params_children_at(p, d) > 0) {
			c.parents += level;
			c.inner += d > 0 ? level : 0;
		}
		level *= params_children_at(p, d);
		c.procs += level;
		if (c.procs > MAX_PROCS)
			break;
	}
	return c;
}

uint64_t params_region_align(const struct params *p, uint64_t page_size)
{
	return p->thp || (p->zero > 0 && p->zero_page == ZERO_PAGE_HUGE) ? HUGE_ZERO_SIZE
									 : page_size;
}

uint64_t params_zero_unit(const struct params *p, uint64_t page_size)
{
	return p->zero_page == ZERO_PAGE_HUGE ? HUGE_ZERO_SIZE : page_size;
}

int params_resolve(struct params *p, char *err, size_t errlen)
{
	uint64_t page_size = sysconf(_SC_PAGESIZE), align;
	struct tree_counts c = params_counts(p);
	const struct layout *l = &layouts[p->layout];
	size_t i;

	if (!p->size_explicit) {
		for (i = 0; i < NR_SCALES; i++)
			if (strcmp(p->scale, scales[i].name) == 0)
				p->size = p->size / scales[i].den * scales[i].num;
	}
	if (p->size > (UINT64_MAX >> 1)) {
		snprintf(err, errlen, "--size: %" PRIu64 " bytes is too large", p->size);
		return -1;
	}
	/* --thp is the one setting known before the machine is asked; huge
	 * zero units realign the region in params_check_machine. */
	align = p->thp ? HUGE_ZERO_SIZE : page_size;
	p->size = (p->size + align - 1) / align * align;
	if (c.procs > MAX_PROCS) {
		snprintf(err, errlen,
			 "--fanout/--inner-fanout/--depth: the tree would have more than %d "
			 "processes",
			 MAX_PROCS);
		return -1;
	}
	if (p->depth < l->min_depth) {
		snprintf(err, errlen, "--layout: %s needs --depth >= %d", l->name, l->min_depth);
		return -1;
	}
	if (p->layout != 0 && c.procs == 1) {
		snprintf(err, errlen, "--layout: %s needs at least one child", l->name);
		return -1;
	}
	if (l->check && l->check(p, err, errlen))
		return -1;
	if (p->backing == BACKING_BRK && p->thp) {
		snprintf(err, errlen, "--backing: a brk region takes no --thp");
		return -1;
	}
	if (p->backing == BACKING_FILE && p->zero_page != ZERO_PAGE_AUTO) {
		snprintf(err, errlen,
			 "--zero-page: a file-backed region's zero pages are the "
			 "file's holes (use auto)");
		return -1;
	}
	return 0;
}

json_t *params_json(const struct params *p)
{
	json_t *o = json_object();

	json_object_set_new(o, "scale", json_string(p->scale));
	json_object_set_new(o, "size", json_integer((json_int_t)p->size));
	json_object_set_new(o, "fanout", json_integer(p->fanout));
	json_object_set_new(o, "inner_fanout",
			    json_integer(p->inner_fanout < 0 ? p->fanout : p->inner_fanout));
	json_object_set_new(o, "depth", json_integer(p->depth));
	json_object_set_new(o, "procs", json_integer(params_counts(p).procs));
	json_object_set_new(o, "child_write", json_real(p->child_write));
	json_object_set_new(o, "parent_write", json_real(p->parent_write));
	json_object_set_new(o, "zero", json_real(p->zero));
	json_object_set_new(o, "zero_page", json_string(zero_page_names[p->zero_page]));
	json_object_set_new(o, "thp", json_boolean(p->thp));
	json_object_set_new(o, "backing", json_string(backing_names[p->backing]));
	json_object_set_new(o, "layout", json_string(layouts[p->layout].name));
	json_object_set_new(o, "seed", json_integer((json_int_t)p->seed));
	return o;
}
