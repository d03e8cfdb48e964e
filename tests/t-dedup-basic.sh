#!/usr/bin/env bash
# End-to-end checks of CRIU COW dedup (dedup/patches) on a small fork tree:
# image size, restore correctness, image-version refusal by baseline,
# old images, --no-cow-dedup, the fallback from the parent's images,
# page-server and pre-dump. The tree is a cowtree: FANOUT children of the
# root, each the head of a chain of DEPTH generations (--inner-fanout 1;
# deterministic: region size, fanout, depth and written share are exact).
source "$(dirname "$0")/lib.sh"

SIZE_MIB=32
PAGE=4096

for b in "$CRIU_BASELINE" "$CRIU_DEDUP" "$CRIT_DEDUP" "$BIN/cowscan" "$BIN/cowtree"; do
	[ -x "$b" ] || { skip dedup-basic "$b not built (make)"; exit 0; }
done

T=$(mktmp)

# tree NAME FANOUT DEPTH WRITE%: start a tree, record ready line in $T/NAME.ready
tree() {
	start_tree "$T/$1.ready" --size "${SIZE_MIB}M" --fanout "$2" --inner-fanout 1 --depth "$3" \
		--child-write "$(awk -v p="$4" 'BEGIN { print p / 100 }')" >/dev/null
}
pids_of() { jq -r '.procs[].pid' "$T/$1.ready"; }
root_of() { jq -r '.root' "$T/$1.ready"; }

# region_pages NAME ARGS...: cowscan pages (analyzer/README.md) over every
# process's region, JSON. It reads pagemap, and for --hash only present
# pages: nothing is populated.
region_pages() {
	local r=$T/$1.ready
	shift
	"$BIN/cowscan" pages --json --len "$(jq .region_size "$r")" "$@" \
		$(jq -r '.procs[] | "\(.pid)@\(.region_addr)"' "$r")
}

# region_hashes NAME: content hash of every process's region, one line per
# pid (a unique token if they cannot be hashed).
region_hashes() {
	local out
	out=$(region_pages "$1" --hash) && jq -r '.procs[] | "\(.pid) \(.hash)"' <<<"$out" ||
		echo "unhashable-$(date +%s%N)"
}

# unique_region_pages NAME: distinct anonymous frames in the region over the
# tree (what an ideal dump of the region writes).
unique_region_pages() {
	local out
	out=$(region_pages "$1") && jq .totals.unique_anon_frames <<<"$out"
}

pages_bytes() { cat "$1"/pages-*.img 2>/dev/null | wc -c; }
stat_field() { "$CRIT_DEDUP" show "$1" | jq -r ".entries[0].$2 // 0"; }
all_alive() { local p; for p in $(pids_of "$1"); do alive "$p" || return 1; done; }
none_alive() { local p; for p in $(pids_of "$1"); do alive "$p" && return 1; done; return 0; }
stop_tree() { kill -9 $(pids_of "$1") 2>/dev/null; wait_gone 10 $(pids_of "$1"); }

# --- 1. dedup dump of a fanout tree: size near the unique pages ----------
tree fan 4 1 5 || { fail fanout-tree-starts; exit 1; }
region_hashes fan >"$T/fan.before"
uniq_pages=$(unique_region_pages fan)
ideal=$((uniq_pages * PAGE))
nprocs=$(pids_of fan | wc -l)
if criu_dump dedup "$(root_of fan)" "$T/fan.dedup"; then
	dedup_bytes=$(pages_bytes "$T/fan.dedup")
	# Non-region memory (stacks, libc data, heap) is written per process:
	# allow 1 MiB a process on top of 1.01 x the ideal region bytes.
	limit=$((ideal * 101 / 100 + nprocs * 1024 * 1024))
	echo "# fanout 4, ${SIZE_MIB} MiB region, 5% written per child: ideal region $ideal B," \
		"dedup pages $dedup_bytes B (limit $limit B)"
	check dedup-dump-writes-about-the-unique-pages [ "$dedup_bytes" -le "$limit" ]
	skipped=$(stat_field "$T/fan.dedup/stats-dump" dump.pages_cow_skipped)
	check dedup-dump-stats-count-cow-skipped-pages [ "$skipped" -gt 0 ]
	check dedup-image-has-version-3 \
		[ "$("$CRIT_DEDUP" show "$T/fan.dedup/inventory.img" | jq -r '.entries[0].img_version')" = 3 ]
