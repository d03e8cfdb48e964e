#!/usr/bin/env bash
# End to end, for every scenario of the catalogue (workloads/scenarios/*.conf)
# at --scale small, with baseline and with dedup CRIU: start the tree,
# snapshot its memory, measure it (cowscan tree), dump, read the image
# (cowscan image), restore, snapshot again, compare, measure again, kill.
#
# Checks:
#  - both variants: memory content identical after restore (cowscan compare);
#  - dedup, every scenario: image pages <= 1.01 x the analyzer's ideal +
#    CRIU's own footprint (see CRIU_FOOTPRINT_PAGES below): a page shared
#    with the parent is a PE_COW mark, one shared with any other task a
#    PE_COW_REF (patches 0010-0012), whatever the layout;
#  - dedup: post-restore anonymous PSS <= baseline's post-restore one
#    + PSS_TOLERANCE, and <= KEPT_FACTOR x the anonymous PSS before the
#    dump + CRIU's footprint (fanout-64 at small scale: 65 processes of
#    a 2 MiB region, 7 pages each made private by CRIU's seizure, 10% of
#    the total): the tree's sharing survives the dump and restore (patches
#    0013-0015 for the layouts beyond parent/child), except for layouts
#    in FALLBACK_LAYOUTS, which dedup restores as copies by design;
#  - dedup: never writes more page bytes than baseline (+ IMAGE_TOLERANCE).
#
# The ideal (cowscan tree: predict.ideal_image_bytes) counts each distinct
# page frame once over exactly the pages CRIU dumps: every private VMA of
# every process (stacks, libc data, heap, the region), the vDSO once. So
# the dedup image is held against an ideal over the same VMAs, and the only
# extra slack is CRIU's own footprint, CRIU_FOOTPRINT_PAGES per process:
#  - the vDSO (2 pages here), written for every process by CRIU and counted
#    once by the ideal;
#  - pages that CRIU's seizure itself makes private after the scan: with
#    `criu dump --leave-running` on fanout-readonly, every page a child
#    still writes has a PFN of its own at dump time, while 8 of them were
#    shared with the parent when the tree was scanned (compel's syscall
#    page in the text, .data/.got, heap, libc/ld data, stack tops).
# Measured: fanout at small scale writes 31 pages over the ideal with 5
# processes. 12 pages (48 KiB) per process is far below what one missed
# region costs (a child's share of the region: hundreds of pages at small
# scale), so a real dedup failure cannot hide in it.
# The JSON of every step stays under build/test-logs/dedup-scenarios/.
. "$(dirname "$0")/lib.sh"

root=$COWDUMP_ROOT
out=$root/build/test-logs/dedup-scenarios
IDEAL_FACTOR=1.01
# Anonymous PSS after a dedup restore over before the dump, at most (issue
# 7's benchmark goal is 1.02 of total PSS at default scale; here a few
# pages CRIU's own seizure made private weigh more)
KEPT_FACTOR=1.03
# Layouts whose sharing restore does not rebuild (dedup/README.md, "Still
# restored as a copy"): held to the image ideal and to baseline's PSS only
# (the layouts of the scenarios the catalogue expects dedup to restore so)
FALLBACK_LAYOUTS=$("$BIN/cowtree" --list-scenarios --json 2>/dev/null |
	jq -r '[.[] | select(.expect.dedup.restore == "copy") | .params.layout] | unique | join(" ")')
CRIU_FOOTPRINT_PAGES=12
# Restored memory is compared on anonymous PSS (pss_anon_bytes): total PSS
# also counts the tree's share of libc & co. pages, which moves with
# whatever else on the machine maps them (two baseline runs of the same
# scenario differed by 3%, and a loaded run by 10%). Anonymous pages are
# mapped by the tree alone; 2% is far below what a missed sharing costs (a
# child's copy of the region: ~50% of the total at small scale).
PSS_TOLERANCE=0.02
IMAGE_TOLERANCE=0.01

for b in cowtree cowscan; do
	if [ ! -x "$BIN/$b" ]; then
		fail "scenario tools are built" "$BIN/$b missing (run: make tools)"
		exit 0
	fi
done
shopt -s nullglob
confs=("$root"/workloads/scenarios/${DEDUP_SCENARIOS:-*}.conf) # DEDUP_SCENARIOS: a glob, to debug one
shopt -u nullglob
if [ "${#confs[@]}" -eq 0 ]; then
	fail "the scenario catalogue is not empty" "no workloads/scenarios/*.conf"
	exit 0
