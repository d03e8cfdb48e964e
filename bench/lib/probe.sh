#!/usr/bin/env bash
# Probe step: run every probe of the run (bench/run --probes) at one point
# of the pipeline: PHASE is before-dump (after analyze), after-dump (after
# image, before restore: the image may be read, copied, corrupted and
# restored in a copy) or after-restore (after compare: the restored tree
# may be written to). A probe is an executable called as
#   PROBE PHASE REP DIR
# with this step's environment (common.sh); it writes its figures to
# REP/probe-NAME.json (a flat JSON object of numbers, collected as
# NAME_KEY) and exits non-zero only when it could not measure.
. "$(dirname "$0")/common.sh"
rep=$1 dir=$2 phase=$3
IFS=: read -ra probes <<<"${BENCH_PROBES:-}"
for p in ${probes[@]+"${probes[@]}"}; do
	name=$(basename "$p")
	"$p" "$phase" "$rep" "$dir" >>"$rep/probe-$name.out" 2>>"$rep/probe-$name.err" ||
		step_fail "$rep" "probe-$phase" "probe $name ($phase): $(tail -n 1 "$rep/probe-$name.err")"
done
exit 0
