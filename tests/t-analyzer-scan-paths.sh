#!/usr/bin/env bash
# cowscan tree's fast paths give the figures of the plain ones, and are
# taken (COWSCAN_TIMING=1 counts them):
#   - sparse VMAs listed by PAGEMAP_SCAN before their pagemap is read
#     (COWSCAN_NO_PAGEMAP_SCAN=1: every VMA read whole, as on a kernel
#     without the ioctl): on a tree of untouched memory, and on one whose
#     region is mostly the zero page (present, yet not in smaps' Rss);
#   - kpagecount 1 taken from pagemap's exclusive bit (COWSCAN_KPAGECOUNT_ALL=1:
#     every count read);
#   - processes scanned without smaps, their VMAs from maps and smaps' Rss
#     and Pss from the pages (COWSCAN_SMAPS_ALL=1: every smaps read): on
#     the untouched tree (file, shared anonymous and sparse mappings) and
#     the two-level tree; and a tree whose VmFlags only smaps tells (a
#     MAP_GROWSDOWN mapping, a private /dev/zero mapping, an untouched
#     anonymous one inherited by a child), read through smaps either way;
#   - kpageflags KPF_ANON taken from pagemap for anonymous pages while the
#     kernel has no KSM page and, at their PFNs, no anonymous THP
#     (COWSCAN_KPAGEFLAGS_ALL=1: every entry read): on the two-level tree
#     and on a tree of THPs;
#   - the pair matrix, added through complements for PFNs most processes
#     map: equal to an independent count of every pair's common PFNs (sets
#     of PFNs from pagemap, python) on a two-level tree, where region pages
#     are mapped by all 13 processes and rewritten ones by 4;
#   - a process's pagemap read in range jobs (COWSCAN_PAGEMAP_JOB_PAGES=64:
#     many a process, VMAs cut inside) against one job a process (=0): on
#     the untouched tree (sparse VMAs cut), the zero-page tree (slices
#     overflowing their windows: zero pages are not in VmRSS) and the
#     two-level tree.
# Figures compared: every one but those that move with file pages other
# processes map (pss_bytes, uss_bytes, baseline_restore_inflation, and
# smaps_pss_bytes but that of anonymous VMAs: a python starting elsewhere
# shares a libc page, every process the vDSO); pss_anon_bytes,
# private_anon_bytes and the anonymous VMAs' smaps_pss_bytes hold the
# kpagecount-derived figures exactly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/analyzer-tree.sh" # jqe
. "$(dirname "$0")/fixtures/untouched-tree.sh"
COWSCAN=${COWSCAN:-$COWDUMP_ROOT/build/asan/bin/cowscan}
T=$(mktmp)

tools_built "scan path test tools are built" "$COWSCAN" "$BIN/cowtree" || exit 0

