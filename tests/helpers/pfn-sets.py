#!/usr/bin/env python3
"""pfn-sets.py TREE_JSON: the test oracle for cowscan tree's pair matrix.

Reads, independently of cowscan, the present PFNs (the zero page aside)
of the processes a `cowscan tree --json` document lists, from their
pagemaps over their VMAs (the kernel's areas skipped, as cowscan does),
and compares every pair's common bytes, unique_pfn_bytes and
shared_bytes with the document's. Prints one line; exit 1 on a
difference.
"""
import json, os, struct, sys
PS = 4096
doc = json.load(open(sys.argv[1]))
pids = doc["shared_matrix"]["pids"]
kpf = os.open("/proc/kpageflags", os.O_RDONLY)
def is_zero_page(pfn):
    return struct.unpack("<Q", os.pread(kpf, 8, pfn * 8))[0] >> 24 & 1
sets = []
for pid in pids:
    pfns = set()
    fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
    for line in open(f"/proc/{pid}/maps"):
        f = line.split()
        if len(f) > 5 and f[5] in ("[vvar]", "[vvar_vclock]", "[vsyscall]"):
            continue
        s, e = (int(x, 16) // PS for x in f[0].split("-"))
        data = os.pread(fd, (e - s) * 8, s * 8)
        pfns.update(v & ((1 << 55) - 1) for (v,) in struct.iter_unpack("<Q", data) if v >> 63)
    os.close(fd)
    sets.append({p for p in pfns if not is_zero_page(p)})
bad = []
got = doc["shared_matrix"]["bytes"]
for i in range(len(pids)):
    for j in range(len(pids)):
        want = len(sets[i] & sets[j]) * PS
        if got[i][j] != want:
            bad.append(f"[{i}][{j}] {got[i][j]} != {want}")
counts = {}
for s in sets:
    for p in s:
        counts[p] = counts.get(p, 0) + 1
if doc["totals"]["unique_pfn_bytes"] != len(counts) * PS:
    bad.append(f"unique {doc['totals']['unique_pfn_bytes']} != {len(counts) * PS}")
shared = sum(1 for c in counts.values() if c > 1) * PS
if doc["totals"]["shared_bytes"] != shared:
    bad.append(f"shared {doc['totals']['shared_bytes']} != {shared}")
print(f"{len(pids)} processes, {len(counts)} PFNs, {len(bad)} differences: " + " ".join(bad[:4]))
sys.exit(1 if bad else 0)
