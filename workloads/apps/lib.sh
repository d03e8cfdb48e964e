# shellcheck shell=bash
# Shared by workloads/apps/*: options, a free loopback port, the ready
# line. Sourced; the app script defines APP_TOOL, usage() and start_app(),
# which must set ROOT_PID (the tree's root, in its own session) and may add
# keys to EXTRA (a jq object expression). role_of PID DEPTH names roles.
set -u
# tree_preorder, kill_tree: the process helpers every cowdump script shares.
. "$(dirname "${BASH_SOURCE[0]}")/../proc.sh"
DETACH=0 READY_FILE="" DIR="" SIZE_MIB=${SIZE_MIB:-256}

app_die() { echo "$(basename "$0"): $*" >&2; [ -n "${ROOT_PID:-}" ] && kill_tree "$ROOT_PID"; exit 1; }

parse_common() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--detach) DETACH=1 ;;
		--ready-file) READY_FILE=${2:?--ready-file needs a path}; shift ;;
		--dir) DIR=${2:?--dir needs a directory}; shift ;;
		--size-mib)
			[[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || app_die "--size-mib: '${2:-}' is not a positive integer"
			SIZE_MIB=$2; shift ;;
		--help|-h) usage; exit 0 ;;
		*) app_die "unknown option '$1' (see --help)" ;;
		esac
		shift
	done
	[ "$(id -u)" = 0 ] || app_die "must run as root (CRIU cannot dump another uid's process here)"
	[ -n "$DIR" ] || DIR=$(mktemp -d "/dev/shm/$APP_TOOL-tree.XXXXXX")
	mkdir -p "$DIR" || app_die "--dir: cannot create $DIR"
}

# A loopback TCP port nobody listens on.
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		ss -Hltn "sport = :$p" 2>/dev/null | grep -q . || { echo $p; return 0; }
	done
	return 1
}

# LOG=FILE start_detached CMD...: run CMD as the root of a tree in its own
# session, stdio on /dev/null (stdout/stderr to $LOG), reparented at once
# (the subshell that started it exits), so its ppid is final. Sets ROOT_PID.
start_detached() {
	(
		# in a non-interactive shell the background job leads no group,
		# so setsid execs CMD itself: $! is CMD's pid
		setsid "$@" </dev/null >"${LOG:-/dev/null}" 2>&1 &
		echo $! >"$DIR/root.pid"
	)
	ROOT_PID=$(cat "$DIR/root.pid") && [ -n "$ROOT_PID" ]
}

# Print the ready line (and write --ready-file atomically).
emit_ready() {
	local line i=0 procs="" pid ppid depth tree
	# (no process substitution: its unwaited subshell would outlive us)
	tree=$(tree_preorder "$ROOT_PID")
	while read -r pid ppid depth; do
		procs+=$(jq -nc --argjson pid "$pid" --argjson ppid "$ppid" --argjson d "$depth" \
			--argjson i $i --arg role "$(role_of "$pid" "$depth")" \
			'{pid:$pid,ppid:$ppid,role:$role,depth:$d,index:$i,region_addr:null,written_pages:null}'),
		i=$((i + 1))
	done <<<"$tree"
	line=$(jq -nc --arg tool "$APP_TOOL" --argjson root "$ROOT_PID" --arg dir "$DIR" \
		--argjson ps "$(getconf PAGESIZE)" --argjson procs "[${procs%,}]" \
		"{ready:true,tool:\$tool,scenario:(\$tool+\"-tree\"),root:\$root,page_size:\$ps,
		  region_size:null,backing:null,thp:null,layout:null,dir:\$dir} + ${EXTRA:-{\}} +
		 {procs:\$procs}")
	echo "$line"
	if [ -n "$READY_FILE" ]; then
		echo "$line" >"$READY_FILE.tmp.$$" && mv "$READY_FILE.tmp.$$" "$READY_FILE"
	fi
}

# Run the app script: start, emit, and without --detach stay until the
# root dies.
app_main() {
	parse_common "$@"
	start_app
	emit_ready
	[ "$DETACH" = 1 ] && exit 0
	tail --pid="$ROOT_PID" -f /dev/null
}
