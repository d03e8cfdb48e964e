#!/usr/bin/env bash
# cowscan tree's fast paths give the figures of the plain ones, and are
# taken (COWSCAN_TIMING=1 counts them):
#   - sparse VMAs listed by PAGEMAP_SCAN before their pagemap is read
#     (COWSCAN_NO_PAGEMAP_SCAN=1: every VMA read whole, as on a kernel
#     without the ioctl): on a tree of untouched memory, and on one whose
#     region is mostly the zero page (present, yet not in smaps' Rss);
#   - kpagecount 1 taken from pagemap's exclusive bit (COWSCAN_KPAGECOUNT_ALL=1:
#     every count read);
#   - the pair matrix, added through complements for PFNs most processes
#     map: equal to an independent count of every pair's common PFNs (sets
#     of PFNs from pagemap, python) on a two-level tree, where region pages
#     are mapped by all 13 processes and rewritten ones by 4.
# Figures compared: every one but those that move with file pages other
# processes map (pss_bytes, smaps_pss_bytes, uss_bytes,
# baseline_restore_inflation: a python starting elsewhere shares a libc
# page); pss_anon_bytes and private_anon_bytes hold the kpagecount-derived
# figures exactly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/analyzer-tree.sh" # jqe
. "$(dirname "$0")/fixtures/untouched-tree.sh"
COWSCAN=${COWSCAN:-$COWDUMP_ROOT/build/asan/bin/cowscan}
T=$(mktmp)

tools_built "scan path test tools are built" "$COWSCAN" "$BIN/cowtree" || exit 0

# stable FILE: the tree JSON without the figures file pages move.
stable() {
	jq -S 'del(.. | .pss_bytes?, .smaps_pss_bytes?, .uss_bytes?, .baseline_restore_inflation?)' "$1"
}

# timing_count FILE WHAT: the number before WHAT in a COWSCAN_TIMING line.
timing_count() {
	grep -o "[0-9]* $2" "$1" | head -n 1 | cut -d' ' -f1
}

# same_figures NAME ENV ROOT WHAT: the tree scanned with and without ENV set
# gives the same figures, and the fast path (counted as WHAT) is taken
# without ENV only.
same_figures() {
	local name=$1 env=$2 root=$3 what=$4 n_fast n_plain
	COWSCAN_TIMING=1 "$COWSCAN" tree "$root" --json --vmas >"$T/$name.fast.json" 2>"$T/$name.fast.err" ||
		{ fail "$name: cowscan tree runs" "$(tail -n 1 "$T/$name.fast.err")"; return; }
	env "$env=1" COWSCAN_TIMING=1 "$COWSCAN" tree "$root" --json --vmas \
		>"$T/$name.plain.json" 2>"$T/$name.plain.err" ||
		{ fail "$name: cowscan tree runs with $env=1" "$(tail -n 1 "$T/$name.plain.err")"; return; }
	n_fast=$(timing_count "$T/$name.fast.err" "$what")
	n_plain=$(timing_count "$T/$name.plain.err" "$what")
	check "$name: fast path taken ($n_fast $what), not with $env=1 ($n_plain)" \
		[ "${n_fast:-0}" -gt 0 -a "${n_plain:-1}" = 0 ]
	if diff <(stable "$T/$name.fast.json") <(stable "$T/$name.plain.json") >"$T/$name.diff"; then
		pass "$name: same figures with and without $env=1"
	else
		fail "$name: same figures with and without $env=1" "$(head -n 4 "$T/$name.diff" | tr '\n' ' ')"
	fi
}

# --- PAGEMAP_SCAN: untouched memory, then the zero page ----------------------
untouched_tree "$T" || { fail "untouched tree starts" "$(cat "$T/root.err")"; exit 1; }
same_figures "untouched tree" COWSCAN_NO_PAGEMAP_SCAN "$UT_ROOT" "sparse VMAs listed"
kill_tracked

r=$T/zero.ready
start_tree "$r" --size 16M --fanout 2 --child-write 0.1 --zero 0.9 ||
	{ fail "zero-page tree starts"; exit 1; }
same_figures "zero-page tree" COWSCAN_NO_PAGEMAP_SCAN "$(jq .root "$r")" "sparse VMAs listed"
check "zero-page tree: the zero page is counted" \
	jqe '.totals.zero_page_bytes >= 0.8 * 16 * 1048576' "$T/zero-page tree.fast.json"
kill_tracked

# --- exclusive bit, and the pair matrix against an independent count ---------
r=$T/deep.ready
start_tree "$r" --size 8M --depth 2 --fanout 3 --child-write 0.3 ||
	{ fail "two-level tree starts"; exit 1; }
root=$(jq .root "$r")
same_figures "two-level tree" COWSCAN_KPAGECOUNT_ALL "$root" "kpagecounts known"

# pair_count JSON: cowscan's matrix, unique and shared bytes against sets
# of present PFNs (the zero page aside) read from pagemap, for the same
# processes and VMAs (the kernel's areas skipped, as cowscan does).
pair_count() {
	python3 - "$1" <<'EOF'
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
EOF
}
# Both reads are of a tree that does not change; the kernel may still move
# a page (compaction) between them: one retry.
"$COWSCAN" tree "$root" --json >"$T/deep.json" 2>"$T/deep.err" || fail "two-level tree: cowscan tree runs"
out=$(pair_count "$T/deep.json") || {
	"$COWSCAN" tree "$root" --json >"$T/deep.json" 2>"$T/deep.err"
	out=$(pair_count "$T/deep.json")
}
rc=$?
echo "pair count: $out"
check "two-level tree: pair matrix, unique and shared bytes equal an independent count" [ $rc = 0 ]
check "two-level tree: 13 processes" jqe '.procs | length == 13' "$T/deep.json"
