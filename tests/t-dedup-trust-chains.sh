#!/usr/bin/env bash
# Marks in a parent snapshot (issue 12, items 1 and 2). A snapshot chain
# (snapshot 2 with PE_PARENT entries whose data is in snapshot 1) cannot be
# dumped here (no soft-dirty: no --track-mem), so snapshot 2 is built from
# real dumps with the build's pycriu (tests/helpers/trust-images.py):
#  1a. a middle task gone: tree R -> M -> L, where M rewrote half of the
#      region before forking L, so L's pages marked as M's differ from R's.
#      Snapshot 2 = snapshot 1 without M (L reparented to R), L's pages all
#      PE_PARENT. Restore must give L its own memory: the marks met in
#      snapshot 1 name M there, whatever the current tree is.
#  1b. `criu dedup` (punches the parent snapshot's pages the current one
#      rewrote) must not punch pages other tasks' marks in the parent
#      snapshot name: snapshot 2 = a mark-free dump of the same tree with
#      L's pages PE_PARENT, so M's data in snapshot 1 is rewritten in 2 but
#      named by L's marks in 1.
#  2.  a dump whose parent snapshot (--prev-images-dir) is version 3 is
#      version 3, even without marks of its own; baseline refuses it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/trust-lib.sh"
trust_tools_built "chain tools are built" || exit 0

T=$(mktmp)
TREE=(--fanout 1 --depth 2 --child-write 0.5 --size 4M)

# cow_marks_naming DIR PID HOLDER: PE_COW/PE_COW_REF pages of PID in DIR
# whose ref_pid is HOLDER (a build writing no ref_pid: its parent).
cow_marks_naming() {
	"$CRIT_DEDUP" show "$1/pagemap-$2.img" | jq --argjson h "$3" --argjson pp "$4" \
		'[.entries[1:][] | select(.flags | test("PE_COW")) | select((.ref_pid // $pp) == $h) | .nr_pages] | add // 0'
}

# --- 1a. the middle task is gone in snapshot 2 --------------------------------
if start_tree "$T/a.ready" "${TREE[@]}"; then
	read -r R M L <<<"$(ready_pids "$T/a.ready" | tr '\n' ' ')"
	"$BIN/cowscan" snapshot "$R" -o "$T/a.before"
	if criu_dump dedup "$R" "$T/a1"; then
		n=$(cow_marks_naming "$T/a1" "$L" "$M" "$M")
		check "snapshot 1: L's pages are marked as M's ($n pages)" [ "$n" -gt 0 ]
		cp -a "$T/a1" "$T/a2"
		trust_images drop-task "$T/a2" "$M" && trust_images to-parent "$T/a2" "$L" &&
			ln -s ../a1 "$T/a2/parent" || fail "snapshot 2 without M is built"
		if criu_restore dedup "$T/a2"; then
			"$BIN/cowscan" snapshot "$R" -o "$T/a.after"
			jq --argjson m "$M" 'del(.procs[] | select(.pid == $m))' "$T/a.before" >"$T/a.before-without-M"
			identical "restore through PE_PARENT meets marks naming a task gone since: L's memory identical" \
				"$T/a.before-without-M" "$T/a.after"
		else
			fail "restore through PE_PARENT meets marks naming a task gone since" \
				"restore failed: $(criu_error "$T/a2/restore.log" | head -n 1)"
		fi
	else
		fail "snapshot 1 of R -> M -> L is dumped"
	fi
	kill_ready "$T/a.ready"
else
	fail "tree R -> M -> L starts"
fi