else
	fail dedup-dump-succeeds
fi

# --- 2. baseline CRIU refuses the dedup image ---------------------------
if "$CRIU_BASELINE" restore -D "$T/fan.dedup" -d -o restore-baseline.log -v4 2>/dev/null; then
	fail baseline-refuses-dedup-image "baseline restored it"
	stop_tree fan
else
	check baseline-refuses-dedup-image-with-version-error \
		grep -q "Not supported images version 3" "$T/fan.dedup/restore-baseline.log"
	check baseline-refusal-restores-no-process none_alive fan
fi

# --- 3. dedup restore: alive, identical, pages inherited ----------------
if criu_restore dedup "$T/fan.dedup"; then
	check dedup-restore-tree-alive all_alive fan
	region_hashes fan >"$T/fan.after"
	check dedup-restore-memory-identical cmp -s "$T/fan.before" "$T/fan.after"
	check dedup-restore-inherits-marked-pages marks_kept "$T/fan.dedup"
	echo "# restore: pages_cow_inherited $(stat_field "$T/fan.dedup/stats-restore" restore.pages_cow_inherited) (dump pages_cow_skipped ${skipped:-?})"
else
	fail dedup-restore-succeeds
fi

# --- 4. baseline image restores with the dedup build; baseline size -----
if criu_dump baseline "$(root_of fan)" "$T/fan.base"; then
	base_bytes=$(pages_bytes "$T/fan.base")
	echo "# baseline pages $base_bytes B"
	[ -n "${dedup_bytes:-}" ] &&
		check dedup-image-under-a-third-of-baseline [ $((dedup_bytes * 3)) -le "$base_bytes" ]
	if criu_restore dedup "$T/fan.base"; then
		region_hashes fan >"$T/fan.after2"
		check baseline-image-restores-with-dedup-build cmp -s "$T/fan.before" "$T/fan.after2"
	else
		fail baseline-image-restores-with-dedup-build "restore failed"
	fi
else
	fail baseline-dump-succeeds
fi

# --- 5. --no-cow-dedup writes a baseline-sized image --------------------
if criu_dump dedup "$(root_of fan)" "$T/fan.off" --no-cow-dedup; then
	off_bytes=$(pages_bytes "$T/fan.off")
	echo "# --no-cow-dedup pages $off_bytes B"
	check no-cow-dedup-writes-baseline-size [ $((off_bytes * 10)) -ge $((${base_bytes:-0} * 9)) ]
	check no-cow-dedup-marks-nothing [ "$(stat_field "$T/fan.off/stats-dump" dump.pages_cow_skipped)" -eq 0 ]
	if criu_restore dedup "$T/fan.off"; then
		# nothing is marked: the children's unwritten pages (95%) are
		# found equal to the ones they inherit, and kept shared
		read -r cmp eq < <(sed -n 's/.* \([0-9]*\) compared (\([0-9]*\) equal[,)].*/\1 \2/p' "$T/fan.off/restore.log" |
			awk '{ c += $1; e += $2 } END { print c + 0, e + 0 }')
		check "no-cow-dedup image, dedup restore: children's pages compared and kept ($eq of $cmp equal)" \
			[ "$cmp" -gt 0 -a $((eq * 10)) -ge $((cmp * 9)) ]
	else
		fail no-cow-dedup-image-restores
	fi
fi
stop_tree fan

