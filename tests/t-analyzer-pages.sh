#!/usr/bin/env bash
# cowscan pages, the tests' oracle of page frames, against trees of known
# construction (cowtree's ready line says which pages were rewritten and
# which were left on the zero page), run by the sanitizer build:
#   - ranges: a child's region shares exactly its unwritten pages' frames
#     with the root's; the root's region has exactly its zero pages on the
#     zero page; the region's distinct anonymous frames over the tree are
#     the root's non-zero pages plus every child's rewritten ones;
#   - whole tree (--tree): the unique anonymous bytes hold the region's
#     and at most 2 MiB a process more (stacks, libc data, heap);
#   - THP: the thp scenario's root region is in transparent huge pages;
#   - it populates nothing (Rss and pagemap present bits unchanged), and
#     --hash, which reads present pages, gives the hash a read of every
#     page would give, and another after a one-byte write;
#   - bad input and hidden PFNs: exit 2 with one error line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/analyzer-tree.sh"
. "$(dirname "$0")/fixtures/untouched-tree.sh"
COWSCAN=${COWSCAN:-$COWDUMP_ROOT/build/asan/bin/cowscan}
T=$(mktmp)
PAGE=$(getconf PAGESIZE)

tools_built "pages test tools are built" "$COWSCAN" "$BIN/cowtree" || exit 0

# ranges READY: every process's region as PID@ADDR.
ranges() { jq -r '.procs[] | "\(.pid)@\(.region_addr)"' "$1"; }

# --- ranges on zero-heavy: frames, zero pages, unique anonymous frames -----
r=$T/zero.ready
start_tree "$r" --scenario zero-heavy --scale small || { fail "zero-heavy tree starts"; exit 1; }
len=$(jq .region_size "$r")
npages=$((len / PAGE))
"$COWSCAN" pages --json --len "$len" $(ranges "$r") >"$T/zero.json" 2>"$T/err" ||
	{ fail "pages runs on ranges" "$(head -n 1 "$T/err")"; exit 1; }
written=$(jq '.procs[1].written_pages' "$r")
zero=$(jq --argjson n "$npages" '.zero * $n | floor' "$r")
nchild=$(($(jq '.procs | length' "$r") - 1))
echo "INFO: zero-heavy region $npages pages, $zero on the zero page, $written rewritten by each of $nchild children"
check "a child shares exactly its unwritten pages' frames with the root" \
	jqe --argjson w "$written" '.procs[1] | .same_frame_as_first == .pages - $w' "$T/zero.json"
check "the root's range counts itself as the first (same frames = present)" \
	jqe '.procs[0] | .same_frame_as_first == .present' "$T/zero.json"
check "the root's zero pages are on the zero page, the rest anonymous" \
	jqe --argjson z "$zero" '.procs[0] | .zero_page == $z and .anon == .pages - $z and .file == 0 and .swapped == 0' "$T/zero.json"
check "distinct anonymous frames = root's non-zero pages + every child's rewritten ones" \
	jqe --argjson z "$zero" --argjson w "$written" --argjson c "$nchild" --argjson n "$npages" --argjson ps "$PAGE" \
	'.totals | .unique_anon_frames == ($n - $z) + $c * $w and .unique_anon_bytes == .unique_anon_frames * $ps' "$T/zero.json"
"$COWSCAN" pages --len "$len" $(ranges "$r") >"$T/zero.txt" 2>&1
check "the table has a row per range and a total" \
	bash -c "[ \$(grep -c '^[0-9]' '$T/zero.txt') = $((nchild + 1)) ] && grep -q '^total' '$T/zero.txt'"

# --- whole tree: unique anonymous bytes -------------------------------------
root=$(jq .root "$r")
"$COWSCAN" pages --tree --json "$root" >"$T/tree.json" 2>"$T/err" ||
	fail "pages --tree runs" "$(head -n 1 "$T/err")"
region_anon=$(jq .totals.unique_anon_bytes "$T/zero.json")
echo "INFO: unique anonymous bytes: region $region_anon, whole tree $(jq .totals.unique_anon_bytes "$T/tree.json")"
check "--tree lists the tree's processes in pre-order" \
	[ "$(jq -c '[.procs[].pid]' "$T/tree.json")" = "$(jq -c '[.procs[].pid]' "$r")" ]
check "whole tree: unique anonymous bytes = the region's + at most 2 MiB a process" \
	jqe --argjson a "$region_anon" --argjson n $((nchild + 1)) \
	'.totals.unique_anon_bytes >= $a and .totals.unique_anon_bytes <= $a + $n * 2097152' "$T/tree.json"
