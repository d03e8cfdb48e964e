#!/usr/bin/env bash
# Tree-wide dedup (dedup/README.md, "Beyond upstream", tree-wide refs): the
# layouts where a page is shared by processes that are not parent and child
# at the same address. Per layout (REFS_LAYOUTS, --scale REFS_SCALE, default
# small), with the dedup CRIU (BEYOND_CRIU=path overrides it, e.g. a
# development tree's criu/criu; crit comes from the same tree):
#  - write once: bytes of pages-*.img <= REFS_MAX x the tree's unique
#    anonymous bytes before the dump. Unique anonymous bytes = number of
#    distinct page frames, over every process of the tree, of present pages
#    that CRIU dumps: pages of private VMAs (vdso/vvar/vsyscall aside) whose
#    /proc/PID/pagemap entry is present, not file-backed (bit 61 clear) and
#    not the zero page, x the page size;
#  - the image holds PE_COW_REF entries (crit decode), each naming ref_pid
#    and ref_vaddr;
#  - baseline CRIU refuses the image and restores no process;
#  - a corrupted reference (ref_pid of one PE_COW_REF entry set to a pid
#    that is not in the image, via crit decode/encode) makes the dedup
#    restore fail with a clear error naming the reference, and no restored
#    process is left (patch 0018: without it, a task forked while the
#    failing restore killed its parent was left behind);
#  - a truncated pages image (the largest pages-*.img cut in half: the
#    holder of most shared pages, read by the ghost or ancestor VMA the
#    others inherit, see dedup/README.md 0014-0015) makes the dedup restore
#    fail with an error in its log that says so (patch 0016; without it
#    CRIU 4.2.1 spins forever on the async read path), and no restored
#    process is left;
#  - the intact image restores with memory content identical to the dump
#    (cowscan snapshot + compare).
# Ratios and PSS are printed as INFO lines; JSON under build/test-logs/beyond-refs/.
. "$(dirname "$0")/lib.sh"

root=$COWDUMP_ROOT
out=$root/build/test-logs/beyond-refs
CRIU_DEDUP=${BEYOND_CRIU:-$CRIU_DEDUP}
REFS_LAYOUTS=${REFS_LAYOUTS:-"sibling cousins grandchild mremap"}
REFS_SCALE=${REFS_SCALE:-small}
REFS_MAX=1.01
# crit of the same CRIU tree as the criu binary (knows the PE_COW_REF fields)
criu_tree=$(cd "$(dirname "$CRIU_DEDUP")/.." && pwd)
crit() { PYTHONPATH="$criu_tree/lib:$criu_tree/crit" /usr/bin/python3 -m crit "$@"; }

tools_built "refs test tools are built" "$BIN/cowtree" "$BIN/cowscan" "$CRIU_DEDUP" "$CRIU_BASELINE" || exit 0
rm -rf "$out"
mkdir -p "$out"

