# shellcheck shell=bash
# Shell helpers that check a cowtree against its construction, from its
# ready line and /proc. Sourced by tests/t-workloads-*.sh (after
# tests/lib.sh, which sets BIN and brings the process helpers of
# workloads/proc.sh). Each prints a value; the tests compare.

# rl READY JQ-FILTER: a field of the ready line.
rl() { jq -r "$2" "$1"; }

# proc_field READY INDEX FIELD
proc_field() { jq -r ".procs[$2].$3" "$1"; }

# same_frac READY I J: fraction of region pages of procs I and J (pre-order
# indexes) that are the same physical frame, from /proc/PID/pagemap.
same_frac() {
	local r=$1 a=$2 b=$3 n out
	n=$(($(rl "$r" .region_size) / $(rl "$r" .page_size)))
	out=$("$BIN/pagecmp" "$(proc_field "$r" "$a" pid)" "$(proc_field "$r" "$a" region_addr)" \
		"$(proc_field "$r" "$b" pid)" "$(proc_field "$r" "$b" region_addr)" "$n") || return 1
	jq -r '.same_pfn / .pages' <<<"$out"
}

# page_stat READY I KEY: zero_a or thp_a of proc I as a fraction of its pages.
page_stat() {
	local r=$1 i=$2 k=$3 n pid addr out
	n=$(($(rl "$r" .region_size) / $(rl "$r" .page_size)))
	pid=$(proc_field "$r" "$i" pid) addr=$(proc_field "$r" "$i" region_addr)
	out=$("$BIN/pagecmp" "$pid" "$addr" "$pid" "$addr" "$n") || return 1
	jq -r ".$k / .pages" <<<"$out"
}

# near VALUE EXPECTED TOLERANCE: |VALUE - EXPECTED| <= TOLERANCE.
near() { awk -v v="$1" -v e="$2" -v t="$3" 'BEGIN { d = v - e; if (d < 0) d = -d; exit !(d <= t) }'; }

# region_vmas PID ADDR SIZE: number of VMAs of PID inside [ADDR, ADDR+SIZE).
region_vmas() {
	local start=$(($2)) end=$(($2 + $3)) range rest lo hi n=0
	while read -r range rest; do
		lo=$((16#${range%-*})) hi=$((16#${range#*-}))
		[ "$lo" -lt "$end" ] && [ "$hi" -gt "$start" ] && n=$((n + 1))
	done </proc/"$1"/maps
	echo $n
}

# region_sha PID ADDR SIZE: sha256 of the region's bytes via /proc/PID/mem.
region_sha() {
	dd if=/proc/"$1"/mem bs=1M iflag=skip_bytes,count_bytes skip=$(($2)) count="$3" 2>/dev/null |
		sha256sum | cut -d' ' -f1
}

# tree_shas READY: "pid sha" per process with a region.
tree_shas() {
	local r=$1 size i n pid addr
	size=$(rl "$r" .region_size)
	n=$(rl "$r" '.procs | length')
	for ((i = 0; i < n; i++)); do
		pid=$(proc_field "$r" $i pid) addr=$(proc_field "$r" $i region_addr)
		[ "$addr" = null ] && continue
		echo "$pid $(region_sha "$pid" "$addr" "$size")"
	done
}
