# Shared by bench/run and the step scripts in bench/lib/. Source it.
# shellcheck shell=bash
#
# A step script takes one argument, the repeat's directory (REP), reads what
# earlier steps left there and writes its own outputs next to them. It exits
# 0 on success; on failure it writes REP/error.json (step, message, CRIU log
# tail) through step_fail and exits 1, and bench/run goes on with the next
# repeat. Settings arrive in the environment (exported by bench/run):
#   BENCH_COWTREE BENCH_COWSCAN   the workload and analyzer binaries
#   BENCH_CRIU BENCH_CRIT         the variant's criu binary and its crit
#   BENCH_CRIU_ARGS               extra criu options of the variant
#   BENCH_LIVE                    file listing every live tree pid (the
#                                 run's EXIT trap kills whatever is in it)

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

# Descendants of a pid, from /proc/PID/task/*/children.
descendants_of() {
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		echo "$c"
		descendants_of "$c"
	done
}

# Every process of a ready line, then their live descendants.
tree_pids() {
	local p
	for p in $(jq -r '.procs[].pid' "$1" 2>/dev/null); do
		echo "$p"
		descendants_of "$p"
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
		is_ours "$p" "$rep/ready.json" "$dir" && echo "$p"
	done
}

# is_ours PID MARKER...: PID's command line contains one of the markers.
is_ours() {
	local p=$1 cmd m
	shift
	cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || return 1
	for m in "$@"; do
		[ -n "$m" ] && [[ "$cmd" == *"$m"* ]] && return 0
	done
	return 1
}

pid_alive() { [ -d /proc/"$1" ] && ! grep -q '^State:.*Z' /proc/"$1"/status 2>/dev/null; }

# wait_pids_gone TIMEOUT_S PID...: until none runs (zombies count as gone).
# wait_pids_reaped: until none exists at all. After a dump the tree's
# zombies wait for pid 1 to reap them (up to seconds here), and a restore
# before that fails with "File exists".
wait_pids_gone() { _wait_pids pid_alive "$@"; }
wait_pids_reaped() { _wait_pids pid_exists "$@"; }
pid_exists() { [ -d /proc/"$1" ]; }
_wait_pids() {
	local test=$1 t=$2 p left
	shift 2
	local end=$((SECONDS + t))
	while :; do
		left=0
		for p in "$@"; do $test "$p" && left=1; done
		[ "$left" = 0 ] && return 0
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.02
	done
}

# hyperfine_once JSON CMD...: time one whole command with hyperfine (no
# shell: the command is fully known here). Prints its exit code; 124 or 137
# when it ran past BENCH_STEP_TIMEOUT seconds (a hung CRIU must not hang
# the run). The timeout wrapper is one extra exec, the same for every
# variant.
hyperfine_once() {
	local json=$1
	shift
	local cmd
	printf -v cmd '%q ' timeout -k 5 "${BENCH_STEP_TIMEOUT:-120}" "$@"
	hyperfine --runs 1 -N -i --style none --export-json "$json" "$cmd" >/dev/null 2>"$json.err" ||
		return 1
	jq -r '.results[0].exit_codes[0]' "$json"
}
