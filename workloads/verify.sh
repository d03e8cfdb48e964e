# shellcheck shell=bash
# Shell helpers that check a cowtree against its construction, from its
# ready line and /proc. Sourced by tests/t-workloads-*.sh (after
# tests/lib.sh, which sets BIN and brings the process helpers of
# workloads/proc.sh). Each prints a value; the tests compare.

# rl READY JQ-FILTER: a field of the ready line.
rl() { jq -r "$2" "$1"; }

# proc_field READY INDEX FIELD
proc_field() { jq -r ".procs[$2].$3" "$1"; }

# region_range READY I: proc I's region as cowscan pages takes it, PID@ADDR.
region_range() { echo "$(proc_field "$1" "$2" pid)@$(proc_field "$1" "$2" region_addr)"; }

# same_frac READY I J: fraction of region pages of procs I and J (pre-order
# indexes) that are the same physical frame, from /proc/PID/pagemap
# (cowscan pages, analyzer/README.md).
same_frac() {
	local r=$1 out
	out=$("$BIN/cowscan" pages --json --len "$(rl "$r" .region_size)" "$(region_range "$r" "$2")" \
		"$(region_range "$r" "$3")") || return 1
	jq -r '.procs[1].same_frame_as_first / .procs[1].pages' <<<"$out"
}

# page_stat READY I KEY: zero_a (on the zero page) or thp_a (in a THP): pages
# of proc I's region as a fraction of them.
page_stat() {
	local r=$1 k out
	case $3 in zero_a) k=zero_page ;; thp_a) k=thp ;; *) return 1 ;; esac
	out=$("$BIN/cowscan" pages --json --len "$(rl "$r" .region_size)" "$(region_range "$r" "$2")") || return 1
	jq -r ".procs[0].$k / .procs[0].pages" <<<"$out"
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

# region_sha PID ADDR SIZE: content hash of the region, read without
# populating any page (cowscan pages --hash); on failure a token that
# matches nothing.
region_sha() {
	local out
	out=$("$BIN/cowscan" pages --json --hash --len "$3" "$1@$2") && jq -r '.procs[0].hash' <<<"$out" ||
		echo "unhashable-$(date +%s%N)"
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