fi
rm -rf "$out"
mkdir -p "$out"

# le_scaled A B F [PLUS]: A <= B * F + PLUS (integers of bytes, F decimal).
le_scaled() { awk -v a="$1" -v b="$2" -v f="$3" -v p="${4:-0}" 'BEGIN { exit !(a <= b * f + p) }'; }
mib() { awk -v b="$1" 'BEGIN { if (b == "" || b == "null") print "-"; else printf "%.1f", b / 1048576 }'; }

# run_variant SCENARIO VARIANT DIR: the whole pipeline; the step's JSON in
# DIR. Returns non-zero (after reporting a FAIL) when a step fails.
run_variant() {
	local s=$1 v=$2 o=$3 tmp rootpid rc
	local name="$s $v"
	tmp=$(mktmp)
	mkdir -p "$o"
	if ! start_tree "$o/ready.json" --scenario "$s" --scale small 2>"$o/cowtree.err"; then
		fail "$name: tree starts" "$(head -n 1 "$o/cowtree.err")"
		kill_tracked
		return 1
	fi
	rootpid=$(jq -r .root "$o/ready.json")
	# The snapshot ptrace-interrupts the tree; the tree scan comes after it
	# so the ideal sees every page as the dump will.
	if ! "$BIN/cowscan" snapshot "$rootpid" -o "$o/before.json" 2>"$o/err" ||
		! "$BIN/cowscan" tree "$rootpid" --json >"$o/tree-before.json" 2>"$o/err"; then
		fail "$name: tree is measured before dump" "$(head -n 1 "$o/err")"
		kill_tracked
		return 1
	fi
	if ! criu_dump "$v" "$rootpid" "$tmp/img" 2>"$o/err"; then
		fail "$name: dump" "$(tail -n 3 "$o/err" | tr '\n' ' ')"
		kill_tracked
		return 1
	fi
	cp "$tmp/img/dump.log" "$o/" 2>/dev/null
	if ! "$BIN/cowscan" image "$tmp/img" --json >"$o/image.json" 2>"$o/err"; then
		fail "$name: cowscan reads the image" "$(head -n 1 "$o/err")"
	fi
	if ! criu_restore "$v" "$tmp/img" 2>"$o/err"; then
		cp "$tmp/img/restore.log" "$o/" 2>/dev/null
		fail "$name: restore" "$(tail -n 3 "$o/err" | tr '\n' ' ')"
		kill_tracked
		return 1
	fi
	cp "$tmp/img/restore.log" "$o/" 2>/dev/null
	rm -rf "$tmp/img" # tmpfs: give the memory back before the next tree
	if ! "$BIN/cowscan" snapshot "$rootpid" -o "$o/after.json" 2>"$o/err"; then
		fail "$name: tree is measured after restore" "$(head -n 1 "$o/err")"
		kill_tracked
		return 1
	fi
	"$BIN/cowscan" compare "$o/before.json" "$o/after.json" --json >"$o/compare.json" 2>"$o/err"
	rc=$?
	if [ $rc -eq 0 ] && jq -e '.content_identical == true' "$o/compare.json" >/dev/null; then
		pass "$name: memory content identical after restore"
	else
		fail "$name: memory content identical after restore" \
			"compare exit $rc: $(jq -c '.differences[:3]' "$o/compare.json" 2>/dev/null || head -n 1 "$o/err")"
	fi
	"$BIN/cowscan" tree "$rootpid" --json >"$o/tree-after.json" 2>"$o/err" ||
		fail "$name: tree is measured after restore" "$(head -n 1 "$o/err")"
	kill_tracked
}

