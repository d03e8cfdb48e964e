#!/usr/bin/env bash
# Beyond-upstream layouts (dedup/README.md, "Beyond upstream"): trees whose
# sharing baseline CRIU loses on restore. For each layout, at --scale small,
# with the dedup CRIU (BEYOND_CRIU=path overrides it, e.g. a development
# tree's criu/criu) and with baseline CRIU:
#   start the tree, snapshot it, save every process's /proc/PID/maps, dump,
#   read the image, restore, snapshot again, save the maps again.
# Checks, per layout:
#  - content: cowscan compare of the snapshots says identical;
#  - maps: every process's /proc/PID/maps after restore lists the same VMAs
#    (start, end, perms, and offset + path for file mappings) as before the
#    dump, adjacent mergeable VMAs merged (see maps_of); the VMAs over the
#    region itself exactly, unmerged. Anonymous VMAs' offsets are the
#    kernel's page offset of the original mmap, which no restore
#    reproduces (baseline neither);
#  - COW semantics: a page that two restored processes share is written in
#    one of them through /proc/PID/mem; the other one still reads the old
#    content, and the writer reads the new one;
#  - sharing and write once (layouts listed in SHARED_LAYOUTS, the ones
#    dedup rebuilds): dedup post-restore total PSS < baseline post-restore
#    total PSS and <= SHARED_KEPT x the PSS before the dump (a copy of the
#    region in even one process breaks it at this scale), and dedup image
#    pages < baseline image pages. Other layouts would fall back to copies,
#    like baseline: correctness only.
#  - huge pages (THP_LAYOUTS): the tree's AnonHugePages after a dedup
#    restore >= THP_KEPT x before the dump (baseline restores none).
# The PSS ratios and image sizes of every run are printed as INFO lines and
# kept (JSON) under build/test-logs/beyond-layouts/.
. "$(dirname "$0")/lib.sh"

root=$COWDUMP_ROOT
out=$root/build/test-logs/beyond-layouts
CRIU_DEDUP=${BEYOND_CRIU:-$CRIU_DEDUP}
# Layouts where the dedup restore keeps the sharing (the others fall back
# to copies and are only held to correctness and write-once).
SHARED_LAYOUTS=${BEYOND_SHARED:-"split regress-500-800 sibling cousins grandchild mremap"}
LAYOUTS=${BEYOND_LAYOUTS:-"split regress-500-800 sibling cousins grandchild mremap thp mremap-grow"}
# The dedup restore's total PSS over the PSS before the dump, at most
# (issue 7's benchmark goal is 1.02 at default scale, REPORT.md; here, at
# small scale, the tree's own file-backed pages weigh more)
SHARED_KEPT=1.05
# Layouts whose huge pages dedup keeps: AnonHugePages after restore >=
# THP_KEPT x before (issue goal 0.9).
THP_LAYOUTS="thp"
THP_KEPT=0.9

tools_built "layout test tools are built" "$BIN/cowtree" "$BIN/cowscan" "$CRIU_DEDUP" "$CRIU_BASELINE" || exit 0
rm -rf "$out"
mkdir -p "$out"

# maps_of READY OUT: the VMAs of every process of the tree, in tree order,
# one "index start end perms [offset path]" line each (hex, no 0x), raw in
# OUT.raw; in OUT with adjacent VMAs merged where the kernel may merge them
# differently after a restore (same perms, both anonymous or the same file
# at contiguous offsets: a restored libc's RELRO part, for one), the way
# zdtm and cowscan snapshot normalise maps.
maps_of() {
	local ready=$1 o=$2 i=0 p
	: >"$o.raw"
	for p in $(jq -r '.procs[].pid' "$ready"); do
		awk -v i="$i" '{ split($1, r, "-"); if ($6 == "") print i, r[1], r[2], $2; else print i, r[1], r[2], $2, $3, $6 }' \
			/proc/"$p"/maps >>"$o.raw" || return 1
		i=$((i + 1))
	done
	python3 - "$o.raw" >"$o" <<'EOF'
import sys
out = []
for line in open(sys.argv[1]):
    f = line.split()
    i, s, e, perms = f[0], int(f[1], 16), int(f[2], 16), f[3]
    off, path = (int(f[4], 16), f[5]) if len(f) > 5 else (0, "")
    if out:
        p = out[-1]
        if (p[0] == i and p[2] == s and p[3] == perms and p[5] == path and
                (path == "" or off == p[4] + (p[2] - p[1]))):
            p[2] = e
            continue
    out.append([i, s, e, perms, off, path])
for i, s, e, perms, off, path in out:
    print(i, "%x" % s, "%x" % e, perms, *(["%08x" % off, path] if path else []))
EOF
}

