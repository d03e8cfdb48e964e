#!/usr/bin/env bash
# Step 3: dump the tree into DUMPDIR (fresh, empty), timed as a whole
# command by hyperfine; then wait for the dumped pids to be reaped, because a
# restore before that fails with "File exists".
. "$(dirname "$0")/common.sh"
rep=$1 dir=$2
root=$(cat "$rep/root.pid")
mapfile -t pids < <(tree_pids "$rep/ready.json")
rm -rf "$dir" && mkdir -p "$dir" || step_fail "$rep" dump "cannot create $dir"
# shellcheck disable=SC2086 # BENCH_CRIU_ARGS is a list of options
rc=$(hyperfine_once "$rep/hyperfine-dump.json" \
	"$BENCH_CRIU" dump -t "$root" -D "$dir" -o dump.log -v4 $BENCH_CRIU_ARGS) ||
	step_fail "$rep" dump "hyperfine: $(tail -n 1 "$rep/hyperfine-dump.json.err")" "$dir/dump.log"
[ "$rc" = 0 ] || step_fail "$rep" dump "criu dump exited $rc" "$dir/dump.log"
wait_pids_reaped 30 "${pids[@]}" || step_fail "$rep" dump "dumped pids not reaped 30 s after dump"
du -sb "$dir" | cut -f1 >"$rep/image-dir.bytes"
