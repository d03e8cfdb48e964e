#!/usr/bin/env bash
# cowtree: its CLI, its ready line, the pages it writes (checked in
# /proc/PID/pagemap) and its cleanup when setup fails halfway.
# Tolerances: child/parent sharing fractions are exact by construction
# (round(R*pages) distinct pages), checked within 0.01.
. "$(dirname "$0")/lib.sh"
. "$COWDUMP_ROOT/workloads/verify.sh"

tmp=$(mktmp)
ct=$BIN/cowtree
jqe() { jq -e "$@" >/dev/null; }

# --- options ------------------------------------------------------------------
help=$("$ct" --help)
missing=""
for o in scenario scale size fanout inner-fanout depth child-write parent-write zero zero-page \
	thp backing layout seed detach ready-file file-dir scenario-dir list-scenarios list-layouts \
	json; do
	grep -q -- "--$o" <<<"$help" || missing+=" --$o"
done
check "--help documents every option${missing:+ (missing:$missing)}" test -z "$missing"

# bad_param NAME ARGS...: exits non-zero with one line naming --NAME.
bad_param() {
	local name=$1; shift
	local err rc
	err=$("$ct" "$@" 2>&1 >/dev/null)
	rc=$?
	if [ $rc -ne 0 ] && [ "$(wc -l <<<"$err")" = 1 ] && grep -q -- "--$name" <<<"$err"; then
		pass "bad --$name ($*) exits non-zero with one line naming it"
	else
		fail "bad --$name ($*) exits non-zero with one line naming it" "rc=$rc: $err"
	fi
}
bad_param child-write --child-write 1.5
bad_param parent-write --parent-write -0.1
bad_param zero --zero 2
bad_param zero-page --zero-page 8k
bad_param zero-page --zero-page huge --backing file --zero 0.1
bad_param size --size abc
bad_param size --size -5M
bad_param size --size 100T
bad_param size --size 8G --fanout 8 --child-write 1
bad_param fanout --fanout -1
bad_param inner-fanout --inner-fanout x
bad_param inner-fanout --fanout 64 --inner-fanout 64 --depth 3
bad_param depth --depth x
bad_param seed --seed -3
bad_param layout --layout sideways
bad_param backing --backing disk
bad_param backing --backing brk --thp
bad_param scale --scale huge
bad_param layout --layout grandchild --depth 1
bad_param layout --layout child-grow
bad_param scenario --scenario no-such-scenario
bad_param json --json --size 4M

# The layout names in an error come from the layout table.
err=$("$ct" --layout sideways 2>&1)
missing=""
for l in $("$ct" --list-layouts --json | jq -r '.[].name'); do
	grep -q "$l" <<<"$err" || missing+=" $l"
done
check "a bad --layout lists every layout of the table${missing:+ (missing:$missing)}" test -z "$missing"

# --- the layout table: --help, --list-layouts and the README agree -----------
"$ct" --list-layouts --json >"$tmp/layouts.json"
check "--list-layouts --json lists layouts with name, what and min_depth" \
	jqe 'length > 10 and all(.[]; (.name | type) == "string" and (.what | length) > 0 and (.min_depth | type) == "number")' \
	"$tmp/layouts.json"
from_table=$(jq -r '.[] | "\(.name) \(.what)"' "$tmp/layouts.json")
from_help=$(sed -n '/^layouts:/,/^$/p' <<<"$help" | sed -n 's/^  \([^ ]*\) *\(.*\)$/\1 \2/p')
check "--help lists every layout with its description from the table" \
	test "$from_table" = "$from_help"
from_readme=$(sed -n '/^<!-- layouts: cowtree --list-layouts -->/,/^$/p' "$COWDUMP_ROOT/workloads/README.md" |
	sed -n 's/^| `\([^`]*\)` | [0-9]* | \(.*\) |$/\1 \2/p')
check "workloads/README.md's layout table is the layout table (cowtree --list-layouts)" \
	test "$from_table" = "$from_readme"
from_readme=$(sed -n '/^<!-- layouts: cowtree --list-layouts -->/,/^$/p' "$COWDUMP_ROOT/workloads/README.md" |
	sed -n 's/^| `\([^`]*\)` | \([0-9]*\) | .* |$/\1 \2/p')
