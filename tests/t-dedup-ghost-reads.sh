#!/usr/bin/env bash
# A dedup restore reads no page it can keep (issue 13): where a task
# inherits a ghost area (siblings, cousins: pages no common ancestor
# holds), a page whose identity is the ghost's page is kept without a read,
# and only the pages that differ are read and compared. A read that turns
# out equal is a page the restore could have kept: in these trees every
# page a task wrote has content of its own (cowtree's written pages are
# random), so the equal compares of a restore must be few.
#
# Counted from each task's summary line in restore.log (-v4):
#   "cow: PID: K pages kept as inherited, ..., C compared (E equal), ..."
. "$(dirname "$0")/lib.sh"

for b in "$BIN/cowtree" "$CRIU_DEDUP"; do
	[ -x "$b" ] || { fail "ghost-read tools are built" "$b missing (run: make)"; exit 0; }
done

# Equal compares allowed, as a share of the region's pages over the tree's
# processes: CRIU's own footprint (a few stack and libc pages every task
# rewrote with the same bytes) is far below it; a ghost page read and found
# equal for every page of a run costs tens of percent.
EQUAL_SHARE=0.02

# sums LOG: "COMPARED EQUAL" over the tasks' summary lines
sums() {
	sed -n 's/.* \([0-9]*\) compared (\([0-9]*\) equal).*/\1 \2/p' "$1" |
		awk '{ c += $1; e += $2 } END { printf "%d %d\n", c, e }'
}

for s in sibling cousins; do
	t=$(mktmp)
	if ! start_tree "$t/ready.json" --scenario "$s" --scale small; then
		fail "$s: tree starts"
		continue
	fi
	root=$(jq -r .root "$t/ready.json")
	procs=$(jq '.procs | length' "$t/ready.json")
	pages=$(($(jq .region_size "$t/ready.json") / $(jq .page_size "$t/ready.json")))
	if criu_dump dedup "$root" "$t/img" && criu_restore dedup "$t/img"; then
		read -r compared equal < <(sums "$t/img/restore.log")
		limit=$(awk -v p="$pages" -v n="$procs" -v f=$EQUAL_SHARE 'BEGIN { printf "%d", p * n * f }')
		check "$s: the restore reads few pages it could have kept ($equal of $compared compared pages equal; at most $limit, ${EQUAL_SHARE} of $procs x $pages region pages)" \
			[ "$compared" -gt 0 -a "$equal" -le "$limit" ]
	else
		fail "$s: dedup dump and restore"
	fi
	kill_tracked
done
exit 0
