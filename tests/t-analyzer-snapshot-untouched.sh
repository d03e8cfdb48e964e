#!/usr/bin/env bash
# cowscan snapshot must not change what it measures (issue 11). On this
# kernel, reading a never-touched page through /proc/PID/mem allocates it,
# so a snapshot that reads every byte inflates every process it hashes.
# On a tree with untouched memory (tests/fixtures/untouched-tree.sh: a big
# anonymous reserve, a big malloc, a thread's stack, a file mapping partly
# copied and partly past EOF, a cowtree below):
#   - total Rss (smaps_rollup, summed) and every process's pagemap present
#     bits are the same before and after a snapshot;
#   - so is the tree's sharing: its distinct frames (cowscan tree's
#     unique_pfn_bytes), which a reader that pins pages (process_vm_readv:
#     a read-only pin of a COW-shared anonymous page unshares it) breaks;
#   - every VMA but the kernel's is hashed (untouched ones included);
#   - once every page has been read in on purpose, a second snapshot
#     compares identical: an untouched page is hashed as the content a read
#     would have given (zeros, the file's bytes, zeros past EOF).
# Run by the sanitizer build; COWSCAN=path runs another (e.g. an older one,
# to see it fail).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/analyzer-tree.sh"
. "$(dirname "$0")/fixtures/untouched-tree.sh"
COWSCAN=${COWSCAN:-$COWDUMP_ROOT/build/asan/bin/cowscan}
T=$(mktmp)

tools_built "snapshot test tools are built" "$COWSCAN" "$BIN/cowtree" || exit 0
untouched_tree "$T" || { fail "untouched tree starts" "$(head -n 1 "$T/root.err")"; exit 1; }

mem_state $UT_PIDS >"$T/state.before"
"$COWSCAN" tree "$UT_ROOT" --json >"$T/tree.before" 2>"$T/err" || { fail "cowscan tree runs" "$(head -n 1 "$T/err")"; exit 1; }
"$COWSCAN" snapshot "$UT_ROOT" -o "$T/snap1.json" 2>"$T/err" || { fail "snapshot runs" "$(head -n 1 "$T/err")"; exit 1; }
mem_state $UT_PIDS >"$T/state.after"
rss_before=$(head -n 1 "$T/state.before" | cut -d' ' -f2)
rss_after=$(head -n 1 "$T/state.after" | cut -d' ' -f2)
echo "INFO: Rss of the tree before the snapshot $rss_before kB, after $rss_after kB"
if [ "$rss_before" = "$rss_after" ]; then
	pass "snapshot leaves the tree's total Rss unchanged"
else
	fail "snapshot leaves the tree's total Rss unchanged" "$rss_before kB -> $rss_after kB"
fi
diff=$(state_diff "$T/state.before" "$T/state.after")
diff=${diff#Rss * kB -> * kB; }
if [ -z "$diff" ]; then
	pass "snapshot leaves every process's pagemap present bits unchanged"
else
	fail "snapshot leaves every process's pagemap present bits unchanged" "$diff"
fi
"$COWSCAN" tree "$UT_ROOT" --json >"$T/tree.after" 2>"$T/err"
u_before=$(jq .totals.unique_pfn_bytes "$T/tree.before")
u_after=$(jq .totals.unique_pfn_bytes "$T/tree.after")
if [ "$u_before" = "$u_after" ]; then
	pass "snapshot keeps the tree's sharing (distinct frames unchanged)"
else
	fail "snapshot keeps the tree's sharing (distinct frames unchanged)" "unique_pfn_bytes $u_before -> $u_after"
fi
check "snapshot hashes every VMA but the kernel's (untouched ones, file past EOF)" \
	jqe 'all(.procs[].vmas[]; .status == "hashed" or .status == "kernel-area")' "$T/snap1.json"
check "snapshot masks the rseq area of both threads of the root" \
	jqe '.procs[0].rseq_masked | length == 2' "$T/snap1.json"

populate_all $UT_PIDS
mem_state $UT_PIDS >"$T/state.populated"
check "reading every page through /proc/PID/mem does populate this tree (the premise)" \
	[ -n "$(state_diff "$T/state.before" "$T/state.populated")" ]
"$COWSCAN" snapshot "$UT_ROOT" -o "$T/snap2.json" 2>"$T/err" || { fail "second snapshot runs" "$(head -n 1 "$T/err")"; exit 1; }
"$COWSCAN" compare "$T/snap1.json" "$T/snap2.json" --json >"$T/cmp.json"
rc=$?
[ $rc = 0 ] || jq -c '.differences[:3]' "$T/cmp.json"
check "untouched pages hash as the content reading them gives (identical once read in)" [ $rc = 0 ]