check "workloads/README.md gives each layout's minimum depth from the table" \
	test "$(jq -r '.[] | "\(.name) \(.min_depth)"' "$tmp/layouts.json")" = "$from_readme"

# --- scenario files -------------------------------------------------------------
# conf NAME LINES...: a scenario file in $tmp (purpose and expectations
# first, so each case adds only what it tests).
conf() {
	local f=$tmp/$1.conf; shift
	printf '%s\n' "# purpose: test" "size = 8M" "$@" >"$f"
}
OK_EXPECT=("expect-baseline = shared" "expect-dedup = shared")
# bad_conf WHY GREP LINES...: the file is refused with one line naming it.
bad_conf() {
	local why=$1 want=$2 err rc; shift 2
	conf bad "$@"
	err=$("$ct" --scenario "$tmp/bad.conf" 2>&1 >/dev/null)
	rc=$?
	if [ $rc = 2 ] && [ "$(wc -l <<<"$err")" = 1 ] && grep -q -- "bad.conf" <<<"$err" &&
		grep -q -- "$want" <<<"$err"; then
		pass "a scenario file with $why is refused, naming the file"
	else
		fail "a scenario file with $why is refused, naming the file" "rc=$rc: $err"
	fi
}
bad_conf "a bad value (file:line and the key)" "bad.conf:3: --fanout" "fanout = lots" "${OK_EXPECT[@]}"
printf 'size = 8M\nexpect-baseline = shared\nexpect-dedup = shared\n' >"$tmp/nopurpose.conf"
err=$("$ct" --scenario "$tmp/nopurpose.conf" 2>&1)
check "a scenario without a purpose line is refused" grep -q "purpose" <<<"$err"
bad_conf "an unknown key" "'colour' is not a scenario key" "colour = blue" "${OK_EXPECT[@]}"
bad_conf "a run option (not a scenario key)" "'ready-file' is not a scenario key" "ready-file = /x" "${OK_EXPECT[@]}"
bad_conf "no expect-baseline" "expect-baseline" "expect-dedup = shared"
bad_conf "no expect-dedup" "expect-dedup" "expect-baseline = shared"
bad_conf "an expectation that is not shared or copy" "expect-dedup: 'maybe'" \
	"expect-baseline = shared" "expect-dedup = maybe"
bad_conf "a copy without a why" "expect-why" "expect-baseline = copy" "expect-dedup = shared"
bad_conf "a why where every build shares" "nothing to explain" "${OK_EXPECT[@]}" "expect-why = because"
bad_conf "a per-build why for a build that shares" "expect-why-dedup" \
	"expect-baseline = copy" "expect-dedup = shared" "expect-why = x" "expect-why-dedup = y"
bad_conf "an unknown bound" "bound-speed" "${OK_EXPECT[@]}" "bound-speed = 2"
bad_conf "a bound that is not a positive number" "bound-image-over-ideal: '-1'" "${OK_EXPECT[@]}" \
	"bound-image-over-ideal = -1"
bad_conf "a key given twice" "'fanout' is given twice" "fanout = 2" "fanout = 3" "${OK_EXPECT[@]}"

