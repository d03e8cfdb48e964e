#!/usr/bin/env bash
# End to end, for every scenario of the catalogue (cowtree --list-scenarios)
# at --scale small, with baseline and with dedup CRIU, read from the one
# pipeline run the tests share (tests/lib.sh pipeline_catalogue: bench/run
# starts the tree, snapshots and measures it, dumps, reads the image,
# restores, snapshots and measures again, compares, kills).
#
# Checks, per scenario:
#  - both variants: memory content identical after restore (cowscan compare);
#  - dedup: image pages <= the scenario's image-over-ideal bound x the
#    analyzer's ideal + CRIU's own footprint (tests.criu-footprint-pages per
#    process, bench/thresholds.conf says why): a page shared with the parent
#    is a PE_COW mark, one shared with any other task a PE_COW_REF (patches
#    0010-0012), whatever the layout;
#  - each build restores the scenario as the catalogue expects
#    (expect-baseline, expect-dedup): shared means anonymous PSS after
#    restore <= tests.anon-pss-kept (or the scenario's looser bound) x before
#    the dump + CRIU's footprint (as above: fanout-64 at small scale has 65
#    processes of a 2 MiB region, 7 pages each made private by CRIU's
#    seizure, 10% of the total); copy means above it (the tree came back
#    with private copies: the catalogue's reason is printed); on a machine
#    whose THP setting is "always", baseline's "shared" is skipped where it
#    fails, with its figures (CRIU 4.2.1 fills restored memory with huge
#    pages there), and dedup is held to it as everywhere;
#  - dedup: never writes more page bytes than baseline (+ tests.image-over-
#    baseline), and its post-restore anonymous PSS is not above baseline's
#    (+ tests.anon-pss-over-baseline).
#
# The ideal (cowscan tree: predict.ideal_image_bytes) counts each distinct
# page frame once over exactly the pages CRIU dumps: every private VMA of
# every process (stacks, libc data, heap, the region), the vDSO once.
# Restored memory is compared on anonymous PSS: total PSS also counts the
# tree's share of libc & co. pages, which moves with whatever else on the
# machine maps them (two baseline runs of one scenario differed by 3%, and
# a loaded run by 10%). The run's JSON: build/test-logs/pipeline/.
. "$(dirname "$0")/lib.sh"

pipeline_catalogue || exit 0
footprint_pages=$(threshold tests.criu-footprint-pages)
kept=$(threshold tests.anon-pss-kept)
pss_over_base=$(threshold tests.anon-pss-over-baseline)
img_over_base=$(threshold tests.image-over-baseline)
mib() { awk -v b="$1" 'BEGIN { if (b == "" || b == "null") print "-"; else printf "%.1f", b / 1048576 }'; }

# restores_as CASE BUILD SLACK: check the catalogue's expectation for
# BUILD, allowing SLACK bytes of CRIU's own footprint.
restores_as() {
	local s=$1 b=$2 slack=$3 want before after limit why
	want=$(expect "$s" "$b")
	before=$(fig "$s" "$b" pss_anon_before_bytes) after=$(fig "$s" "$b" pss_anon_after_bytes)
	limit=$(awk -v k="$kept" -v b="$(bound "$s" pss-after-over-before)" 'BEGIN { print (b != "null" && b > k) ? b : k }')
	why="anonymous PSS before $before B, after $after B (ratio $(ratio "$after" "$before"), limit $limit, + slack $slack)"
	[ "$after" = null ] && why+="; $(why_missing "$s" "$b")"
	case "$want" in
	shared)
		if le "$after" "$before" "$limit" "$slack"; then
			pass "$s $b: restores the sharing, as the catalogue expects (anonymous PSS after <= $limit x before + CRIU footprint)"
		elif [ "$b" = baseline ] && [ "$(thp_enabled)" = always ]; then
			# CRIU 4.2.1 fills each premapped VMA page by page before the
			# restorer advises it: with THP "always" each page faults in a
			# huge page, the untouched and zero-page parts around it become
			# memory (t-dedup-trust-nodedup.sh, case e). The catalogue
			# describes the layouts' sharing, which such a machine hides.
			skip "$s $b: restores the sharing, as the catalogue expects" \
				"THP is \"always\" here and CRIU 4.2.1 fills restored memory with huge pages: $why"
		else
			fail "$s $b: restores the sharing, as the catalogue expects (anonymous PSS after <= $limit x before + CRIU footprint)" \
				"$why"
		fi
		;;
	copy)
		if gt "$after" "$before" "$limit" "$slack"; then
			pass "$s $b: restores copies, as the catalogue expects ($(expect_why "$s" "$b"))"
		else
			fail "$s $b: restores copies, as the catalogue expects" \
				"$why; if the build now shares, update the catalogue"
		fi
		;;
	*) fail "$s $b: the catalogue says how $b restores it" "expect-$b is '$want'" ;;
	esac
}

