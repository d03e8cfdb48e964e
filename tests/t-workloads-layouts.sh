#!/usr/bin/env bash
# The layouts a real program makes after fork (issue 14): each scenario of
# the catalogue built on them, at --scale small, has the shape its layout
# row says, read from /proc/PID/maps, smaps and task, and every process
# shares with its parent what the construction says, measured in
# /proc/PID/pagemap (pagecmp): (pages held / pages) x (1 - child-write),
# within TOL = 0.02 (pages held: the region less absent_pages; the 0.02
# absorbs random overlaps of a child's writes with the part it drops).
# No CRIU here: t-workloads-scenarios dumps and restores every scenario.
. "$(dirname "$0")/lib.sh"
. "$COWDUMP_ROOT/workloads/verify.sh"

TOL=0.02
PAGE=$(getconf PAGESIZE)
tmp=$(mktmp)
tools_built "layout test tools are built" "$BIN/cowtree" "$BIN/pagecmp" || exit 0
jqe() { jq -e "$@" >/dev/null; }

# vma_of PID ADDR: the maps line of the VMA holding ADDR.
vma_of() {
	local a=$(($2)) range rest
	while read -r range rest; do
		[ $((16#${range%-*})) -le $a ] && [ $a -lt $((16#${range#*-})) ] && echo "$range $rest"
	done </proc/"$1"/maps
}
# vmflags_of PID ADDR: the VmFlags line of that VMA in smaps.
vmflags_of() {
	local a=$(($2)) line in_vma=0 range
	while read -r line; do
		if [[ $line =~ ^([0-9a-f]+)-([0-9a-f]+)\  ]]; then
			in_vma=0
			[ $((16#${BASH_REMATCH[1]})) -le $a ] && [ $a -lt $((16#${BASH_REMATCH[2]})) ] && in_vma=1
		elif [ $in_vma = 1 ] && [[ $line == VmFlags:* ]]; then
			echo "$line"
			return
		fi
	done </proc/"$1"/smaps
}
# heap_end PID: where the [heap] ends.
heap_end() {
	local range
	range=$(grep '\[heap\]$' /proc/"$1"/maps | tail -n 1 | cut -d' ' -f1)
	echo $((16#${range#*-}))
}
# present PID ADDR NPAGES: pages present there.
present() { "$BIN/pagecmp" "$1" "$2" "$1" "$2" "$3" | jq .present_a; }
# quarter READY Q: "FIRST_ADDR NPAGES" of quarter Q (0-3) of the region.
quarter() {
	local n=$(($(rl "$1" .region_size) / PAGE)) a=$(($(proc_field "$1" 0 region_addr)))
	local lo=$((n * $2 / 4)) hi=$((n * ($2 + 1) / 4))
	[ "$2" = 3 ] && hi=$n
	echo "$((a + lo * PAGE)) $((hi - lo))"
}

# shares_as_built S READY: every process against its parent.
shares_as_built() {
	local s=$1 r=$2 n cw i pi f exp bad=""
	n=$(($(rl "$r" .region_size) / PAGE)) cw=$(rl "$r" .params.child_write)
	for ((i = 1; i < $(rl "$r" '.procs | length'); i++)); do
		pi=$(jq -r --argjson p "$(proc_field "$r" $i ppid)" '.procs | map(.pid) | index($p)' "$r")
		f=$(same_frac "$r" $i "$pi")
		exp=$(awk -v a="$(proc_field "$r" $i absent_pages)" -v n="$n" -v c="$cw" 'BEGIN { print (1 - a / n) * (1 - c) }')
		near "$f" "$exp" "$TOL" || bad+=" $i:$f(want $exp)"
	done
	check "$s: every process shares (held / pages) x (1 - child-write) with its parent${bad:+ (off:$bad)}" test -z "$bad"
}

# start S: the scenario at small scale in $tmp/S.json.
start() {
	if start_tree "$tmp/$1.json" --scenario "$1" --scale small --file-dir "$tmp" 2>"$tmp/$1.err"; then
		pass "$1: starts and reports ready"
	else
		fail "$1: starts and reports ready" "$(head -n 1 "$tmp/$1.err")"
		return 1
	fi
}

# --- child-mprotect: the child's VMA splits, the parent's does not -----------
s=child-mprotect r=$tmp/$s.json
if start $s; then
	size=$(rl "$r" .region_size) a=$(proc_field "$r" 0 region_addr)
	check "$s: the root's region is one VMA" test "$(region_vmas "$(rl "$r" .root)" "$a" "$size")" = 1
	bad=""
	for i in 1 2 3 4; do
		p=$(proc_field "$r" $i pid)
		[ "$(region_vmas "$p" "$a" "$size")" = 3 ] || bad+=" $i"
		vma_of "$p" $((a + size / 2)) | grep -q ' r--p ' || bad+=" $i(middle not r--)"
	done
	check "$s: every child's region is three VMAs, the middle one read-only${bad:+ (not:$bad)}" test -z "$bad"
	shares_as_built $s "$r"
	kill_tracked
fi

# --- child-munmap: each child a different quarter unmapped -------------------
s=child-munmap r=$tmp/$s.json
if start $s; then
	size=$(rl "$r" .region_size) a=$(proc_field "$r" 0 region_addr)
	check "$s: the root's region is one VMA" test "$(region_vmas "$(rl "$r" .root)" "$a" "$size")" = 1
	bad=""
	for i in 1 2 3 4; do
		p=$(proc_field "$r" $i pid) q=$(proc_field "$r" $i sibling)
		read -r qa qn < <(quarter "$r" "$q")
		[ "$(region_vmas "$p" "$qa" $((qn * PAGE)))" = 0 ] || bad+=" $i(quarter $q mapped)"
		want=$([ "$q" = 0 ] || [ "$q" = 3 ] && echo 1 || echo 2)
		[ "$(region_vmas "$p" "$a" "$size")" = "$want" ] || bad+=" $i(not $want VMAs)"
		[ "$(proc_field "$r" $i absent_pages)" = "$qn" ] || bad+=" $i(absent_pages)"
	done
	check "$s: child k has quarter k unmapped (a hole in its region) and says so${bad:+ (not:$bad)}" test -z "$bad"
	shares_as_built $s "$r"
	kill_tracked
fi

# --- child-dontneed: the VMA stays, a quarter's pages go ---------------------
s=child-dontneed r=$tmp/$s.json
if start $s; then
	size=$(rl "$r" .region_size) a=$(proc_field "$r" 0 region_addr)
	bad=""
	for i in 1 2 3 4; do
		p=$(proc_field "$r" $i pid) q=$(proc_field "$r" $i sibling)
		read -r qa qn < <(quarter "$r" "$q")
		[ "$(region_vmas "$p" "$a" "$size")" = 1 ] || bad+=" $i(VMA split)"
		[ "$(present "$p" "$qa" "$qn")" = 0 ] || bad+=" $i(quarter $q present)"
	done
	check "$s: child k keeps one VMA with quarter k not present${bad:+ (not:$bad)}" test -z "$bad"
	check "$s: the root still holds every page" test "$(present "$(rl "$r" .root)" "$a" $((size / PAGE)))" = $((size / PAGE))
	shares_as_built $s "$r"
	kill_tracked
fi

# --- child-grow: the region is the end of the brk heap; children sbrk more ---
s=child-grow r=$tmp/$s.json
if start $s; then
	size=$(rl "$r" .region_size) a=$(proc_field "$r" 0 region_addr)
	bad=""
	for i in 0 1 2 3 4; do
		p=$(proc_field "$r" $i pid)
		vma_of "$p" "$a" | grep -q '\[heap\]$' || bad+=" $i(region not in [heap])"
		end=$(heap_end "$p")
		[ "$i" = 0 ] && [ "$end" -lt $((a + size)) ] && bad+=" root(heap ends before the region)"
		[ "$i" != 0 ] && [ "$end" != $((a + size + 1048576)) ] && bad+=" $i(heap ends at $end)"
	done
	check "$s: the region is heap; every child's heap ends 1 MiB after it${bad:+ (not:$bad)}" test -z "$bad"
	shares_as_built $s "$r"
	kill_tracked
fi

# --- wipeonfork / dontfork: the second quarter, marked before fork ----------
for s in wipeonfork dontfork; do
	r=$tmp/$s.json
	start $s || continue
	size=$(rl "$r" .region_size) a=$(proc_field "$r" 0 region_addr) root=$(rl "$r" .root)
	read -r qa qn < <(quarter "$r" 1)
	flag=$([ $s = wipeonfork ] && echo wf || echo dc)
	check "$s: the root's second quarter is its own VMA, flagged $flag" \
		test "$(region_vmas "$root" "$a" "$size")" = 3 -a -n "$(vmflags_of "$root" "$qa" | grep -w $flag)"
	check "$s: the root holds every page of it" test "$(present "$root" "$qa" "$qn")" = "$qn"
	bad=""
	for i in 1 2 3 4; do
		p=$(proc_field "$r" $i pid)
		if [ $s = wipeonfork ]; then
			[ "$(region_vmas "$p" "$a" "$size")" = 3 ] || bad+=" $i(VMAs)"
		else
			[ "$(region_vmas "$p" "$qa" $((qn * PAGE)))" = 0 ] || bad+=" $i(quarter mapped)"
		fi
		[ "$(present "$p" "$qa" "$qn")" = 0 ] || bad+=" $i(quarter present)"
		[ "$(proc_field "$r" $i absent_pages)" = "$qn" ] || bad+=" $i(absent_pages)"
	done
	what=$([ $s = wipeonfork ] && echo "mapped but empty (wiped)" || echo "not mapped")
	check "$s: every child was born with the quarter $what${bad:+ (not:$bad)}" test -z "$bad"
	shares_as_built $s "$r"
	kill_tracked
done

# --- threads: the root's threads own arenas and stacks the children share ----
s=threads r=$tmp/$s.json
if start $s; then
	root=$(rl "$r" .root)
	check "$s: the root runs 1 + 4 threads" test "$(ls /proc/"$root"/task | wc -l)" = 5 -a "$(rl "$r" '.threads | length')" = 4
	bad=""
	for i in 1 2 3 4; do [ "$(ls /proc/"$(proc_field "$r" $i pid)"/task | wc -l)" = 1 ] || bad+=" $i"; done
	check "$s: the children are single-threaded${bad:+ (not:$bad)}" test -z "$bad"
	check "$s: the ready line names each thread's tid, arena and stack" \
		jqe --argjson root "$root" '[.threads[].tid] | unique | length == 4 and all(.[]; . != $root)' "$r"
	a=$(($(proc_field "$r" 0 region_addr))) size=$(rl "$r" .region_size)
	bad=""
	while read -r aa ab; do
		aa=$((aa))
		[ "$ab" -gt 0 ] || bad+=" empty"
		vma_of "$root" "$aa" | grep -q '\[heap\]' && bad+=" $aa(in the main heap)"
		[ "$aa" -lt $((a + size)) ] && [ $((aa + ab)) -gt "$a" ] && bad+=" $aa(in the region)"
	done < <(jq -r '.threads[] | "\(.arena_addr) \(.arena_bytes)"' "$r")
	disjoint=$(jq '[.threads[] | .arena_addr] | unique | length' "$r")
	check "$s: four arenas of their own, outside the main heap and the region${bad:+ (not:$bad)}" \
		test -z "$bad" -a "$disjoint" = 4
	# glibc's fork handlers write, in the child, the descriptor (struct
	# pthread) of every other thread at the top of its stack and the
	# mutex in each arena's header: one private page per stack and arena.
	bad=""
	for i in 1 2 3 4; do
		p=$(proc_field "$r" $i pid)
		while read -r what addr bytes; do
			out=$("$BIN/pagecmp" "$p" "$addr" "$root" "$addr" $((bytes / PAGE)))
			jqe '.present_b > 1 and .same_pfn >= .present_b - 1' <<<"$out" ||
				bad+=" $i:$what@$addr:$(jq -c '[.same_pfn, .present_b]' <<<"$out")"
		done < <(jq -r '.threads[] | "arena \(.arena_addr) \(.arena_bytes)", "stack \(.stack_addr) \(.stack_bytes)"' "$r")
	done
	check "$s: every child shares each thread's arena and stack with the root but one page of each${bad:+ (not:$bad)}" test -z "$bad"
	shares_as_built $s "$r"
	kill_tracked
fi

# --- deep and fanout-64: shapes of the catalogue -------------------------------
s=deep r=$tmp/$s.json
if start $s; then
	check "$s: a chain of 11 processes, one per generation 0..10" \
		jqe '[.procs[].depth] == [range(11)] and ([.procs[1:][] | .ppid] == [.procs[:-1][] | .pid])' "$r"
	shares_as_built $s "$r"
	kill_tracked
fi
s=fanout-64 r=$tmp/$s.json
if start $s; then
	check "$s: 64 children, all of the root" \
		jqe '.root as $root | (.procs | length) == 65 and all(.procs[1:][]; .depth == 1 and .ppid == $root)' "$r"
	shares_as_built $s "$r"
	kill_tracked
fi
exit 0