# --- the catalogue as JSON --------------------------------------------------------
scen_dir=$COWDUMP_ROOT/workloads/scenarios
if "$ct" --list-scenarios --json >"$tmp/catalogue.json" 2>"$tmp/catalogue.err"; then
	check "--list-scenarios --json has one entry per scenario file" \
		test "$(jq length "$tmp/catalogue.json")" = "$(ls "$scen_dir"/*.conf | wc -l)"
	check "every listed scenario has name, purpose, file, resolved params, expect and bounds" \
		jqe 'all(.[]; (.name | length) > 0 and (.purpose | length) > 0
			and (.name as $n | .file | endswith("/" + $n + ".conf"))
			and (.params | . as $p | (.size | type) == "number" and .size > 0 and .scale == "default"
				and all(["fanout", "inner_fanout", "depth", "procs", "child_write", "parent_write", "zero", "seed"][]; ($p[.] | type) == "number")
				and all(["zero_page", "backing", "layout"][]; ($p[.] | type) == "string")
				and (.thp | type) == "boolean")
			and (.bounds | type) == "object")' "$tmp/catalogue.json"
	check "every build's expectation is shared or copy, with a why exactly when copy" \
		jqe 'all(.[]; .expect | length == 2 and all(.baseline, .dedup;
			(.restore == "shared" and has("why") == false) or (.restore == "copy" and (.why | length) > 0)))' \
		"$tmp/catalogue.json"
	check "the listed sizes are resolved at the default scale (fanout: 100 MiB)" \
		jqe '.[] | select(.name == "fanout") | .params.size == 104857600' "$tmp/catalogue.json"
	"$ct" --list-scenarios --json --scale small >"$tmp/catalogue-small.json"
	check "--scale small lists the sizes at that scale (fanout: 6.25 MiB)" \
		jqe '.[] | select(.name == "fanout") | .params.size == 6553600 and .params.scale == "small"' \
		"$tmp/catalogue-small.json"
	conf bounded "fanout = 1" "expect-baseline = copy" "expect-dedup = shared" "expect-why = a reason" \
		"bound-image-over-ideal = 1.5" "bound-pss-after-over-before = 1.02"
	mkdir -p "$tmp/cat" && mv "$tmp/bounded.conf" "$tmp/cat/"
	"$ct" --list-scenarios --json --scenario-dir "$tmp/cat" >"$tmp/bounded.json"
	check "bounds and the why a file sets are published, and nothing else" \
		jqe '.[0] | .bounds == {"image_over_ideal": 1.5, "pss_after_over_before": 1.02}
			and .expect == {"baseline": {"restore": "copy", "why": "a reason"}, "dedup": {"restore": "shared"}}
			and .params.fanout == 1 and .params.size == 8388608' "$tmp/bounded.json"
	from_readme=$(sed -n '/^<!-- scenarios: cowtree --list-scenarios -->/,/^$/p' "$COWDUMP_ROOT/workloads/README.md" |
		sed -n 's/^| `\([^`]*\)` | \([a-z]*\) | \([a-z]*\) | \(.*\) |$/\1 \2 \3 \4/p')
	check "workloads/README.md's scenario table is the catalogue (cowtree --list-scenarios)" \
		test "$(jq -r '.[] | "\(.name) \(.expect.baseline.restore) \(.expect.dedup.restore) \(.purpose)"' "$tmp/catalogue.json")" = "$from_readme"
else
	fail "--list-scenarios --json lists the catalogue" "$(cat "$tmp/catalogue.err")"
fi
printf '# purpose: broken\nfanout = 2\n' >"$tmp/cat/broken.conf"
err=$("$ct" --list-scenarios --scenario-dir "$tmp/cat" 2>&1 >/dev/null)
check "--list-scenarios refuses a broken catalogue, naming the file" \
	grep -q "broken.conf.*expect-baseline" <<<"$err"

# --- the ready line -------------------------------------------------------------
r=$tmp/ready.json
if start_tree "$r" --size 8M --fanout 2 --depth 2 --child-write 0.25 --seed 7 >"$tmp/stdout"; then
	pass "a detached tree reports ready"
	n=$(rl "$r" '.procs | length')
	check "the ready line lists 1+2+4 processes" test "$n" = 7
	order_ok=1
	for ((i = 1; i < n; i++)); do
		pp=$(proc_field "$r" $i ppid) d=$(proc_field "$r" $i depth)
		# the parent is the nearest earlier entry one level up
		for ((j = i - 1; j >= 0; j--)); do
			[ "$(proc_field "$r" $j depth)" = $((d - 1)) ] && break
		done
		[ "$(proc_field "$r" $j pid)" = "$pp" ] || order_ok=0
		[ "$(proc_field "$r" $i index)" = "$i" ] || order_ok=0
	done
	check "procs are in pre-order with real ppids" test $order_ok = 1
	root=$(rl "$r" .root)
	check "the root is the first proc" test "$root" = "$(proc_field "$r" 0 pid)"
	check "the detached root leads its own session" \
		test "$(ps -o sid= -p "$root" | tr -d ' ')" = "$root"
	alive_all=1
	for p in $(ready_pids "$r"); do alive "$p" || alive_all=0; done
	check "every listed pid is alive" test $alive_all = 1
	k=$(awk 'BEGIN { printf "%d", 0.25 * 2048 + 0.5 }')
	check "a child reports round(0.25 * pages) written pages" \
		test "$(proc_field "$r" 1 written_pages)" = "$k"
	f=$(same_frac "$r" 1 0)
	check "a child shares 1 - 0.25 of its frames with its parent (got $f)" near "$f" 0.75 0.01
	f=$(same_frac "$r" 2 1)
	check "a grandchild shares 1 - 0.25 with its parent (got $f)" near "$f" 0.75 0.01
	z=$(page_stat "$r" 0 zero_a)
	check "no page is the zero page unless asked (got $z)" near "$z" 0 0
	pids=$(ready_pids "$r")
	kill_tracked
	check "a killed tree leaves no process" wait_gone 10 $pids
