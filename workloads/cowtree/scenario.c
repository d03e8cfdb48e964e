/* Reading scenario files and listing the catalogue. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

static const char *build_names[NR_BUILDS] = {"baseline", "dedup"};
static const char *restore_names[] = {"unset", "shared", "copy"};

/* Bounds a scenario may set, overriding the defaults of the thresholds
 * config for it: the key (bound-NAME) and its JSON name. */
static const struct known_bound {
	const char *key, *json;
} known_bounds[] = {
    {"image-over-ideal", "image_over_ideal"},		/* dedup image / every distinct page once */
    {"pss-after-over-before", "pss_after_over_before"}, /* PSS after restore / before dump */
};
#define NR_KNOWN_BOUNDS (int)(sizeof(known_bounds) / sizeof(known_bounds[0]))

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

static int set_restore(struct scenario *sc, enum build b, const char *val, char *err, size_t errlen)
{
	if (strcmp(val, "shared") == 0)
		sc->restore[b] = RESTORE_SHARED;
	else if (strcmp(val, "copy") == 0)
		sc->restore[b] = RESTORE_COPY;
	else {
		snprintf(err, errlen, "expect-%s: '%s' is not shared or copy", build_names[b], val);
		return -1;
	}
	return 0;
}

static int set_bound(struct scenario *sc, const char *name, const char *val, char *err,
		     size_t errlen)
{
	char *end;
	double v;
	int i;

	for (i = 0; i < NR_KNOWN_BOUNDS; i++)
		if (strcmp(name, known_bounds[i].key) == 0)
			break;
	if (i == NR_KNOWN_BOUNDS) {
		snprintf(err, errlen,
			 "bound-%s: not a known bound (image-over-ideal, "
			 "pss-after-over-before)",
			 name);
		return -1;
	}
	errno = 0;
	v = strtod(val, &end);
	if (errno || !*val || *end || !isfinite(v) || v <= 0) {
		snprintf(err, errlen, "bound-%s: '%s' is not a positive number", name, val);
		return -1;
	}
	sc->bounds[sc->nr_bounds].name = known_bounds[i].json;
	sc->bounds[sc->nr_bounds++].value = v;
	return 0;
}

/* One "key = value" line that is not a parameter: expect-*, bound-*. */
static int set_meta(struct scenario *sc, char *why_all, const char *key, const char *val, char *err,
		    size_t errlen)
{
	int b;

	for (b = 0; b < NR_BUILDS; b++) {
		if (strncmp(key, "expect-", 7) == 0 && strcmp(key + 7, build_names[b]) == 0)
			return set_restore(sc, b, val, err, errlen);
		if (strncmp(key, "expect-why-", 11) == 0 && strcmp(key + 11, build_names[b]) == 0) {
			snprintf(sc->why[b], sizeof(sc->why[b]), "%s", val);
			return 0;
		}
	}
	if (strcmp(key, "expect-why") == 0) {
		snprintf(why_all, sizeof(sc->why[0]), "%s", val);
		return 0;
	}
	if (strncmp(key, "bound-", 6) == 0)
		return set_bound(sc, key + 6, val, err, errlen);
	snprintf(err, errlen, "'%s' is not a scenario key", key);
	return -1;
}

/* Every build's expectation given; a why for each copy and none for a
 * build that restores shared. */
static int check_expectations(struct scenario *sc, const char *why_all, char *err, size_t errlen)
{
	bool any_copy = false;
	int b;

	for (b = 0; b < NR_BUILDS; b++) {
		if (sc->restore[b] == RESTORE_UNSET) {
			snprintf(err, errlen, "no 'expect-%s = shared|copy' line", build_names[b]);
			return -1;
		}
		if (sc->restore[b] == RESTORE_SHARED && sc->why[b][0]) {
			snprintf(err, errlen,
				 "expect-why-%s: %s restores shared: nothing to explain",
				 build_names[b], build_names[b]);
			return -1;
		}
		if (sc->restore[b] == RESTORE_COPY && !sc->why[b][0])
			snprintf(sc->why[b], sizeof(sc->why[b]), "%s", why_all);
		if (sc->restore[b] == RESTORE_COPY && !sc->why[b][0]) {
			snprintf(err, errlen,
				 "expect-%s is copy: an 'expect-why' line must say why",
				 build_names[b]);
			return -1;
		}
		any_copy |= sc->restore[b] == RESTORE_COPY;
	}
	if (why_all[0] && !any_copy) {
		snprintf(err, errlen,
			 "expect-why: every build restores shared: nothing to explain");
		return -1;
	}
	return 0;
}

/* A key given twice is an error: the file would say two things. */
static bool seen_before(char seen[][64], int *nseen, const char *key)
{
	int i;

	for (i = 0; i < *nseen; i++)
		if (strcmp(seen[i], key) == 0)
			return true;
	if (*nseen < 64)
		snprintf(seen[(*nseen)++], 64, "%s", key);
	return false;
}

