#!/usr/bin/env bash
# Bad dedup images are refused, fast and clearly (issue 12, item 5).
# Each case edits one real dedup image (a parent with two children, dumped
# by the build under test) with the build's pycriu
# (tests/helpers/trust-images.py bad DIR CASE, which prints the pagemap
# file it broke and what the error must say). Restore must:
#  - fail within 10 s (a loop of marks must not be followed page by page);
#  - log one error line naming that pagemap file and what is wrong;
#  - fail in the root task, before it forks any other task (the marks are
#    checked when the pagemaps are loaded, before anything is restored);
#  - leave no process behind.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/trust-lib.sh"
trust_tools_built "bad-image tools are built" || exit 0

CASES=(present-and-cow ref-without-ref-vaddr ref-vaddr-unaligned self-reference loop
	page-the-holder-lacks entries-out-of-order)
T=$(mktmp)

if ! start_tree "$T/ready" --fanout 2 --child-write 0.3 --size 4M; then
	fail "tree with two children starts"
	exit 0
fi
pids=$(ready_pids "$T/ready")
if ! criu_dump dedup "$(root_of "$T/ready")" "$T/base"; then
	fail "the tree is dumped"
	exit 0
fi

for c in "${CASES[@]}"; do
	d=$T/$c
	cp -a "$T/base" "$d"
	if ! IFS=$'\t' read -r file what < <(trust_images bad "$d" "$c"); then
		fail "$c: image is edited"
		continue
	fi
	start=$(date +%s%N)
	timeout -k 5 60 "$CRIU_DEDUP" restore -D "$d" -d -o restore.log -v4 2>/dev/null
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	# lines naming a pagemap file, among the errors
	named=$(criu_error "$d/restore.log" | grep -E 'pagemap-[0-9]+\.img')
	forks=$(grep -c 'Forking task with' "$d/restore.log")
	echo "# $c: restore exit $rc after $ms ms, $forks tasks forked, $(wc -c <"$d/restore.log") B of log;" \
		"first error: $(criu_error "$d/restore.log" | head -n 1)"

	if [ $rc = 0 ]; then
		fail "$c: restore refuses it" "restored"
	else
		check "$c: restore refuses it within 10 s ($ms ms)" [ $rc != 124 -a $ms -le 10000 ]
	fi
	if [ "$(grep -c . <<<"$named")" = 1 ] && grep -Eq "($file): " <<<"$named" && grep -Fq "$what" <<<"$named"; then
		pass "$c: one error line names $file: $what"
	else
		fail "$c: one error line names $file: $what" "error lines naming a pagemap: $(grep -c . <<<"$named"): $(head -n 2 <<<"$named")"
	fi
	check "$c: refused before the root task forks another ($forks forked)" [ "$forks" -le 1 ]
	# pid 1 reaps the failed restore's tasks a moment later
	wait_gone 20 $pids
	check "$c: leaves no process" none_alive $pids
	kill_ready "$T/ready"
done
exit 0
