#!/usr/bin/env bash
# cowscan image: its numbers for a real baseline CRIU dump agree with crit's
# decode of the same images and with an independent hash of pages-*.img;
# with the dedup build, cow-marked pages are counted.
. "$(dirname "$0")/lib.sh"

COWSCAN=${COWSCAN:-$BIN/cowscan}
CRIT_BASELINE=$COWDUMP_ROOT/build/criu-baseline/crit.sh

tools_built "cowscan is built" "$COWSCAN" || exit 1

# A small fork tree: cowtree's fanout scenario when it exists; otherwise a
# python parent with a private 64-page region of 8 distinct contents and 3
# children that each rewrite 4 pages (detached: own session, stdio on
# /dev/null). Prints the root pid.
start_small_tree() {
	local d=$1
	if [ -x "$BIN/cowtree" ] && start_tree "$d/ready.json" --scenario fanout --scale small; then
		jq -r .root "$d/ready.json"
		return 0
	fi
	cat >"$d/tree.py" <<'PY'
import mmap, os, sys, time
os.setsid()
ready = sys.argv[1]
m = mmap.mmap(-1, 64 * 4096, flags=mmap.MAP_PRIVATE)
for i in range(64):
    m[i * 4096:(i + 1) * 4096] = bytes([i % 8 + 1]) * 4096
me = "root"
for c in range(3):
    if os.fork() == 0:
        for i in range(4):
            m[i * 4096:(i + 1) * 4096] = bytes([100 + c]) * 4096
        me = "child%d" % c
        break
open(os.path.join(ready, me), "w").close()
time.sleep(100000)
PY
	mkdir -p "$d/ready"
	(python3 "$d/tree.py" "$d/ready" </dev/null >/dev/null 2>&1 & echo $! >"$d/root.pid")
	local pid i
	pid=$(cat "$d/root.pid")
	track "$pid"
	for i in $(seq 100); do
		[ "$(ls "$d/ready" | wc -l)" -eq 4 ] && break
		sleep 0.05
	done
	[ "$(ls "$d/ready" | wc -l)" -eq 4 ] || return 1
	echo "$pid"
}

# --- baseline dump vs crit ---------------------------------------------------
d=$(mktmp)
if ! root=$(start_small_tree "$d") || ! criu_dump baseline "$root" "$d/img"; then
	fail "baseline dump of a small tree for cowscan image"
	exit 1
fi
img=$d/img

if "$COWSCAN" image "$img" --json >"$d/scan.json" 2>"$d/scan.err"; then
	pass "cowscan image --json reads a baseline dump"
else
	fail "cowscan image --json reads a baseline dump" "$(head -n 3 "$d/scan.err")"
	exit 1
fi
check "cowscan image prints no warning on a clean dump" test ! -s "$d/scan.err"

"$CRIT_BASELINE" decode -i "$img/pstree.img" >"$d/pstree.json"
want=$(jq -c '[.entries[].pid]' "$d/pstree.json")
got=$(jq -c '[.procs[].pid]' "$d/scan.json")
if [ "$want" = "$got" ]; then
	pass "pids and their order match crit's pstree.img"
else
	fail "pids and their order match crit's pstree.img" "crit $want, cowscan $got"
fi
want=$(jq -c '[.entries[].ppid]' "$d/pstree.json")
got=$(jq -c '[.procs[].ppid]' "$d/scan.json")
check "ppids match crit's pstree.img" test "$want" = "$got"

