#!/usr/bin/env bash
# Step 3: dump the tree into DUMPDIR (fresh, empty), timed as a whole
# command by hyperfine, at CRIU's default verbosity (the -v4 variants add
# -v4); then wait until the dumped pids are gone, because a restore before
# that fails with "File exists".
# The dump's peak RSS is CRIU's VmHWM as it exits (bench/peak-rss/, into
# hyperfine-dump.json.vmhwm), next to GNU time's (hyperfine-dump.json.rss),
# which the kernel takes from unsummed per-CPU counters: +-256 KiB here,
# the whole dump-RSS goal of a small tree (thresholds.conf,
# scale-dedup-dump-rss). CRIU runs under setarch -R: with its address space
# randomized, the shared-library pages fault-around maps vary as well.
. "$(dirname "$0")/common.sh"
rep=$1 dir=$2
root=$(cat "$rep/root.pid")
mapfile -t pids < <(tree_pids "$rep/ready.json")
mapfile -t extra < <(criu_args)
rm -rf "$dir" && mkdir -p "$dir" || step_fail "$rep" dump "cannot create $dir"
rc=$(hyperfine_once "$rep/hyperfine-dump.json" \
	setarch -R env COWDUMP_VMHWM_FILE="$rep/hyperfine-dump.json.vmhwm" LD_PRELOAD="$BENCH_VMHWM_LIB" \
	"$BENCH_CRIU" dump -t "$root" -D "$dir" -o dump.log ${extra[@]+"${extra[@]}"}) ||
	step_fail "$rep" dump "hyperfine: $(tail -n 1 "$rep/hyperfine-dump.json.err")" "$dir/dump.log"
[ "$rc" = 0 ] || step_fail "$rep" dump "criu dump exited $rc" "$dir/dump.log"
wait_gone 30 "${pids[@]}" || step_fail "$rep" dump "dumped pids not reaped 30 s after dump"
du -sb "$dir" | cut -f1 >"$rep/image-dir.bytes"
