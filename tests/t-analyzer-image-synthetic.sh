#!/usr/bin/env bash
# cowscan image on a hand-built image directory (analyzer/fuzz/imagegen.py
# synthetic) whose numbers are known by construction, covering what CRIU on
# this machine does not write: PE_PARENT, PE_COW and v1 images with
# in_parent/compat_nr_pages entries.
. "$(dirname "$0")/lib.sh"

COWSCAN=${COWSCAN:-$BIN/cowscan}
CRIT=$COWDUMP_ROOT/build/criu-baseline/crit.sh
d=$(mktmp)
python3 "$COWDUMP_ROOT/analyzer/fuzz/imagegen.py" synthetic "$d/img"

# The generator's encoding is CRIU's: crit reads the same entries back.
got=$("$CRIT" decode -i "$d/img/pagemap-101.img" | jq -c '[.entries[1:][] | [.vaddr, .nr_pages, .flags]]')
check "crit decodes the synthetic pagemap as built" test "$got" = '[[4194304,4,8],[5242880,2,4]]'
got=$("$CRIT" decode -i "$d/img/pstree.img" | jq -c '[.entries[] | [.pid, .ppid]]')
check "crit decodes the synthetic pstree as built" test "$got" = '[[100,0],[101,100],[102,100]]'

if ! "$COWSCAN" image "$d/img" --json >"$d/scan.json" 2>"$d/err"; then
	fail "cowscan image reads the synthetic image" "$(cat "$d/err")"
	exit 1
fi

# field PID NAME: one per-process number.
field() { jq --argjson p "$1" ".procs[] | select(.pid == \$p) | .$2" "$d/scan.json"; }
# expect NAME WANT GOT
expect() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "want $2, got $3"; fi; }

expect "present pages count as written" 6 "$(field 100 pages_written)"
expect "present|lazy pages count as lazy" 2 "$(field 100 pages_lazy)"
expect "PE_PARENT pages count as in parent" 3 "$(field 100 pages_in_parent)"
expect "PE_COW pages count as cow-marked, not written" "4 2" \
	"$(field 101 pages_cow_marked) $(field 101 pages_written)"
expect "v1 compat entries: compat_nr_pages without flags count as written" 3 \
	"$(field 102 pages_written)"
expect "v1 compat entries: in_parent counts as in parent" 1 "$(field 102 pages_in_parent)"
expect "all-zero written pages are counted per process" "2 0 1" \
	"$(field 100 pages_zero) $(field 101 pages_zero) $(field 102 pages_zero)"
expect "pages referenced include every flag" "9 6 4" \
	"$(field 100 pages_referenced) $(field 101 pages_referenced) $(field 102 pages_referenced)"
expect "VMAs are counted from mm-PID.img" 3 "$(field 101 vmas)"
expect "totals: written, cow-marked, in parent" "11 4 4" \
	"$(jq -r '.totals | "\(.pages_written) \(.pages_cow_marked) \(.pages_in_parent)"' "$d/scan.json")"
expect "identical pages across files and processes are duplicates: 6 unique, 5 duplicate" "6 5" \
	"$(jq -r '.totals | "\(.content_unique_pages) \(.content_duplicate_pages)"' "$d/scan.json")"
expect "savings: perfect dedup = duplicates x 4096, cow dedup = cow-marked x 4096" "20480 16384" \
	"$(jq -r '.totals | "\(.perfect_dedup_saved_bytes) \(.cow_dedup_saved_bytes)"' "$d/scan.json")"
expect "pages_img_bytes is every pages-*.img" $((11 * 4096)) "$(jq .totals.pages_img_bytes "$d/scan.json")"

# Decoder checks that only a hand-built image can reach.
gen() { python3 - "$@" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import imagegen as g
out, kind = sys.argv[2], sys.argv[3]
ents = {
    "cow+present": [g.pme(0x400000, 1, g.PE_COW | g.PE_PRESENT)],
    "unknown-flag": [g.pme(0x400000, 1, g.PE_PRESENT | 0x40)],
    "overlap": [g.pme(0x400000, 4, g.PE_PRESENT), g.pme(0x402000, 1, g.PE_PRESENT)],
    "unaligned": [g.pme(0x400010, 1, g.PE_PRESENT)],
    "wrap": [g.pme(0xfffffffffffff000, 2, g.PE_PRESENT)],
}[kind]
open(out, "wb").write(g.pagemap(2, ents))
PY
}
for c in "cow+present:contradictory flags 0xc" "unknown-flag:unknown flags 0x40" \
	"overlap:vaddr 0x402000 overlaps or precedes" "unaligned:vaddr 0x400010 is not page-aligned" \
	"wrap:run past the end of the address space"; do
	kind=${c%%:*} msg=${c#*:}
	rm -rf "$d/bad" && cp -a "$d/img" "$d/bad"
	gen "$COWDUMP_ROOT/analyzer/fuzz" "$d/bad/pagemap-101.img" "$kind"
	out=$("$COWSCAN" image "$d/bad" 2>&1 >/dev/null)
	rc=$?
	if [ $rc -ne 0 ] && [ "$(wc -l <<<"$out")" -eq 1 ] &&
		grep -qE "^cowscan: .*/pagemap-101.img: entry at offset [0-9]+.*$msg" <<<"$out"; then
		pass "a pagemap entry with $kind is refused, naming file and offset"
	else
		fail "a pagemap entry with $kind is refused, naming file and offset" "rc=$rc: $out"
	fi
done

rm -rf "$d/bad" && cp -a "$d/img" "$d/bad"
cp "$d/bad/pagemap-101.img" "$d/bad/pagemap-102.img"
out=$("$COWSCAN" image "$d/bad" 2>&1 >/dev/null)
check "two pagemaps reading one pages file is an error" \
	grep -q "pages-2.img: read by both pagemap-101.img and .*/pagemap-102.img" <<<"$out"
exit 0
