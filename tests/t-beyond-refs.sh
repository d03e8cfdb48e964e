#!/usr/bin/env bash
# Tree-wide dedup (dedup/README.md, "Beyond upstream", tree-wide refs): a
# page shared by processes that are not parent and child at the same
# address is written once, as a PE_COW_REF entry naming the task and
# address that hold it. Read from the one pipeline run the tests share
# (tests/lib.sh pipeline_catalogue; BEYOND_CRIU=path puts a development
# tree's criu in for dedup), whose refs probe (bench/lib/probes/refs) read
# each dedup image and restored broken copies of it. Checks:
#  - for the scenarios the catalogue says baseline restores as copies and
#    dedup shared (the beyond-upstream layouts):
#    - write once: bytes of pages-*.img <= tests.image-over-unique-anon x
#      the tree's unique anonymous bytes before the dump (distinct frames
#      of present, non-file, non-zero pages of private VMAs);
#    - the image holds PE_COW_REF entries, each naming ref_pid and ref_vaddr;
#  - for every dedup image that holds such entries:
#    - baseline CRIU refuses it ("images version 3") and restores no process;
#    - a corrupted reference (ref_pid of one entry set to a pid that is not
#      in the image) makes the dedup restore fail with a clear error naming
#      it, and no restored process is left (patch 0002: without it, a task
#      forked while the failing restore killed its parent was left behind);
#    - a truncated pages image (the largest pages-*.img cut in half: the
#      holder of most shared pages) makes the dedup restore fail saying so
#      (patch 0001; without it CRIU 4.2.1 spins forever on the async read
#      path), and no restored process is left.
# (That the intact image restores with identical content, t-dedup-scenarios
# checks for every scenario.) The logs stay in build/test-logs/pipeline/raw.
. "$(dirname "$0")/lib.sh"

pipeline_catalogue || exit 0
max=$(threshold tests.image-over-unique-anon)

nbeyond=0
for s in $(scenario_cases); do
	refs=$(fig "$s" dedup refs_entries)
	if [ "$(expect "$s" baseline)/$(expect "$s" dedup)" = copy/shared ]; then
		nbeyond=$((nbeyond + 1))
		img=$(fig "$s" dedup image_bytes) unique=$(fig "$s" dedup refs_unique_anon_bytes)
		echo "INFO: $s: pages-*.img $img bytes, unique anonymous $unique bytes, image/unique $(ratio "$img" "$unique")"
		if gt "$unique" 0 && le "$img" "$unique" "$max"; then
			pass "$s: shared pages are written once (image <= $max x unique anonymous)"
		else
			fail "$s: shared pages are written once (image <= $max x unique anonymous)" \
				"image $img bytes, unique $unique bytes ($(why_missing "$s" dedup))"
		fi
		if gt "$refs" 0; then
			pass "$s: the image refers to other processes' pages (PE_COW_REF with ref_pid, ref_vaddr)"
		else
			fail "$s: the image refers to other processes' pages (PE_COW_REF with ref_pid, ref_vaddr)" \
				"$refs such entries ($(why_missing "$s" dedup))"
		fi
	fi
	gt "$refs" 0 || continue
	logs="raw/$s/dedup/r1"
	check "baseline CRIU refuses the $s image" test "$(fig "$s" dedup refs_baseline_refused)" = 1
	if [ "$(fig "$s" dedup refs_corrupt_ref_refused)" = 1 ]; then
		pass "$s: a corrupted reference fails the restore with a clear error, no process left"
	else
		fail "$s: a corrupted reference fails the restore with a clear error, no process left" \
			"see $logs/restore-corrupted.log"
	fi
	if [ "$(fig "$s" dedup refs_truncated_refused)" = 1 ]; then
		pass "$s: a truncated pages image fails the restore with a clear error, no process left"
	else
		fail "$s: a truncated pages image fails the restore with a clear error, no process left" \
			"see $logs/restore-truncated.log"
	fi
done
check "the catalogue has scenarios beyond upstream (baseline copies, dedup shares)" test $nbeyond -gt 0
exit 0
