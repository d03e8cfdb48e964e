#!/usr/bin/env bash
# Every scenario of workloads/scenarios at --scale small: it starts, reports
# ready, /proc/PID/pagemap matches its construction, and when killed nothing
# remains; and it survives a baseline CRIU dump and restore with the same
# pids and contents (read from the one pipeline run the tests share,
# tests/lib.sh pipeline_catalogue: cowscan compare of every VMA, the region
# included, and the pids of the ready line alive after restore).
#
# Sharing checks: the fraction of a process's region frames equal to its
# reference's (parent; a sibling when the parent unmapped; the root for a
# grandchild whose parent rewrote everything) must be within TOL
# (bench/thresholds.conf tests.sharing-fraction-tolerance) of the expected
# (1-cw)(1-pw) [(1-cw)^2 for siblings and grandchildren, 0 for a child of a
# rewrite-all parent]. Written page counts are exact; random overlaps of
# two independent choices are what TOL absorbs.
. "$(dirname "$0")/lib.sh"
. "$COWDUMP_ROOT/workloads/verify.sh"

TOL=$(threshold tests.sharing-fraction-tolerance)
tmp=$(mktmp)
scenarios=$(ls "$COWDUMP_ROOT"/workloads/scenarios/*.conf | xargs -n1 basename | sed 's/\.conf$//')
check "the catalogue holds the 12 named scenarios and more" test "$(wc -w <<<"$scenarios")" -ge 12
for s in fanout fanout-readonly chain split sibling mremap grandchild thp filepriv zero-heavy \
	no-sharing regress-500-800; do
	[ -f "$COWDUMP_ROOT/workloads/scenarios/$s.conf" ] || fail "scenario $s exists"
done
for f in "$COWDUMP_ROOT"/workloads/scenarios/*.conf; do
	[ "$(grep -c '^# purpose: .' "$f")" = 1 ] || fail "$(basename "$f") has one purpose line"
done

# index_of READY PID
index_of() { jq -r --argjson p "$2" '.procs | map(.pid) | index($p)' "$1"; }

# verify_sharing S READY: check every process against its reference.
verify_sharing() {
	local s=$1 r=$2 cw pw layout n i pi ref exp f bad=""
	cw=$(rl "$r" .child_write) pw=$(rl "$r" .parent_write) layout=$(rl "$r" .layout)
	n=$(rl "$r" '.procs | length')
	for ((i = 1; i < n; i++)); do
		# unmapped its own region after forking (munmap at depth > 1): no frames
		[ "$(proc_field "$r" $i region_addr)" = null ] && continue
		pi=$(index_of "$r" "$(proc_field "$r" $i ppid)")
		ref=$pi
		# of the pages it holds (absent_pages: what its layout took away)
		exp=$(awk -v c="$cw" -v p="$pw" -v a="$(proc_field "$r" $i absent_pages)" \
			-v n=$(($(rl "$r" .region_size) / $(rl "$r" .page_size))) \
			'BEGIN { print (1 - a / n) * (1 - c) * (1 - p) }')
		[ "$(proc_field "$r" $i layout_action)" = rewrite-all ] && exp=0
		if [ "$(proc_field "$r" "$pi" region_addr)" = null ]; then
			# parent unmapped: compare with the first sibling
			ref=$((pi + 1))
			[ "$ref" = "$i" ] && continue
			exp=$(awk -v c="$cw" 'BEGIN { print (1 - c) * (1 - c) }')
		elif [ "$(proc_field "$r" "$pi" layout_action)" = rewrite-all ]; then
			f=$(same_frac "$r" $i "$pi")
			near "$f" 0 "$TOL" || bad+=" $i~parent:$f(want 0)"
			ref=$(index_of "$r" "$(proc_field "$r" "$pi" ppid)")
			exp=$(awk -v c="$cw" 'BEGIN { print (1 - c) * (1 - c) }')
		fi
		f=$(same_frac "$r" $i "$ref")
		near "$f" "$exp" "$TOL" || bad+=" $i~$ref:$f(want $exp)"
	done
	check "$s: every process shares its expected fraction of frames${bad:+ (off:$bad)}" test -z "$bad"
}

# verify_layout S READY: what the scenario's layout and region look like.
verify_layout() {
	local s=$1 r=$2 root size addr1 f vma
	root=$(rl "$r" .root) size=$(rl "$r" .region_size)
	case "$(rl "$r" .layout)" in
	split)
		check "$s: the root's region is split into 3 VMAs" \
			test "$(region_vmas "$root" "$(proc_field "$r" 0 region_addr)" "$size")" = 3
		check "$s: a child's region is still one VMA" \
			test "$(region_vmas "$(proc_field "$r" 1 pid)" "$(proc_field "$r" 1 region_addr)" "$size")" = 1
		;;
	munmap)
		addr1=$(proc_field "$r" 1 region_addr)
		check "$s: the root has no region and nothing mapped where its children have it" \
			test "$(proc_field "$r" 0 region_addr)" = null -a "$(region_vmas "$root" "$addr1" "$size")" = 0
		;;
	mremap)
		check "$s: the first child's region moved" \
			test "$(proc_field "$r" 1 region_addr)" != "$(proc_field "$r" 0 region_addr)"
		check "$s: the second child's region did not" \
			test "$(proc_field "$r" 2 region_addr)" = "$(proc_field "$r" 0 region_addr)"
		;;
	mremap-grow)
		addr1=$(proc_field "$r" 1 region_addr)
		check "$s: the first child's region moved" test "$addr1" != "$(proc_field "$r" 0 region_addr)"
		vma=$(grep -m1 "^${addr1#0x}-" /proc/"$(proc_field "$r" 1 pid)"/maps | cut -d' ' -f1)
		check "$s: the first child's region VMA is one page longer than the region" \
			test -n "$vma" -a "$((16#${vma#*-} - 16#${vma%-*}))" = "$((size + $(getconf PAGESIZE)))"
		;;
	esac
	if [ "$(rl "$r" .thp)" = true ]; then
		f=$(page_stat "$r" 0 thp_a)
		check "$s: most of the root's region is in huge pages (got $f, want >= 0.5)" \
			awk -v f="$f" 'BEGIN { exit !(f >= 0.5) }'
	fi
	# what cowtree built: the asked share rounded to whole zero-page units
	# (2 MiB with the huge zero page; workloads/README.md, "Zero pages")
	[ "$(rl "$r" .procs[0].region_addr)" != null ] && f=$(page_stat "$r" 0 zero_a) &&
		check "$s: the root's zero-page share is the $(rl "$r" .params.zero_page) one cowtree reports for the asked $(rl "$r" .zero) (got $f)" \
			near "$f" "$(awk -v z="$(rl "$r" .zero_pages)" -v n=$(($(rl "$r" .region_size) / $(rl "$r" .page_size))) 'BEGIN { print z / n }')" 0.0001
	if [ "$(rl "$r" .backing)" = file ]; then
		check "$s: the region is a private mapping of the backing file" \
			grep -q "^$(printf '%x' "$(proc_field "$r" 0 region_addr)")-.* r..p .*$(rl "$r" .backing_file)" \
			/proc/"$root"/maps
	fi
}

for s in $scenarios; do
	d=$(mktmp)
	r=$d/ready.json
	if ! start_tree "$r" --scenario "$s" --scale small --file-dir "$d" 2>"$d/err"; then
		if grep -q "maps no zero page" "$d/err"; then
			skip "$s: starts and reports ready" "$(cat "$d/err")"
		else
			fail "$s: starts and reports ready" "$(head -n 1 "$d/err")"
		fi
		kill_tracked
		continue
	fi
	pass "$s: starts and reports ready"
	fo=$(rl "$r" .fanout) de=$(rl "$r" .depth)
	want=$(awk -v f="$fo" -v d="$de" 'BEGIN { n = 1; l = 1; for (i = 1; i <= d; i++) { l *= f; n += l } print n }')
	check "$s: the tree has $want processes" test "$(rl "$r" '.procs | length')" = "$want"
	verify_sharing "$s" "$r"
	verify_layout "$s" "$r"

	pids=$(ready_pids "$r")
	kill_tracked
	check "$s: killed, no process remains" wait_gone 10 $pids
done

# Baseline dump and restore, from the shared pipeline run.
pipeline_catalogue || exit 0
for s in $scenarios; do
	procs=$(fig "$s" baseline procs) restored=$(fig "$s" baseline restored_procs_alive)
	if [ "$procs" != null ] && [ "$restored" = "$procs" ]; then
		pass "$s: baseline dump and restore keeps every pid alive"
	else
		fail "$s: baseline dump and restore keeps every pid alive" \
			"$restored of $procs alive ($(why_missing "$s" baseline))"
	fi
	check "$s: restored memory (regions included) holds the dumped bytes" \
		test "$(fig "$s" baseline content_identical min)" = 1
done
exit 0
