#!/usr/bin/env bash
# Step 2: the content snapshot the restored tree is compared against, then
# the live figures and predictions of the tree (cowscan tree). The snapshot
# ptrace-interrupts every thread, which may make a few pages private; the
# tree scan comes after it, so the ideal image counts the pages as the dump
# will find them.
. "$(dirname "$0")/common.sh"
rep=$1
root=$(cat "$rep/root.pid")
timeout -k 5 600 "$BENCH_COWSCAN" snapshot "$root" -o "$rep/snap-before" 2>"$rep/snapshot-before.err" ||
	step_fail "$rep" analyze "cowscan snapshot: $(tail -n 1 "$rep/snapshot-before.err")"
timeout -k 5 600 "$BENCH_COWSCAN" tree "$root" --json >"$rep/tree.json" 2>"$rep/cowscan-tree.err" ||
	step_fail "$rep" analyze "cowscan tree: $(tail -n 1 "$rep/cowscan-tree.err")"