cases=$(scenario_cases)
check "the catalogue run has scenarios" test -n "$cases"
rows=()
for s in $cases; do
	for v in baseline dedup; do
		if [ "$(fig "$s" $v content_identical min)" = 1 ]; then
			pass "$s $v: memory content identical after restore"
		else
			fail "$s $v: memory content identical after restore" \
				"content_identical $(fig "$s" $v content_identical min) ($(why_missing "$s" $v); raw/$s/$v/r1/compare.json)"
		fi
	done

	ideal=$(fig "$s" dedup ideal_image_bytes)
	img_b=$(fig "$s" baseline image_bytes) img_d=$(fig "$s" dedup image_bytes)
	procs=$(fig "$s" dedup procs) factor=$(bound "$s" image-over-ideal)
	slack=$((${procs/null/0} * footprint_pages * ${RUN[page_size]}))
	if le "$img_d" "$ideal" "$factor" "$slack"; then
		pass "$s dedup: image pages <= $factor x ideal + CRIU footprint"
	else
		fail "$s dedup: image pages <= $factor x ideal + CRIU footprint" \
			"image $img_d bytes, ideal $ideal bytes (ratio $(ratio "$img_d" "$ideal")) + slack $slack, $(fig "$s" dedup image_pages_cow_marked) pages cow-marked ($(why_missing "$s" dedup))"
	fi
	restores_as "$s" baseline "$slack"
	restores_as "$s" dedup "$slack"
	if le "$img_d" "$img_b" "$(awk -v t="$img_over_base" 'BEGIN { print 1 + t }')"; then
		pass "$s dedup: image not larger than baseline's"
	else
		fail "$s dedup: image not larger than baseline's" "dedup $img_d bytes, baseline $img_b bytes"
	fi
	apss_b=$(fig "$s" baseline pss_anon_after_bytes) apss_d=$(fig "$s" dedup pss_anon_after_bytes)
	if le "$apss_d" "$apss_b" "$(awk -v t="$pss_over_base" 'BEGIN { print 1 + t }')"; then
		pass "$s dedup: post-restore anonymous PSS not above baseline's"
	else
		fail "$s dedup: post-restore anonymous PSS not above baseline's" \
			"dedup $apss_d bytes, baseline $apss_b bytes (tolerance $pss_over_base)"
	fi
	rows+=("$(printf '%-18s %6s %6s %8s %8s %8s %6s %6s %8s %8s %8s %8s' "$s" \
		"$(ratio "$(fig "$s" baseline pss_anon_after_bytes)" "$(fig "$s" baseline pss_anon_before_bytes)")" \
		"$(ratio "$apss_d" "$(fig "$s" dedup pss_anon_before_bytes)")" \
		"$(mib "$img_b")" "$(mib "$img_d")" "$(mib "$ideal")" "$(ratio "$img_d" "$ideal")" \
		"$(fig "$s" dedup image_pages_cow_marked)" \
		"$(mib "$(fig "$s" baseline pss_before_bytes)")" "$(mib "$(fig "$s" baseline pss_after_bytes)")" \
		"$(mib "$(fig "$s" dedup pss_before_bytes)")" "$(mib "$(fig "$s" dedup pss_after_bytes)")")")
done

echo
echo "image bytes and total PSS in MiB; kept-b/kept-d = anonymous PSS after restore / before dump (baseline, dedup); ratio = dedup image / ideal; cow = pages cow-marked in the dedup image"
printf '%-18s %6s %6s %8s %8s %8s %6s %6s %8s %8s %8s %8s\n' scenario kept-b kept-d img-base img-dedup ideal ratio cow \
	pss-b0 pss-b1 pss-d0 pss-d1
printf '%s\n' ${rows[@]+"${rows[@]}"}
exit 0
