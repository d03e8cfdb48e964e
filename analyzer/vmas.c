#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmas.h"

/* Names of kernel-provided areas whose content is not user memory. */
static const char *const kernel_areas[] = {"[vvar]", "[vvar_vclock]", "[vsyscall]", "[vectors]"};

/* VmFlags mnemonics that matter to CRIU's rules, as a table. */
static const struct {
	const char name[3];
	unsigned int flag;
} vm_flag_names[] = {
    {"gd", VMA_GROWSDOWN}, {"ht", VMA_HUGETLB},	  {"pf", VMA_PFNMAP},
    {"io", VMA_PFNMAP},	   {"dp", VMA_DROPPABLE}, {"mm", VMA_MIXEDMAP},
};

static void classify(struct vma *v)
{
	size_t i;

	if (v->perms[0] == 'r')
		v->flags |= VMA_READABLE;
	if (v->perms[3] == 'p')
		v->flags |= VMA_PRIVATE;
	if (v->ino == 0 && (v->name[0] == '\0' || v->name[0] == '['))
		v->flags |= VMA_ANON;
	if (!(v->flags & VMA_PRIVATE) &&
	    (!strncmp(v->name, "/dev/zero", 9) || !strncmp(v->name, "/SYSV", 5)))
		v->flags |= VMA_SHARED_ANON;
	for (i = 0; i < sizeof(kernel_areas) / sizeof(kernel_areas[0]); i++)
		if (!strcmp(v->name, kernel_areas[i]))
			v->flags |= VMA_KERNEL;
	if (!strcmp(v->name, "[vdso]"))
		v->flags |= VMA_VDSO;
}

static void parse_vmflags(struct vma *v, const char *s)
{
	size_t i;

	while (*s) {
		while (*s == ' ')
			s++;
		if (!s[0] || !s[1])
			break;
		for (i = 0; i < sizeof(vm_flag_names) / sizeof(vm_flag_names[0]); i++)
			if (s[0] == vm_flag_names[i].name[0] && s[1] == vm_flag_names[i].name[1])
				v->flags |= vm_flag_names[i].flag;
		s += 2;
	}
}

static FILE *open_proc(pid_t pid, const char *what)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	return fopen(path, "re");
}

/* The "Key:   123 kB" fields of smaps and smaps_rollup that cowscan keeps:
 * where each goes in the process totals and, for Rss, Pss and Swap, in the VMA.
 * smaps' per-VMA fields are summed into the totals smaps_rollup would give:
 * reading smaps once costs one page-table walk, reading smaps_rollup as
 * well would walk every page table a second time. */
#define NOT_PER_VMA ((size_t)-1)
static const struct {
	const char *key;
	size_t len, at, vma_at;
} total_fields[] = {
#define TOTAL(k, f, v)                                                                             \
	{                                                                                          \
		k ":", sizeof(k), offsetof(struct smaps_totals, f), v                              \
	}
    TOTAL("Rss", rss, offsetof(struct vma, smaps_rss)),
    TOTAL("Pss", pss, offsetof(struct vma, smaps_pss)),
    TOTAL("Anonymous", anon, NOT_PER_VMA),
    TOTAL("Swap", swap, offsetof(struct vma, smaps_swap)),
    TOTAL("AnonHugePages", anon_huge, NOT_PER_VMA),
    TOTAL("Private_Clean", private_clean, NOT_PER_VMA),
    TOTAL("Private_Dirty", private_dirty, NOT_PER_VMA),
#undef TOTAL
};
#define NR_TOTAL_FIELDS (int)(sizeof(total_fields) / sizeof(total_fields[0]))
/* Rss and Pss (fields 0 and 1): a smaps_rollup without them is a zombie's. */
#define TOTAL_FIELDS_NEEDED 0x3u

