#!/usr/bin/env bash
# cowscan tree's predictions, checked against a real baseline CRIU 4.2.1
# dump and restore of the same tree, on the cowtree layouts where the
# restore regression shows (issue 4): fanout, split (parent VMA split after
# fork), sibling (parent munmaps: children share only among siblings),
# grandchild (middle process rewrites all; grandchild shares with the
# root) and regress-500-800, each at --scale small.
#
# Tolerances (also in analyzer/README.md):
#   image:   predicted baseline_image_bytes vs the sum of pages-*.img,
#            within 1% + 8 pages per process (pages the dump itself
#            touches: stack, libc data);
#   restore: predicted baseline_restore_pss_bytes vs the restored tree's
#            measured PSS (`cowscan tree` on the restored root), within
#            1% + 16 pages per process (file pages the resumed processes
#            fault back in; the prediction counts only the private pages
#            CRIU writes back).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/analyzer-tree.sh"
COWSCAN=$BIN/cowscan
T=$(mktmp)
PAGE=$(getconf PAGESIZE)

[ -x "$CRIU_BASELINE" ] || { skip "predictions vs baseline CRIU" "no baseline CRIU"; exit 0; }

# predict_case SCENARIO: start it small, predict, dump, compare the image,
# restore, compare the PSS, kill the restored tree.
predict_case() {
	local sc=$1 d=$T/$1 n pids pred img got
	mkdir -p "$d"
	start_tree "$d/ready" --scenario "$sc" --scale small || { fail "$sc: tree starts"; return; }
	root=$(jq '.root' "$d/ready")
	"$COWSCAN" tree "$root" --json >"$d/pre.json" || { fail "$sc: cowscan tree runs"; kill_tracked; return; }
	n=$(jq '.procs | length' "$d/pre.json")
	pids=$(jq -r '.procs[].pid' "$d/pre.json")

	criu_dump baseline "$root" "$d/img" || { fail "$sc: baseline dump"; kill_tracked; return; }
	img=$(cat "$d"/img/pages-*.img | wc -c)
	pred=$(jq '.predict.baseline_image_bytes' "$d/pre.json")
	echo "$sc image: predicted $pred, written $img"
	check "$sc: predicted baseline image size matches pages-*.img (1% + 8 pages/proc)" \
		within "$pred" "$img" 1 $((n * 8 * PAGE))

	wait_reaped $pids
	criu_restore baseline "$d/img" || { fail "$sc: baseline restore"; return; }
	for p in $pids; do track "$p"; done
	"$COWSCAN" tree "$root" --json >"$d/post.json" || { fail "$sc: cowscan tree on the restored tree"; kill_tracked; return; }
	got=$(jq '.totals.pss_bytes' "$d/post.json")
	pred=$(jq '.predict.baseline_restore_pss_bytes' "$d/pre.json")
	echo "$sc restore PSS: predicted $pred, measured $got (before dump $(jq '.totals.pss_bytes' "$d/pre.json"))"
	check "$sc: restored tree has the same processes" [ "$(jq '.procs | length' "$d/post.json")" = "$n" ]
	check "$sc: predicted PSS after baseline restore matches the restored tree (1% + 16 pages/proc)" \
		within "$pred" "$got" 1 $((n * 16 * PAGE))
	kill_tracked
}

for sc in fanout split sibling grandchild regress-500-800; do
	predict_case "$sc"
done

# The layouts differ where they should: a split parent VMA makes the
# children's pages private copies on restore (inflation > 1), a fanout
# without split keeps them shared (inflation about 1).
check "split: restore inflation predicted above fanout's" \
	jq -e -n --slurpfile a "$T/split/pre.json" --slurpfile b "$T/fanout/pre.json" \
	'$a[0].predict.baseline_restore_inflation > $b[0].predict.baseline_restore_inflation + 0.5'
# The ideal image (each distinct PFN once) is below what baseline writes.
check "fanout: ideal image is smaller than the baseline image" \
	jqe '.predict.ideal_image_bytes < .predict.baseline_image_bytes' "$T/fanout/pre.json"
