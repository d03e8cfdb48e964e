# Shared by bench/run and the step scripts in bench/lib/. Source it.
# shellcheck shell=bash
#
# A step script takes two arguments, the repeat's directory (REP) and its
# dump directory (DIR), reads what earlier steps left in REP and writes its
# own outputs next to them. It exits 0 on success; on failure it writes
# REP/error.json (step, message, CRIU log tail) through step_fail and exits
# 1, and bench/run goes on with the next repeat. Settings arrive in the
# environment (exported by bench/run):
#   BENCH_COWTREE BENCH_COWSCAN   the workload and analyzer binaries
#   BENCH_SCENARIO_DIR            the catalogue cowtree reads (may be empty)
#   BENCH_VARIANT                 the variant of this repeat
#   BENCH_CRIU BENCH_CRIT         the variant's criu binary and its crit
#   BENCH_PYCRIU                  the PYTHONPATH of that crit's modules
#   BENCH_CRIU_ARGS               extra criu options of the variant (and
#                                 of bench/run --criu-args)
#   BENCH_CRIU_BASELINE           the baseline build's criu (for probes)
#   BENCH_PROBES                  probe executables, ':'-separated
#   BENCH_STEP_TIMEOUT            seconds a CRIU command may take
#   BENCH_VMHWM_LIB               bench/peak-rss's preload: a dump's peak
#                                 RSS as CRIU reads it when it exits
#   BENCH_LIVE                    file listing every live tree pid (the
#                                 run's EXIT trap kills whatever is in it)

# alive, wait_gone, descendants, kill_tree, cmdline_has: the process
# helpers every cowdump script shares (one zombie rule).
. "$(dirname "${BASH_SOURCE[0]}")/../../workloads/proc.sh"

# step_fail REP STEP MESSAGE [LOG]: record why the step failed, with the
# tail of a CRIU log when there is one, and exit 1.
step_fail() {
	local rep=$1 step=$2 msg=$3 log=${4:-}
	local tail_json='[]'
	if [ -n "$log" ] && [ -f "$log" ]; then
		# Error lines first (they say what went wrong), then the last lines.
		tail_json=$({
			grep -E 'Error|error|Warn' "$log" | tail -n 15
			echo "-- last lines of $(basename "$log"):"
			tail -n 10 "$log"
		} | jq -R . | jq -s .)
	fi
	jq -n --arg step "$step" --arg msg "$msg" --argjson tail "$tail_json" \
		'{step: $step, message: $msg, log_tail: $tail}' >"$rep/error.json"
	echo "bench: $step failed: $msg" >&2
	exit 1
}

# Every process of a ready line, then their live descendants.
tree_pids() {
	local p
	for p in $(ready_pids "$1" 2>/dev/null); do
		echo "$p"
		descendants "$p"
	done
}

# Those of tree_pids that are still ours. pid_max is 32768 here and other
# people start trees too, so a pid freed by a dump may belong to someone
# else by the time we kill: a live pid counts as ours only when its command
# line names this repeat's ready file (our cowtree, also once restored: CRIU
# restores the arguments) or its dump directory (criu's own children, half
# way through a restore).
own_tree_pids() {
	local rep=$1 dir=$2 p
	for p in $(tree_pids "$rep/ready.json"); do
		cmdline_has "$p" "$rep/ready.json" "$dir" && echo "$p"
	done
}

# hyperfine_once JSON CMD...: time one whole command with hyperfine (no
# shell: the command is fully known here), and its peak RSS with
# /usr/bin/time (maximum resident set size, KiB, into JSON.rss). Prints
# the command's exit code; 124 or 137 when it ran past BENCH_STEP_TIMEOUT
# seconds (a hung CRIU must not hang the run). The timeout and time
# wrappers are two extra execs, the same for every variant.
hyperfine_once() {
	local json=$1
	shift
	local cmd
	printf -v cmd '%q ' timeout -k 5 "${BENCH_STEP_TIMEOUT:-120}" /usr/bin/time -f %M -o "$json.rss" "$@"
	hyperfine --runs 1 -N -i --style none --export-json "$json" "$cmd" >/dev/null 2>"$json.err" ||
		return 1
	jq -r '.results[0].exit_codes[0]' "$json"
}

# probe_put REP NAME KEY=NUMBER...: add figures to REP/probe-NAME.json
# (collected as NAME_KEY); a probe calls it once per phase.
probe_put() {
	local f=$1/probe-$2.json kv args=()
	shift 2
	for kv in "$@"; do args+=(--argjson "${kv%%=*}" "${kv#*=}"); done
	[ -s "$f" ] || echo '{}' >"$f"
	jq "${args[@]}" '. + $ARGS.named' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
}

# criu_args: the variant's extra CRIU options, one a line (for mapfile).
criu_args() {
	local a
	for a in ${BENCH_CRIU_ARGS:-}; do echo "$a"; done
}