# region_maps READY RAWMAPS: the raw lines of RAWMAPS that overlap the
# region of each process (unmerged: the region's own VMAs must come back
# exactly as they were, pieces and all).
region_maps() {
	local i=0 a n s e rest
	for a in $(jq -r '.procs[].region_addr' "$1"); do
		[ "$a" != null ] && while read -r n s e rest; do
			[ "$n" = "$i" ] && [ $((0x$s)) -lt $((a + $(jq .region_size "$1"))) ] &&
				[ $((0x$e)) -gt $((a)) ] && echo "$n $s $e $rest"
		done <"$2"
		i=$((i + 1))
	done
}

# mem_page PID ADDR [HEXBYTE]: sha256 of the page at ADDR of PID, read
# through /proc/PID/mem; with HEXBYTE, first fill the page with that byte.
mem_page() {
	python3 - "$@" <<'EOF'
import hashlib, sys
pid, addr = int(sys.argv[1]), int(sys.argv[2], 0)
with open(f"/proc/{pid}/mem", "r+b", buffering=0) as f:
    if len(sys.argv) > 3:
        f.seek(addr)
        f.write(bytes([int(sys.argv[3], 16)]) * 4096)
    f.seek(addr)
    print(hashlib.sha256(f.read(4096)).hexdigest())
EOF
}

