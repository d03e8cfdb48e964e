# Shared helpers for cowdump's shell tests. Source it; never run it.
#
# Every test reports each check as one line:  PASS: name | FAIL: name: why |
# SKIP: name: why.  tests/run counts those lines.
#
# Process hygiene: every pid a test starts is recorded with track (or comes
# from a ready line via track_ready) and killed by pid, with its descendants,
# on every exit path by the EXIT trap installed here. Nothing is killed by
# name.

COWDUMP_ROOT=${COWDUMP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=$COWDUMP_ROOT/build/bin
CRIU_BASELINE=$COWDUMP_ROOT/build/criu-baseline/criu/criu
CRIU_DEDUP=$COWDUMP_ROOT/build/criu-dedup/criu/criu

_TRACKED_PIDS=()
_NFAIL=0

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1${2:+: $2}"; _NFAIL=$((_NFAIL + 1)); }
skip() { echo "SKIP: $1${2:+: $2}"; }
# check NAME CMD...: PASS if CMD succeeds, FAIL otherwise.
check() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n"; fi; }

# tools_built WHAT FILE...: every FILE is executable; else one FAIL named
# WHAT for the first missing one, and a non-zero return (the caller exits).
tools_built() {
	local what=$1 f
	shift
	for f in "$@"; do
		if [ ! -x "$f" ]; then
			fail "$what" "$f missing"
			return 1
		fi
	done
}

criu_bin() {
	case "$1" in
	baseline) echo "$CRIU_BASELINE" ;;
	dedup) echo "$CRIU_DEDUP" ;;
	*) echo "criu_bin: unknown variant $1" >&2; return 1 ;;
	esac
}

track() { _TRACKED_PIDS+=("$@"); }

# All pids in a ready line ({"root":N,"procs":[{"pid":N,...},...]}).
ready_pids() { jq -r '.procs[].pid' "$1"; }
track_ready() { local p; for p in $(ready_pids "$1"); do track "$p"; done; }

# Descendants of a pid, deepest last, from /proc/PID/task/*/children.
descendants() {
	local p c
	for p in "$@"; do
		for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
			echo "$c"
			descendants "$c"
		done
	done
}

# alive PID: the pid still exists. A zombie counts as alive (its pid is not
# free yet, and a restore needing it would fail with "File exists") unless
# it is our own child, which we reap here.
alive() {
	[ -d /proc/"$1" ] || return 1
	if grep -q '^State:.*Z' /proc/"$1"/status 2>/dev/null &&
		[ "$(awk '/^PPid:/ {print $2}' /proc/"$1"/status 2>/dev/null)" = "$$" ]; then
		wait "$1" 2>/dev/null
		[ -d /proc/"$1" ] || return 1
	fi
	return 0
}

# wait_gone TIMEOUT_S PID...: wait until none of the pids exists.
wait_gone() {
	local t=$1 p left; shift
	local end=$((SECONDS + t))
	while :; do
		left=0
		for p in "$@"; do alive "$p" && left=1; done
		[ "$left" = 0 ] && return 0
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.05
	done
}

kill_tracked() {
	local all=() p
	for p in ${_TRACKED_PIDS[@]+"${_TRACKED_PIDS[@]}"}; do
		all+=("$p" $(descendants "$p"))
	done
	[ "${#all[@]}" -eq 0 ] && return 0
	kill -9 "${all[@]}" 2>/dev/null
	wait_gone 10 "${all[@]}" || echo "WARN: pids still alive after SIGKILL: ${all[*]}" >&2
	_TRACKED_PIDS=()
}

# One scratch dir per test script, made here in the script's own shell:
# mktmp usually runs in a $(...) subshell, which could not record what it
# made, so everything it makes lives under this one dir, removed on exit.
_TEST_TMP=$(mktemp -d "${COWDUMP_TMP:-/dev/shm}/cowdump-test.XXXXXX")
mktmp() { mktemp -d "$_TEST_TMP/t.XXXXXX"; }

_cleanup() {
	kill_tracked
	rm -rf "$_TEST_TMP"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# start_tree READYFILE COWTREE-ARGS...: start a detached cowtree, wait for
# its ready line, track every pid in it.
start_tree() {
	local ready=$1; shift
	# --file-dir: a file-backed region's file goes away with the test's dir.
	if ! "$BIN/cowtree" --detach --ready-file "$ready" --file-dir "$_TEST_TMP" "$@" >/dev/null; then
		[ -s "$ready" ] && track_ready "$ready"
		return 1
	fi
	track_ready "$ready"
}

# criu_dump VARIANT PID DIR [ARGS...]: dump the tree at PID into DIR, then
# wait for the dumped pids to vanish: a restore before they are reaped fails
# with "File exists".
criu_dump() {
	local v=$1 pid=$2 dir=$3; shift 3
	local pids
	pids="$pid $(descendants "$pid")"
	mkdir -p "$dir"
	if ! "$(criu_bin "$v")" dump -t "$pid" -D "$dir" -o dump.log -v4 "$@"; then
		echo "--- criu $v dump failed; tail of $dir/dump.log:" >&2
		grep -E 'Error|error|Warn' "$dir/dump.log" | tail -n 10 >&2
		return 1
	fi
	# alive() counts zombies: a pid is free for restore only once reaped
	# (pid 1 here reaps orphans a second or two late).
	wait_gone 20 $pids
}

# criu_restore VARIANT DIR [ARGS...]: restore the tree detached (-d).
criu_restore() {
	local v=$1 dir=$2; shift 2
	if ! "$(criu_bin "$v")" restore -D "$dir" -d -o restore.log -v4 "$@"; then
		echo "--- criu $v restore failed; tail of $dir/restore.log:" >&2
		grep -E 'Error|error' "$dir/restore.log" | tail -n 10 >&2
		return 1
	fi
}

# identical NAME BEFORE AFTER: cowscan compare says the memory is the same.
identical() {
	local out rc
	out=$("$BIN/cowscan" compare "$2" "$3" --json 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && jq -e '.content_identical == true' <<<"$out" >/dev/null; then
		pass "$1"
	else
		fail "$1" "compare exit $rc: $(jq -c '.differences[:3]' <<<"$out" 2>/dev/null || echo "$out")"
	fi
}