else
	fail "a detached tree reports ready" "$(cat "$tmp/stdout")"
fi

# the ready line carries the resolved parameters, as the catalogue lists them
r=$tmp/ready-scen.json
if start_tree "$r" --scenario fanout --scale small; then
	check "a scenario's ready line carries the params --list-scenarios gives at its scale" \
		test "$(jq -cS .params "$r")" = "$(jq -cS '.[] | select(.name == "fanout") | .params' "$tmp/catalogue-small.json")"
	kill_tracked
else
	fail "the fanout scenario starts at --scale small"
fi

# --inner-fanout: fan-out at the root, chains below (what forktree built)
r=$tmp/ready-inner.json
if start_tree "$r" --size 4M --fanout 2 --depth 3 --inner-fanout 1 --child-write 0.1; then
	check "--fanout 2 --inner-fanout 1 --depth 3 builds 1 + 2 + 2 + 2 processes" \
		test "$(rl "$r" '.procs | length')" = 7 -a "$(rl "$r" .params.procs)" = 7
	check "the root has 2 children and every process below it at most one" \
		jqe '[.procs[] | .ppid] as $pp | .procs | all(.[]; .pid as $p | ([$pp[] | select(. == $p)] | length) == (if .depth == 0 then 2 elif .depth < 3 then 1 else 0 end))' "$r"
	kill_tracked
else
	fail "a tree with --inner-fanout starts"
fi

# A wide tree: its BORN and READY records (over 64 KiB) must not fill the
# pipe while the root, its only reader, is still forking.
mark=$tmp/wide
if timeout 60 "$ct" --detach --size 1M --fanout 200 --ready-file "$mark.json" >/dev/null 2>&1; then
	track_ready "$mark.json"
	check "a tree of 200 children reports ready with all 201 processes" test "$(rl "$mark.json" '.procs | length')" = 201
	kill_tracked
else
	fail "a tree of 200 children reports ready with all 201 processes" "no ready line within 60 s"
	left=$(procs_mentioning "$mark")
	[ -n "$left" ] && kill -9 $left
fi

# A layout cutting quarters of a region of one 2 MiB unit: three are empty.
if grep -q '\[never\]' /sys/kernel/mm/transparent_hugepage/enabled; then
	skip "child-munmap of a one-unit --thp region starts" "THP disabled"
elif start_tree "$tmp/ready-tiny.json" --layout child-munmap --thp --size 2M --fanout 4 2>"$tmp/tiny.err"; then
	check "child-munmap of a one-unit --thp region starts; the child of the last quarter drops it" \
		test "$(jq -c '[.procs[].absent_pages]' "$tmp/ready-tiny.json")" = "[0,0,0,0,512]"
	kill_tracked
else
	fail "child-munmap of a one-unit --thp region starts" "$(cat "$tmp/tiny.err")"
fi

# parent-write
r=$tmp/ready2.json
if start_tree "$r" --size 8M --fanout 1 --parent-write 0.3 --seed 3; then
	f=$(same_frac "$r" 1 0)
	check "a parent rewriting 0.3 after fork leaves 0.7 shared (got $f)" near "$f" 0.7 0.01
	kill_tracked
else
	fail "a tree with --parent-write starts"
fi

