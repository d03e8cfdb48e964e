#!/usr/bin/env bash
# COW dedup with the CRIU features tests/t-dedup-basic.sh does not cover
# (it covers page-server, --auto-dedup and pre-dump/--prev-images-dir; the
# latter is skipped there and here alike: this kernel has no soft-dirty
# tracking). MAP_PRIVATE file mappings are the `filepriv` scenario of
# tests/t-dedup-scenarios.sh. Covered here:
#  - lazy-pages, local: a dedup image restored with `criu lazy-pages`;
#  - lazy-pages, remote: `dump --lazy-pages` (dedup must switch itself off
#    and say so) served to `lazy-pages --page-server` over loopback;
#  - shared memory: MAP_SHARED anonymous memory next to private memory in
#    a forked tree, dumped once (shpages_written as baseline's).
# Each must restore a tree whose memory is identical (cowscan compare).
# Every criu daemon started here is tracked and killed by pid.
. "$(dirname "$0")/lib.sh"

for b in "$BIN/cowtree" "$BIN/cowscan" "$CRIU_BASELINE" "$CRIU_DEDUP"; do
	[ -x "$b" ] || { fail "interaction tools are built" "$b missing (run: make)"; exit 0; }
done

# img_stat DIR WHICH FIELD: a field of DIR/stats-WHICH (0 when absent).
img_stat() { "$CRIT_DEDUP" show "$1/stats-$2" 2>/dev/null | jq ".entries[0].\"$2\".$3 // 0"; }


free_port() {
	local p
	for p in $(shuf -i 20000-40000 -n 20); do
		ss -ltnH "sport = :$p" | grep -q . || { echo "$p"; return 0; }
	done
	return 1
}

# wait_file FILE TIMEOUT_S: until FILE exists and is not empty.
wait_file() {
	local end=$((SECONDS + $2))
	until [ -s "$1" ]; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.05
	done
}

# --- lazy-pages, local: restore a dedup image lazily --------------------------
# lazy_local NAME COWTREE_ARGS...: dump the tree with dedup, restore it with
# --lazy-pages from a local daemon. Marked pages are restored before the
# VMAs are registered with userfaultfd, the task's own pages by the daemon:
# a huge page faulted in around a marked page would hold the lazy pages'
# addresses already (UFFDIO_COPY: EEXIST, retried for ever), so the trees
# are a plain fan-out and one whose region has MADV_HUGEPAGE (huge pages
# whatever the machine's THP setting).
lazy_local() {
	local name=$1 t rootpid lazy rc
	shift
	t=$(mktmp)
	if ! start_tree "$t/ready.json" "$@"; then
		fail "$name tree starts (lazy-pages local)"
		return
	fi
	rootpid=$(jq -r .root "$t/ready.json")
	"$BIN/cowscan" snapshot "$rootpid" -o "$t/before.json"
	if ! criu_dump dedup "$rootpid" "$t/img"; then
		fail "$name: dedup image restored with lazy-pages: memory identical" "dump failed"
		kill_tracked
		return
	fi
	"$CRIU_DEDUP" lazy-pages -D "$t/img" -o lazy-pages.log -v4 &
	lazy=$!
	track $lazy
	# restore connects to the daemon's socket: wait until it listens.
	for _ in $(seq 100); do [ -S "$t/img/lazy-pages.socket" ] && break; sleep 0.05; done
	if ! criu_restore dedup "$t/img" --lazy-pages; then
		fail "$name: dedup image restored with lazy-pages: memory identical" \
			"restore failed: $(criu_error "$t/img/restore.log" | head -n 1)"
		kill_tracked
		return
	fi
	# The daemon exits once it has copied every lazy page in (well under a
	# second for these trees).
	if wait_gone 20 $lazy; then
		wait $lazy
		rc=$?
		check "$name: lazy-pages daemon serves a dedup image and exits 0 ($rc)" test $rc = 0
	else
		kill $lazy 2>/dev/null
		wait $lazy 2>/dev/null
		fail "$name: lazy-pages daemon serves a dedup image and exits 0" \
			"still running after 20 s; $(grep -c 'errno:17' "$t/img/lazy-pages.log") copies refused with EEXIST in its log"
	fi
	"$BIN/cowscan" snapshot "$rootpid" -o "$t/after.json"
	identical "$name: dedup image restored with lazy-pages: memory identical" "$t/before.json" "$t/after.json"
	echo "lazy local $name: pages_cow_skipped=$(img_stat "$t/img" dump pages_cow_skipped)" \
		"pages_cow_inherited=$(img_stat "$t/img" restore pages_cow_inherited)"
	kill_tracked
	rm -f "$t/img/lazy-pages.log"
}

if ! "$CRIU_DEDUP" check --feature uffd-noncoop >/dev/null 2>&1; then
	skip "dedup image restores with lazy-pages" "no userfaultfd (criu check --feature uffd-noncoop)"
