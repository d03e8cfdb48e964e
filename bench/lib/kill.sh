#!/usr/bin/env bash
# Step 7: kill the tree by pid (whatever of it is alive: the original, the
# restored one, or a half-restored one) and unregister its pids.
. "$(dirname "$0")/common.sh"
rep=$1 dir=${2:-}
[ -s "$rep/ready.json" ] || exit 0
mapfile -t pids < <(own_tree_pids "$rep" "$dir")
[ ${#pids[@]} -gt 0 ] && kill -9 "${pids[@]}" 2>/dev/null
wait_pids_gone 20 "${pids[@]}" || step_fail "$rep" kill "pids still alive after SIGKILL: ${pids[*]}"
if [ -f "$BENCH_LIVE" ]; then
	awk 'NR == FNR { dead[$1] = 1; next } !($1 in dead)' \
		<(jq -r '.procs[].pid' "$rep/ready.json") "$BENCH_LIVE" >"$BENCH_LIVE.tmp"
	mv "$BENCH_LIVE.tmp" "$BENCH_LIVE"
fi
exit 0
