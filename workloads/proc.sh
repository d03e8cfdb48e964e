# shellcheck shell=bash
# workloads/proc.sh: the process helpers of every cowdump script -- tests
# (tests/lib.sh), the bench (bench/lib/common.sh) and the workloads
# (verify.sh, apps/lib.sh). Source it; it defines functions only.
#
# One rule for "alive", everywhere: a pid is alive while /proc/PID exists.
# A zombie's pid is not free -- a restore that needs it fails with "File
# exists", and pid 1 here reaps orphans a second or two late -- so a zombie
# counts as alive, unless it is our own child, which we reap on the spot.
#
# Nothing here kills by name: only pids, and the descendants of pids.

# become_subreaper "$@": at the top of a script, re-execute it (same pid,
# same arguments) as a child subreaper (prctl PR_SET_CHILD_SUBREAPER, which
# survives exec). Orphans among its descendants -- a detached tree's root,
# a restored tree once criu exits -- are then reparented to this shell,
# which reaps them as they die, instead of to pid 1, which here reaps a
# second or two late: waiting until dumped or killed pids are gone (a
# restore needs them free) then takes milliseconds instead of seconds.
# Without python or prctl the script runs on unchanged, only slower.
become_subreaper() {
	[ "${COWDUMP_SUBREAPER:-}" = "$$" ] && return 0
	export COWDUMP_SUBREAPER=$$
	[ -x /usr/bin/python3 ] || return 0
	exec /usr/bin/python3 -c 'import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    print("become_subreaper: prctl failed, orphans go to pid 1", file=sys.stderr)
os.execv("/bin/bash", ["/bin/bash"] + sys.argv[1:])' "$0" "$@"
}

# alive PID: PID exists (a zombie counts, except our own child, reaped here).
alive() {
	local line ppid='' state=''
	[ -d /proc/"$1" ] || return 1
	while read -r line; do
		case "$line" in
		State:*) state=${line#State:} ;;
		PPid:*) ppid=${line#PPid:} ;;
		esac
	done 2>/dev/null </proc/"$1"/status
	if [[ "$state" == *Z* ]] && [ "${ppid//[[:space:]]/}" = "$BASHPID" ]; then
		wait "$1" 2>/dev/null
		[ -d /proc/"$1" ] || return 1
	fi
	return 0
}

# tree_preorder PID: "pid ppid depth" for PID and each of its descendants,
# in pre-order, children by pid (the order of a ready line). A child's ppid
# is the parent it was listed under (/proc/PID/task/*/children).
tree_preorder() {
	local ppid line
	ppid=$(while read -r line; do [[ "$line" == PPid:* ]] && echo "${line#PPid:}"; done \
		2>/dev/null </proc/"$1"/status)
	_tree_preorder "$1" "${ppid//[[:space:]]/}" 0
}
_tree_preorder() {
	local c
	[ -d /proc/"$1" ] || return 0
	echo "$1 $2 $3"
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | sort -n); do
		_tree_preorder "$c" "$1" $(($3 + 1))
	done
}

# descendants PID...: every descendant of each PID (not PID itself).
descendants() {
	local p c
	for p in "$@"; do
		for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
			echo "$c"
			descendants "$c"
		done
	done
}

# wait_gone TIMEOUT_S PID...: until no PID is alive; 1 on timeout.
wait_gone() {
	local end=$((SECONDS + $1)) p left
	shift
	while :; do
		left=0
		for p in "$@"; do alive "$p" && left=1 && break; done
		[ "$left" = 0 ] && return 0
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.02
	done
}

# kill_tree PID...: SIGKILL every PID and its descendants (listed before the
# first signal, so none escapes by being reparented), then wait until all
# are gone. 1, naming the survivors on stderr, when some outlive 20 s.
kill_tree() {
	local all=() p
	for p in "$@"; do
		[ -n "$p" ] || continue
		all+=("$p")
		mapfile -t -O ${#all[@]} all < <(descendants "$p")
	done
	[ ${#all[@]} -gt 0 ] || return 0
	kill -9 "${all[@]}" 2>/dev/null
	wait_gone 20 "${all[@]}" && return 0
	for p in "${all[@]}"; do alive "$p" && echo "kill_tree: pid $p still alive after SIGKILL" >&2; done
	return 1
}

# cmdline_has PID MARKER...: PID's command line contains one of the markers.
# pid_max is 32768 here and pids recycle: before killing a pid recorded a
# while ago, check it still runs what we started.
cmdline_has() {
	local p=$1 cmd m
	shift
	cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || return 1
	for m in "$@"; do
		[ -n "$m" ] && [[ "$cmd" == *"$m"* ]] && return 0
	done
	return 1
}

# ready_pids READY: every pid of a ready line ({"procs":[{"pid":N},...]}).
ready_pids() { jq -r '.procs[].pid' "$1"; }

# procs_mentioning STRING: pids whose command line contains STRING (not
# ours). The string goes through a file so grep's own command line lacks it.
procs_mentioning() {
	local pat
	pat=$(mktemp)
	printf '%s\n' "$1" >"$pat"
	grep -lFf "$pat" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 | grep -vx "$$" || true
	rm -f "$pat"
}
