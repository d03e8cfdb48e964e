#!/usr/bin/env bash
# Out of memory is an error, never a wrong number (STYLE.md "Habits"):
# `cowscan tree` on a tree with private, file-backed and shared anonymous
# memory (tests/fixtures/untouched-tree.sh) is run once per realloc() it
# makes, with exactly that call failing (tests/fixtures/fail-realloc.c,
# LD_PRELOAD). Each run either exits 2 with one error line, or exits 0
# with the figures of a run where nothing failed (predicted image sizes,
# unique PFN bytes: deterministic on an idle tree).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fixtures/untouched-tree.sh"
COWSCAN=${COWSCAN:-$BIN/cowscan}
T=$(mktmp)
SHIM=$COWDUMP_ROOT/build/test-bin/fail-realloc.so

tools_built "oom test tools are built" "$COWSCAN" "$BIN/cowtree" || exit 0
mkdir -p "$(dirname "$SHIM")"
if [ ! -f "$SHIM" ] || [ "$COWDUMP_ROOT/tests/fixtures/fail-realloc.c" -nt "$SHIM" ]; then
	gcc -std=c11 -Wall -Wextra -Werror -O2 -shared -fPIC -o "$SHIM" \
		"$COWDUMP_ROOT/tests/fixtures/fail-realloc.c" -ldl || { fail "fail-realloc shim builds"; exit 1; }
fi
untouched_tree "$T" || { fail "tree starts" "$(head -n 1 "$T/root.err")"; exit 1; }

# figures FILE: what must not change when a run succeeds.
figures() { jq -c '[.predict.ideal_image_bytes, .predict.baseline_image_bytes, .totals.unique_pfn_bytes, (.procs | length)]' "$1"; }

FAIL_REALLOC_COUNT=$T/count LD_PRELOAD=$SHIM "$COWSCAN" tree "$UT_ROOT" --json >"$T/ref.json" 2>"$T/err" ||
	{ fail "cowscan tree runs under the shim" "$(head -n 1 "$T/err")"; exit 1; }
ref=$(figures "$T/ref.json")
n=$(cat "$T/count")
echo "INFO: $n realloc calls; figures $ref"
check "the shim counts realloc calls" [ "$n" -gt 0 ]
check "the tree has shared anonymous pages (predict's shared-memory path runs)" \
	grep -q 'rw-s.*/dev/zero' /proc/"$UT_ROOT"/maps

bad=
errors=0
for k in $(seq 1 "$n"); do
	FAIL_REALLOC_AT=$k LD_PRELOAD=$SHIM "$COWSCAN" tree "$UT_ROOT" --json >"$T/out.json" 2>"$T/err"
	rc=$?
	if [ $rc = 2 ] && [ "$(wc -l <"$T/err")" = 1 ]; then
		errors=$((errors + 1))
	elif [ $rc != 0 ]; then
		bad="realloc #$k: exit $rc, $(head -n 2 "$T/err" | tr '\n' ' ')"
		break
	elif [ "$(figures "$T/out.json")" != "$ref" ]; then
		bad="realloc #$k: exit 0 with $(figures "$T/out.json"), not $ref"
		break
	fi
done
echo "INFO: $errors of $n failed reallocs reported as errors, the others recovered"
if [ -z "$bad" ]; then
	pass "a failed realloc anywhere is an error or changes nothing"
else
	fail "a failed realloc anywhere is an error or changes nothing" "$bad"
fi
