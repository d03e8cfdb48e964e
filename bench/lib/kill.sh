#!/usr/bin/env bash
# Step 7: kill the tree by pid (whatever of it is alive: the original, the
# restored one, or a half-restored one) and unregister its pids.
. "$(dirname "$0")/common.sh"
rep=$1 dir=${2:-}
[ -s "$rep/ready.json" ] || exit 0
mapfile -t pids < <(own_tree_pids "$rep" "$dir")
kill_tree ${pids[@]+"${pids[@]}"} 2>"$rep/kill.err" ||
	step_fail "$rep" kill "pids still alive after SIGKILL: $(tr '\n' ' ' <"$rep/kill.err")"
if [ -f "$BENCH_LIVE" ]; then
	awk 'NR == FNR { dead[$1] = 1; next } !($1 in dead)' \
		<(ready_pids "$rep/ready.json") "$BENCH_LIVE" >"$BENCH_LIVE.tmp"
	mv "$BENCH_LIVE.tmp" "$BENCH_LIVE"
fi
exit 0
