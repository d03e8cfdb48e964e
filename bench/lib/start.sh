#!/usr/bin/env bash
# Step 1: start a fresh tree from REP/cowtree.args (one argument a line) and
# register its pids as live before anything else can fail.
. "$(dirname "$0")/common.sh"
rep=$1 dir=$2
mapfile -t args <"$rep/cowtree.args"
[ -z "${BENCH_SCENARIO_DIR:-}" ] || args=(--scenario-dir "$BENCH_SCENARIO_DIR" "${args[@]}")
rm -f "$rep/ready.json"
# A file-backed region's file lives beside the dump directory and goes with
# it (bench/run removes DIR.files with DIR): CRIU needs it until restore.
mkdir -p "$dir.files"
# Under the step timeout: a tree that never reports ready is a failed step.
timeout -k 5 "${BENCH_STEP_TIMEOUT:-120}" "$BENCH_COWTREE" --detach --ready-file "$rep/ready.json" \
	--file-dir "$dir.files" "${args[@]}" >/dev/null 2>"$rep/cowtree.err"
rc=$?
# A launcher that failed or hung may leave a half-built tree with no ready
# line to name it: its processes' command lines name the ready file.
[ $rc -eq 0 ] || kill_tree $(procs_mentioning "$rep/ready.json") 2>>"$rep/cowtree.err"
# "PID<TAB>READY-FILE" lines: the run's trap kills a pid only while its
# command line still names that ready file (common.sh: own_tree_pids).
if [ -s "$rep/ready.json" ]; then
	for p in $(ready_pids "$rep/ready.json"); do
		printf '%s\t%s\n' "$p" "$rep/ready.json"
	done >>"$BENCH_LIVE"
fi
[ $rc -ne 124 ] || step_fail "$rep" start "cowtree did not report ready within ${BENCH_STEP_TIMEOUT:-120} s"
[ $rc -eq 0 ] || step_fail "$rep" start "cowtree exited $rc: $(tail -n 1 "$rep/cowtree.err")"
jq -e '.ready == true and (.procs | length) > 0' "$rep/ready.json" >/dev/null ||
	step_fail "$rep" start "cowtree printed no usable ready line"
jq -r .root "$rep/ready.json" >"$rep/root.pid"
