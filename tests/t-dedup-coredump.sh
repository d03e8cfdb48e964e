#!/usr/bin/env bash
# criu-coredump on dedup images (issue 12 item 6): a core made from a dedup
# dump, whose pagemap says where shared pages are instead of holding them
# (PE_COW: the parent's page; PE_COW_REF: task ref_pid's page at ref_vaddr),
# holds the memory a core of a baseline dump holds.
#
# Per case, a small idle cowtree is dumped with --leave-running by the
# dedup build, then by the baseline build into another directory:
#  - the dedup image holds the case's marks: "cow", PE_COW in the
#    grandchildren (they name a child whose page is itself often PE_COW);
#    "ref", PE_COW_REF (layout munmap: siblings share after the parent
#    unmapped the region);
#  - the dedup build's criu-coredump makes a core of every process from the
#    dedup image; each has the PT_LOAD headers of the reference core
#    (pristine 4.2.1 criu-coredump on the baseline image), every segment
#    inside the file, the same bytes (the rseq areas of its threads aside,
#    from core-TID.img: glibc rewrites them when a thread changes CPU) and
#    the same NT_PRPSINFO (its command line is read from memory too);
#  - the region in each dedup core is the live memory (core_compare.py
#    live: pagemap first, only present pages read, nothing populated);
#  - from the baseline image, the dedup build's criu-coredump writes the
#    reference cores byte for byte (nothing changed for images without
#    marks).
# Edited images (tests/pagemap_edit.py):
#  - "cow" with the root's region moved into a parent snapshot (PE_PARENT,
#    DIR/parent): the cores are still the reference's (PE_COW -> PE_PARENT);
#  - broken images (BROKEN): a PE_COW whose ref_pid names a task not in the
#    images, a PE_COW_REF naming one, a PE_COW_REF naming itself (a loop),
#    a pages image cut short: criu-coredump fails with an error that says
#    so, never a core with wrong memory.
. "$(dirname "$0")/lib.sh"

root=$COWDUMP_ROOT
out=$root/build/test-logs/dedup-coredump
dedup_tree=$root/build/criu-dedup
baseline_tree=$root/build/criu-baseline
PY=/usr/bin/python3 # Debian's: has python3-protobuf for pycriu
export PYTHONPATH=$dedup_tree/lib

# name | cowtree options | mark | depth of the processes that must hold it
CASES=(
	"cow|--size 1M --fanout 2 --depth 2 --child-write 0.1|PE_COW|2"
	"ref|--size 1M --fanout 2 --depth 1 --child-write 0.1 --layout munmap|PE_COW_REF|1"
)

# case | how its dedup image is broken | the error criu-coredump must give
BROKEN=(
	"cow|cow-missing|task 4000000, which is not in the images"
	"ref|ref-missing|task 4000000, which is not in the images"
	"ref|ref-loop|form a loop"
	"ref|short|shorter than its pagemap says"
)

tools_built "coredump test tools are built" "$BIN/cowtree" "$CRIU_DEDUP" "$CRIU_BASELINE" \
	"$dedup_tree/coredump/coredump" "$baseline_tree/coredump/coredump" || exit 0
rm -rf "$out"
mkdir -p "$out"
T=$(mktmp)

# The reference: pristine 4.2.1 criu-coredump. The baseline tree builds no
# pycriu image modules; the dedup build's read every 4.2.1 image the same.
mkdir "$T/pristine"
cp -r "$baseline_tree/coredump/coredump" "$baseline_tree/coredump/criu_coredump" "$T/pristine/"
ln -s "$dedup_tree/lib/pycriu" "$T/pristine/pycriu"

crit() { PYTHONPATH=$dedup_tree/lib:$dedup_tree/crit $PY -m crit "$@"; }

# coredump TOOLDIR IMGDIR OUTDIR: criu-coredump of every process in IMGDIR.
coredump() {
	mkdir -p "$3"
	timeout 120 $PY "$1/coredump" -i "$2" -o "$3"
}

