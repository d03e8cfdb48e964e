#!/usr/bin/env bash
# Step 6: snapshot the restored tree (same pids: CRIU restores them) and
# compare with the snapshot taken before the dump; then the restored tree's
# figures (cowscan tree: PSS, anonymous PSS). Differing content is a
# figure (content_identical false), not a failed step; only cowscan's
# error exit (2) is.
. "$(dirname "$0")/common.sh"
rep=$1
root=$(cat "$rep/root.pid")
timeout -k 5 600 "$BENCH_COWSCAN" snapshot "$root" -o "$rep/snap-after" 2>"$rep/snapshot-after.err" ||
	step_fail "$rep" compare "cowscan snapshot after restore: $(tail -n 1 "$rep/snapshot-after.err")"
timeout -k 5 600 "$BENCH_COWSCAN" compare "$rep/snap-before" "$rep/snap-after" --json >"$rep/compare.json" 2>"$rep/compare.err"
rc=$?
[ $rc -le 1 ] || step_fail "$rep" compare "cowscan compare exited $rc: $(tail -n 1 "$rep/compare.err")"
timeout -k 5 600 "$BENCH_COWSCAN" tree "$root" --json >"$rep/tree-after.json" 2>"$rep/cowscan-tree-after.err" ||
	step_fail "$rep" compare "cowscan tree after restore: $(tail -n 1 "$rep/cowscan-tree-after.err")"
[ "${BENCH_KEEP:-0}" = 1 ] || rm -f "$rep/snap-before" "$rep/snap-after"