else
	lazy_local fanout --scenario fanout --scale small
	lazy_local "MADV_HUGEPAGE fan-out" --size 8M --fanout 2 --thp --child-write 0.3
fi

# --- lazy-pages, remote: dump --lazy-pages switches dedup off ------------------
# Only the dump side: after its status fd says the images are written, the
# dumped tasks stay alive while it serves pages (so their pids cannot be
# restored here without a second pid namespace, as zdtm's lazy-migrate does).
t=$(mktmp)
port=$(free_port)
if ! "$CRIU_DEDUP" check --feature uffd-noncoop >/dev/null 2>&1; then
	skip "dump --lazy-pages logs that dedup is switched off" "no userfaultfd"
elif start_tree "$t/ready.json" --scenario fanout --scale small; then
	rootpid=$(jq -r .root "$t/ready.json")
	mkdir -p "$t/img"
	mkfifo "$t/status"
	"$CRIU_DEDUP" dump -t "$rootpid" -D "$t/img" -o dump.log -v4 --lazy-pages \
		--address 127.0.0.1 --port "$port" --status-fd 9 9>"$t/status" &
	track $!
	if [ "$(timeout 60 head -c 1 "$t/status" | wc -c)" = 1 ]; then
		check "dump --lazy-pages logs that dedup is switched off" \
			grep -q 'cow-dedup: switched off: --lazy-pages' "$t/img/dump.log"
		# "Pagemap generated: N pages (L lazy) H holes C cow", per VMA.
		cowpages=$(grep -h 'Pagemap generated' "$t/img/dump.log" | awk '{ s += $(NF - 1) } END { print s + 0 }')
		check "dump --lazy-pages marks no page as the parent's ($cowpages)" test "$cowpages" = 0
	else
		fail "dump --lazy-pages logs that dedup is switched off" \
			"dump did not get ready: $(criu_error "$t/img/dump.log" | head -n 1)"
	fi
	kill_tracked
else
	fail "fanout tree starts (lazy-pages remote)"
fi

# --- shared memory next to private memory -------------------------------------
# A python tree: 4 MiB MAP_SHARED and 4 MiB MAP_PRIVATE anonymous memory of
# random bytes, 2 children that each rewrite part of both.
shm_tree() {
	cat >"$1/shm.py" <<'PY'
import json, mmap, os, sys, time
SZ, PG = 4 << 20, 4096
shared = mmap.mmap(-1, SZ, flags=mmap.MAP_SHARED)
private = mmap.mmap(-1, SZ, flags=mmap.MAP_PRIVATE)
shared[:] = os.urandom(SZ)
private[:] = os.urandom(SZ)
r, w = os.pipe()
kids = []
for i in range(2):
    pid = os.fork()
    if pid == 0:
        os.close(r)
        off = (i + 1) * 64 * PG
        private[off:off + 64 * PG] = os.urandom(64 * PG)
        shared[off:off + 8 * PG] = os.urandom(8 * PG)
        os.write(w, b"x")
        while True:
            time.sleep(3600)
    kids.append(pid)
for _ in kids:
    os.read(r, 1)
procs = [{"pid": os.getpid()}] + [{"pid": k} for k in kids]
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump({"ready": True, "tool": "shm.py", "root": os.getpid(), "procs": procs}, f)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    time.sleep(3600)
PY
	setsid /usr/bin/python3 "$1/shm.py" "$1/ready.json" </dev/null >/dev/null 2>&1 &
	track $!
	wait_file "$1/ready.json" 20 && track_ready "$1/ready.json"
}

declare -A shp
for v in baseline dedup; do
	t=$(mktmp)
	if ! shm_tree "$t"; then
		fail "$v: shared-memory tree starts"
		kill_tracked
		continue
	fi
	rootpid=$(jq -r .root "$t/ready.json")
	"$BIN/cowscan" snapshot "$rootpid" -o "$t/before.json"
	if criu_dump $v "$rootpid" "$t/img" && criu_restore $v "$t/img"; then
		"$BIN/cowscan" snapshot "$rootpid" -o "$t/after.json"
		identical "$v: shared and private memory identical after restore" "$t/before.json" "$t/after.json"
		shp[$v]=$(img_stat "$t/img" dump shpages_written)
		[ $v = dedup ] && cow=$(img_stat "$t/img" dump pages_cow_skipped)
	else
		fail "$v: shared and private memory identical after restore" "dump or restore failed"
	fi
	kill_tracked
done
echo "shared memory: shpages_written baseline=${shp[baseline]:-?} dedup=${shp[dedup]:-?}; dedup pages_cow_skipped=${cow:-?}"
check "dedup writes shared memory exactly as baseline does (shpages_written, > 0)" \
	test "${shp[dedup]:-0}" -gt 0 -a "${shp[dedup]:-0}" = "${shp[baseline]:-x}"
check "dedup marks private pages of the shared-memory tree as the parent's" test "${cow:-0}" -gt 0
exit 0
