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

# Two readers (issue 13): a task shares with a helper, a child of it that
# shares its memory, the reads it does before it forks: into its ghosts
# (cousins), and of its own pages in VMAs its children inherit (the root of
# regress-500-800's split layout). It reads itself whatever the helper did
# not finish. Three restores of one image each: as it is; with one reader
# (CRIU_FAULT=141); with a helper that stops after half of its reads
# (CRIU_FAULT=142). Each must restore the very memory dumped (cowscan
# snapshots compared), say in its log who read what, and leave the restored
# root with the tree's children only: the helper reaped.
# two_readers SCENARIO WHAT: WHAT is how the log names the reads
two_readers() {
	local sc=$1 what=$2 t root kids way name fault log by2 stopped now
	t=$(mktmp)
	if ! start_tree "$t/ready.json" --scenario "$sc" --scale small; then
		fail "$sc: tree starts"
		return
	elif ! "$BIN/cowscan" snapshot "$(jq .root "$t/ready.json")" -o "$t/before" 2>"$t/err"; then
		fail "$sc: snapshot before dump" "$(head -n 1 "$t/err")"
		return
	elif ! criu_dump dedup "$(jq .root "$t/ready.json")" "$t/img"; then
		fail "$sc: dedup dump"
		return
	fi
	root=$(jq .root "$t/ready.json")
	kids=$(jq -r --argjson r "$root" '[.procs[] | select(.ppid == $r) | .pid] | sort | join(" ")' "$t/ready.json")
	for way in "two readers::" "one reader:141:" "a helper that stops halfway:142:"; do
		name="$sc, $what, ${way%%:*}" fault=$(cut -d: -f2 <<<"$way")
		if [ -n "$fault" ]; then
			CRIU_FAULT=$fault criu_restore dedup "$t/img" 2>"$t/err"
		else
			criu_restore dedup "$t/img" 2>"$t/err"
		fi
		if [ $? != 0 ]; then
			fail "$name: restore" "$(criu_error "$t/img/restore.log" | tail -n 2 | tr '\n' ' ')"
			continue
		fi
		track_ready "$t/ready.json"
		log=$t/img/restore.log
		# "Reads of the WHAT: BYTES bytes, A by this task and B by a second reader"
		by2=$(sed -n "s/.*Reads of the $what: [0-9]* bytes, [0-9]* by this task and \([0-9]*\) by a second reader.*/\1/p" "$log" | head -n 1)
		stopped=$(grep -c "The second reader of the $what stopped after" "$log")
		case "$fault" in
		'') check "$name: the helper read part, and all it was given (${by2:-no} reads)" \
			[ "${by2:-0}" -gt 0 -a "$stopped" = 0 ] ;;
		141) check "$name: no helper" [ -z "$by2" -a "$stopped" = 0 ] ;;
		142) check "$name: the task read what the helper left ($(grep -o 'stopped after [0-9]* of [0-9]* reads' "$log" | head -n 1))" \
			[ "$stopped" -gt 0 -a -n "$by2" ] ;;
		esac
		now=$(ps -o pid= --ppid "$root" | tr -d ' ' | sort | paste -sd ' ')
		check "$name: the restored root has the tree's children only ($now)" [ "$now" = "$kids" ]
		if "$BIN/cowscan" snapshot "$root" -o "$t/after" 2>"$t/err"; then
			identical "$name: restores the memory dumped" "$t/before" "$t/after"
		else
			fail "$name: snapshot after restore" "$(head -n 1 "$t/err")"
		fi
		kill_tracked
		wait_gone 20 $(jq -r '.procs[].pid' "$t/ready.json")
	done
}

two_readers cousins ghosts
two_readers regress-500-800 "task's own pages"
kill_tracked
exit 0