# --- 1b. criu dedup leaves the pages marks name ----------------------------------
if start_tree "$T/b.ready" "${TREE[@]}"; then
	read -r R M L <<<"$(ready_pids "$T/b.ready" | tr '\n' ' ')"
	"$BIN/cowscan" snapshot "$R" -o "$T/b.before"
	mkdir -p "$T/b1"
	if "$CRIU_DEDUP" dump -R -t "$R" -D "$T/b1" -o dump.log -v4 &&
		criu_dump dedup "$R" "$T/b2" --no-cow-dedup; then
		check "snapshot 1: L's pages are marked as M's ($(cow_marks_naming "$T/b1" "$L" "$M" "$M") pages)" \
			[ "$(cow_marks_naming "$T/b1" "$L" "$M" "$M")" -gt 0 ]
		trust_images to-parent "$T/b2" "$L" && trust_images set-version "$T/b2" 3 &&
			ln -s ../b1 "$T/b2/parent" || fail "snapshot 2 with L in snapshot 1 is built"
		before=$(pages_disk_bytes "$T/b1")
		start=$SECONDS
		if "$CRIU_DEDUP" dedup -D "$T/b2" -o dedup.log -v4; then
			after=$(pages_disk_bytes "$T/b1")
			echo "# criu dedup: snapshot 1 pages on disk $before -> $after B, $((SECONDS - start)) s"
			check "criu dedup punches snapshot 1's pages that snapshot 2 rewrote" [ "$after" -lt "$before" ]
			if criu_restore dedup "$T/b2"; then
				"$BIN/cowscan" snapshot "$R" -o "$T/b.after"
				identical "criu dedup keeps the pages snapshot 1's marks name: restore identical" \
					"$T/b.before" "$T/b.after"
			else
				fail "criu dedup keeps the pages snapshot 1's marks name: restore identical" \
					"restore failed: $(criu_error "$T/b2/restore.log" | head -n 1)"
			fi
		else
			fail "criu dedup runs" "$(criu_error "$T/b2/dedup.log" | head -n 1)"
		fi
	else
		fail "snapshots 1 and 2 of R -> M -> L are dumped"
	fi
	kill_ready "$T/b.ready"
else
	fail "tree R -> M -> L starts"
fi

# --- 2. a dump on top of a version-3 snapshot is version 3 --------------------
if start_tree "$T/v.ready" --fanout 2 --child-write 0.1 --size 4M; then
	R=$(root_of "$T/v.ready")
	mkdir -p "$T/v1" "$T/v2" "$T/v2-alone" "$T/v2-no-uptime"
	if "$CRIU_DEDUP" dump -R -t "$R" -D "$T/v1" -o dump.log -v4; then
		check "snapshot 1 (dedup, marks) is version 3" [ "$(img_version "$T/v1")" = 3 ]
		# What CRIU 4.2.1 itself allows: --prev-images-dir needs the parent's
		# dump_uptime (pid-reuse check), which only pre-dump/--track-mem write.
		if "$CRIU_DEDUP" dump -R -t "$R" -D "$T/v2-no-uptime" --prev-images-dir ../v1 --no-cow-dedup \
			-o dump.log -v4 2>/dev/null; then
			echo "# dump --prev-images-dir of a plain dump works without --track-mem"
		else
			echo "# dump --prev-images-dir of a plain dump fails without --track-mem:" \
				"$(criu_error "$T/v2-no-uptime/dump.log" | head -n 1)"
		fi
		trust_images set-uptime "$T/v1"
		"$CRIU_DEDUP" dump -R -t "$R" -D "$T/v2-alone" --no-cow-dedup -o dump.log -v4 ||
			fail "mark-free dump without a parent snapshot"
		check "a mark-free dump without a parent snapshot is version 2" [ "$(img_version "$T/v2-alone")" = 2 ]
		if "$CRIU_DEDUP" dump -R -t "$R" -D "$T/v2" --prev-images-dir ../v1 --no-cow-dedup -o dump.log -v4; then
			check "snapshot 2 has no marks of its own" [ "$(marked_pages "$T/v2")" = 0 ]
			check "a mark-free dump on a version-3 parent snapshot is version 3 (is $(img_version "$T/v2"))" \
				[ "$(img_version "$T/v2")" = 3 ]
		else
			fail "dump --prev-images-dir runs" "$(criu_error "$T/v2/dump.log" | head -n 1)"
		fi
	else
		fail "snapshot 1 is dumped"
	fi
	kill_ready "$T/v.ready"
	if [ -s "$T/v2/inventory.img" ]; then
		if "$CRIU_BASELINE" restore -D "$T/v2" -d -o restore-baseline.log -v4 2>/dev/null; then
			fail "baseline refuses the snapshot on a version-3 parent" "baseline restored it"
		else
			check "baseline refuses the snapshot on a version-3 parent (Not supported images version 3)" \
				grep -q "Not supported images version 3" "$T/v2/restore-baseline.log"
			check "baseline's refusal leaves no process" none_alive $(ready_pids "$T/v.ready")
		fi
		kill_ready "$T/v.ready"
	fi
else
	fail "fanout tree starts"
fi
exit 0
