#!/usr/bin/env bash
# Step 4: what the dump wrote: cowscan image, and a copy of CRIU's own dump
# stats (decoded with every other repeat's at the end of the run by the
# crit modules of the same build: bench/lib/crit-stats).
. "$(dirname "$0")/common.sh"
rep=$1 dir=$2
timeout -k 5 600 "$BENCH_COWSCAN" image "$dir" --json >"$rep/image.json" 2>"$rep/cowscan-image.err" ||
	step_fail "$rep" image "cowscan image: $(tail -n 1 "$rep/cowscan-image.err")"
cp "$dir/stats-dump" "$rep/stats-dump.img" 2>"$rep/stats-dump.err" ||
	step_fail "$rep" image "no stats-dump image: $(tail -n 1 "$rep/stats-dump.err")"
