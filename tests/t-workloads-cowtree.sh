#!/usr/bin/env bash
# cowtree: its CLI, its ready line, the pages it writes (checked in
# /proc/PID/pagemap) and its cleanup when setup fails halfway.
# Tolerances: child/parent sharing fractions are exact by construction
# (round(R*pages) distinct pages), checked within 0.01.
. "$(dirname "$0")/lib.sh"
. "$COWDUMP_ROOT/workloads/verify.sh"

tmp=$(mktmp)
ct=$BIN/cowtree

# --- options ------------------------------------------------------------------
help=$("$ct" --help)
missing=""
for o in scenario scale size fanout depth child-write parent-write zero thp backing layout seed \
	detach ready-file file-dir; do
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
bad_param size --size abc
bad_param size --size -5M
bad_param size --size 100T
bad_param size --size 8G --fanout 8 --child-write 1
bad_param fanout --fanout -1
bad_param depth --depth x
bad_param seed --seed -3
bad_param layout --layout sideways
bad_param backing --backing disk
bad_param scale --scale huge
bad_param layout --layout grandchild --depth 1
bad_param scenario --scenario no-such-scenario

printf '# purpose: test\nsize = 8M\nfanout = lots\n' >"$tmp/bad.conf"
err=$("$ct" --scenario "$tmp/bad.conf" 2>&1)
check "a bad scenario value is reported with file:line and the key" \
	grep -q "bad.conf:3: --fanout" <<<"$err"
printf 'size = 8M\n' >"$tmp/nopurpose.conf"
err=$("$ct" --scenario "$tmp/nopurpose.conf" 2>&1)
check "a scenario without a purpose line is refused" grep -q "purpose" <<<"$err"

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

# parent-write and zero
r=$tmp/ready2.json
if start_tree "$r" --size 8M --fanout 1 --parent-write 0.3 --zero 0.2 --seed 3; then
	f=$(same_frac "$r" 1 0)
	check "a parent rewriting 0.3 after fork leaves 0.7 shared (got $f)" near "$f" 0.7 0.01
	z=$(page_stat "$r" 1 zero_a)
	check "--zero 0.2 leaves 0.2 of the pages on the zero page (got $z)" near "$z" 0.2 0.01
	kill_tracked
else
	fail "a tree with --parent-write and --zero starts"
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
