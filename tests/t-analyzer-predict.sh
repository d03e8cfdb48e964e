#!/usr/bin/env bash
# cowscan tree's predictions, checked against a real baseline CRIU 4.2.1
# dump and restore of the same tree.
#   image:   predicted baseline_image_bytes vs the sum of pages-*.img,
#            within 1% + 8 pages per process (pages the dump itself touches);
#   restore: predicted baseline_restore_pss_bytes vs the restored tree's
#            measured PSS, within 2% + 64 pages per process (file pages the
#            resumed processes fault back in; the prediction counts only the
#            private pages CRIU writes back).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/analyzer-tree.sh"
COWSCAN=$BIN/cowscan
T=$(mktmp)

[ -x "$CRIU_BASELINE" ] || { skip "predictions vs baseline CRIU" "no baseline CRIU"; exit 0; }
analyzer_tree "$T/ready" 64 3 25 || { fail "fanout tree starts"; exit 1; }
"$COWSCAN" tree "$TREE_ROOT" --json >"$T/pre.json" || { fail "cowscan tree runs"; exit 1; }
n=$(jq '.procs | length' "$T/pre.json")
pids=$(jq -r '.procs[].pid' "$T/pre.json")

criu_dump baseline "$TREE_ROOT" "$T/img" || { fail "baseline dump"; exit 1; }
img=$(cat "$T"/img/pages-*.img | wc -c)
pred=$(jq '.predict.baseline_image_bytes' "$T/pre.json")
echo "image: predicted $pred, written $img"
check "predicted baseline image size matches pages-*.img (1% + 8 pages/proc)" \
	within "$pred" "$img" 1 $((n * 8 * 4096))
ideal=$(jq '.predict.ideal_image_bytes' "$T/pre.json")
check "ideal image is smaller than the baseline image for a COW-shared tree" [ "$ideal" -lt "$img" ]

wait_reaped $pids; criu_restore baseline "$T/img" || { fail "baseline restore"; exit 1; }
for p in $pids; do track "$p"; done
"$COWSCAN" tree "$TREE_ROOT" --json >"$T/post.json" || { fail "cowscan tree on the restored tree"; exit 1; }
got=$(jq '.totals.pss_bytes' "$T/post.json")
pred=$(jq '.predict.baseline_restore_pss_bytes' "$T/pre.json")
echo "restore PSS: predicted $pred, measured $got"
check "restored tree has the same processes" [ "$(jq '.procs | length' "$T/post.json")" = "$n" ]
check "predicted PSS after baseline restore matches the restored tree (2% + 64 pages/proc)" \
	within "$pred" "$got" 2 $((n * 64 * 4096))