/* A decimal number after optional spaces; *end past it. */
static unsigned long long decimal(const char *p, const char **end)
{
	unsigned long long v = 0;

	while (*p == ' ')
		p++;
	for (; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (unsigned long long)(*p - '0');
	*end = p;
	return v;
}

/* The total_fields index of a "Key: N kB" line, with its value in bytes;
 * -1 for any other line. A smaps VMA has some 25 such lines: the key's
 * length is compared before its text. */
static int total_field(const char *line, unsigned long long *bytes)
{
	const char *colon = strchr(line, ':'), *end;
	size_t len;
	int i;

	if (!colon)
		return -1;
	len = (size_t)(colon - line) + 1;
	for (i = 0; i < NR_TOTAL_FIELDS; i++)
		if (total_fields[i].len == len && !memcmp(line, total_fields[i].key, len)) {
			*bytes = decimal(line + len, &end) * 1024;
			return i;
		}
	return -1;
}

static unsigned long long *field_in(void *base, size_t at)
{
	return (unsigned long long *)((char *)base + at);
}

/* A field line of the current VMA: add it to the totals (and keep Rss, Pss
 * and Swap per VMA), or take its VmFlags. */
static void parse_field(struct vma *cur, struct smaps_totals *tot, const char *line)
{
	unsigned long long bytes;
	int i = total_field(line, &bytes);

	if (i >= 0) {
		*field_in(tot, total_fields[i].at) += bytes;
		if (total_fields[i].vma_at != NOT_PER_VMA)
			*field_in(cur, total_fields[i].vma_at) = bytes;
	} else if (!strncmp(line, "VmFlags:", 8)) {
		parse_vmflags(cur, line + 8);
	}
}

bool vma_parse_header(const char *line, struct vma *v)
{
	char *p;

	memset(v, 0, sizeof(*v));
	v->start = strtoul(line, &p, 16);
	if (*p != '-')
		return false;
	v->end = strtoul(p + 1, &p, 16);
	if (p[0] != ' ' || strnlen(p + 1, 5) < 5 || p[5] != ' ')
		return false;
	memcpy(v->perms, p + 1, 4);
	v->offset = strtoull(p + 6, &p, 16);
	if (*p != ' ')
		return false;
	v->dev_major = (unsigned int)strtoul(p + 1, &p, 16);
	if (*p != ':')
		return false;
	v->dev_minor = (unsigned int)strtoul(p + 1, &p, 16);
	if (*p != ' ')
		return false;
	v->ino = strtoull(p + 1, &p, 10);
	if (*p != ' ' && *p != '\0')
		return false;
	while (*p == ' ')
		p++;
	snprintf(v->name, sizeof(v->name), "%s", p);
	classify(v);
	return true;
}

int vmas_read(pid_t pid, struct vma_list *out, struct smaps_totals *tot)
{
	FILE *f = open_proc(pid, "smaps");
	char line[4096];
	int cap = 0;
	struct vma *cur = NULL;

	out->v = NULL;
	out->nr = 0;
	memset(tot, 0, sizeof(*tot));
	if (!f)
		return -1;
	/* Fewer, larger reads of the seq_file. */
	setvbuf(f, NULL, _IOFBF, 1 << 16);
	errno = 0;
	while (fgets(line, sizeof(line), f)) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		/* Field lines start with a capital letter ("Key: value"),
		 * header lines with a hex digit. */
		if (cur && line[0] >= 'A' && line[0] <= 'Z') {
			parse_field(cur, tot, line);
			continue;
		}
		if (vmas_reserve(out, &cap)) {
			fclose(f);
			vmas_free(out);
			return -1;
		}
		if (vma_parse_header(line, &out->v[out->nr]))
			cur = &out->v[out->nr++];
	}
	if (ferror(f)) {
		int e = errno;

		fclose(f);
		vmas_free(out);
		errno = e;
		return -1;
	}
	fclose(f);
	if (out->nr == 0) {
		/* An empty smaps means a zombie or a process being torn down. */
		errno = ESRCH;
		return -1;
	}
	return 0;
}

int vmas_reserve(struct vma_list *l, int *cap)
{
	int grown = *cap ? *cap * 2 : 64;
	struct vma *nv;

	if (l->nr < *cap)
		return 0;
	nv = realloc(l->v, (size_t)grown * sizeof(*nv));
	if (!nv) {
		errno = ENOMEM;
		return -1;
	}
	*cap = grown;
	l->v = nv;
	return 0;
}

void vmas_free(struct vma_list *l)
{
	free(l->v);
	l->v = NULL;
	l->nr = 0;
}

int smaps_rollup_read(pid_t pid, struct smaps_totals *out)
{
	FILE *f = open_proc(pid, "smaps_rollup");
	char line[256];
	unsigned long long bytes;
	unsigned int seen = 0;
	int i;

	memset(out, 0, sizeof(*out));
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if ((i = total_field(line, &bytes)) >= 0) {
			*field_in(out, total_fields[i].at) = bytes;
			seen |= 1u << i;
		}
	fclose(f);
	if ((seen & TOTAL_FIELDS_NEEDED) != TOTAL_FIELDS_NEEDED) {
		errno = ESRCH;
		return -1;
	}
	return 0;
}

bool vma_is_criu_private(const struct vma *v)
{
	return (v->flags & VMA_PRIVATE) && !(v->flags & VMA_KERNEL) &&
	       v->end <= 0x7ffffffff000UL; /* x86-64 task size */
}

int vma_find(const struct vma_list *l, unsigned long addr, int hint)
{
	int lo = 0, hi = l->nr - 1;

	if (hint >= 0 && hint < l->nr && addr >= l->v[hint].start && addr < l->v[hint].end)
		return hint;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;

		if (addr < l->v[mid].start)
			hi = mid - 1;
		else if (addr >= l->v[mid].end)
			lo = mid + 1;
		else
			return mid;
	}
	return -1;
}
