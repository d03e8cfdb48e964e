#!/usr/bin/env bash
# COW dedup (dedup/patches) on each kind of page a forked region can hold:
# transparent huge pages, the zero page, anonymous copies in a MAP_PRIVATE
# file mapping, a region a child moved with mremap, chains of generations
# (transitive marks) and a grandchild that shares with the root but not
# with its parent; plus restore through the fallback path (CRIU_FAULT=139:
# no VMA inherited, every mark read from the ancestors' images).
#
# Every case is checked page by page in the cowtree region, against the
# live tree read just before the dump (/proc/PID/pagemap of the process
# and of its parent at the SAME address, /proc/kpageflags):
#  - "dumpable": present, anonymous, not the zero page (what CRIU dumps);
#  - "shared":   dumpable and the parent maps the same page frame there.
# The image (pagemap-PID.img, read with pycriu) must cover exactly the
# dumpable pages and mark (PE_COW) exactly the shared ones: a mark on a
# page that is not the parent's would restore wrong memory, a missing one
# is lost dedup. After restore, cowscan compare must find every VMA of
# every process identical (exit 0).
# Sizes are small (4-8 MiB regions); the whole file runs in well under a
# minute here.
source "$(dirname "$0")/lib.sh"

PYCRIU=$COWDUMP_ROOT/build/criu-dedup/lib
for b in "$BIN/cowtree" "$BIN/cowscan" "$CRIU_DEDUP" "$CRIT_DEDUP"; do
	[ -x "$b" ] || { fail "page-kind tools are built" "$b missing (run: make)"; exit 0; }
done

T=$(mktmp)

