#!/usr/bin/env bash
# cowscan snapshot/compare: same tree twice is identical; a deliberate write
# is found and named; a baseline dump + restore is identical (rseq masked).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/analyzer-tree.sh"
COWSCAN=$BIN/cowscan
T=$(mktmp)

analyzer_tree "$T/ready" 32 2 50 || { fail "fanout tree starts"; exit 1; }
pids=$(jq -r '.procs[].pid' "$T/ready")
"$COWSCAN" snapshot "$TREE_ROOT" -o "$T/a.json" || { fail "snapshot runs"; exit 1; }
"$COWSCAN" snapshot "$TREE_ROOT" -o "$T/b.json" || { fail "second snapshot runs"; exit 1; }
"$COWSCAN" compare "$T/a.json" "$T/b.json" --json >"$T/ab.json"
check "same live tree twice: compare exits 0" [ $? = 0 ]
check "same live tree twice: content_identical" jqe '.content_identical == true and .procs_compared > 1' "$T/ab.json"
check "snapshot gives each process its PSS and USS (0 < uss_bytes <= pss_bytes)" \
	jqe 'all(.procs[]; .uss_bytes > 0 and .uss_bytes <= .pss_bytes)' "$T/a.json"
check "snapshot records the masked rseq areas" jqe '[.procs[].rseq_masked[]] | length > 0 and all(.len <= 32)' "$T/a.json"

if [ -x "$CRIU_BASELINE" ]; then
	criu_dump baseline "$TREE_ROOT" "$T/img" && wait_reaped $pids && criu_restore baseline "$T/img" || { fail "baseline dump+restore"; exit 1; }
	for p in $pids; do track "$p"; done
	"$COWSCAN" snapshot "$TREE_ROOT" -o "$T/c.json" || { fail "snapshot of the restored tree"; exit 1; }
	"$COWSCAN" compare "$T/a.json" "$T/c.json" --json >"$T/ac.json"
	rc=$?
	[ $rc = 0 ] || jq -c '.differences' "$T/ac.json"
	check "after baseline dump+restore: content identical (exit 0)" [ $rc = 0 ]
	check "after baseline dump+restore: PSS before/after and inflation reported" \
		jqe '.pss_before_bytes > 0 and .pss_after_bytes > 0 and .pss_inflation > 0 and .unique_inflation > 0' "$T/ac.json"
else
	skip "compare after baseline dump+restore" "no baseline CRIU"
fi

# Deliberately change one byte of the first child's region through /proc/PID/mem.
child=$(jq -r '.procs[1].pid' "$T/ready")
addr=$(jq -r '.procs[1].region_addr // .region_addr' "$T/ready")
printf 'Z' | dd of=/proc/"$child"/mem bs=1 seek=$((addr + 4096 * 7 + 5)) conv=notrunc status=none
"$COWSCAN" snapshot "$TREE_ROOT" -o "$T/d.json" || { fail "snapshot after the write"; exit 1; }
"$COWSCAN" compare "$T/a.json" "$T/d.json" --json >"$T/ad.json"
check "modified process: compare exits 1" [ $? = 1 ]
check "modified process: names the process and the VMA holding the write" \
	jqe --arg a "$(printf '0x%x' "$addr")" '.content_identical == false and (.differences | length == 1) and .differences[0].index == 1 and (.differences[0].vma | startswith($a))' "$T/ad.json"
"$COWSCAN" compare "$T/a.json" "$T/nonexistent.json" >/dev/null 2>"$T/err"
check "missing snapshot file: exit 2 with one error line" bash -c "[ $? = 2 ] && [ \$(wc -l <'$T/err') = 1 ]"