# --- 6. fallback: no inheritance, marks resolved from ancestors ---------
tree chain 2 3 10 || { fail chain-tree-starts; exit 1; }
region_hashes chain >"$T/chain.before"
if criu_dump dedup "$(root_of chain)" "$T/chain.img" &&
	CRIU_FAULT=139 criu_restore dedup "$T/chain.img"; then
	region_hashes chain >"$T/chain.after"
	check fallback-restore-memory-identical cmp -s "$T/chain.before" "$T/chain.after"
	res=$(stat_field "$T/chain.img/stats-restore" restore.pages_cow_resolved)
	inh=$(stat_field "$T/chain.img/stats-restore" restore.pages_cow_inherited)
	echo "# fallback (CRIU_FAULT=139, 3 generations): pages_cow_resolved $res, inherited $inh"
	check fallback-resolves-marks-from-parent-images [ "$res" -gt 0 -a "$inh" -eq 0 ]
else
	fail fallback-dump-and-restore-succeed
fi

# --- 7. --auto-dedup restore keeps inherited pages ----------------------
if criu_dump dedup "$(root_of chain)" "$T/chain.ad" && criu_restore dedup "$T/chain.ad" --auto-dedup; then
	region_hashes chain >"$T/chain.after2"
	check auto-dedup-restore-memory-identical cmp -s "$T/chain.before" "$T/chain.after2"
else
	fail auto-dedup-restore-succeeds
fi

# --- 8. pre-dump switches dedup off; the final dump dedups --------------
if ! "$CRIU_DEDUP" check --feature mem_dirty_track >/dev/null 2>&1; then
	skip pre-dump-with-dedup "kernel has no soft-dirty tracking (criu check --feature mem_dirty_track)"
elif "$CRIU_DEDUP" pre-dump -t "$(root_of chain)" -D "$(mkdir -p "$T/pre" && echo "$T/pre")" -o pre.log -v4 --track-mem; then
	check pre-dump-logs-dedup-off grep -q "cow-dedup: switched off: pre-dump" "$T/pre/pre.log"
	if criu_dump dedup "$(root_of chain)" "$T/post" --track-mem --prev-images-dir ../pre &&
		criu_restore dedup "$T/post"; then
		region_hashes chain >"$T/chain.after3"
		check pre-dump-then-dump-restores-identical cmp -s "$T/chain.before" "$T/chain.after3"
	else
		fail pre-dump-then-dump-restores
	fi
else
	fail pre-dump-succeeds
fi
stop_tree chain

# --- 9. page-server on loopback: fewer bytes received -------------------
ps_dump() { # VARIANT PORT DIR
	local v=$1 port=$2 dir=$3
	mkdir -p "$dir/srv" "$dir/cli"
	"$(criu_bin "$v")" page-server -D "$dir/srv" --port "$port" --address 127.0.0.1 -d \
		--pidfile "$dir/ps.pid" -o ps.log -v4 || return 1
	track "$(cat "$dir/ps.pid")"
	criu_dump "$v" "$(root_of ps)" "$dir/cli" --page-server --address 127.0.0.1 --port "$port" || return 1
	wait_gone 10 "$(cat "$dir/ps.pid")"
}
tree ps 4 1 5 || { fail ps-tree-starts; exit 1; }
region_hashes ps >"$T/ps.before"
if ps_dump dedup 27411 "$T/psd"; then
	ps_dedup=$(pages_bytes "$T/psd/srv")
	cp "$T"/psd/srv/* "$T/psd/cli/"
	if criu_restore dedup "$T/psd/cli"; then
		region_hashes ps >"$T/ps.after"
		check page-server-dedup-image-restores-identical cmp -s "$T/ps.before" "$T/ps.after"
	else
		fail page-server-dedup-image-restores
	fi
	if ps_dump baseline 27412 "$T/psb"; then
		ps_base=$(pages_bytes "$T/psb/srv")
		echo "# page-server received pages: dedup $ps_dedup B, baseline $ps_base B"
		check page-server-dedup-receives-under-a-third [ $((ps_dedup * 3)) -le "$ps_base" ]
	else
		fail page-server-baseline-dump
	fi
else
	fail page-server-dedup-dump
fi

# --- 10. the dump's compares: which side is read twice ------------------
# A child's page is its parent's when the parent's entry, read after the
# child's, names the same frame and one of the two entries is known on
# both sides of the other's read: the parent's through the map of shared
# frames (a fan-out's children: no entry read twice), else the child's,
# read again (the pages a parent holds as marks of an ancestor's: a
# chain's grandchildren). A single process is not compared at all.
# compared_twice LOG: "pid parent's-pages checked-twice", a line per task.
compared_twice() {
	sed -n "s/.*cow-dedup: \([0-9]*\): \([0-9]*\) pages are its parent's (\([0-9]*\) checked twice).*/\1 \2 \3/p" "$1"
}
compared_twice "$T/fan.dedup/dump.log" >"$T/fan.twice"
echo "# fanout tree, per task: pid, pages its parent's, checked twice: $(tr '\n' ';' <"$T/fan.twice")"
check compare-fanout-children-read-once \
	[ "$(awk '$2 > 0 && $3 == 0' "$T/fan.twice" | wc -l)" -eq 4 -a "$(awk '$3 > 0' "$T/fan.twice" | wc -l)" -eq 0 ]