static int load_lines(struct params *p, struct scenario *sc, FILE *f, char *err, size_t errlen)
{
	char line[1024], sub[600], why_all[512] = "", seen[64][64];
	int lineno = 0, nseen = 0;

	while (fgets(line, sizeof(line), f)) {
		char *s = trim(line), *eq, *key, *val;

		lineno++;
		if (strncmp(s, "# purpose:", 10) == 0 && !sc->purpose[0])
			snprintf(sc->purpose, sizeof(sc->purpose), "%s", trim(s + 10));
		if (!*s || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%d: expected 'key = value'", sc->file, lineno);
			return -1;
		}
		*eq = '\0';
		key = trim(s);
		val = trim(eq + 1);
		if (seen_before(seen, &nseen, key)) {
			snprintf(err, errlen, "%s:%d: '%s' is given twice", sc->file, lineno, key);
			return -1;
		}
		if (sc->nr_bounds == MAX_BOUNDS && strncmp(key, "bound-", 6) == 0) {
			snprintf(err, errlen, "%s:%d: more than %d bounds", sc->file, lineno,
				 MAX_BOUNDS);
			return -1;
		}
		if (params_is_scenario_key(key)
			? params_set(p, key, val, sub, sizeof(sub))
			: set_meta(sc, why_all, key, val, sub, sizeof(sub))) {
			snprintf(err, errlen, "%s:%d: %s", sc->file, lineno, sub);
			return -1;
		}
	}
	if (!sc->purpose[0]) {
		snprintf(err, errlen, "%s: no '# purpose:' line", sc->file);
		return -1;
	}
	if (check_expectations(sc, why_all, sub, sizeof(sub))) {
		snprintf(err, errlen, "%s: %s", sc->file, sub);
		return -1;
	}
	return 0;
}

int scenario_load(struct params *p, struct scenario *sc, const char *name, char *err, size_t errlen)
{
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	char dir[4096];
	FILE *f;
	int ret;

	memset(sc, 0, sizeof(*sc));
	if (strchr(name, '/')) {
		snprintf(sc->file, sizeof(sc->file), "%s", name);
	} else {
		params_scenario_dir(p, dir, sizeof(dir));
		if (snprintf(sc->file, sizeof(sc->file), "%s/%s.conf", dir, name) >=
		    (int)sizeof(sc->file)) {
			snprintf(err, errlen, "--scenario: %s: path too long", name);
			return -1;
		}
	}
	f = fopen(sc->file, "r");
	if (!f) {
		snprintf(err, errlen, "--scenario: %s: %s", sc->file, strerror(errno));
		return -1;
	}
	ret = load_lines(p, sc, f, err, errlen);
	fclose(f);
	if (ret)
		return -1;
	/* the catalogue name is the file's base name */
	snprintf(sc->name, sizeof(sc->name), "%.*s", (int)strcspn(base, "."), base);
	snprintf(p->scenario, sizeof(p->scenario), "%s", sc->name);
	return 0;
}

json_t *scenario_json(const struct scenario *sc, const struct params *p)
{
	json_t *expect = json_object(), *bounds = json_object();
	int b;

	for (b = 0; b < NR_BUILDS; b++) {
		json_t *e = json_pack("{s:s}", "restore", restore_names[sc->restore[b]]);
		if (sc->why[b][0])
			json_object_set_new(e, "why", json_string(sc->why[b]));
		json_object_set_new(expect, build_names[b], e);
	}
	for (b = 0; b < sc->nr_bounds; b++)
		json_object_set_new(bounds, sc->bounds[b].name, json_real(sc->bounds[b].value));
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "name", sc->name, "purpose", sc->purpose,
			 "file", sc->file, "params", params_json(p), "expect", expect, "bounds",
			 bounds);
}

static int is_conf(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return len > 5 && strcmp(d->d_name + len - 5, ".conf") == 0;
}

/* "shared" or "copy": what a listed scenario expects of a build. */
static const char *listed_restore(json_t *scenario, enum build b)
{
	json_t *e = json_object_get(json_object_get(scenario, "expect"), build_names[b]);

	return json_string_value(json_object_get(e, "restore"));
}

static void print_table(json_t *all)
{
	json_t *s;
	size_t i;

	printf("%-18s %-9s %-9s %s\n", "SCENARIO", "BASELINE", "DEDUP", "PURPOSE");
	json_array_foreach(all, i, s)
	{
		printf("%-18s %-9s %-9s %s\n", json_string_value(json_object_get(s, "name")),
		       listed_restore(s, BUILD_BASELINE), listed_restore(s, BUILD_DEDUP),
		       json_string_value(json_object_get(s, "purpose")));
	}
}

int scenario_list(const struct params *base, bool json)
{
	char dir[4096], err[1200];
	json_t *all = json_array();
	struct dirent **ents;
	int n, i, ret = 0;

	params_scenario_dir(base, dir, sizeof(dir));
	n = scandir(dir, &ents, is_conf, alphasort);
	if (n < 0) {
		fprintf(stderr, "cowtree: --list-scenarios: %s: %s\n", dir, strerror(errno));
		json_decref(all);
		return 2;
	}
	for (i = 0; i < n; i++) {
		struct params p = *base;
		struct scenario sc;
		char name[512];

		snprintf(name, sizeof(name), "%.*s", (int)strlen(ents[i]->d_name) - 5,
			 ents[i]->d_name);
		if (!ret && (scenario_load(&p, &sc, name, err, sizeof(err)) ||
			     params_resolve(&p, err, sizeof(err)))) {
			fprintf(stderr, "cowtree: --list-scenarios: %s: %s\n", name, err);
			ret = 2;
		}
		if (!ret)
			json_array_append_new(all, scenario_json(&sc, &p));
		free(ents[i]);
	}
	free(ents);
	if (!ret && json) {
		json_dumpf(all, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
		printf("\n");
	} else if (!ret) {
		print_table(all);
	}
	json_decref(all);
	return ret;
}