# --- zero pages: whichever the kernel maps ---------------------------------
# The ready line says which zero pages the kernel maps (cowtree probes them);
# --zero leaves round(R * size / unit) whole units on one: 4 KiB pages with
# the 4k zero page, 2 MiB with the huge one. Every check says what it found.
kernel=$(uname -r)
kz=$(jq -r '.kernel_zero_pages | if . == null then "unknown" else join(",") end' "$tmp/ready.json" 2>/dev/null || echo unknown)
echo "# kernel $kernel maps these zero pages: ${kz:-none}"
# zero_case KIND: a tree with --zero 0.3 --zero-page KIND, or the refusal.
zero_case() {
	local kind=$1 r=$tmp/ready-zero-$1.json unit want n z
	if [[ ",$kz," != *",$kind,"* ]]; then
		err=$("$ct" --size 8M --fanout 1 --zero 0.3 --zero-page "$kind" 2>&1 >/dev/null)
		check "--zero-page $kind is refused in one line naming the kernel ($err)" \
			test "$(wc -l <<<"$err")" = 1 -a -n "$(grep -F -- "$kernel" <<<"$err")"
		skip "--zero-page $kind leaves its share on the $kind zero page" \
			"kernel $kernel maps no $kind zero page"
		return
	fi
	if ! start_tree "$r" --size 9M --fanout 1 --zero 0.3 --zero-page "$kind" --child-write 0.2; then
		fail "a tree with --zero-page $kind starts"
		return
	fi
	n=$(($(rl "$r" .region_size) / 4096))
	unit=$([ "$kind" = huge ] && echo 512 || echo 1)
	want=$(awk -v n="$n" -v u="$unit" 'BEGIN { k = int(0.3 * n / u + 0.5); if (k > int(n / u)) k = int(n / u); print k * u }')
	check "--zero 0.3 --zero-page $kind reports round(0.3 * pages / $unit) units: $want pages (got $(rl "$r" .zero_pages))" \
		test "$(rl "$r" .zero_pages)" = "$want" -a "$(rl "$r" .params.zero_page)" = "$kind"
	for i in 0 1; do
		z=$("$BIN/cowscan" pages "$(proc_field "$r" $i pid)@$(proc_field "$r" $i region_addr)" \
			--len $((n * 4096)) --json | jq .procs[0].zero_page)
		check "--zero-page $kind: process $i has exactly those $want pages on a zero page (got $z)" \
			test "$z" = "$want"
	done
	check "--zero-page $kind: the child rewrote 0.2 of the pages, none of the zero share" \
		test "$(proc_field "$r" 1 written_pages)" = "$(awk -v n="$n" 'BEGIN { printf "%d", 0.2 * n + 0.5 }')"
	check "--zero-page $kind: the region is still one VMA" \
		test "$(region_vmas "$(rl "$r" .root)" "$(proc_field "$r" 0 region_addr)" "$(rl "$r" .region_size)")" = 1
	if [ "$kind" = huge ]; then
		check "--zero-page huge: the zero share is the huge zero page (THP-mapped)" \
			test "$(page_stat "$r" 0 thp_a)" = "$(page_stat "$r" 0 zero_a)"
		bad_param zero --zero 0.5 --zero-page huge --size 1M
	fi
	kill_tracked
}
if [ "$kz" = unknown ]; then
	fail "cowtree tells which zero pages the kernel maps" "kernel_zero_pages is null"
else
	zero_case 4k
	zero_case huge
	r=$tmp/ready-zero-auto.json
	if [ -z "$kz" ]; then
		err=$("$ct" --size 8M --fanout 1 --zero 0.3 2>&1 >/dev/null)
		check "--zero fails in one line saying the kernel maps no zero page ($err)" \
			test "$(wc -l <<<"$err")" = 1 -a -n "$(grep -F "maps no zero page" <<<"$err")"
	elif start_tree "$r" --size 8M --fanout 1 --zero 0.3; then
		want=$([[ ",$kz," == *",4k,"* ]] && echo 4k || echo huge)
		check "--zero takes the 4k zero page where the kernel maps it, else the huge one ($want)" \
			test "$(rl "$r" .params.zero_page)" = "$want"
		skip "--zero fails saying the kernel maps no zero page" "kernel $kernel maps one ($kz)"
		kill_tracked
	else
		fail "a tree with --zero starts where the kernel maps a zero page ($kz)"
	fi
