#!/usr/bin/env bash
# Step 5: restore detached (criu restore -d), timed by hyperfine from start
# until criu returns with the tree running; count the processes of the ready
# line alive again (CRIU restores the same pids); keep CRIU's restore stats
# (decoded at the end of the run, as the dump's).
. "$(dirname "$0")/common.sh"
rep=$1 dir=$2
mapfile -t extra < <(criu_args)
rc=$(hyperfine_once "$rep/hyperfine-restore.json" \
	"$BENCH_CRIU" restore -D "$dir" -d -o restore.log ${extra[@]+"${extra[@]}"}) ||
	step_fail "$rep" restore "hyperfine: $(tail -n 1 "$rep/hyperfine-restore.json.err")" "$dir/restore.log"
[ "$rc" = 0 ] || step_fail "$rep" restore "criu restore exited $rc" "$dir/restore.log"
root=$(cat "$rep/root.pid")
alive "$root" || step_fail "$rep" restore "restored root $root is not alive" "$dir/restore.log"
n=0
for p in $(ready_pids "$rep/ready.json"); do alive "$p" && n=$((n + 1)); done
echo "$n" >"$rep/restored-alive"
cp "$dir/stats-restore" "$rep/stats-restore.img" 2>"$rep/stats-restore.err" ||
	step_fail "$rep" restore "no stats-restore image: $(tail -n 1 "$rep/stats-restore.err")"
