#!/usr/bin/env bash
# restore --auto-dedup of dedup images (issue 12, item 3). --auto-dedup
# punches each page out of the pages image once restore has read it; a page
# other tasks' marks name is read again for them, so it must stay. For the
# fanout tree (children share with their parent: PE_COW) and the sibling
# tree (the parent unmapped the region: siblings share, PE_COW_REF):
#  - the restore succeeds and the memory is identical (cowscan compare);
#  - the pages images were punched (disk usage of pages-*.img drops);
#  - every page a mark names (followed to its data) still holds what it
#    held before the restore (tests/helpers/trust-images.py
#    check-referenced, against a copy taken before);
#  - as baseline CRIU does with its own image of the same tree (the
#    control: --auto-dedup itself works on these trees).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/trust-lib.sh"
trust_tools_built "auto-dedup tools are built" || exit 0

T=$(mktmp)
for scenario in fanout sibling; do
	t=$T/$scenario
	mkdir -p "$t"
	if ! start_tree "$t/ready" --scenario $scenario --scale small; then
		fail "$scenario: tree starts"
		continue
	fi
	root=$(root_of "$t/ready")
	"$BIN/cowscan" snapshot "$root" -o "$t/before"
	mkdir -p "$t/base"
	if ! "$CRIU_BASELINE" dump -R -t "$root" -D "$t/base" -o dump.log -v4 || ! criu_dump dedup "$root" "$t/img"; then
		fail "$scenario: baseline and dedup dumps"
		kill_ready "$t/ready"
		continue
	fi
	cp -a "$t/img" "$t/orig"
	marks=$(marked_pages "$t/img")
	check "$scenario: the image has marks ($marks pages)" [ "$marks" -gt 0 ]
	before=$(pages_disk_bytes "$t/img")
	if criu_restore dedup "$t/img" --auto-dedup; then
		pass "$scenario: restore --auto-dedup succeeds"
		"$BIN/cowscan" snapshot "$root" -o "$t/after"
		identical "$scenario: restore --auto-dedup: memory identical" "$t/before" "$t/after"
		after=$(pages_disk_bytes "$t/img")
		echo "# $scenario: pages-*.img on disk $before -> $after B"
		check "$scenario: restore --auto-dedup punched the pages images ($before -> $after B)" \
			[ "$after" -lt "$before" ]
		out=$(trust_images check-referenced "$t/orig" "$t/img")
		check "$scenario: the pages marks name are still in the images ($out)" test $? = 0
	else
		fail "$scenario: restore --auto-dedup succeeds" "$(criu_error "$t/img/restore.log" | head -n 1)"
	fi
	kill_ready "$t/ready"
	if criu_restore baseline "$t/base" --auto-dedup; then
		"$BIN/cowscan" snapshot "$root" -o "$t/after-base"
		identical "$scenario: baseline restore --auto-dedup of its image: memory identical" "$t/before" "$t/after-base"
	else
		fail "$scenario: baseline restore --auto-dedup of its image succeeds"
	fi
	kill_ready "$t/ready"
done
exit 0