compared_twice "$T/chain.img/dump.log" >"$T/chain.twice"
echo "# chain tree, per task: $(tr '\n' ';' <"$T/chain.twice")"
# Two chains of three generations: the four below the root's children
check compare-chain-grandchildren-read-twice [ "$(awk '$3 > 0 && $3 <= $2' "$T/chain.twice" | wc -l)" -eq 4 ]

# The task's entries come from CRIU's pagemap cache unless its longest VMA
# would make the cache too large; then the scan reads them itself (fault
# 140 forces it): the same marks either way (within 1%: the second dump is
# of the restored tree), and the image restores.
tree own 4 1 5 || { fail own-reads-tree-starts; exit 1; }
region_hashes own >"$T/own.before"
if criu_dump dedup "$(root_of own)" "$T/own.cache" && criu_restore dedup "$T/own.cache" &&
	CRIU_FAULT=140 criu_dump dedup "$(root_of own)" "$T/own.reads" && criu_restore dedup "$T/own.reads"; then
	c_skp=$(stat_field "$T/own.cache/stats-dump" dump.pages_cow_skipped)
	r_skp=$(stat_field "$T/own.reads/stats-dump" dump.pages_cow_skipped)
	echo "# PE_COW pages with entries from the pagemap cache: $c_skp; read by the scan (fault 140): $r_skp"
	# The second dump is of the restored tree: a few pages may differ
	check own-reads-mark-what-the-cache-marks [ "$c_skp" -gt 0 -a $((r_skp * 100)) -ge $((c_skp * 99)) \
		-a $((r_skp * 100)) -le $((c_skp * 101)) ]
	check own-reads-taken-apart-from-the-cache grep -q 'page frame numbers read apart from the pagemap cache' "$T/own.reads/dump.log"
	check cache-entries-used-by-default [ -z "$(grep 'read apart from the pagemap cache' "$T/own.cache/dump.log")" ]
	region_hashes own >"$T/own.after"
	check own-reads-image-restores-identical cmp -s "$T/own.before" "$T/own.after"
else
	fail own-reads-dump-and-restore
fi
stop_tree own

tree single 0 0 0 || { fail single-process-starts; exit 1; }
region_hashes single >"$T/single.before"
if criu_dump dedup "$(root_of single)" "$T/single.img" && criu_restore dedup "$T/single.img"; then
	check single-process-not-compared grep -q "no other task to share pages with" "$T/single.img/dump.log"
	check single-process-no-marks [ -z "$(compared_twice "$T/single.img/dump.log")" ]
	region_hashes single >"$T/single.after"
	check single-process-restores-identical cmp -s "$T/single.before" "$T/single.after"
else
	fail single-process-dump-and-restore
fi
stop_tree single

exit 0