# marks IMGDIR READY MARK DEPTH: entries with MARK in the pagemaps of the
# processes at DEPTH or deeper.
marks() {
	local p n=0 c
	for p in $(jq -r --argjson d "$4" '.procs[] | select(.depth >= $d) | .pid' "$2"); do
		c=$(crit decode --pretty -i "$1/pagemap-$p.img" |
			jq --arg m "$3" '[.entries[1:][] | select(.flags != null and ((.flags | tostring) | split(" | ") | index($m)))] | length') ||
			return 1
		n=$((n + c))
	done
	echo "$n"
}

# rseq_masks IMGDIR PID: --mask START:LEN of the rseq area of every thread.
rseq_masks() {
	local tid
	for tid in $(crit decode -i "$1/pstree.img" | jq --argjson p "$2" '.entries[] | select(.pid == $p) | .threads[]'); do
		crit decode -i "$1/core-$tid.img" |
			jq -r '.entries[0].thread_core.rseq_entry // empty | "--mask \(.rseq_abi_pointer):\(.rseq_abi_size)"'
	done
}

# cores_match NAME READY IMGDIR REFDIR CORES: every process's core in CORES
# holds the memory of its reference core in REFDIR.
cores_match() {
	local name=$1 ready=$2 img=$3 ref=$4 cores=$5 pid why=
	for pid in $(ready_pids "$ready"); do
		# shellcheck disable=SC2046
		if ! why=$($PY "$root/tests/core_compare.py" same "$ref/core.$pid" "$cores/core.$pid" \
			$(rseq_masks "$img" "$pid") 2>&1); then
			fail "$name" "process $pid: $why"
			return
		fi
	done
	pass "$name"
}

# regions_live NAME READY CORES: the region of every process that has one,
# in its dedup core, is its live memory.
regions_live() {
	local name=$1 ready=$2 cores=$3 pid addr size why
	size=$(jq .region_size "$ready")
	while read -r pid addr; do
		[ "$addr" = null ] && continue
		if ! why=$($PY "$root/tests/core_compare.py" live "$cores/core.$pid" "$pid" "$addr" "$size" 2>&1); then
			fail "$name" "process $pid: $why"
			return
		fi
	done < <(jq -r '.procs[] | "\(.pid) \(.region_addr)"' "$ready")
	pass "$name"
}

# broken_image_fails CASE EDIT WANT TMP OUT: criu-coredump of a copy of
# TMP/dedup broken by EDIT (pagemap_edit.py's, or "short": the largest
# pages image cut in half) fails with an ERROR line matching WANT.
broken_image_fails() {
	local name=$1 edit=$2 want=$3 tmp=$4 o=$5 img=$4/$2 what check edited=1
	cp -a "$tmp/dedup" "$img"
	if [ "$edit" = short ]; then
		what=$(ls -S "$img"/pages-*.img | head -n 1)
		truncate -s $(($(stat -c %s "$what") / 2)) "$what" || edited=0
		what=$(basename "$what")
	else
		what=$($PY "$root/tests/pagemap_edit.py" "$edit" "$img" 2>&1) || edited=0
	fi
	if [ "$edited" = 0 ]; then
		fail "$name: $edit makes criu-coredump fail" "could not edit: $what"
		return
	fi
	check="$name: $edit ($what) makes criu-coredump fail with an error that says so"
	if coredump "$dedup_tree/coredump" "$img" "$img-cores" >"$o/$edit.out" 2>&1; then
		fail "$check" "it exited 0"
	elif grep -q "^ERROR: .*$want" "$o/$edit.out"; then
		pass "$check"
	else
		fail "$check" "$(tail -n 1 "$o/$edit.out")"
	fi
}

