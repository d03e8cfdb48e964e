#!/usr/bin/env bash
# Huge pages on restore, and --no-cow-dedup meaning CRIU 4.2.1 (issue 12,
# item 6). Only a VMA that had MADV_HUGEPAGE (not MADV_NOHUGEPAGE), in a
# task without PR_SET_THP_DISABLE, keeps huge pages on a default restore,
# and only where the image has every page of the huge page;
# `restore --no-cow-dedup` restores as CRIU 4.2.1 does.
#  a. a thp tree (cowtree --thp): --no-cow-dedup gives baseline's
#     AnonHugePages; a default restore keeps them;
#  b. huge pages made, then MADV_NOHUGEPAGE, or then PR_SET_THP_DISABLE
#     (tests/helpers/trust-tree.c): a default restore makes none; the same
#     tree with MADV_HUGEPAGE only keeps them (so the check can fail);
#  c. a sparse MADV_HUGEPAGE region (4 pages per 2 MiB): neither
#     AnonHugePages nor the region's RSS grow past what they were;
#  d. a mark-free image (dumped --no-cow-dedup, split layout) restored with
#     --no-cow-dedup has baseline's anonymous PSS (copies), within 1%.
#  e. THP "always" (set for this test's run, the old setting put back on
#     exit): a region mostly on the zero page, MADV_NOHUGEPAGE as cowtree
#     makes it, and the task's other VMAs: a default restore makes no huge
#     page and its anonymous PSS stays within 3% (+ 16 pages a process) of
#     the tree's before the dump. (Filling premapped memory page by page
#     with THP "always" gives each 2 MiB around a restored page a huge page:
#     the zero-page and untouched parts become memory. Baseline CRIU does
#     so; its figures are printed.)
# Sums over the tree's processes, from /proc/PID/smaps_rollup (kB).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/trust-lib.sh"
trust_tools_built "huge page tools are built" || exit 0

T=$(mktmp)

# region_rss READY: Rss (kB) of the VMA holding the tree's region, summed.
region_rss() {
	/usr/bin/python3 - "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
addr, total = int(r["region_addr"], 16), 0
for p in r["procs"]:
    inside = False
    for line in open(f"/proc/{p['pid']}/smaps"):
        f = line.split()
        if "-" in f[0] and not f[0].endswith(":"):
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            inside = lo <= addr < hi
        elif inside and f[0] == "Rss:":
            total += int(f[1])
print(total)
EOF
}

# restore_and_measure LABEL VARIANT DIR READY [ARGS...]: restore, record
# AnonHugePages/Pss_Anon sums in $T/LABEL.{ahp,pss}, a snapshot in
# $T/LABEL.snap, kill the tree. A failed restore is a FAIL named LABEL.
restore_and_measure() {
	local out=$T/$1 v=$2 d=$3 ready=$4
	shift 4
	if ! criu_restore "$v" "$d" "$@"; then
		fail "${out##*/}: $v restore ${*:-(default)} succeeds" "$(criu_error "$d/restore.log" | head -n 1)"
		wait_gone 20 $(ready_pids "$ready")
		return 1
	fi
	local pids
	pids=$(ready_pids "$ready")
	smaps_sum AnonHugePages $pids >"$out.ahp"
	smaps_sum Pss_Anon $pids >"$out.pss"
	[ "${MEASURE_REGION:-}" ] && region_rss "$ready" >"$out.rss"
	"$BIN/cowscan" snapshot "$(root_of "$ready")" -o "$out.snap"
	kill_ready "$ready"
}