# The region page by page. "live READY OUT": the tree as it is now;
# "image READY LIVE DIR OUT": what the CRIU image in DIR says of the same
# pages. Page sets are lists of page indices within the region.
REGION_PY=$(cat <<'EOF'
import json, struct, sys

PM_PRESENT, PM_SWAP, PFN_MASK = 1 << 63, 1 << 62, (1 << 55) - 1
KPF_ANON, KPF_THP, KPF_ZERO_PAGE = 12, 22, 24
PE_PARENT, PE_PRESENT, PE_COW, PE_COW_REF = 1 << 0, 1 << 2, 1 << 3, 1 << 4

def read_pagemap(pid, addr, n, ps):
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(addr // ps * 8)
        data = f.read(n * 8)
    return [e for (e,) in struct.iter_unpack("<Q", data)]

def live(ready, out):
    r = json.load(open(ready))
    ps, n = r["page_size"], r["region_size"] // r["page_size"]
    by_pid = {p["pid"]: p for p in r["procs"]}
    kpf = open("/proc/kpageflags", "rb")

    def kflags(pfn):
        kpf.seek(pfn * 8)
        return struct.unpack("<Q", kpf.read(8))[0]

    procs = []
    for p in r["procs"]:
        rec = {"pid": p["pid"], "depth": p["depth"], "addr": p["region_addr"]}
        procs.append(rec)
        if p["region_addr"] is None:
            continue
        addr = int(p["region_addr"], 16)
        me = read_pagemap(p["pid"], addr, n, ps)
        parent = by_pid.get(p["ppid"])
        # the parent at this process's address, whatever it maps there
        pa = read_pagemap(parent["pid"], addr, n, ps) if parent else [0] * n
        dumpable, shared, zero, zero_thp, thp, thp_shared, swapped = [], [], [], 0, 0, 0, 0
        for i, e in enumerate(me):
            if e & PM_SWAP:
                swapped += 1
            if not e & PM_PRESENT:
                continue
            fl = kflags(e & PFN_MASK)
            if fl >> KPF_ZERO_PAGE & 1:
                zero.append(i)
                zero_thp += fl >> KPF_THP & 1  # a piece of the huge zero page
                continue
            if not fl >> KPF_ANON & 1:
                continue
            dumpable.append(i)
            if fl >> KPF_THP & 1:
                thp += 1
            if pa[i] & PM_PRESENT and pa[i] & PFN_MASK == e & PFN_MASK:
                shared.append(i)
                thp_shared += fl >> KPF_THP & 1
        rec.update(dumpable=dumpable, shared=shared, zero=zero, zero_thp=zero_thp, thp=thp,
                   thp_shared=thp_shared, swapped=swapped)
    json.dump({"pages": n, "procs": procs}, open(out, "w"))

def image(ready, live_file, d, out):
    import pycriu
    r, lv = json.load(open(ready)), json.load(open(live_file))
    ps, n = r["page_size"], lv["pages"]
    res = []
    for p in lv["procs"]:
        if p["addr"] is None:
            res.append({"pid": p["pid"], "region": False})
            continue
        lo = int(p["addr"], 16)
        hi = lo + n * ps
        img = pycriu.images.load(open(f"{d}/pagemap-{p['pid']}.img", "rb"))
        covered, marked, written, refs = set(), set(), set(), set()
        for e in img["entries"][1:]:
            for k in range(e["nr_pages"]):
                a = e["vaddr"] + k * ps
                if lo <= a < hi:
                    i = (a - lo) // ps
                    covered.add(i)
                    if e["flags"] & PE_COW:
                        marked.add(i)
                    if e["flags"] & PE_PRESENT:
                        written.add(i)
                    if e["flags"] & PE_COW_REF:
                        refs.add(i)
        dumpable, shared = set(p["dumpable"]), set(p["shared"])
        res.append({"pid": p["pid"], "depth": p["depth"], "region": True,
                    "dumpable": len(dumpable), "shared": len(shared),
                    "zero": len(p["zero"]), "zero_thp": p["zero_thp"],
                    "thp": p["thp"], "thp_shared": p["thp_shared"],
                    "swapped": p["swapped"], "marked": len(marked), "written": len(written), "refs": len(refs),
                    "covered_is_dumpable": covered == dumpable,
                    "marked_is_shared": marked == shared,
                    "zero_in_image": len(covered & set(p["zero"])),
                    "marked_not_shared": len(marked - shared),
                    "shared_not_marked": len(shared - marked)})
    json.dump(res, open(out, "w"))

{"live": live, "image": image}[sys.argv[1]](*sys.argv[2:])
EOF
)
region_py() { PYTHONPATH=$PYCRIU /usr/bin/python3 -c "$REGION_PY" "$@"; }

# stat_of DIR dump|restore FIELD: a field of DIR/stats-WHICH (0 if absent).
stat_of() { "$CRIT_DEDUP" show "$1/stats-$2" 2>/dev/null | jq ".entries[0].$2.$3 // 0"; }

# q CASE JQ: query the region report of CASE ($T/CASE.region).
q() { jq -r "$2" "$T/$1.region"; }

# start CASE COWTREE-ARGS...: start the tree, read its region and snapshot it.
# A start refused with an error matching $SKIP_IF is a SKIP (what this
# machine cannot build), any other failure a FAIL.
start() {
	local c=$1; shift
	if ! start_tree "$T/$c.ready" "$@" 2>"$T/$c.err"; then
		if [ -n "${SKIP_IF:-}" ] && grep -q "$SKIP_IF" "$T/$c.err"; then
			skip "$c: tree starts" "$(head -n 1 "$T/$c.err")"
		else
			fail "$c: tree starts" "$(head -n 1 "$T/$c.err")"
		fi
		return 1
	fi
	region_py live "$T/$c.ready" "$T/$c.live" &&
		"$BIN/cowscan" snapshot "$(jq .root "$T/$c.ready")" -o "$T/$c.before" 2>"$T/$c.err" ||
		{ fail "$c: tree is read before dump" "$(head -n 1 "$T/$c.err")"; return 1; }
}

# dump CASE IMGDIR: dedup dump, then the region report in $T/CASE.region.
dump() {
	local c=$1 d=$2
	if ! criu_dump dedup "$(jq .root "$T/$c.ready")" "$d" 2>"$T/$c.err"; then
		fail "$c: dedup dump" "$(tail -n 2 "$T/$c.err" | tr '\n' ' ')"
		return 1
	fi
	region_py image "$T/$c.ready" "$T/$c.live" "$d" "$T/$c.region" ||
		{ fail "$c: image is read"; return 1; }
}

# restore_identical CASE IMGDIR [FAULT]: restore (with CRIU_FAULT=FAULT if
# given), snapshot, compare with the snapshot from before the dump.
restore_identical() {
	local c=$1 d=$2 fault=${3:-} name out rc
	name="$c: restores with identical memory${fault:+ (CRIU_FAULT=$fault)}"
	if [ -n "$fault" ]; then
		CRIU_FAULT=$fault criu_restore dedup "$d" 2>"$T/$c.err"
	else
		criu_restore dedup "$d" 2>"$T/$c.err"
	fi || {
		fail "$name" "restore failed: $(tail -n 2 "$T/$c.err" | tr '\n' ' ')"
		return 1
	}
	if ! "$BIN/cowscan" snapshot "$(jq .root "$T/$c.ready")" -o "$T/$c.after" 2>"$T/$c.err"; then
		fail "$name" "snapshot after: $(head -n 1 "$T/$c.err")"
		return 1
	fi
	out=$("$BIN/cowscan" compare "$T/$c.before" "$T/$c.after" --json 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		pass "$name"
	else
		fail "$name" "compare exit $rc: $(jq -c '.differences[:3]' <<<"$out" 2>/dev/null || echo "$out")"
	fi
}

# The two checks every case makes on the image of the region.
image_matches_live() {
	local c=$1 bad
	bad=$(q "$c" '[.[] | select(.region and (.covered_is_dumpable | not)) | .pid] | join(" ")')
	check "$c: image holds every dumpable region page, and only those" [ -z "$bad" ]
	[ -n "$bad" ] && q "$c" '.[] | select(.region) | "#   pid \(.pid): dumpable \(.dumpable) written \(.written) marked \(.marked) zero-in-image \(.zero_in_image)"'
	bad=$(q "$c" '[.[] | select(.region and (.marked_is_shared | not)) | .pid] | join(" ")')
	check "$c: PE_COW marks exactly the pages the parent maps at the same address" [ -z "$bad" ]
	[ -n "$bad" ] && q "$c" '.[] | select(.region) | "#   pid \(.pid): shared \(.shared) marked \(.marked) marked-not-shared \(.marked_not_shared) shared-not-marked \(.shared_not_marked)"'
	q "$c" '.[] | select(.region) | "# \(.pid) depth \(.depth): dumpable \(.dumpable), shared with parent \(.shared) (thp \(.thp_shared)), zero \(.zero), marked \(.marked), written \(.written)"'
}

kill_case() { kill -9 $(jq -r '.procs[].pid' "$T/$1.ready") 2>/dev/null; wait_gone 10 $(jq -r '.procs[].pid' "$T/$1.ready"); }

# children_marked CASE: every non-root process with a region has marks.
children_marked() { [ "$(q "$1" '[.[] | select(.region and .depth > 0 and .marked == 0)] | length')" = 0 ]; }

# --- THP: marks name 4 KiB sub-pages of shared huge pages ---------------------
c=thp
if [ "$(grep -o '\[[a-z]*\]' /sys/kernel/mm/transparent_hugepage/enabled)" = "[never]" ]; then
	skip "$c: shared huge pages are marked" "THP disabled"
elif start $c --thp --size 8M --fanout 2 --child-write 0.1 && dump $c "$T/$c.img"; then
	check "$c: the region is THP-backed before dump" [ "$(q $c '[.[] | select(.region) | .thp] | min')" -gt 0 ]
	image_matches_live $c
	check "$c: every child has marked pages inside huge pages" \
		[ "$(q $c '[.[] | select(.region and .depth > 0) | .thp_shared] | min')" -gt 0 ]
	restore_identical $c "$T/$c.img"
	check "$c: restore inherits every mark" marks_kept "$T/$c.img"
fi
[ -f "$T/$c.ready" ] && kill_case $c

# --- zero pages: neither written nor marked --------------------------------
# cowtree leaves the zero share on a zero page the kernel maps: the 4k one,
# or else the huge one (workloads/README.md, "Zero pages"); a kernel that
# maps no such page cannot build the case: SKIP, naming it. Each case says
# which zero page it got.
# zero_start CASE COWTREE-ARGS...: start the case, or SKIP it.
zero_start() {
	local c=$1
	SKIP_IF="maps no .*zero page" start "$@" || return 1
	echo "# $c: kernel $(uname -r) maps the zero pages $(jq -c .kernel_zero_pages "$T/$c.ready");" \
		"the tree uses the $(jq -r .params.zero_page "$T/$c.ready") one, $(jq .zero_pages "$T/$c.ready") pages in the root"
}

c=zero
if zero_start $c --size 4M --zero 0.5 --fanout 2 --child-write 0.1 && dump $c "$T/$c.img"; then
	check "$c: the region maps the $(jq -r .params.zero_page "$T/$c.ready") zero page before dump" \
		[ "$(q $c '[.[] | select(.region) | .zero] | min')" -gt 0 ]
	image_matches_live $c
	check "$c: no zero page of the region is in the image (written or marked)" \
		[ "$(q $c '[.[] | select(.region) | .zero_in_image] | add')" = 0 ]
	check "$c: children have marks" children_marked $c
	restore_identical $c "$T/$c.img"
fi
[ -f "$T/$c.ready" ] && kill_case $c

# The huge zero page on its own (2 MiB units), where the kernel maps it:
# what cowtree built, and a restore with the same memory. CRIU 4.2.1 knows
# the 4k zero page by its PFN only, so what the image holds of the huge one
# is reported, not checked, here.
c=zero-huge
if zero_start $c --size 8M --zero 0.5 --zero-page huge --fanout 2 --child-write 0.1 &&
	dump $c "$T/$c.img"; then
	check "$c: every process maps 2 MiB units of the huge zero page before dump" \
		[ "$(q $c '[.[] | select(.region) | .zero_thp == .zero and .zero >= 512] | all')" = true ]
	q $c '.[] | select(.region) | "# \(.pid) depth \(.depth): huge zero pages \(.zero_thp), of them in the image \(.zero_in_image), marked \(.marked), written \(.written)"'
	restore_identical $c "$T/$c.img"
fi
[ -f "$T/$c.ready" ] && kill_case $c

# --- MAP_PRIVATE file: the anonymous copies are marked ----------------------
c=filepriv
mkdir -p "$T/files"
if start $c --backing file --file-dir "$T/files" --size 4M --fanout 2 --child-write 0.1 &&
	dump $c "$T/$c.img"; then
	image_matches_live $c
	check "$c: children have marks in the file mapping" children_marked $c
	restore_identical $c "$T/$c.img"
fi
[ -f "$T/$c.ready" ] && kill_case $c

# --- mremap: same frames at another address are not the parent's page -----
# (not PE_COW; the tree-wide dedup refers to the parent's pages: PE_COW_REF)
c=mremap
if start $c --layout mremap --size 4M --fanout 2 --child-write 0.1 && dump $c "$T/$c.img"; then
	image_matches_live $c
	moved=$(jq -r '[.procs[] | select(.layout_action == "mremap") | .pid] | join(" ")' "$T/$c.ready")
	check "$c: a child moved its region" [ -n "$moved" ]
	for p in $moved; do
		check "$c: moved region of $p has no PE_COW marks; what it shares refers to another process (PE_COW_REF)" \
			[ "$(q $c ".[] | select(.pid == $p) | .marked == 0 and .refs > 0 and .written + .refs == .dumpable")" = true ]
	done
	check "$c: the unmoved sibling is marked" \
		[ "$(q $c '[.[] | select(.region and .depth > 0 and .marked > 0)] | length')" -gt 0 ]
	restore_identical $c "$T/$c.img"
fi
[ -f "$T/$c.ready" ] && kill_case $c

# --- grandchild layout: shares with the root, not with its parent ----------
c=grandchild
if start $c --layout grandchild --size 4M --fanout 1 --depth 2 --child-write 0.1 && dump $c "$T/$c.img"; then
	image_matches_live $c
	check "$c: the grandchild's region, not its parent's page, is not marked" \
		[ "$(q $c '[.[] | select(.depth == 2) | .marked] | add')" = 0 ]
	restore_identical $c "$T/$c.img"
fi
[ -f "$T/$c.ready" ] && kill_case $c

# --- chain: transitive marks, inherited; then resolved by the fallback ------
c=chain
if start $c --size 4M --fanout 1 --depth 3 --child-write 0.1 && dump $c "$T/$c.img"; then
	image_matches_live $c
	check "$c: every generation is marked against its parent" children_marked $c
	cp "$T/$c.region" "$T/$c.region1"
	restore_identical $c "$T/$c.img"
	check "$c: restore inherits every mark, transitively" marks_kept "$T/$c.img"

	# The restored tree shares again as before: a second dump marks the
	# same number of region pages in every process.
	c2=chain-redump
	cp "$T/$c.ready" "$T/$c2.ready"
	cp "$T/$c.after" "$T/$c2.before"
	if region_py live "$T/$c2.ready" "$T/$c2.live" && dump $c2 "$T/$c2.img"; then
		check "$c2: the restored tree is marked as before (sharing kept by restore)" \
			[ "$(jq -c '[.[].marked]' "$T/$c2.region")" = "$(jq -c '[.[].marked]' "$T/$c.region1")" ]
		image_matches_live $c2
		restore_identical $c2 "$T/$c2.img" 139
		res=$(stat_of "$T/$c2.img" restore pages_cow_resolved)
		inh=$(stat_of "$T/$c2.img" restore pages_cow_inherited)
		skp=$(stat_of "$T/$c2.img" dump pages_cow_skipped)
		echo "# $c2 fallback: dump pages_cow_skipped $skp, restore pages_cow_resolved $res, inherited $inh"
		check "$c2: fallback resolves every mark from the ancestors' images" [ "$res" = "$skp" -a "$res" -gt 0 -a "$inh" = 0 ]
	fi
fi
[ -f "$T/$c.ready" ] && kill_case $c
exit 0
