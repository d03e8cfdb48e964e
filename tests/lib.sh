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
# Process helpers (alive, wait_gone, descendants, kill_tree, ready_pids):
# one file for tests, bench and workloads, with one zombie rule.
. "$COWDUMP_ROOT/workloads/proc.sh"
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
track_ready() { local p; for p in $(ready_pids "$1"); do track "$p"; done; }

kill_tracked() {
	kill_tree ${_TRACKED_PIDS[@]+"${_TRACKED_PIDS[@]}"} || echo "WARN: tracked pids outlived SIGKILL" >&2
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