# --- a. thp tree: --no-cow-dedup = baseline; default keeps huge pages ---------
if start_tree "$T/a.ready" --size 8M --fanout 2 --thp --child-write 0; then
	root=$(root_of "$T/a.ready")
	ahp=$(smaps_sum AnonHugePages $(ready_pids "$T/a.ready"))
	"$BIN/cowscan" snapshot "$root" -o "$T/a.before"
	check "a: the thp tree has huge pages before the dump ($ahp kB)" [ "$ahp" -gt 0 ]
	mkdir -p "$T/a.base"
	if "$CRIU_BASELINE" dump -R -t "$root" -D "$T/a.base" -o dump.log -v4 && criu_dump dedup "$root" "$T/a.dedup"; then
		restore_and_measure a.nocd dedup "$T/a.dedup" "$T/a.ready" --no-cow-dedup &&
			identical "a: --no-cow-dedup restore: memory identical" "$T/a.before" "$T/a.nocd.snap"
		if restore_and_measure a.bl baseline "$T/a.base" "$T/a.ready" && [ -s "$T/a.nocd.ahp" ]; then
			nocd=$(cat "$T/a.nocd.ahp") bl=$(cat "$T/a.bl.ahp")
			echo "# a: AnonHugePages kB: before $ahp, baseline $bl, --no-cow-dedup $nocd"
			check "a: --no-cow-dedup restore has baseline's AnonHugePages ($nocd = $bl kB)" [ "$nocd" = "$bl" ]
		fi
		if restore_and_measure a.def dedup "$T/a.dedup" "$T/a.ready"; then
			def=$(cat "$T/a.def.ahp")
			echo "# a: AnonHugePages kB after a default restore $def"
			check "a: default restore keeps the huge pages ($def of $ahp kB)" [ $((def * 10)) -ge $((ahp * 9)) ]
		fi
	else
		fail "a: thp tree is dumped (baseline, dedup)"
	fi
	kill_ready "$T/a.ready"
else
	fail "a: thp tree starts"
fi

# --- b. MADV_NOHUGEPAGE, PR_SET_THP_DISABLE: no huge pages ------------------------
for c in thp nohugepage thp-disabled; do
	r=$T/b.$c.ready
	if ! trust_tree "$r" --case $c --size 8; then
		fail "b: $c tree starts"
		continue
	fi
	ahp=$(smaps_sum AnonHugePages $(ready_pids "$r"))
	"$BIN/cowscan" snapshot "$(root_of "$r")" -o "$T/b.$c.before"
	if ! criu_dump dedup "$(root_of "$r")" "$T/b.$c"; then
		fail "b: $c: dedup dump"
	elif restore_and_measure "b.$c.def" dedup "$T/b.$c" "$r"; then
		after=$(cat "$T/b.$c.def.ahp")
		echo "# b: $c: AnonHugePages kB before $ahp, after a default restore $after"
		identical "b: $c: default restore: memory identical" "$T/b.$c.before" "$T/b.$c.def.snap"
		if [ $c = thp ]; then
			check "b: MADV_HUGEPAGE only: default restore keeps huge pages ($after of $ahp kB)" \
				[ $((after * 10)) -ge $((ahp * 9)) -a "$after" -gt 0 ]
		else
			check "b: $c: default restore makes no huge pages ($after kB)" [ "$after" = 0 ]
		fi
	fi
	kill_ready "$r"
done

# --- c. sparse MADV_HUGEPAGE region: nothing grows ---------------------------------
r=$T/c.ready
if trust_tree "$r" --case sparse --size 16; then
	pids=$(ready_pids "$r")
	ahp=$(smaps_sum AnonHugePages $pids) rss=$(region_rss "$r")
	if ! criu_dump dedup "$(root_of "$r")" "$T/c"; then
		fail "c: sparse: dedup dump"
	elif MEASURE_REGION=1 restore_and_measure c.def dedup "$T/c" "$r"; then
		echo "# c: sparse: AnonHugePages kB before $ahp, after $(cat "$T/c.def.ahp");" \
			"region RSS kB before $rss, after $(cat "$T/c.def.rss")"
		check "c: sparse region: AnonHugePages do not grow ($ahp -> $(cat "$T/c.def.ahp") kB)" \
			[ "$(cat "$T/c.def.ahp")" -le "$ahp" ]
		check "c: sparse region: its RSS does not grow ($rss -> $(cat "$T/c.def.rss") kB)" \
			[ "$(cat "$T/c.def.rss")" -le "$rss" ]
	fi
	kill_ready "$r"
