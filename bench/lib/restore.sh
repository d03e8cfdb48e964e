#!/usr/bin/env bash
# Step 5: restore detached (criu restore -d), timed by hyperfine from start
# until criu returns with the tree running; then CRIU's restore stats.
. "$(dirname "$0")/common.sh"
rep=$1 dir=$2
# shellcheck disable=SC2086
rc=$(hyperfine_once "$rep/hyperfine-restore.json" \
	"$BENCH_CRIU" restore -D "$dir" -d -o restore.log -v4 $BENCH_CRIU_ARGS) ||
	step_fail "$rep" restore "hyperfine: $(tail -n 1 "$rep/hyperfine-restore.json.err")" "$dir/restore.log"
[ "$rc" = 0 ] || step_fail "$rep" restore "criu restore exited $rc" "$dir/restore.log"
root=$(cat "$rep/root.pid")
pid_alive "$root" || step_fail "$rep" restore "restored root $root is not alive" "$dir/restore.log"
timeout -k 5 120 "$BENCH_CRIT" show "$dir/stats-restore" >"$rep/stats-restore.json" 2>"$rep/crit-restore.err" ||
	step_fail "$rep" restore "crit show stats-restore: $(tail -n 1 "$rep/crit-restore.err")"
