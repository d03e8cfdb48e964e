#!/usr/bin/env bash
# The layouts a real program makes after fork (issue 14): each scenario of
# the catalogue built on them, at --scale small, has the shape its layout
# row says, read from /proc/PID/maps, smaps and task, and every process
# shares with its parent what the construction says, measured in
# /proc/PID/pagemap (cowscan pages): (pages held / pages) x (1 - child-write),
# within TOL = 0.02 (pages held: the region less absent_pages; the 0.02
# absorbs random overlaps of a child's writes with the part it drops).
# No CRIU here: t-workloads-scenarios dumps and restores every scenario.
. "$(dirname "$0")/lib.sh"
. "$COWDUMP_ROOT/workloads/verify.sh"

TOL=0.02
PAGE=$(getconf PAGESIZE)
tmp=$(mktmp)
tools_built "layout test tools are built" "$BIN/cowtree" "$BIN/cowscan" || exit 0
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
present() { "$BIN/cowscan" pages "$1@$2" --len $(($3 * PAGE)) --json | jq .procs[0].present; }
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

# --- the layouts of one region: a row each ------------------------------------
# For layout L: root_L READY and child_L READY I print what is wrong with
# the root's and with child I's region ("" when it has the shape), WHAT[L]
# says what that shape is. Every child of these trees is the root's.
declare -A WHAT
# region_of READY I: "PID ADDR SIZE" of process I's region (the root's address).
region_of() { echo "$(proc_field "$1" "$2" pid) $(($(proc_field "$1" 0 region_addr))) $(rl "$1" .region_size)"; }
# quarter_of READY I: "ADDR NPAGES" of the quarter child I's layout works on.
quarter_of() { quarter "$1" "$(proc_field "$1" "$2" sibling)"; }

WHAT[child-mprotect]="the root's region is one VMA, every child's three, the middle one read-only"
root_child-mprotect() { read -r p a size < <(region_of "$1" 0); [ "$(region_vmas "$p" "$a" "$size")" = 1 ] || echo "root VMAs"; }
child_child-mprotect() {
	read -r p a size < <(region_of "$1" "$2")
	[ "$(region_vmas "$p" "$a" "$size")" = 3 ] || echo "VMAs"
	vma_of "$p" $((a + size / 2)) | grep -q ' r--p ' || echo "middle not r--"
}

WHAT[child-munmap]="the root's region is one VMA; child k has quarter k unmapped (a hole) and says so"
root_child-munmap() { root_child-mprotect "$@"; }
child_child-munmap() {
	local q=$(proc_field "$1" "$2" sibling) want
	read -r p a size < <(region_of "$1" "$2")
	read -r qa qn < <(quarter_of "$1" "$2")
	[ "$(region_vmas "$p" "$qa" $((qn * PAGE)))" = 0 ] || echo "quarter $q mapped"
	want=$([ "$q" = 0 ] || [ "$q" = 3 ] && echo 1 || echo 2)
	[ "$(region_vmas "$p" "$a" "$size")" = "$want" ] || echo "not $want VMAs"
	[ "$(proc_field "$1" "$2" absent_pages)" = "$qn" ] || echo "absent_pages"
}

WHAT[child-dontneed]="the root holds every page; child k keeps one VMA with quarter k not present"
root_child-dontneed() {
	read -r p a size < <(region_of "$1" 0)
	[ "$(present "$p" "$a" $((size / PAGE)))" = $((size / PAGE)) ] || echo "root lost pages"
}
child_child-dontneed() {
	read -r p a size < <(region_of "$1" "$2")
	read -r qa qn < <(quarter_of "$1" "$2")
	[ "$(region_vmas "$p" "$a" "$size")" = 1 ] || echo "VMA split"
	[ "$(present "$p" "$qa" "$qn")" = 0 ] || echo "quarter present"
}

WHAT[child-grow]="the region is the end of the root's heap; every child's heap ends 1 MiB after it"
root_child-grow() {
	read -r p a size < <(region_of "$1" 0)
	vma_of "$p" "$a" | grep -q '\[heap\]$' || echo "root region not in [heap]"
	[ "$(heap_end "$p")" -ge $((a + size)) ] || echo "root heap ends before the region"
}
child_child-grow() {
	read -r p a size < <(region_of "$1" "$2")
	vma_of "$p" "$a" | grep -q '\[heap\]$' || echo "region not in [heap]"
	[ "$(heap_end "$p")" = $((a + size + 1048576)) ] || echo "heap ends at $(heap_end "$p")"
}

