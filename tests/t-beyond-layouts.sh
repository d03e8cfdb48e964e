#!/usr/bin/env bash
# Beyond-upstream layouts (dedup/README.md, "Beyond upstream"): does a
# restore rebuild each tree as it was? Read from the one pipeline run the
# tests share (tests/lib.sh pipeline_catalogue: every catalogue scenario at
# --scale small, baseline and dedup CRIU; BEYOND_CRIU=path puts a
# development tree's criu in for dedup), whose probes saw the tree before
# the dump and after the restore (bench/lib/probes/). Checks:
#  - maps, every scenario and build: every process's /proc/PID/maps after
#    restore lists the same VMAs (start, end, perms, and offset + path for
#    file mappings) as before the dump, adjacent mergeable VMAs merged; the
#    VMAs over the region itself exactly, unmerged (probe maps);
#  - COW semantics, every scenario and build: a page that two restored
#    processes share is written in one of them through /proc/PID/mem; the
#    other one still reads the old content, and the writer reads the new
#    one (probe cow);
#  - huge pages, every scenario with thp: the tree's AnonHugePages after a
#    dedup restore >= tests.thp-kept x before the dump (probe thp);
#  - sharing baseline loses and dedup keeps (the scenarios the catalogue
#    says baseline restores as copies and dedup shared): dedup post-restore
#    total PSS < baseline's and <= tests.pss-kept x the PSS before the dump
#    (a copy of the region in even one process breaks it at this scale),
#    and dedup image pages < baseline's.
# The PSS, image sizes and huge pages of every scenario are printed as INFO.
. "$(dirname "$0")/lib.sh"

pipeline_catalogue || exit 0
pss_kept=$(threshold tests.pss-kept)
thp_kept=$(threshold tests.thp-kept)

for s in $(scenario_cases); do
	for v in baseline dedup; do
		n="$s $v"
		if [ "$(fig "$s" $v maps_identical)" = 1 ]; then
			pass "$n: /proc/PID/maps of every process equal the dumped ones"
		else
			fail "$n: /proc/PID/maps of every process equal the dumped ones" \
				"$(fig "$s" $v maps_differing_lines) lines differ ($(why_missing "$s" $v); raw/$s/$v/r1/maps.diff)"
		fi
		if [ "$(fig "$s" $v maps_region_identical)" = 1 ]; then
			pass "$n: the region's VMAs are the dumped ones, unmerged"
		else
			fail "$n: the region's VMAs are the dumped ones, unmerged" \
				"$(why_missing "$s" $v); raw/$s/$v/r1/region-*"
		fi
		what="a write in one restored process is invisible to the others"
		case "$(fig "$s" $v cow_pair_found)/$(fig "$s" $v cow_isolated)" in
		1/1) pass "$n: $what" ;;
		0/*) skip "$n: $what" "no two processes share a page of the region at one address" ;;
		*) fail "$n: $what" "cow_isolated $(fig "$s" $v cow_isolated) ($(why_missing "$s" $v))" ;;
		esac
	done
	echo "INFO: $s: total PSS before dump $(fig "$s" dedup pss_before_bytes) B," \
		"after restore: baseline $(fig "$s" baseline pss_after_bytes) B, dedup $(fig "$s" dedup pss_after_bytes) B;" \
		"image pages: baseline $(fig "$s" baseline image_bytes) B, dedup $(fig "$s" dedup image_bytes) B;" \
		"unique bytes before dump $(fig "$s" dedup unique_before_bytes) B;" \
		"AnonHugePages before dump $(fig "$s" dedup thp_before_kib) KiB, after restore:" \
		"baseline $(fig "$s" baseline thp_after_kib) KiB, dedup $(fig "$s" dedup thp_after_kib) KiB"

	if [ "$(param "$s" thp)" = true ]; then
		before=$(fig "$s" dedup thp_before_kib) after=$(fig "$s" dedup thp_after_kib)
		if gt "$before" 0 && ge "$after" "$before" "$thp_kept"; then
			pass "$s: dedup restore keeps the huge pages (AnonHugePages)"
		else
			fail "$s: dedup restore keeps the huge pages (AnonHugePages)" "before $before KiB, after $after KiB"
		fi
	fi

	[ "$(expect "$s" baseline)/$(expect "$s" dedup)" = copy/shared ] || continue
	d1=$(fig "$s" dedup pss_after_bytes) b1=$(fig "$s" baseline pss_after_bytes) d0=$(fig "$s" dedup pss_before_bytes)
	if lt "$d1" "$b1"; then
		pass "$s: dedup restore keeps sharing that baseline loses (PSS after restore)"
	else
		fail "$s: dedup restore keeps sharing that baseline loses (PSS after restore)" "dedup $d1 B >= baseline $b1 B"
	fi
	if le "$d1" "$d0" "$pss_kept"; then
		pass "$s: dedup restore keeps the tree's sharing (PSS after <= $pss_kept x before)"
	else
		fail "$s: dedup restore keeps the tree's sharing (PSS after <= $pss_kept x before)" "before $d0 B, after $d1 B"
	fi
	if lt "$(fig "$s" dedup image_bytes)" "$(fig "$s" baseline image_bytes)"; then
		pass "$s: dedup writes shared pages once (image pages below baseline)"
	else
		fail "$s: dedup writes shared pages once (image pages below baseline)" \
			"dedup $(fig "$s" dedup image_bytes) B >= baseline $(fig "$s" baseline image_bytes) B"
	fi
done
exit 0