# stable FILE: the tree JSON without the figures file pages move.
stable() {
	jq -S 'del(.. | .pss_bytes?, .uss_bytes?, .baseline_restore_inflation?)
	       | del(.procs[].smaps_pss_bytes, .totals.smaps_pss_bytes)
	       | del(.procs[].vmas[]? | select((.name | startswith("/")) or .name == "[vdso]")
	             | .smaps_pss_bytes)' "$1"
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

# same_split NAME ROOT: the tree read in pagemap jobs of 64 entries
# (COWSCAN_PAGEMAP_JOB_PAGES=64) gives the figures of one job a process (=0),
# and the jobs are split (COWSCAN_TIMING=1 counts them).
same_split() {
	local name=$1 root=$2 nprocs n_one n_split
	COWSCAN_PAGEMAP_JOB_PAGES=0 COWSCAN_TIMING=1 "$COWSCAN" tree "$root" --json --vmas \
		>"$T/$name.whole.json" 2>"$T/$name.whole.err" ||
		{ fail "$name: cowscan tree runs, one pagemap job a process" "$(tail -n 1 "$T/$name.whole.err")"; return; }
	COWSCAN_PAGEMAP_JOB_PAGES=64 COWSCAN_TIMING=1 "$COWSCAN" tree "$root" --json --vmas \
		>"$T/$name.split.json" 2>"$T/$name.split.err" ||
		{ fail "$name: cowscan tree runs, pagemap jobs of 64 entries" "$(tail -n 1 "$T/$name.split.err")"; return; }
	nprocs=$(jq '.procs | length' "$T/$name.whole.json")
	n_one=$(timing_count "$T/$name.whole.err" "pagemap jobs")
	n_split=$(timing_count "$T/$name.split.err" "pagemap jobs")
	check "$name: $n_one pagemap jobs for $nprocs processes unsplit, $n_split in jobs of 64 entries" \
		[ "${n_one:-0}" = "$nprocs" -a "${n_split:-0}" -gt $((4 * nprocs)) ]
	if diff <(stable "$T/$name.whole.json") <(stable "$T/$name.split.json") >"$T/$name.split.diff"; then
		pass "$name: same figures from pagemap jobs of 64 entries as from one job a process"
	else
		fail "$name: same figures from pagemap jobs of 64 entries as from one job a process" \
			"$(head -n 4 "$T/$name.split.diff" | tr '\n' ' ')"
	fi
}

# --- PAGEMAP_SCAN: untouched memory, then the zero page ----------------------
untouched_tree "$T" || { fail "untouched tree starts" "$(cat "$T/root.err")"; exit 1; }
same_figures "untouched tree" COWSCAN_NO_PAGEMAP_SCAN "$UT_ROOT" "sparse VMAs listed"
same_figures "untouched tree" COWSCAN_SMAPS_ALL "$UT_ROOT" "processes scanned without smaps"
same_split "untouched tree" "$UT_ROOT"
kill_tracked

# Only where the kernel maps a zero page (THP use_zero_page=0 with THP
# "always" gives every read fault a fresh page): cowtree says which.
r=$T/zero.ready
if start_tree "$r" --size 16M --fanout 2 --child-write 0.1 --zero 0.9 2>"$T/zero.err"; then
	echo "# zero-page tree: kernel $(uname -r) maps the zero pages $(jq -c .kernel_zero_pages "$r")"
	same_figures "zero-page tree" COWSCAN_NO_PAGEMAP_SCAN "$(jq .root "$r")" "sparse VMAs listed"
	same_split "zero-page tree" "$(jq .root "$r")"
	check "zero-page tree: the zero page is counted" \
		jqe '.totals.zero_page_bytes >= 0.8 * 16 * 1048576' "$T/zero-page tree.fast.json"
	kill_tracked
elif grep -q "maps no zero page" "$T/zero.err"; then
	skip "zero-page tree: fast path and figures" "$(head -n 1 "$T/zero.err")"
else
	fail "zero-page tree starts" "$(head -n 1 "$T/zero.err")"
	exit 1
fi

# --- exclusive bit, and the pair matrix against an independent count ---------
r=$T/deep.ready
start_tree "$r" --size 8M --depth 2 --fanout 3 --child-write 0.3 ||
	{ fail "two-level tree starts"; exit 1; }
root=$(jq .root "$r")
same_figures "two-level tree" COWSCAN_KPAGECOUNT_ALL "$root" "kpagecounts known"
same_figures "two-level tree" COWSCAN_SMAPS_ALL "$root" "processes scanned without smaps"
same_split "two-level tree" "$root"
# KSM pages anywhere on the machine make cowscan read every kpageflags
# entry: nothing to compare then. Anonymous THPs do not (their PFNs are
# checked): the thp scenario's tree, started below, holds some.
ksm=$(cat /sys/kernel/mm/ksm/pages_shared 2>/dev/null || echo 0)
if [ "$ksm" = 0 ]; then
	same_figures "two-level tree" COWSCAN_KPAGEFLAGS_ALL "$root" "kpageflags known"
	r=$T/thp.ready
	if start_tree "$r" --scenario thp --scale small 2>"$T/thp.err"; then
		same_figures "thp tree" COWSCAN_KPAGEFLAGS_ALL "$(jq .root "$r")" "kpageflags known"
		check "thp tree: its THPs are counted" jqe '.totals.thp_bytes > 0' "$T/thp tree.fast.json"
	elif grep -q 'transparent hugepages are disabled' "$T/thp.err"; then
		skip "thp tree: kpageflags from pagemap" "$(head -n 1 "$T/thp.err")"
	else
		fail "thp tree starts" "$(head -n 1 "$T/thp.err")"
	fi
else
	skip "kpageflags from pagemap" "$ksm KSM pages on the machine"
fi

# pair_count JSON: cowscan's matrix, unique and shared bytes against sets
# of present PFNs (the zero page aside) read from pagemap, for the same
# processes and VMAs (the kernel's areas skipped, as cowscan does).
pair_count() {
	python3 "$COWDUMP_ROOT/tests/helpers/pfn-sets.py" "$1"
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
kill_tracked

# --- VmFlags only smaps tells: those processes read through smaps --------------
# A python root and its children, each with one mapping whose VmFlags only
# smaps shows: a MAP_GROWSDOWN mapping (VmStk larger than [stack]), a
# private mapping of /dev/zero (a character device), a MAP_DROPPABLE one
# with pages (not swap-backed), and, in a grandchild, the same inherited
# and wiped (empty: no page tells; taken for an ordinary VMA, the child's
# VMA counts would change). Only the root is scanned without smaps.
cat >"$T/flags.py" <<'EOF'
import ctypes, mmap, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
RW, MB = mmap.PROT_READ | mmap.PROT_WRITE, 1 << 20
MAP_GROWSDOWN, MAP_DROPPABLE = 0x100, 0x08
FAILED = ctypes.c_void_p(-1).value

def sleep_forever():
    while True:
        time.sleep(1e9)

def child(make):
    pid = os.fork()
    if pid == 0:
        make()
        sleep_forever()
    return pid

def growsdown():
    a = libc.mmap(None, MB, RW, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0)
    ctypes.memset(a + MB - 8192, 1, 8192)

def dev_zero():
    a = libc.mmap(None, MB, RW, mmap.MAP_PRIVATE, os.open("/dev/zero", os.O_RDWR), 0)
    ctypes.memset(a, 2, 4096)

def droppable():
    a = libc.mmap(None, MB, RW, mmap.MAP_ANONYMOUS | MAP_DROPPABLE, -1, 0)  # a map type
    if a in (None, FAILED):
        return  # before Linux 6.11: an ordinary process
    ctypes.memset(a, 3, 8192)
    child(lambda: None)

made = [child(growsdown), child(dev_zero), child(droppable)]
time.sleep(0.3)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(f"{os.getpid()}\n")
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
sleep_forever()
EOF
setsid python3 "$T/flags.py" "$T/flags.ready" </dev/null >/dev/null 2>"$T/flags.err" &
track $!
for _ in $(seq 100); do [ -s "$T/flags.ready" ] && break; sleep 0.05; done
[ -s "$T/flags.ready" ] || { fail "VmFlags tree starts" "$(head -n 1 "$T/flags.err")"; exit 1; }
froot=$(cat "$T/flags.ready")
track $(descendants "$froot")
COWSCAN_TIMING=1 "$COWSCAN" tree "$froot" --json --vmas >"$T/flags.fast.json" 2>"$T/flags.fast.err"
COWSCAN_SMAPS_ALL=1 "$COWSCAN" tree "$froot" --json --vmas >"$T/flags.plain.json" 2>/dev/null
nprocs=$(jq '.procs | length' "$T/flags.fast.json")
dropping=$(grep -c ' dp' /proc/$(jq '.procs[-1].pid' "$T/flags.fast.json")/smaps)
echo "# VmFlags tree: $nprocs processes; the last has $dropping droppable VMAs"
n=$(timing_count "$T/flags.fast.err" "processes scanned without smaps")
# Before Linux 6.11 (no MAP_DROPPABLE: 4 processes), that child is ordinary.
want=$((nprocs == 5 ? 1 : 2))
check "VmFlags only smaps tells: $want scanned without smaps ($n of $nprocs)" [ "$n" = "$want" ]
if diff <(stable "$T/flags.fast.json") <(stable "$T/flags.plain.json") >"$T/flags.diff"; then
	pass "VmFlags only smaps tells: same figures with and without COWSCAN_SMAPS_ALL=1"
else
	fail "VmFlags only smaps tells: same figures with and without COWSCAN_SMAPS_ALL=1" \
		"$(head -n 4 "$T/flags.diff" | tr '\n' ' ')"
fi
