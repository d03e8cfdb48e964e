#!/usr/bin/env bash
# cowscan tree: figures of a fanout tree of known construction.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/analyzer-tree.sh"
COWSCAN=$BIN/cowscan
T=$(mktmp)
MiB=$((1 << 20))

analyzer_tree "$T/ready" 64 3 25 || { fail "fanout tree starts"; exit 1; }
"$COWSCAN" tree "$TREE_ROOT" --json >"$T/tree.json" 2>"$T/err" || { fail "cowscan tree runs" "$(cat "$T/err")"; exit 1; }
n=$(jq '.procs | length' "$T/tree.json")
check "tree lists root and every child in pre-order" \
	[ "$(jq -r '[.procs[].pid] | join(" ")' "$T/tree.json")" = "$(jq -r '[.procs[].pid] | join(" ")' "$T/ready")" ]

# RSS from pagemap equals smaps_rollup's (both count the same PTEs); PSS
# agrees within 0.1% + 64 KiB (kpagecount is read a moment later than
# smaps_rollup, and smaps rounds each VMA's PSS to kB).
ok=1
for i in $(seq 0 $((n - 1))); do
	read -r rss srss pss spss < <(jq -r ".procs[$i] | \"\(.rss_bytes) \(.smaps_rss_bytes) \(.pss_bytes) \(.smaps_pss_bytes)\"" "$T/tree.json")
	within "$rss" "$srss" 0.1 65536 || { ok=0; echo "proc $i rss $rss vs smaps $srss"; }
	within "$pss" "$spss" 0.1 65536 || { ok=0; echo "proc $i pss $pss vs smaps $spss"; }
done
check "page-derived RSS and PSS agree with smaps_rollup" [ $ok = 1 ]

# Each child shares (1 - child-write) of the region with the root, plus
# libc and stack pages: within 2% + 2 MiB.
expect=$((TREE_REGION - TREE_CHILD_WRITTEN * 4096))
ok=1
for i in $(seq 1 $((n - 1))); do
	got=$(jq ".shared_matrix.bytes[0][$i]" "$T/tree.json")
	within "$got" "$expect" 2 $((2 * MiB)) || { ok=0; echo "child $i shares $got, expected ~$expect"; }
done
check "root shares (1 - child-write) x region with each child" [ $ok = 1 ]

# Physical footprint: the region once, plus each child's rewritten pages.
uniq=$(jq '.totals.unique_pfn_bytes' "$T/tree.json")
expect=$((TREE_REGION + (n - 1) * TREE_CHILD_WRITTEN * 4096))
check "unique PFN bytes = region + children's written pages (2% + 4 MiB)" within "$uniq" "$expect" 2 $((4 * MiB))
check "unique PFN bytes lie between the largest RSS and the RSS sum" \
	jqe '.totals.unique_pfn_bytes >= ([.procs[].rss_bytes] | max) and .totals.unique_pfn_bytes <= .totals.rss_bytes' "$T/tree.json"
# Each child rewrites its own random pages, so the root (oldest mapper) is
# attributed every region page some child still shares with it: at least
# the most any one child shares, at most the region (+ libc, stack).
check "shared region is attributed to the root (oldest mapper), not to the children" \
	jqe --argjson region "$TREE_REGION" --argjson slack $((2 * MiB)) '
	.cow_attribution[0].attributed_bytes as $a |
	$a >= ([.shared_matrix.bytes[0][1:][]] | max) and $a <= $region + $slack and
	([.cow_attribution[1:][].attributed_bytes] | max) < $slack' "$T/tree.json"

# A process that exits mid-scan is skipped with a warning; the scan completes.
COWSCAN_TEST_KILL_INDEX=1 "$COWSCAN" tree "$TREE_ROOT" --json >"$T/kill.json" 2>"$T/kill.err"
rc=$?
check "process exiting mid-scan: scan completes (exit 0)" [ $rc = 0 ]
check "process exiting mid-scan: warned about and left out" \
	bash -c "grep -q 'exited during the scan' '$T/kill.err' && [ \$(jq '.procs | length' '$T/kill.json') = $((n - 1)) ]"

# Bad input: one error line, exit 2.
"$COWSCAN" tree 999999999 >/dev/null 2>"$T/bad.err"
rc=$?
check "nonexistent pid: exit 2 with one error line" bash -c "[ $rc = 2 ] && [ \$(wc -l <'$T/bad.err') = 1 ]"
kill_tracked

# Without CAP_SYS_ADMIN the kernel reports PFN 0: PFN figures must be
# unavailable (null), never wrong numbers.
if id nobody >/dev/null 2>&1; then
	analyzer_tree "$T/ready2" 8 1 50 nobody || { fail "unprivileged tree starts"; exit 1; }
	setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
		"$COWSCAN" tree "$TREE_ROOT" --json >"$T/nopfn.json" 2>"$T/nopfn.err"
	rc=$?
	check "unprivileged: scan succeeds" [ $rc = 0 ]
	check "unprivileged: pfn_available false and PFN figures null" \
		jqe '.pfn_available == false and .totals.pss_bytes == null and .totals.unique_pfn_bytes == null and .shared_matrix == null and .predict.baseline_image_bytes == null and (.procs | all(.pss_bytes == null))' "$T/nopfn.json"
	check "unprivileged: smaps figures still reported" jqe '.procs[0].smaps_rss_bytes > 0' "$T/nopfn.json"
	check "unprivileged: says PFN figures are unavailable" grep -q 'PFN-based figures unavailable' "$T/nopfn.err"
	setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
		"$COWSCAN" tree "$TREE_ROOT" >"$T/nopfn.txt" 2>/dev/null
	check "unprivileged table prints n/a, not numbers, for PSS" grep -q 'n/a' "$T/nopfn.txt"
	setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
		"$COWSCAN" tree 1 >/dev/null 2>"$T/init.err"
	rc=$?
	check "unreadable process: clear one-line error, exit 2" bash -c "[ $rc = 2 ] && grep -q '^cowscan: /proc/1/' '$T/init.err' && [ \$(wc -l <'$T/init.err') = 1 ]"
else
	skip "unprivileged PFN path" "no user nobody"
fi
