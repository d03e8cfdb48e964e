#!/usr/bin/env bash
# cowscan on the whole workload catalogue (issue 4 "Done when"): every
# scenario in workloads/scenarios/, at --scale small, goes through
# `cowscan tree --json` and `cowscan snapshot`, and the figures obey the
# invariants that hold for any tree:
#   - the tree cowscan finds is the ready line's, in the same order;
#   - per process PSS <= RSS and USS <= PSS (kpagecount >= 1);
#   - unique_pfn_bytes <= the RSS sum, and >= the largest RSS;
#   - page-derived RSS/PSS agree with smaps (0.1% + 64 KiB per process);
#   - predictions are present: ideal <= baseline image, restore PSS > 0;
#   - the snapshot has every process, every VMA hashed but the kernel's
#     areas (PROT_NONE ones too: their content is read, not faulted in),
#     PSS > 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/analyzer-tree.sh"
COWSCAN=$BIN/cowscan
T=$(mktmp)
SCEN=$COWDUMP_ROOT/workloads/scenarios

scenarios=$(cd "$SCEN" && ls *.conf | sed 's/\.conf$//')
check "the catalogue has scenarios" [ -n "$scenarios" ]

catalogue_case() {
	local sc=$1 d=$T/$1 n root
	mkdir -p "$d/files"
	if ! start_tree "$d/ready" --scenario "$sc" --scale small --file-dir "$d/files" 2>"$d/err"; then
		if grep -q 'transparent hugepages are disabled' "$d/err"; then
			skip "$sc: cowscan on the scenario" "$(cat "$d/err")"
		else
			fail "$sc: tree starts" "$(head -n1 "$d/err")"
		fi
		kill_tracked
		return
	fi
	root=$(jq '.root' "$d/ready")
	n=$(jq '.procs | length' "$d/ready")
	if ! "$COWSCAN" tree "$root" --json >"$d/tree.json" 2>"$d/tree.err"; then
		fail "$sc: cowscan tree runs" "$(head -n1 "$d/tree.err")"
		kill_tracked
		return
	fi
	check "$sc: tree is the ready line's, in pre-order" \
		[ "$(jq -c '[.procs[].pid]' "$d/tree.json")" = "$(jq -c '[.procs[].pid]' "$d/ready")" ]
	check "$sc: PSS <= RSS and USS <= PSS for every process" \
		jqe 'all(.procs[]; .pss_bytes <= .rss_bytes and .uss_bytes <= .pss_bytes)' "$d/tree.json"
	check "$sc: largest RSS <= unique PFN bytes <= RSS sum" \
		jqe '.totals.unique_pfn_bytes <= .totals.rss_bytes and .totals.unique_pfn_bytes >= ([.procs[].rss_bytes] | max)' "$d/tree.json"
	check "$sc: page-derived RSS and PSS agree with smaps (0.1% + 64 KiB)" \
		jqe 'def near(a; b): ((a - b) | fabs) <= b * 0.001 + 65536;
		     all(.procs[]; near(.rss_bytes; .smaps_rss_bytes) and near(.pss_bytes; .smaps_pss_bytes))' "$d/tree.json"
	check "$sc: predictions present (0 < ideal <= baseline image, restore PSS > 0)" \
		jqe '.predict | (.ideal_image_bytes > 0 and .ideal_image_bytes <= .baseline_image_bytes and .baseline_restore_pss_bytes > 0 and .baseline_restore_inflation > 0)' "$d/tree.json"

	if ! "$COWSCAN" snapshot "$root" -o "$d/snap.json" 2>"$d/snap.err"; then
		fail "$sc: cowscan snapshot runs" "$(head -n1 "$d/snap.err")"
		kill_tracked
		return
	fi
	check "$sc: snapshot has every process, PSS > 0" \
		jqe --argjson n "$n" '(.procs | length) == $n and .pss_bytes > 0' "$d/snap.json"
	check "$sc: snapshot hashes every VMA but kernel areas" \
		jqe 'all(.procs[].vmas[]; .status == "hashed" or .status == "kernel-area")' "$d/snap.json"
	kill_tracked
}

for sc in $scenarios; do
	catalogue_case "$sc"
done
