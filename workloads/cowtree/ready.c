/* Formatting the ready line (workloads/README.md, "The ready line"). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "params.h"
#include "ready.h"
#include "root_arena.h"
#include "zeropage.h"

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

/* The records' indices in pre-order, by a merge sort whose arrays come
 * from the root's arena: glibc's qsort() may malloc(), and the root must
 * not write to heap pages it shares with its children (root_arena.c).
 * NULL when the arena is used up. */
static long *preorder(const struct record *procs, long nr)
{
	long *a = root_arena_calloc(nr ? (size_t)nr : 1, sizeof(*a));
	long *b = root_arena_calloc(nr ? (size_t)nr : 1, sizeof(*b));
	long *t, w, i;

	if (!a || !b)
		return NULL;
	for (i = 0; i < nr; i++)
		a[i] = i;
	for (w = 1; w < nr; w *= 2) {
		for (i = 0; i < nr; i += 2 * w) {
			long x = i, mid = i + w < nr ? i + w : nr, y = mid;
			long hi = i + 2 * w < nr ? i + 2 * w : nr, o = i;

			while (x < mid || y < hi)
				b[o++] = y >= hi || (x < mid &&
						     cmp_preorder(&procs[a[x]], &procs[a[y]]) <= 0)
					     ? a[x++]
					     : a[y++];
		}
		t = a;
		a = b;
		b = t;
	}
	return a;
}

static json_t *hex(uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return json_string(buf);
}

/* The zero pages the kernel maps: ["4k", "huge"], [] for none, null when
 * it could not be told. */
static json_t *kernel_zero_pages(void)
{
	const struct zero_probe *z = zero_probe();
	json_t *arr;

	if (!z->known)
		return json_null();
	arr = json_array();
	if (z->small)
		json_array_append_new(arr, json_string("4k"));
	if (z->huge)
		json_array_append_new(arr, json_string("huge"));
	return arr;
}

static json_t *threads_json(const struct node *root)
{
	json_t *arr = json_array();
	int i;

	for (i = 0; i < root->nr_threads; i++) {
		const struct thread_info *t = &root->threads[i];
		json_array_append_new(arr, json_pack("{s:i, s:o, s:I, s:o, s:I}", "tid", t->tid,
						     "arena_addr", hex(t->arena_addr),
						     "arena_bytes", (json_int_t)t->arena_bytes,
						     "stack_addr", hex(t->stack_addr),
						     "stack_bytes", (json_int_t)t->stack_bytes));
	}
	return arr;
}

static json_t *proc_json(const struct record *r, long index)
{
	json_t *e = json_object();

	json_object_set_new(e, "pid", json_integer(r->pid));
	json_object_set_new(e, "ppid", json_integer(r->ppid));
	json_object_set_new(e, "role", json_string(role_of(r)));
	json_object_set_new(e, "depth", json_integer(r->depth));
	json_object_set_new(e, "index", json_integer(index));
	json_object_set_new(e, "sibling", json_integer(r->sibling));
	json_object_set_new(e, "region_addr", r->has_region ? hex(r->region_addr) : json_null());
	json_object_set_new(e, "written_pages", json_integer(r->written_pages));
	json_object_set_new(e, "absent_pages", json_integer(r->absent_pages));
	json_object_set_new(e, "layout_action", *r->action ? json_string(r->action) : json_null());
	return e;
}

char *ready_line(const struct node *root, const struct record *procs, long nr, const char *file)
{
	const struct params *p = root->p;
	json_t *o = json_object(), *arr = json_array();
	long *order = preorder(procs, nr);
	char *s;
	long i;

	if (!order)
		return NULL;
	json_object_set_new(o, "ready", json_true());
	json_object_set_new(o, "tool", json_string("cowtree"));
	json_object_set_new(o, "scenario", json_string(p->scenario));
	json_object_set_new(o, "root", json_integer(procs[order[0]].pid));
	json_object_set_new(o, "page_size", json_integer(root->page_size));
	/* the parameters as before "params" held them all: kept for readers */
	json_object_set_new(o, "region_size", json_integer(p->size));
	json_object_set_new(o, "backing", json_string(params_backing_name(p->backing)));
	json_object_set_new(o, "thp", json_boolean(p->thp));
	json_object_set_new(o, "layout", json_string(layouts[p->layout].name));
	json_object_set_new(o, "scale", json_string(p->scale));
	json_object_set_new(o, "fanout", json_integer(p->fanout));
	json_object_set_new(o, "depth", json_integer(p->depth));
	json_object_set_new(o, "child_write", json_real(p->child_write));
	json_object_set_new(o, "parent_write", json_real(p->parent_write));
	json_object_set_new(o, "zero", json_real(p->zero));
	json_object_set_new(o, "seed", json_integer((json_int_t)p->seed));
	json_object_set_new(o, "params", params_json(p));
	json_object_set_new(o, "kernel_zero_pages", kernel_zero_pages());
	json_object_set_new(o, "zero_pages", json_integer(root->zero_pages));
	json_object_set_new(o, "backing_file", *file ? json_string(file) : json_null());
	json_object_set_new(o, "threads", threads_json(root));
	for (i = 0; i < nr; i++)
		json_array_append_new(arr, proc_json(&procs[order[i]], i));
	json_object_set_new(o, "procs", arr);
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}