else
	fail "c: sparse tree starts"
fi

# --- d. mark-free image, --no-cow-dedup: baseline's PSS -----------------------------
if start_tree "$T/d.ready" --scenario split --scale small; then
	if criu_dump dedup "$(root_of "$T/d.ready")" "$T/d" --no-cow-dedup; then
		check "d: the --no-cow-dedup image is mark-free, version $(img_version "$T/d")" \
			[ "$(marked_pages "$T/d")" = 0 -a "$(img_version "$T/d")" = 2 ]
		if restore_and_measure d.bl baseline "$T/d" "$T/d.ready" &&
			restore_and_measure d.nocd dedup "$T/d" "$T/d.ready" --no-cow-dedup; then
			bl=$(cat "$T/d.bl.pss") nocd=$(cat "$T/d.nocd.pss")
			echo "# d: split, mark-free image: Pss_Anon kB after baseline $bl, --no-cow-dedup $nocd"
			check "d: --no-cow-dedup restore has baseline's anonymous PSS ($nocd vs $bl kB, 1%)" \
				[ $((nocd * 100)) -ge $((bl * 99)) -a $((nocd * 100)) -le $((bl * 101)) ]
		fi
	else
		fail "d: split tree is dumped --no-cow-dedup"
	fi
	kill_ready "$T/d.ready"
else
	fail "d: split tree starts"
fi
# --- e. THP "always": huge pages only where the dumped VMA had them --------------
if ! thp_enabled_set always; then
	skip "e: THP always: restore makes no huge page" "cannot set $THP_ENABLED here"
elif start_tree "$T/e.ready" --size 16M --fanout 2 --child-write 0.1 --zero 0.7 2>"$T/e.err" ||
	{ grep -q "maps no zero page" "$T/e.err" &&
		start_tree "$T/e.ready" --size 16M --fanout 2 --child-write 0.1; }; then
	pids=$(ready_pids "$T/e.ready")
	ahp=$(smaps_sum AnonHugePages $pids) pss=$(smaps_sum Pss_Anon $pids)
	n=$(wc -w <<<"$pids")
	"$BIN/cowscan" snapshot "$(root_of "$T/e.ready")" -o "$T/e.before"
	mkdir -p "$T/e.base"
	if "$CRIU_BASELINE" dump -R -t "$(root_of "$T/e.ready")" -D "$T/e.base" -o dump.log -v4 &&
		criu_dump dedup "$(root_of "$T/e.ready")" "$T/e.dedup"; then
		restore_and_measure e.bl baseline "$T/e.base" "$T/e.ready" &&
			echo "# e: THP always, baseline restore: AnonHugePages kB $ahp -> $(cat "$T/e.bl.ahp"), Pss_Anon kB $pss -> $(cat "$T/e.bl.pss")"
		if restore_and_measure e.def dedup "$T/e.dedup" "$T/e.ready"; then
			after=$(cat "$T/e.def.ahp") apss=$(cat "$T/e.def.pss")
			echo "# e: THP always, dedup restore: AnonHugePages kB $ahp -> $after, Pss_Anon kB $pss -> $apss"
			identical "e: THP always: default restore: memory identical" "$T/e.before" "$T/e.def.snap"
			check "e: THP always: default restore makes no huge page ($ahp -> $after kB)" [ "$after" -le "$ahp" ]
			check "e: THP always: anonymous PSS kept ($pss -> $apss kB, limit 1.03 x + $((n * 64)) kB)" \
				[ $((apss * 100)) -le $((pss * 103 + n * 6400)) ]
		fi
	else
		fail "e: tree is dumped (baseline, dedup)"
	fi
	kill_ready "$T/e.ready"
else
	fail "e: tree starts" "$(head -n 1 "$T/e.err")"
fi

exit 0