# Per process, everything crit's pagemap decode implies, as one JSON object
# in cowscan's field names. pages_cow_marked: PE_COW (8); pages_ref_marked:
# PE_COW_REF (16).
crit_counts() {
	jq -c '.entries as $e | ($e[1:] | map(. + {n: (.nr_pages // .compat_nr_pages)})) as $p
	| {pages_id: $e[0].pages_id, pagemap_entries: ($p | length),
	   pages_referenced: ([$p[].n] | add // 0),
	   pages_written: ([$p[] | select(.flags % 8 >= 4) | .n] | add // 0),
	   pages_lazy: ([$p[] | select(.flags % 4 >= 2) | .n] | add // 0),
	   pages_in_parent: ([$p[] | select(.flags % 2 == 1) | .n] | add // 0),
	   pages_cow_marked: ([$p[] | select(.flags % 16 >= 8) | .n] | add // 0),
	   pages_ref_marked: ([$p[] | select(.flags % 32 >= 16) | .n] | add // 0)}'
}
cowscan_counts() {
	jq -c --argjson pid "$1" '.procs[] | select(.pid == $pid)
	| {pages_id, pagemap_entries, pages_referenced, pages_written, pages_lazy,
	   pages_in_parent, pages_cow_marked, pages_ref_marked}' "$2"
}

bad="" sizes_bad="" vmas_bad="" nprocs=0
for pid in $(jq -r '.procs[].pid' "$d/scan.json"); do
	nprocs=$((nprocs + 1))
	want=$("$CRIT_BASELINE" decode -i "$img/pagemap-$pid.img" | crit_counts)
	got=$(cowscan_counts "$pid" "$d/scan.json")
	[ "$want" = "$got" ] || bad+=" $pid: crit $want cowscan $got;"
	id=$(jq -r .pages_id <<<"$got")
	written=$(jq -r .pages_written <<<"$got")
	size=$(stat -c %s "$img/pages-$id.img")
	[ "$size" -eq $((written * 4096)) ] || sizes_bad+=" pages-$id.img $size vs $written pages;"
	want=$("$CRIT_BASELINE" decode -i "$img/mm-$pid.img" | jq '.entries[0].vmas | length')
	got=$(jq --argjson pid "$pid" '.procs[] | select(.pid == $pid) | .vmas' "$d/scan.json")
	[ "$want" = "$got" ] || vmas_bad+=" $pid: crit $want cowscan $got;"
done
check "the dump has more than one process" test "$nprocs" -gt 1
if [ -z "$bad" ]; then
	pass "per-process pagemap entries and pages per flag match crit"
else
	fail "per-process pagemap entries and pages per flag match crit" "$bad"
fi
if [ -z "$sizes_bad" ]; then
	pass "each pages-ID.img holds exactly the process's written pages"
else
	fail "each pages-ID.img holds exactly the process's written pages" "$sizes_bad"
fi
check "VMA counts match crit's mm-PID.img" test -z "$vmas_bad"

want=$(jq -s '[.[].pages_written] | add' < <(for pid in $(jq -r '.procs[].pid' "$d/scan.json"); do
	"$CRIT_BASELINE" decode -i "$img/pagemap-$pid.img" | crit_counts; done))
got=$(jq .totals.pages_written "$d/scan.json")
check "total written pages are the sum over crit's pagemaps" test "$want" = "$got"
want=$(cat "$img"/pages-*.img | wc -c)
got=$(jq .totals.pages_img_bytes "$d/scan.json")
check "pages_img_bytes is the size of every pages-*.img" test "$want" = "$got"

# Content: sha256 of every 4096-byte page of every pages-*.img, counted by
# python, against cowscan's hash-and-compare index.
want=$(python3 - "$img" <<'PY'
import glob, hashlib, json, sys
seen, pages, zero = set(), 0, 0
for f in glob.glob(sys.argv[1] + "/pages-*.img"):
    with open(f, "rb") as fh:
        while True:
            p = fh.read(4096)
            if not p:
                break
            pages += 1
            zero += p.count(0) == 4096
            seen.add(hashlib.sha256(p).digest())
print(json.dumps({"pages": pages, "unique": len(seen), "duplicate": pages - len(seen),
                  "zero": zero, "saved": (pages - len(seen)) * 4096}))
PY
)
got=$(jq -c '.totals | {pages: .content_pages, unique: .content_unique_pages,
	duplicate: .content_duplicate_pages, zero: .content_zero_pages,
	saved: .perfect_dedup_saved_bytes}' "$d/scan.json")
if [ "$(jq -cS . <<<"$want")" = "$(jq -cS . <<<"$got")" ]; then
	pass "unique, duplicate and zero pages match an independent sha256 count"
else
	fail "unique, duplicate and zero pages match an independent sha256 count" \
		"python $want, cowscan $got"
fi
check "a fork tree's baseline dump has duplicate page content" \
	test "$(jq .totals.content_duplicate_pages "$d/scan.json")" -gt 0
check "baseline CRIU cow-marks nothing" \
	test "$(jq .totals.cow_dedup_saved_bytes "$d/scan.json")" = 0

out=$("$COWSCAN" image "$img" 2>&1)
if [ $? -eq 0 ] && grep -q "^ *$root " <<<"$out" && grep -q "perfect dedup would save" <<<"$out"; then
	pass "the default output is a table with a row per process and the savings"
else
	fail "the default output is a table with a row per process and the savings" "$out"
fi

# --- dedup build: cow-marked pages ---------------------------------------------
d2=$(mktmp)
if ! root=$(start_small_tree "$d2") || ! criu_dump dedup "$root" "$d2/img"; then
	fail "dedup dump of a small tree for cowscan image"
	exit 1
fi
for pid in $(jq -r '.entries[].pid' < <("$CRIT_DEDUP" decode -i "$d2/img/pstree.img")); do
	"$CRIT_DEDUP" decode -i "$d2/img/pagemap-$pid.img" | crit_counts
done >"$d2/crit.json"
cow=$(jq -s '[.[].pages_cow_marked] | add' "$d2/crit.json")
ref=$(jq -s '[.[].pages_ref_marked] | add' "$d2/crit.json")
if [ "$cow" -eq 0 ]; then
	skip "cow-marked pages of a dedup dump are counted" \
		"the dedup build wrote no PE_COW entry (dedup/patches: $(ls "$COWDUMP_ROOT/dedup/patches" | wc -l) files)"
elif ! "$COWSCAN" image "$d2/img" --json >"$d2/scan.json" 2>"$d2/scan.err"; then
	fail "cowscan image reads a dedup dump" "$(head -n 3 "$d2/scan.err")"
else
	want=$(jq -cs . "$d2/crit.json")
	got=$(for pid in $(jq -r '.procs[].pid' "$d2/scan.json"); do cowscan_counts "$pid" "$d2/scan.json"; done | jq -cs .)
	check "dedup dump: per-process pages per flag (PE_COW included) match crit" test "$want" = "$got"
	got=$(jq .totals.pages_cow_marked "$d2/scan.json")
	saved=$(jq .totals.cow_dedup_saved_bytes "$d2/scan.json")
	if [ "$got" = "$cow" ] && [ "$saved" = $(((cow + ref) * 4096)) ]; then
		pass "cow-marked pages of a dedup dump are counted"
	else
		fail "cow-marked pages of a dedup dump are counted" \
			"crit $cow pages, cowscan $got pages / $saved bytes"
	fi
fi
exit 0
