#!/usr/bin/env bash
# The performance gate: `make gate` passes with the dedup build, fails when
# the baseline build stands in its place and names every missed threshold;
# the thresholds come from bench/gate.conf and a figure that was not
# measured never passes.
. "$(dirname "$0")/lib.sh"

root=$COWDUMP_ROOT
tmp=$(mktmp)

make -s -C "$root" gate >"$tmp/gate.out" 2>"$tmp/gate.err"
rc=$?
if [ $rc = 0 ] && grep -q 'checks met$' "$tmp/gate.out"; then
	pass "make gate passes with the dedup build"
else
	fail "make gate passes with the dedup build" "rc=$rc: $(grep -h 'MISSED\|failed' "$tmp/gate.err" | head -n 5)"
fi
# The first run checked (a confirming re-run of wall-time rules may follow).
good_run=$(sed -n 's/^gate: .* rules from .* against \(.*\)$/\1/p' "$tmp/gate.out" | head -n 1)

"$root/bench/gate" --criu-dedup "$CRIU_BASELINE" >"$tmp/bad.out" 2>"$tmp/bad.err"
rc=$?
check "the gate fails when the baseline build stands in for dedup" test $rc = 1
check "the failing gate names the image/ideal threshold for fanout-readonly" \
	grep -q '^gate: MISSED dedup-image-near-ideal \[fanout-readonly\]' "$tmp/bad.err"
check "the failing gate names the image/ideal threshold for fanout" \
	grep -q '^gate: MISSED dedup-image-near-ideal \[fanout\]' "$tmp/bad.err"
check "the failing gate does not blame content (baseline restores it right)" \
	bash -c "! grep -q 'MISSED .*content-identical' '$tmp/bad.err'"

if [ -z "$good_run" ] || [ ! -f "$good_run/run.json" ]; then
	skip "thresholds are read from the conf file" "no gate run to check"
else
	# One more rule that this run cannot meet: exactly one more miss, named.
	"$root/bench/lib/check-thresholds" "$root/bench/gate.conf" "$good_run" >/dev/null 2>"$tmp/plain.err"
	{ cat "$root/bench/gate.conf"; echo "impossible-dump-time no-sharing ratio.dump_s <= 0.0001"; } >"$tmp/strict.conf"
	"$root/bench/lib/check-thresholds" "$tmp/strict.conf" "$good_run" >/dev/null 2>"$tmp/strict.err"
	rc=$?
	check "thresholds are read from the conf file (an added rule is checked)" \
		test $rc = 1 -a "$(grep -c '^gate: MISSED' "$tmp/strict.err")" = $(($(grep -c '^gate: MISSED' "$tmp/plain.err") + 1)) -a \
		"$(grep -c '^gate: MISSED impossible-dump-time \[no-sharing\]' "$tmp/strict.err")" = 1
	echo "rule-on-absent-case absent-scenario dedup.image_over_ideal <= 1.01" >"$tmp/absent.conf"
	"$root/bench/lib/check-thresholds" "$tmp/absent.conf" "$good_run" >/dev/null 2>"$tmp/absent.err"
	rc=$?
	check "a figure that was not measured is a missed threshold" \
		test $rc = 1 -a "$(grep -c 'MISSED rule-on-absent-case \[absent-scenario\]: case not in this run' "$tmp/absent.err")" = 1
	echo "not a rule" >"$tmp/bad.conf"
	"$root/bench/lib/check-thresholds" "$tmp/bad.conf" "$good_run" >/dev/null 2>"$tmp/badconf.err"
	rc=$?
	check "a malformed threshold line is an error naming the line (exit 2)" \
		test $rc = 2 -a "$(grep -c 'bad.conf:1:' "$tmp/badconf.err")" = 1
fi
exit 0
