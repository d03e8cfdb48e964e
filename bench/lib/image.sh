#!/usr/bin/env bash
# Step 4: what the dump wrote: cowscan image, and CRIU's own dump stats
# decoded by the crit of the same build.
. "$(dirname "$0")/common.sh"
rep=$1 dir=$2
timeout -k 5 600 "$BENCH_COWSCAN" image "$dir" --json >"$rep/image.json" 2>"$rep/cowscan-image.err" ||
	step_fail "$rep" image "cowscan image: $(tail -n 1 "$rep/cowscan-image.err")"
timeout -k 5 120 "$BENCH_CRIT" show "$dir/stats-dump" >"$rep/stats-dump.json" 2>"$rep/crit-dump.err" ||
	step_fail "$rep" image "crit show stats-dump: $(tail -n 1 "$rep/crit-dump.err")"
