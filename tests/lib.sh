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
# one file for tests, bench and workloads, with one zombie rule. The test
# runs as a child subreaper: its trees' orphans are reaped at once, so a
# dumped tree's pids are free for restore in milliseconds (proc.sh).
. "$COWDUMP_ROOT/workloads/proc.sh"
become_subreaper "$@"
BIN=$COWDUMP_ROOT/build/bin
CRIU_BASELINE=$COWDUMP_ROOT/build/criu-baseline/criu/criu
CRIU_DEDUP=$COWDUMP_ROOT/build/criu-dedup/criu/criu
CRIT_DEDUP=$COWDUMP_ROOT/build/criu-dedup/crit.sh

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

# on_exit CMD...: run CMD when the script exits, after its processes are
# killed (for machine settings a test changes for its own run).
_EXIT_HOOKS=()
on_exit() { _EXIT_HOOKS+=("$*"); }

_cleanup() {
	local h
	kill_tracked
	for h in ${_EXIT_HOOKS[@]+"${_EXIT_HOOKS[@]}"}; do eval "$h"; done
	rm -rf "$_TEST_TMP"
}

# thp_enabled_set MODE: set the machine's THP setting (always, madvise,
# never) until the script exits, when the old one is put back. Fails
# (returns 1) where /sys does not allow it.
THP_ENABLED=/sys/kernel/mm/transparent_hugepage/enabled
thp_enabled() { sed 's/.*\[\(.*\)\].*/\1/' "$THP_ENABLED"; }
thp_enabled_set() {
	local old
	old=$(thp_enabled) || return 1
	[ "$old" = "$1" ] && return 0
	echo "$1" 2>/dev/null >"$THP_ENABLED" || return 1
	on_exit "echo $old >$THP_ENABLED"
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

# marks_kept IMGDIR: the dedup restore of IMGDIR (its stats-dump and
# stats-restore) kept every page the dump marked as the parent's (PE_COW)
# without reading it, and accounted for every mark: pages kept
# (pages_cow_inherited, marks of both kinds) + pages read from their holder
# (pages_cow_resolved) = PE_COW + PE_COW_REF pages written by the dump.
# Prints the four counts on a "#" line; fails (returns 1) otherwise.
marks_kept() {
	local crit=$COWDUMP_ROOT/build/criu-dedup/crit.sh skp ref inh res
	skp=$("$crit" show "$1/stats-dump" | jq '.entries[0].dump.pages_cow_skipped // 0')
	ref=$("$crit" show "$1/stats-dump" | jq '.entries[0].dump.pages_cow_referenced // 0')
	inh=$("$crit" show "$1/stats-restore" | jq '.entries[0].restore.pages_cow_inherited // 0')
	res=$("$crit" show "$1/stats-restore" | jq '.entries[0].restore.pages_cow_resolved // 0')
	echo "# marks: PE_COW $skp, PE_COW_REF $ref; restore kept $inh, read $res"
	[ "$skp" -gt 0 ] && [ "$inh" -ge "$skp" ] && [ $((inh + res)) -eq $((skp + ref)) ]
}

# img_version DIR: the images version of DIR's inventory (crit of the dedup
# build, $CRIT_DEDUP).
img_version() { "$CRIT_DEDUP" show "$1/inventory.img" 2>/dev/null | jq '.entries[0].img_version'; }

# criu_error LOG: CRIU's error lines but the harmless RLIMIT_NOFILE one
# (logged on every run here: no CAP_SYS_RESOURCE).
criu_error() { grep 'Error (' "$1" 2>/dev/null | grep -v 'RLIMIT_NOFILE for self'; }

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

# --- the pipeline run the tests share ----------------------------------------
# pipeline_catalogue: every scenario of the catalogue (and bench's own small
# sweeps), with baseline and dedup CRIU at --scale small, through bench/run
# (matrix [tests]) with the maps, thp, cow and refs probes: the one place
# the tests dump and restore the catalogue. Made once per tests/run (its
# COWDUMP_TEST_MARK; a test file run alone makes its own) into
# build/test-logs/pipeline/; every test of the pipeline asserts on its
# run.json. PIPELINE_SCENARIOS=a,b restricts it (to debug one);
# BEYOND_CRIU=path puts another dedup criu (a development tree's) in.
# Returns 1, after one FAIL, when the run left no run.json.
PIPELINE_RUN=$COWDUMP_ROOT/build/test-logs/pipeline
pipeline_catalogue() {
	local key dedup=${BEYOND_CRIU:-$CRIU_DEDUP}
	key="${COWDUMP_TEST_MARK:-alone-$$} $dedup ${PIPELINE_SCENARIOS:-all}"
	mkdir -p "$(dirname "$PIPELINE_RUN")"
	(
		flock 9
		[ -f "$PIPELINE_RUN/run.json" ] && [ "$(cat "$PIPELINE_RUN/key" 2>/dev/null)" = "$key" ] && exit 0
		rm -rf "$PIPELINE_RUN"
		"$COWDUMP_ROOT/bench/run" --matrix tests ${PIPELINE_SCENARIOS:+--scenarios "$PIPELINE_SCENARIOS"} \
			--probes maps,thp,cow,refs --criu-dedup "$dedup" --no-plots \
			--out "$PIPELINE_RUN" >"$PIPELINE_RUN.log" 2>&1
		echo "$key" >"$PIPELINE_RUN/key"
	) 9>"$PIPELINE_RUN.lock"
	if [ ! -s "$PIPELINE_RUN/run.json" ]; then
		fail "the catalogue runs through the pipeline" "no run.json: $(tail -n 1 "$PIPELINE_RUN.log")"
		return 1
	fi
	pipeline_load
}

# The run's facts, loaded once into RUN[] by pipeline_catalogue (one jq,
# not one per figure): RUN[fig|CASE|VARIANT|FIGURE|STAT], RUN[expect|CASE|
# BUILD], RUN[why|CASE|BUILD], RUN[bound|CASE|KEY], RUN[param|CASE|KEY],
# RUN[err|CASE|VARIANT] (failed repeats), RUN[scenarios], RUN[page_size].
declare -gA RUN=()
pipeline_load() {
	local k v
	while IFS=$'\t' read -r k v; do RUN[$k]=$v; done < <(jq -r '
		"page_size\t\(.machine.page_size)",
		"scenarios\t\([.cases[] | select(.kind == "scenario") | .id] | join(" "))",
		(.cases[] | .id as $c |
			(.expect // {} | to_entries[] |
				"expect|\($c)|\(.key)\t\(.value.restore)", "why|\($c)|\(.key)\t\(.value.why // "")"),
			(.bounds // {} | to_entries[] | "bound|\($c)|\(.key)\t\(.value)"),
			(.params // {} | to_entries[] | "param|\($c)|\(.key)\t\(.value)"),
			(.variants | to_entries[] | .key as $v |
				(.value.summary | to_entries[] | .key as $f | .value |
					"fig|\($c)|\($v)|\($f)|median\t\(.median)", "fig|\($c)|\($v)|\($f)|min\t\(.min)",
					"fig|\($c)|\($v)|\($f)|max\t\(.max)"),
				"err|\($c)|\($v)\t\([.value.repeats[] | select(.ok | not) |
					"\(.error.step): \(.error.message)" | gsub("[\t\n]"; " ")] | join("; "))"))' \
		"$PIPELINE_RUN/run.json")
}

# scenario_cases: the ids of the run's scenario cases.
scenario_cases() { echo "${RUN[scenarios]:-}"; }
# fig CASE VARIANT FIGURE [STAT]: a figure's median (or min, max) over the
# case's repeats; "null" when it was not measured.
fig() { echo "${RUN[fig|$1|$2|$3|${4:-median}]:-null}"; }
# expect CASE BUILD: what the catalogue says BUILD's restore does with the
# scenario (shared or copy); expect_why CASE BUILD: why, when a copy.
expect() { echo "${RUN[expect|$1|$2]:-unknown}"; }
expect_why() { echo "${RUN[why|$1|$2]:-}"; }
# bound CASE KEY: the scenario's bound (catalogue, or thresholds' default).
bound() { echo "${RUN[bound|$1|$2]:-null}"; }
# param CASE KEY: the tree's resolved parameter (from its ready line).
param() { echo "${RUN[param|$1|$2]:-null}"; }
# why_missing CASE VARIANT: why CASE VARIANT has no figures.
why_missing() { local e=${RUN[err|$1|$2]:-}; echo "${e:-not measured}"; }

# threshold SECTION.KEY: a value of bench/thresholds.conf (the one config).
threshold() { "$COWDUMP_ROOT/bench/lib/thresholds" get "$1"; }

# le A B [F] [PLUS]: A <= B * F + PLUS (F defaults to 1); false when a
# figure is missing, so a check that needs it fails.
le() {
	awk -v a="$1" -v b="$2" -v f="${3:-1}" -v p="${4:-0}" \
		'BEGIN { if (a == "" || a == "null" || b == "" || b == "null") exit 1; exit !(a <= b * f + p) }'
}
# ge A B [F]: A >= B * F.
ge() {
	awk -v a="$1" -v b="$2" -v f="${3:-1}" \
		'BEGIN { if (a == "" || a == "null" || b == "" || b == "null") exit 1; exit !(a >= b * f) }'
}
# lt A B: strictly below; gt A B [F] [PLUS]: strictly above B * F + PLUS.
lt() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || a == "null" || b == "" || b == "null") exit 1; exit !(a < b) }'; }
gt() {
	awk -v a="$1" -v b="$2" -v f="${3:-1}" -v p="${4:-0}" \
		'BEGIN { if (a == "" || a == "null" || b == "" || b == "null") exit 1; exit !(a > b * f + p) }'
}
# ratio A B: A / B to 3 decimals, or "-".
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "null" || b == "null" || b == 0) print "-"; else printf "%.3f", a / b }'; }
