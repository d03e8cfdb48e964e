#!/usr/bin/env bash
# The image parser under libFuzzer (ASan+UBSan) for a bounded time, from the
# committed seed corpus: no crash, no hang, no sanitizer report.
. "$(dirname "$0")/lib.sh"

secs=${COWDUMP_FUZZ_SECONDS:-20}
log=$(mktmp)/fuzz.log
if make -s -C "$COWDUMP_ROOT" fuzz-image FUZZ_SECONDS="$secs" >"$log" 2>&1; then
	pass "the image parser survives ${secs}s of libFuzzer with ASan and UBSan"
else
	fail "the image parser survives ${secs}s of libFuzzer with ASan and UBSan" \
		"$(grep -m3 -E 'ERROR|SUMMARY|runtime error|crash-|Error' "$log")"
fi
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
check "the fuzzer executed inputs (${runs:-0})" test "${runs:-0}" -gt 1000
exit 0
