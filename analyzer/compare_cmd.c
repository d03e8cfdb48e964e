/* cowscan compare BEFORE AFTER: are two snapshots of a tree (typically
 * before dump and after restore) the same memory, and what did the
 * restore cost in PSS and unique bytes? */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "memread.h"
#include "util.h"

static json_t *load(const char *path)
{
	json_error_t e;
	json_t *doc = json_load_file(path, 0, &e);

	if (!doc) {
		err_line("%s: not a readable snapshot: %s (line %d)", path, e.text, e.line);
		return NULL;
	}
	if (!json_is_array(json_object_get(doc, "procs")) ||
	    strcmp(json_string_value(json_object_get(doc, "kind")) ?: "", "snapshot")) {
		err_line("%s: not a cowscan snapshot (no \"kind\":\"snapshot\" with procs)", path);
		json_decref(doc);
		return NULL;
	}
	/* Hashes of another scheme (an older cowscan) would all differ. */
	if (strcmp(json_string_value(json_object_get(doc, "content_hash")) ?: "none",
		   MEM_CONTENT_HASH)) {
		err_line("%s: content hashed as \"%s\", this cowscan hashes as \"%s\": take both "
			 "snapshots with the same cowscan",
			 path, json_string_value(json_object_get(doc, "content_hash")) ?: "none",
			 MEM_CONTENT_HASH);
		json_decref(doc);
		return NULL;
	}
	return doc;
}

static void add_diff(json_t *diffs, int index, const char *vma, const char *reason)
{
	json_array_append_new(
	    diffs, json_pack("{s:i,s:s,s:s}", "index", index, "vma", vma, "reason", reason));
}

static void vma_label(json_t *v, char *buf, size_t len)
{
	snprintf(buf, len, "%s-%s %s", json_string_value(json_object_get(v, "start")) ?: "?",
		 json_string_value(json_object_get(v, "end")) ?: "?",
		 json_string_value(json_object_get(v, "name")) ?: "");
}

static json_t *find_vma(json_t *vmas, json_t *like)
{
	const char *s = json_string_value(json_object_get(like, "start"));
	const char *e = json_string_value(json_object_get(like, "end"));
	size_t i;
	json_t *v;

	json_array_foreach(vmas, i, v)
	{
		const char *vs = json_string_value(json_object_get(v, "start"));
		const char *ve = json_string_value(json_object_get(v, "end"));

		if (s && e && vs && ve && !strcmp(s, vs) && !strcmp(e, ve))
			return v;
	}
	return NULL;
}

static const char *str_of(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key)) ?: "";
}

/* Compare the VMAs of one process pair; append differences. */
static void compare_proc(json_t *pb, json_t *pa, int index, json_t *diffs)
{
	json_t *vb = json_object_get(pb, "vmas"), *va = json_object_get(pa, "vmas"), *v, *w;
	char label[400];
	size_t i;

	json_array_foreach(vb, i, v)
	{
		vma_label(v, label, sizeof(label));
		if (!strcmp(str_of(v, "status"), "kernel-area"))
			continue;
		w = find_vma(va, v);
		if (!w) {
			add_diff(diffs, index, label, "VMA missing after");
			continue;
		}
		if (strcmp(str_of(v, "status"), str_of(w, "status"))) {
			char why[128];

			snprintf(why, sizeof(why), "%s before, %s after", str_of(v, "status"),
				 str_of(w, "status"));
			add_diff(diffs, index, label, why);
		} else if (strcmp(str_of(v, "hash"), str_of(w, "hash"))) {
			add_diff(diffs, index, label, "content differs");
		}
	}
	json_array_foreach(va, i, w)
	{
		if (!strcmp(str_of(w, "status"), "kernel-area") || find_vma(vb, w))
			continue;
		vma_label(w, label, sizeof(label));
		add_diff(diffs, index, label, "VMA only after");
	}
}

static json_t *ratio(json_t *before, json_t *after)
{
	if (!json_is_integer(before) || !json_is_integer(after) || !json_integer_value(before))
		return json_null();
	return json_real((double)json_integer_value(after) / (double)json_integer_value(before));
}

int cmd_compare(const struct cli_args *args)
{
	bool json = cli_flag(args, "json"), identical;
	json_t *b, *a, *pb, *pa, *diffs, *res, *d;
	size_t nb, na, i;

	b = load(args->pos[0]);
	a = b ? load(args->pos[1]) : NULL;
	if (!a) {
		json_decref(b);
		return 2;
	}
	pb = json_object_get(b, "procs");
	pa = json_object_get(a, "procs");
	nb = json_array_size(pb);
	na = json_array_size(pa);
	diffs = json_array();
	if (nb != na) {
		char why[96];

		snprintf(why, sizeof(why), "%zu processes before, %zu after", nb, na);
		add_diff(diffs, -1, "", why);
	}
	for (i = 0; i < nb && i < na; i++)
		compare_proc(json_array_get(pb, i), json_array_get(pa, i), (int)i, diffs);
	identical = json_array_size(diffs) == 0;

	res = json_object();
	json_object_set_new(res, "content_identical", json_boolean(identical));
	json_object_set_new(res, "procs_compared", json_integer((json_int_t)(nb < na ? nb : na)));
	json_object_set_new(res, "differences", diffs);
	json_object_set(res, "pss_before_bytes", json_object_get(b, "pss_bytes"));
	json_object_set(res, "pss_after_bytes", json_object_get(a, "pss_bytes"));
	json_object_set(res, "unique_before_bytes", json_object_get(b, "unique_bytes"));
	json_object_set(res, "unique_after_bytes", json_object_get(a, "unique_bytes"));
	json_object_set_new(
	    res, "pss_inflation",
	    ratio(json_object_get(b, "pss_bytes"), json_object_get(a, "pss_bytes")));
	json_object_set_new(
	    res, "unique_inflation",
	    ratio(json_object_get(b, "unique_bytes"), json_object_get(a, "unique_bytes")));
	if (!json) {
		printf("content identical: %s (%zu processes compared)\n", identical ? "yes" : "no",
		       nb < na ? nb : na);
		json_array_foreach(diffs, i, d) printf(
		    "  process #%d: %s: %s\n", (int)json_integer_value(json_object_get(d, "index")),
		    str_of(d, "vma"), str_of(d, "reason"));
		if (json_is_real(json_object_get(res, "pss_inflation")))
			printf("PSS: %s -> %s (x%.3f)\n",
			       fmt_bytes(json_integer_value(json_object_get(b, "pss_bytes"))),
			       fmt_bytes(json_integer_value(json_object_get(a, "pss_bytes"))),
			       json_real_value(json_object_get(res, "pss_inflation")));
		if (json_is_real(json_object_get(res, "unique_inflation")))
			printf("unique bytes: %s -> %s (x%.3f)\n",
			       fmt_bytes(json_integer_value(json_object_get(b, "unique_bytes"))),
			       fmt_bytes(json_integer_value(json_object_get(a, "unique_bytes"))),
			       json_real_value(json_object_get(res, "unique_inflation")));
		json_decref(res);
	} else if (json_print(res)) {
		identical = false;
		json_decref(b);
		json_decref(a);
		return 2;
	}
	json_decref(b);
	json_decref(a);
	return identical ? 0 : 1;
}