for c in "${CASES[@]}"; do
	IFS='|' read -r name args mark depth <<<"$c"
	o=$out/$name
	tmp=$T/$name
	mkdir -p "$o" "$tmp/dedup" "$tmp/base"
	# shellcheck disable=SC2086
	if ! start_tree "$o/ready.json" $args 2>"$o/err"; then
		fail "$name: tree starts" "$(head -n 1 "$o/err")"
		kill_tracked
		continue
	fi
	rootpid=$(jq -r .root "$o/ready.json")
	if ! "$CRIU_DEDUP" dump -t "$rootpid" -D "$tmp/dedup" -o dump.log -v4 --leave-running ||
		! "$CRIU_BASELINE" dump -t "$rootpid" -D "$tmp/base" -o dump.log -v4 --leave-running; then
		fail "$name: dedup and baseline dumps with --leave-running" "logs in $tmp"
		cp "$tmp"/dedup/dump.log "$o/dedup-dump.log" 2>/dev/null
		cp "$tmp"/base/dump.log "$o/baseline-dump.log" 2>/dev/null
		kill_tracked
		continue
	fi

	n=$(marks "$tmp/dedup" "$o/ready.json" "$mark" "$depth" 2>"$o/err") || n=0
	if [ "$n" -gt 0 ]; then
		pass "$name: the dedup image holds $mark entries at depth >= $depth"
	else
		fail "$name: the dedup image holds $mark entries at depth >= $depth" "none ($(head -n 1 "$o/err"))"
	fi

	if ! coredump "$T/pristine" "$tmp/base" "$tmp/ref" >"$o/ref.out" 2>&1; then
		fail "$name: pristine criu-coredump of the baseline image" "$(tail -n 1 "$o/ref.out")"
		kill_tracked
		continue
	fi
	if ! coredump "$dedup_tree/coredump" "$tmp/dedup" "$tmp/cores" >"$o/dedup.out" 2>&1; then
		fail "$name: criu-coredump of the dedup image" "$(tail -n 1 "$o/dedup.out")"
		kill_tracked
		continue
	fi
	same_files=1
	if coredump "$dedup_tree/coredump" "$tmp/base" "$tmp/base-cores" >"$o/base.out" 2>&1; then
		for pid in $(ready_pids "$o/ready.json"); do
			cmp -s "$tmp/ref/core.$pid" "$tmp/base-cores/core.$pid" || same_files=0
		done
	else
		same_files=0
	fi
	check "$name: from the baseline image, the dedup build's criu-coredump writes pristine's cores byte for byte" \
		[ "$same_files" = 1 ]
	cores_match "$name: every core of the dedup image holds the baseline core's memory" \
		"$o/ready.json" "$tmp/dedup" "$tmp/ref" "$tmp/cores"
	regions_live "$name: the region in every core of the dedup image is the live memory" \
		"$o/ready.json" "$tmp/cores"

	if [ "$name" = cow ]; then
		# The root holds the region's pages the others mark PE_COW; move them
		# into a parent snapshot (the unedited image).
		cp -a "$tmp/dedup" "$tmp/snap"
		addr=$(jq -r '.procs[0].region_addr' "$o/ready.json")
		if ! moved=$($PY "$root/tests/pagemap_edit.py" to-parent "$tmp/snap" "$tmp/dedup" "$rootpid" \
			"$addr" "$(jq .region_size "$o/ready.json")" 2>&1); then
			fail "$name: pages in a parent snapshot (PE_PARENT)" "could not edit: $moved"
		elif ! coredump "$dedup_tree/coredump" "$tmp/snap" "$tmp/snap-cores" >"$o/snap.out" 2>&1; then
			fail "$name: pages in a parent snapshot (PE_PARENT)" "$(tail -n 1 "$o/snap.out")"
		else
			echo "INFO: $name: $moved pages of $rootpid moved to the parent snapshot"
			cores_match "$name: pages in a parent snapshot (PE_PARENT): every core holds the baseline core's memory" \
				"$o/ready.json" "$tmp/snap" "$tmp/ref" "$tmp/snap-cores"
		fi
	fi
	for e in "${BROKEN[@]}"; do
		IFS='|' read -r ecase edit want <<<"$e"
		[ "$ecase" = "$name" ] && broken_image_fails "$name" "$edit" "$want" "$tmp" "$o"
	done
	kill_tracked
	rm -rf "$tmp"
done