# wipeonfork, dontfork: the root's second quarter is its own VMA, flagged
# (wf, dc), with every page; a child is born with it empty or unmapped.
WHAT[wipeonfork]="the root's second quarter is a VMA flagged wf with every page; every child's is mapped but empty (wiped)"
WHAT[dontfork]="the root's second quarter is a VMA flagged dc with every page; no child has it mapped"
root_flagged_quarter() {
	read -r p a size < <(region_of "$1" 0)
	read -r qa qn < <(quarter "$1" 1)
	[ "$(region_vmas "$p" "$a" "$size")" = 3 ] || echo "root VMAs"
	vmflags_of "$p" "$qa" | grep -qw "$2" || echo "root quarter not $2"
	[ "$(present "$p" "$qa" "$qn")" = "$qn" ] || echo "root lost pages"
}
root_wipeonfork() { root_flagged_quarter "$1" wf; }
root_dontfork() { root_flagged_quarter "$1" dc; }
child_born_without_quarter() {
	read -r p a size < <(region_of "$1" "$2")
	read -r qa qn < <(quarter "$1" 1)
	if [ "$3" = wiped ]; then
		[ "$(region_vmas "$p" "$a" "$size")" = 3 ] || echo "VMAs"
	else
		[ "$(region_vmas "$p" "$qa" $((qn * PAGE)))" = 0 ] || echo "quarter mapped"
	fi
	[ "$(present "$p" "$qa" "$qn")" = 0 ] || echo "quarter present"
	[ "$(proc_field "$1" "$2" absent_pages)" = "$qn" ] || echo "absent_pages"
}
child_wipeonfork() { child_born_without_quarter "$1" "$2" wiped; }
child_dontfork() { child_born_without_quarter "$1" "$2" unmapped; }

for s in child-mprotect child-munmap child-dontneed child-grow wipeonfork dontfork; do
	r=$tmp/$s.json
	start $s || continue
	bad=$(root_$s "$r" | sed 's/^/ /' | tr -d '\n')
	for ((i = 1; i < $(rl "$r" '.procs | length'); i++)); do
		bad+=$(child_$s "$r" $i | sed "s/^/ $i:/" | tr -d '\n')
	done
	check "$s: ${WHAT[$s]}${bad:+ (not:$bad)}" test -z "$bad"
	shares_as_built $s "$r"
	kill_tracked
done

# --- threads: the root's threads own arenas and stacks the children share ----
# threads_unshared READY: each child's thread arena or stack (as "I:what@addr:
# [same,present]") that does not share all but one page with the root.
# glibc's fork handlers write, in the child, the descriptor (struct pthread)
# of every other thread at the top of its stack and the mutex in each
# arena's header: one private page per stack and arena.
threads_unshared() {
	local r=$1 root i p what addr bytes out
	root=$(rl "$r" .root)
	for i in 1 2 3 4; do
		p=$(proc_field "$r" $i pid)
		while read -r what addr bytes; do
			out=$("$BIN/cowscan" pages "$p@$addr" "$root@$addr" --len "$bytes" --json |
				jq -c '{same: .procs[1].same_frame_as_first, root_present: .procs[1].present}')
			jqe '.root_present > 1 and .same >= .root_present - 1' <<<"$out" ||
				echo -n " $i:$what@$addr:$(jq -c '[.same, .root_present]' <<<"$out")"
		done < <(jq -r '.threads[] | "arena \(.arena_addr) \(.arena_bytes)", "stack \(.stack_addr) \(.stack_bytes)"' "$r")
	done
}

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
	bad=$(threads_unshared "$r")
	check "$s: every child shares each thread's arena and stack with the root but one page of each${bad:+ (not:$bad)}" test -z "$bad"
	shares_as_built $s "$r"
	kill_tracked
fi

# A root thread the scheduler wakes late from the start barrier writes its
# stack after some children are forked: those children then miss a page of
# it. cowtree forks only once every thread sleeps; a lag of 300 ms between
# the barrier and pause() (a test hook) must not change what is shared.
r=$tmp/threads-lag.json
if COWTREE_TEST_THREAD_LAG_MS=300 start_tree "$r" --scenario threads --scale small --file-dir "$tmp" 2>"$tmp/lag.err"; then
	bad=$(threads_unshared "$r")
	check "threads: a thread that sleeps late still shares its stack but one page with every child${bad:+ (not:$bad)}" test -z "$bad"
	kill_tracked
else
	fail "threads: a thread that sleeps late still shares its stack but one page with every child" "$(head -n 1 "$tmp/lag.err")"
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