rows=()
for conf in "${confs[@]}"; do
	s=$(basename "$conf" .conf)
	ok=1
	for v in baseline dedup; do
		run_variant "$s" $v "$out/$s/$v" || ok=0
	done
	[ $ok = 1 ] || continue

	b=$out/$s/baseline d=$out/$s/dedup
	ideal=$(jq '.predict.ideal_image_bytes' "$d/tree-before.json")
	img_b=$(jq '.totals.pages_img_bytes' "$b/image.json")
	img_d=$(jq '.totals.pages_img_bytes' "$d/image.json")
	pss_b0=$(jq '.totals.pss_bytes' "$b/tree-before.json")
	pss_b1=$(jq '.totals.pss_bytes' "$b/tree-after.json")
	pss_d0=$(jq '.totals.pss_bytes' "$d/tree-before.json")
	pss_d1=$(jq '.totals.pss_bytes' "$d/tree-after.json")
	apss_b1=$(jq '.totals.pss_anon_bytes' "$b/tree-after.json")
	apss_d0=$(jq '.totals.pss_anon_bytes' "$d/tree-before.json")
	apss_d1=$(jq '.totals.pss_anon_bytes' "$d/tree-after.json")
	cow=$(jq '.totals.pages_cow_marked' "$d/image.json")
	nprocs=$(jq '.procs | length' "$d/ready.json")
	slack=$((nprocs * CRIU_FOOTPRINT_PAGES * $(jq .page_size "$d/ready.json")))
	kept=$(awk -v a="$apss_d1" -v b="$apss_d0" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }')
	ratio=$(awk -v a="$img_d" -v i="$ideal" 'BEGIN { if (i > 0) printf "%.3f", a / i; else print "-" }')
	rows+=("$(printf '%-18s %6s %8s %8s %8s %6s %6s %8s %8s %8s %8s' "$s" "$kept" \
		"$(mib "$img_b")" "$(mib "$img_d")" "$(mib "$ideal")" "$ratio" "$cow" \
		"$(mib "$pss_b0")" "$(mib "$pss_b1")" "$(mib "$pss_d0")" "$(mib "$pss_d1")")")

	if [ "$ideal" = null ]; then
		fail "$s dedup: image pages <= $IDEAL_FACTOR x ideal + CRIU footprint" "no ideal (PFNs unavailable?)"
	elif le_scaled "$img_d" "$ideal" $IDEAL_FACTOR "$slack"; then
		pass "$s dedup: image pages <= $IDEAL_FACTOR x ideal + CRIU footprint"
	else
		fail "$s dedup: image pages <= $IDEAL_FACTOR x ideal + CRIU footprint" \
			"image $img_d bytes, ideal $ideal bytes (ratio $ratio) + slack $slack, $cow pages cow-marked"
	fi
	layout=$(jq -r .layout "$d/ready.json")
	if [[ " $FALLBACK_LAYOUTS " == *" $layout "* ]]; then
		echo "INFO: $s: layout $layout is restored as copies by design: anonymous PSS after/before $kept"
	elif le_scaled "$apss_d1" "$apss_d0" $KEPT_FACTOR "$slack"; then
		pass "$s dedup: anonymous PSS after restore <= $KEPT_FACTOR x before the dump + CRIU footprint"
	else
		fail "$s dedup: anonymous PSS after restore <= $KEPT_FACTOR x before the dump + CRIU footprint" \
			"before $apss_d0 bytes, after $apss_d1 bytes (ratio $kept) + slack $slack"
	fi
	if le_scaled "$img_d" "$img_b" 1 "$(awk -v b="$img_b" -v t=$IMAGE_TOLERANCE 'BEGIN { printf "%d", b * t }')"; then
		pass "$s dedup: image not larger than baseline's"
	else
		fail "$s dedup: image not larger than baseline's" "dedup $img_d bytes, baseline $img_b bytes"
	fi
	if le_scaled "$apss_d1" "$apss_b1" 1 "$(awk -v b="$apss_b1" -v t=$PSS_TOLERANCE 'BEGIN { printf "%d", b * t }')"; then
		pass "$s dedup: post-restore anonymous PSS not above baseline's"
	else
		fail "$s dedup: post-restore anonymous PSS not above baseline's" \
			"dedup $apss_d1 bytes, baseline $apss_b1 bytes (tolerance $PSS_TOLERANCE)"
	fi
done

echo
echo "image bytes and total PSS in MiB; kept = dedup anonymous PSS after restore / before dump; ratio = dedup image / ideal; cow = pages cow-marked in the dedup image"
{
	printf '%-18s %6s %8s %8s %8s %6s %6s %8s %8s %8s %8s\n' scenario kept img-base img-dedup ideal ratio cow \
		pss-b0 pss-b1 pss-d0 pss-d1
	printf '%s\n' ${rows[@]+"${rows[@]}"}
} | tee "$out/table.txt"
exit 0