kill_tracked

# --- THP ---------------------------------------------------------------------
r=$T/thp.ready
if start_tree "$r" --scenario thp --scale small 2>"$T/err"; then
	"$COWSCAN" pages --json --len "$(jq .region_size "$r")" $(ranges "$r" | head -n 1) >"$T/thp.json"
	check "thp scenario: the root's region is in transparent huge pages" \
		jqe '.procs[0] | .thp > 0 and .thp <= .present' "$T/thp.json"
elif grep -q 'transparent hugepages are disabled' "$T/err"; then
	skip "thp scenario: region in transparent huge pages" "$(head -n 1 "$T/err")"
else
	fail "thp tree starts" "$(head -n 1 "$T/err")"
fi
kill_tracked

# --- populates nothing; --hash as a read would give --------------------------
untouched_tree "$T" || { fail "untouched tree starts" "$(head -n 1 "$T/root.err")"; exit 1; }
fmap="$UT_ROOT@$UT_FILE_MAP"
mem_state $UT_PIDS >"$T/s.before"
"$COWSCAN" pages --tree "$UT_ROOT" >/dev/null &&
	"$COWSCAN" pages --json --hash --len $((2 << 20)) "$fmap" >"$T/h1.json" 2>"$T/err" ||
	fail "pages --hash runs" "$(head -n 1 "$T/err")"
mem_state $UT_PIDS >"$T/s.after"
check "pages and pages --hash populate nothing" [ -z "$(state_diff "$T/s.before" "$T/s.after")" ]
populate_all "$UT_ROOT"
"$COWSCAN" pages --json --hash --len $((2 << 20)) "$fmap" >"$T/h2.json"
check "--hash of a file mapping (untouched, copied, past EOF) is what reading it all gives" \
	[ "$(jq -r '.procs[0].hash' "$T/h1.json")" = "$(jq -r '.procs[0].hash' "$T/h2.json")" ]
printf 'Q' | dd of=/proc/"$UT_ROOT"/mem bs=1 seek=$((UT_FILE_MAP + 5 * PAGE)) conv=notrunc status=none
"$COWSCAN" pages --json --hash --len $((2 << 20)) "$fmap" >"$T/h3.json"
check "--hash changes with one byte written" \
	[ "$(jq -r '.procs[0].hash' "$T/h1.json")" != "$(jq -r '.procs[0].hash' "$T/h3.json")" ]

# --- bad input: exit 2, one line ---------------------------------------------
# expect_usage_error NAME ARGS...: cowscan pages ARGS exits 2 with one line.
expect_usage_error() {
	local name=$1 rc
	shift
	"$COWSCAN" pages "$@" >/dev/null 2>"$T/bad.err"
	rc=$?
	if [ $rc = 2 ] && [ "$(wc -l <"$T/bad.err")" = 1 ] && grep -q '^cowscan: ' "$T/bad.err"; then
		pass "$name"
	else
		fail "$name" "exit $rc: $(head -n 2 "$T/bad.err" | tr '\n' ' ')"
	fi
}
expect_usage_error "a range that is not PID@ADDR is refused" --len 4096 "$UT_ROOT"
expect_usage_error "an unaligned address is refused" --len 4096 "$UT_ROOT@0x1001"
expect_usage_error "a length that is not whole pages is refused" --len 100 "$UT_ROOT@0x1000"
expect_usage_error "--hash without ranges is refused" --hash "$UT_ROOT"
expect_usage_error "--len with --tree is refused" --tree --len 4096 "$UT_ROOT@0x1000"
expect_usage_error "hashing an unmapped range is an error" --hash --len 4096 "$UT_ROOT@0x1000"
expect_usage_error "a process that does not exist is an error" 999999999
kill_tracked

if id nobody >/dev/null 2>&1; then
	analyzer_tree "$T/nobody.ready" 8 1 50 nobody || { fail "unprivileged tree starts"; exit 1; }
	setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
		"$COWSCAN" pages "$TREE_ROOT" >/dev/null 2>"$T/nopfn.err"
	rc=$?
	check "hidden PFNs (no CAP_SYS_ADMIN): exit 2 with one line saying so" \
		bash -c "[ $rc = 2 ] && [ \$(wc -l <'$T/nopfn.err') = 1 ] && grep -q CAP_SYS_ADMIN '$T/nopfn.err'"
else
	skip "hidden PFNs are an error" "no user nobody"
fi