# cow_check NAME READY: find a page of the region that two restored
# processes A and B map at the same address with the same content, write it
# in A, check B still has the old content and A the new one.
cow_check() {
	local name=$1 ready=$2 what="a write in one restored process is invisible to the others"
	local procs=() i j k a b pa pb addr ha hb hnew
	mapfile -t procs < <(jq -r '.procs[] | select(.region_addr != null) | "\(.pid) \(.region_addr)"' "$ready")
	for ((i = 0; i < ${#procs[@]}; i++)); do
		for ((j = 0; j < ${#procs[@]}; j++)); do
			[ "$i" = "$j" ] && continue
			read -r a pa <<<"${procs[$i]}"
			read -r b pb <<<"${procs[$j]}"
			[ "$pa" = "$pb" ] || continue
			for k in 1 3 5 7 11 13 17 19 23 29; do
				addr=$(printf '0x%x' $((pa + k * 4096)))
				ha=$(mem_page "$a" "$addr") && hb=$(mem_page "$b" "$addr") || continue
				[ "$ha" = "$hb" ] || continue
				hnew=$(mem_page "$a" "$addr" 5a)
				hb=$(mem_page "$b" "$addr")
				if [ "$hnew" != "$ha" ] && [ "$hb" = "$ha" ]; then
					pass "$name: $what"
				else
					fail "$name: $what" "page $addr: writer $a $hnew, other $b $hb (was $ha)"
				fi
				return
			done
		done
	done
	skip "$name: $what" "no two processes share a page of the region at one address"
}

# thp_of READY: total AnonHugePages (KiB) of the tree, from smaps_rollup.
thp_of() {
	local p t=0
	for p in $(jq -r '.procs[].pid' "$1"); do
		t=$((t + $(awk '$1 == "AnonHugePages:" { print $2 }' /proc/"$p"/smaps_rollup)))
	done
	echo "$t"
}

# run LAYOUT VARIANT DIR: the whole pipeline; leaves the JSON in DIR.
run() {
	local s=$1 v=$2 o=$3 tmp rootpid name="$1 $2"
	tmp=$(mktmp)
	mkdir -p "$o"
	if ! start_tree "$o/ready.json" --scenario "$s" --scale small 2>"$o/err"; then
		fail "$name: tree starts" "$(head -n 1 "$o/err")"
		kill_tracked
		return 1
	fi
	rootpid=$(jq -r .root "$o/ready.json")
	if ! "$BIN/cowscan" snapshot "$rootpid" -o "$o/before.json" 2>"$o/err" ||
		! maps_of "$o/ready.json" "$o/maps-before" || ! thp_of "$o/ready.json" >"$o/thp-before"; then
		fail "$name: tree is measured before dump" "$(head -n 1 "$o/err")"
		kill_tracked
		return 1
	fi
	if ! criu_dump "$v" "$rootpid" "$tmp/img" 2>"$o/err"; then
		fail "$name: dump" "$(tail -n 3 "$o/err" | tr '\n' ' ')"
		kill_tracked
		return 1
	fi
	cp "$tmp/img/dump.log" "$o/"
	"$BIN/cowscan" image "$tmp/img" --json >"$o/image.json" 2>"$o/err" ||
		fail "$name: cowscan reads the image" "$(head -n 1 "$o/err")"
	if ! criu_restore "$v" "$tmp/img" 2>"$o/err"; then
		cp "$tmp/img/restore.log" "$o/" 2>/dev/null
		fail "$name: restore" "$(tail -n 3 "$o/err" | tr '\n' ' ')"
		kill_tracked
		return 1
	fi
	cp "$tmp/img/restore.log" "$o/"
	rm -rf "$tmp/img"
	if ! "$BIN/cowscan" snapshot "$rootpid" -o "$o/after.json" 2>"$o/err" ||
		! maps_of "$o/ready.json" "$o/maps-after" || ! thp_of "$o/ready.json" >"$o/thp-after"; then
		fail "$name: tree is measured after restore" "$(head -n 1 "$o/err")"
		kill_tracked
		return 1
	fi
	"$BIN/cowscan" compare "$o/before.json" "$o/after.json" --json >"$o/compare.json" 2>"$o/err"
	if jq -e '.content_identical == true' "$o/compare.json" >/dev/null; then
		pass "$name: memory content is identical after restore"
	else
		fail "$name: memory content is identical after restore" "see $o/compare.json"
	fi
	if diff -u "$o/maps-before" "$o/maps-after" >"$o/maps.diff"; then
		pass "$name: /proc/PID/maps of every process equal the dumped ones"
	else
		fail "$name: /proc/PID/maps of every process equal the dumped ones" \
			"$(grep -c '^[-+][0-9]' "$o/maps.diff") lines differ, see $o/maps.diff"
	fi
	region_maps "$o/ready.json" "$o/maps-before.raw" >"$o/region-before"
	region_maps "$o/ready.json" "$o/maps-after.raw" >"$o/region-after"
	if [ -s "$o/region-before" ] && diff -u "$o/region-before" "$o/region-after" >"$o/region.diff"; then
		pass "$name: the region's VMAs are the dumped ones, unmerged"
	else
		fail "$name: the region's VMAs are the dumped ones, unmerged" "see $o/region.diff"
	fi
	[ "$v" = dedup ] && cow_check "$name" "$o/ready.json"
	kill_tracked
}

pss() { jq -r ".$2" "$1/compare.json"; }
img() { jq -r '.totals.pages_img_bytes' "$1/image.json"; }

for s in $LAYOUTS; do
	run "$s" baseline "$out/$s/baseline" || continue
	run "$s" dedup "$out/$s/dedup" || continue
	b=$out/$s/baseline d=$out/$s/dedup
	echo "INFO: $s: total PSS before dump $(pss "$d" pss_before_bytes) B," \
		"after restore: baseline $(pss "$b" pss_after_bytes) B, dedup $(pss "$d" pss_after_bytes) B;" \
		"image pages: baseline $(img "$b") B, dedup $(img "$d") B;" \
		"unique bytes before dump $(pss "$d" unique_before_bytes) B;" \
		"AnonHugePages before dump $(cat "$d/thp-before") KiB, after restore:" \
		"baseline $(cat "$b/thp-after") KiB, dedup $(cat "$d/thp-after") KiB"
	case " $THP_LAYOUTS " in
	*" $s "*)
		if [ "$(cat "$d/thp-before")" -gt 0 ] &&
			awk -v a="$(cat "$d/thp-after")" -v b="$(cat "$d/thp-before")" -v f="$THP_KEPT" 'BEGIN { exit !(a >= b * f) }'; then
			pass "$s: dedup restore keeps the huge pages (AnonHugePages)"
		else
			fail "$s: dedup restore keeps the huge pages (AnonHugePages)" \
				"before $(cat "$d/thp-before") KiB, after $(cat "$d/thp-after") KiB"
		fi
		;;
	esac
	case " $SHARED_LAYOUTS " in
	*" $s "*) ;;
	*) continue ;;
	esac
	if [ "$(pss "$d" pss_after_bytes)" -lt "$(pss "$b" pss_after_bytes)" ]; then
		pass "$s: dedup restore keeps sharing that baseline loses (PSS after restore)"
	else
		fail "$s: dedup restore keeps sharing that baseline loses (PSS after restore)" \
			"dedup $(pss "$d" pss_after_bytes) B >= baseline $(pss "$b" pss_after_bytes) B"
	fi
	if awk -v a="$(pss "$d" pss_after_bytes)" -v b="$(pss "$d" pss_before_bytes)" -v f="$SHARED_KEPT" \
		'BEGIN { exit !(b > 0 && a <= b * f) }'; then
		pass "$s: dedup restore keeps the tree's sharing (PSS after <= $SHARED_KEPT x before)"
	else
		fail "$s: dedup restore keeps the tree's sharing (PSS after <= $SHARED_KEPT x before)" \
			"before $(pss "$d" pss_before_bytes) B, after $(pss "$d" pss_after_bytes) B"
	fi
	if [ "$(img "$d")" -lt "$(img "$b")" ]; then
		pass "$s: dedup writes shared pages once (image pages below baseline)"
	else
		fail "$s: dedup writes shared pages once (image pages below baseline)" \
			"dedup $(img "$d") B >= baseline $(img "$b") B"
	fi
done