fi

# seeds decide contents
for s in a b c; do
	seed=7
	[ $s = c ] && seed=8
	if start_tree "$tmp/seed-$s.json" --size 4M --fanout 1 --child-write 0.5 --seed $seed; then
		tree_shas "$tmp/seed-$s.json" | cut -d' ' -f2 >"$tmp/sha-$s"
	fi
	kill_tracked
done
check "the same seed builds the same page contents" cmp -s "$tmp/sha-a" "$tmp/sha-b"
check "another seed builds other contents" test -s "$tmp/sha-a" -a -n "$(cmp "$tmp/sha-a" "$tmp/sha-c" 2>&1)"

# the launcher prints what it writes to --ready-file
"$ct" --detach --size 4M --fanout 1 --ready-file "$tmp/same.json" >"$tmp/same.out"
[ -s "$tmp/same.json" ] && track_ready "$tmp/same.json"
check "the detached launcher prints the line it writes to --ready-file" \
	cmp -s "$tmp/same.out" "$tmp/same.json"
kill_tracked

# without --detach the root prints the line itself and stays in the foreground
"$ct" --size 4M --fanout 1 --ready-file "$tmp/fg.json" >"$tmp/fg.out" 2>&1 &
fgpid=$!
track $fgpid
for _ in $(seq 100); do [ -s "$tmp/fg.out" ] && break; sleep 0.05; done
check "without --detach the root prints the ready line" \
	test "$(jq -r .root "$tmp/fg.out" 2>/dev/null)" = "$fgpid"
check "without --detach the ready file is written too" cmp -s "$tmp/fg.out" "$tmp/fg.json"
kill_tracked

# --- failure halfway ------------------------------------------------------------
# A failed detached root exits as a child of pid 1, which reaps it a moment
# later; wait for that so the runner does not see a leftover zombie.
reap_failed_roots() {
	local p end=$((SECONDS + 10))
	for p in $(ps -e -o pid=,ppid=,stat=,comm= | awk '$2 == 1 && $3 ~ /^Z/ && $4 == "cowtree" {print $1}'); do
		grep -qx "$p" <<<"$before_fail" && continue
		while [ -d /proc/"$p" ] && [ $SECONDS -lt $end ]; do sleep 0.05; done
	done
}
before_fail=$(ps -e -o pid=)
# The address-space limit lets the root map its region but not the mremap
# child its new one: children exist when setup fails.
mark=$tmp/fail-mremap
out=$( (ulimit -v $((64 * 1024 + 30000)); "$ct" --detach --ready-file "$mark.json" --size 64M \
	--fanout 4 --layout mremap) 2>&1)
rc=$?
check "a failure halfway exits non-zero with one line ($out)" \
	test $rc -ne 0 -a "$(wc -l <<<"$out")" = 1
sleep 0.5
left=$(procs_mentioning "$mark")
check "a failure halfway leaves no process behind${left:+ (left: $left)}" test -z "$left"
[ -n "$left" ] && kill -9 $left
reap_failed_roots

# fork failing: a pids cgroup (v1 here) allowing fewer processes than asked.
cg=/sys/fs/cgroup/pids/cowdump-t-workloads-$$
if mkdir "$cg" 2>/dev/null; then
	echo 4 >"$cg/pids.max"
	mark=$tmp/fail-fork
	out=$(bash -c "echo \$\$ >$cg/cgroup.procs && exec $ct --detach --ready-file $mark.json \
		--size 4M --fanout 8" 2>&1)
	rc=$?
	check "a fork failure exits non-zero naming fork ($out)" \
		test $rc -ne 0 -a "$(grep -c fork <<<"$out")" = 1
	sleep 0.5
	left=$(procs_mentioning "$mark")
	check "a fork failure leaves no process behind${left:+ (left: $left)}" test -z "$left"
	[ -n "$left" ] && kill -9 $left
	for _ in $(seq 100); do rmdir "$cg" 2>/dev/null && break; sleep 0.05; done
	reap_failed_roots
else
	skip "a fork failure leaves no process behind" "no writable pids cgroup"
fi
exit 0