# unique_anon READY: distinct frames of dumped anonymous pages of the tree,
# in bytes (see the header).
unique_anon() {
	python3 - $(jq -r '.procs[].pid' "$1") <<'EOF'
import ctypes, mmap, struct, sys
PS = mmap.PAGESIZE
PFN = (1 << 55) - 1
# The zero page's frame: read (not write) a fresh private anonymous page.
m = mmap.mmap(-1, PS, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
_ = m[0]
addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
with open("/proc/self/pagemap", "rb") as f:
    f.seek(addr // PS * 8)
    zero = struct.unpack("<Q", f.read(8))[0] & PFN
frames = set()
for pid in sys.argv[1:]:
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pm:
        for line in maps:
            f = line.split()
            if f[1][3] != "p" or (len(f) > 5 and f[5] in ("[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]")):
                continue
            s, e = (int(x, 16) for x in f[0].split("-"))
            if s >= 1 << 47:
                continue
            pm.seek(s // PS * 8)
            data = pm.read((e - s) // PS * 8)
            for (v,) in struct.iter_unpack("<Q", data):
                if v >> 63 and not (v >> 61) & 1 and v & PFN and v & PFN != zero:
                    frames.add(v & PFN)
print(len(frames) * PS)
EOF
}

# pages_bytes DIR: bytes of every pages-*.img in DIR.
pages_bytes() { find "$1" -maxdepth 1 -name 'pages-*.img' -printf '%s\n' | awk '{ t += $1 } END { print t + 0 }'; }

# none_alive READY: no pid of the dumped tree exists.
none_alive() {
	local p
	for p in $(jq -r '.procs[].pid' "$1"); do
		alive "$p" && return 1
	done
	return 0
}

# corrupt_ref IMG: set ref_pid of the first PE_COW_REF entry to a pid not in
# the image; prints "pid vaddr old_ref_pid" of what it changed.
corrupt_ref() {
	local img=$1 f pm
	for f in "$img"/pagemap-*.img; do
		crit decode --pretty -i "$f" -o "$f.json" || return 1
		if python3 - "$f.json" <<'EOF'; then
import json, sys
p = sys.argv[1]
d = json.load(open(p))
for e in d["entries"][1:]:
    if "PE_COW_REF" in str(e.get("flags", "")):
        print(p.rsplit("-", 1)[1].split(".")[0], e["vaddr"], e["ref_pid"])
        e["ref_pid"] = 4000000
        json.dump(d, open(p, "w"))
        sys.exit(0)
sys.exit(1)
EOF
			crit encode -i "$f.json" -o "$f" || return 1
			rm -f "$f.json"
			return 0
		fi
		rm -f "$f.json"
	done
	return 1
}

for s in $REFS_LAYOUTS; do
	o=$out/$s
	tmp=$(mktmp)
	mkdir -p "$o"
	if ! start_tree "$o/ready.json" --scenario "$s" --scale "$REFS_SCALE" 2>"$o/err"; then
		fail "$s: tree starts" "$(head -n 1 "$o/err")"
		kill_tracked
		continue
	fi
	rootpid=$(jq -r .root "$o/ready.json")
	if ! unique_anon "$o/ready.json" >"$o/unique" 2>"$o/err" ||
		! "$BIN/cowscan" snapshot "$rootpid" -o "$o/before.json" 2>>"$o/err"; then
		fail "$s: tree is measured before dump" "$(head -n 1 "$o/err")"
		kill_tracked
		continue
	fi
	if ! criu_dump dedup "$rootpid" "$tmp/img" 2>"$o/err"; then
		fail "$s: dedup dump" "$(tail -n 3 "$o/err" | tr '\n' ' ')"
		kill_tracked
		continue
	fi
	cp "$tmp/img/dump.log" "$o/"
	unique=$(cat "$o/unique")
	img=$(pages_bytes "$tmp/img")
	ratio=$(awk -v i="$img" -v u="$unique" 'BEGIN { printf "%.3f", i / u }')
	echo "INFO: $s: pages-*.img $img bytes, unique anonymous $unique bytes, image/unique $ratio"
	if awk -v i="$img" -v u="$unique" -v m="$REFS_MAX" 'BEGIN { exit !(u > 0 && i <= m * u) }'; then
		pass "$s: shared pages are written once (image <= $REFS_MAX x unique anonymous)"
	else
		fail "$s: shared pages are written once (image <= $REFS_MAX x unique anonymous)" \
			"image $img bytes, unique $unique bytes, ratio $ratio"
	fi

	nrefs=0
	for f in "$tmp"/img/pagemap-*.img; do
		crit decode -i "$f" --pretty >"$o/$(basename "$f").json" 2>>"$o/err" || nrefs=-1000000
		n=$(jq '[.entries[1:][] | select((.flags // "") | tostring | contains("PE_COW_REF"))
			| select(.ref_pid != null and .ref_vaddr != null)] | length' "$o/$(basename "$f").json") || n=-1000000
		nrefs=$((nrefs + n))
	done
	if [ "$nrefs" -gt 0 ]; then
		pass "$s: the image refers to other processes' pages (PE_COW_REF with ref_pid, ref_vaddr)"
	else
		fail "$s: the image refers to other processes' pages (PE_COW_REF with ref_pid, ref_vaddr)" \
			"$nrefs such entries"
	fi

	if "$CRIU_BASELINE" restore -D "$tmp/img" -d -o baseline-restore.log -v4 2>/dev/null; then
		fail "baseline CRIU refuses the $s image" "baseline restore succeeded"
		kill_tracked
		continue
	fi
	if grep -q 'images version 3' "$tmp/img/baseline-restore.log" && none_alive "$o/ready.json"; then
		pass "baseline CRIU refuses the $s image"
	else
		fail "baseline CRIU refuses the $s image" "$(grep -m1 Error "$tmp/img/baseline-restore.log")"
	fi

	cp -a "$tmp/img" "$tmp/bad"
	if ! corrupt_ref "$tmp/bad" >"$o/corrupted" 2>"$o/err"; then
		fail "$s: a corrupted reference fails the restore" "could not corrupt: $(head -n 1 "$o/err")"
	elif criu_restore dedup "$tmp/bad" 2>"$o/err"; then
		fail "$s: a corrupted reference fails the restore" "restore succeeded"
		kill_tracked
		continue
	else
		cp "$tmp/bad/restore.log" "$o/restore-corrupted.log"
		wait_gone 10 $(jq -r '.procs[].pid' "$o/ready.json")
		if grep -q "refer to task 4000000, which is not in the images" "$tmp/bad/restore.log" &&
			none_alive "$o/ready.json"; then
			pass "$s: a corrupted reference fails the restore with a clear error, no process left"
		else
			fail "$s: a corrupted reference fails the restore with a clear error, no process left" \
				"$(grep -m1 Error "$tmp/bad/restore.log")"
		fi
	fi
	rm -rf "$tmp/bad"

	cp -a "$tmp/img" "$tmp/short"
	big=$(ls -S "$tmp/short"/pages-*.img | head -n 1)
	truncate -s $(($(stat -c %s "$big") / 2)) "$big"
	if criu_restore dedup "$tmp/short" 2>"$o/err"; then
		fail "$s: a truncated pages image fails the restore" "restore succeeded"
		kill_tracked
		continue
	fi
	cp "$tmp/short/restore.log" "$o/restore-truncated.log"
	wait_gone 10 $(jq -r '.procs[].pid' "$o/ready.json")
	if grep -q "The pages image ends at" "$tmp/short/restore.log" && none_alive "$o/ready.json"; then
		pass "$s: a truncated pages image fails the restore with a clear error, no process left"
	else
		fail "$s: a truncated pages image fails the restore with a clear error, no process left" \
			"see $o/restore-truncated.log"
	fi
	rm -rf "$tmp/short"

	if ! criu_restore dedup "$tmp/img" 2>"$o/err"; then
		cp "$tmp/img/restore.log" "$o/" 2>/dev/null
		fail "$s: dedup restore" "$(tail -n 3 "$o/err" | tr '\n' ' ')"
		kill_tracked
		continue
	fi
	cp "$tmp/img/restore.log" "$o/"
	rm -rf "$tmp/img"
	"$BIN/cowscan" snapshot "$rootpid" -o "$o/after.json" 2>"$o/err" &&
		"$BIN/cowscan" compare "$o/before.json" "$o/after.json" --json >"$o/compare.json" 2>>"$o/err"
	if jq -e '.content_identical == true' "$o/compare.json" >/dev/null 2>&1; then
		pass "$s: memory content is identical after the dedup restore"
	else
		fail "$s: memory content is identical after the dedup restore" "see $o/compare.json"
	fi
	jq -r --arg s "$s" '"INFO: \($s): PSS before \(.pss_before_bytes), after dedup restore \(.pss_after_bytes)"' \
		"$o/compare.json" 2>/dev/null
	kill_tracked
done
