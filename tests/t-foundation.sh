#!/usr/bin/env bash
# Foundation: the pinned source, both CRIU builds, and a plain fork tree
# that each build dumps and restores with the same pids and memory.
. "$(dirname "$0")/lib.sh"

root=$COWDUMP_ROOT

# --- the pinned tarball -----------------------------------------------------
tmp=$(mktmp)
echo "not a tarball" >"$tmp/fake.tar.xz"
out=$(CRIU_TARBALL=$tmp/fake.tar.xz "$root/scripts/fetch-criu" "$tmp/dl" 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -q "does not match the pinned" <<<"$out" && [ ! -e "$tmp/dl/criu_4.2.1.orig.tar.xz" ]; then
	pass "fetch-criu refuses a tarball whose sha256 differs"
else
	fail "fetch-criu refuses a tarball whose sha256 differs" "rc=$rc: $out"
fi
out=$(CRIU_TARBALL=$root/build/dl/criu_4.2.1.orig.tar.xz "$root/scripts/fetch-criu" "$tmp/dl2" 2>&1)
check "fetch-criu accepts the pinned tarball from CRIU_TARBALL" \
	test -f "$tmp/dl2/criu_4.2.1.orig.tar.xz"

# The repo must not name a registry host, nor carry CRIU's source.
hosts=$(git -C "$root" grep -nIE '(deb|security|snapshot|ftp[^ ]*)\.debian\.org' -- . ':!tests/t-foundation.sh' 2>/dev/null)
check "no registry host name is committed" test -z "$hosts"
criu_files=$(git -C "$root" ls-files | grep -E '(^|/)(criu/mem\.c|images/pagemap\.proto|compel/)' || true)
check "no CRIU source file is committed" test -z "$criu_files"

# --- both builds ------------------------------------------------------------
for v in baseline dedup; do
	bin=$(criu_bin $v)
	check "criu-$v is built" test -x "$bin"
	if "$bin" check >"$tmp/check-$v.log" 2>&1; then
		pass "criu-$v passes criu check"
	else
		fail "criu-$v passes criu check" "$(tail -n 3 "$tmp/check-$v.log")"
	fi
	out=$("$root/scripts/build-criu" $v 2>&1)
	check "build-criu $v is a no-op when nothing changed" grep -q "up to date" <<<"$out"
done

# `make -j` on a fresh clone: cowscan's image decoders are generated from
# the dedup build's protos, so make must order the dedup build before them
# (a dry run lists recipes in the order a parallel build may start them).
plan=$(make -C "$root" -n --no-print-directory build/bin/cowscan 2>&1)
build_at=$(grep -n 'scripts/build-criu dedup' <<<"$plan" | head -n 1 | cut -d: -f1)
key_at=$(grep -n "run 'make criu-dedup' first" <<<"$plan" | head -n 1 | cut -d: -f1)
if [ -n "$build_at" ] && [ -n "$key_at" ] && [ "$build_at" -lt "$key_at" ]; then
	pass "make builds CRIU dedup before cowscan's image decoders (make -j safe)"
else
	fail "make builds CRIU dedup before cowscan's image decoders (make -j safe)" \
		"build-criu dedup at line '${build_at:-none}', proto key at '${key_at:-none}'"
fi

# --- a small fork tree survives dump and restore with each build -------------
# region_sha PID ADDR SIZE: content hash of SIZE bytes at ADDR in PID's
# memory, populating nothing (cowscan pages --hash); a unique token on failure.
region_sha() {
	local out
	out=$("$BIN/cowscan" pages --json --hash --len "$3" "$1@$2") && jq -r '.procs[0].hash' <<<"$out" ||
		echo "unhashable-$(date +%s%N)"
}

for v in baseline dedup; do
	d=$(mktmp)
	if ! start_tree "$d/ready.json" --size 8M --fanout 2 --child-write 0.25 --seed 7; then
		fail "$v: small fork tree starts"
		continue
	fi
	rootpid=$(jq -r .root "$d/ready.json")
	size=$(jq -r .region_size "$d/ready.json")
	declare -A before=()
	for p in $(ready_pids "$d/ready.json"); do
		addr=$(jq -r ".procs[] | select(.pid == $p) | .region_addr" "$d/ready.json")
		before[$p]=$(region_sha "$p" "$addr" "$size")
	done
	if ! criu_dump $v "$rootpid" "$d/img"; then
		fail "$v: dump of a small fork tree"
		kill_tracked
		continue
	fi
	pass "$v: dump of a small fork tree"
	if ! criu_restore $v "$d/img"; then
		fail "$v: restore of a small fork tree"
		kill_tracked
		continue
	fi
	pass "$v: restore of a small fork tree"
	same=1 alive_all=1
	for p in $(ready_pids "$d/ready.json"); do
		alive "$p" || alive_all=0
		addr=$(jq -r ".procs[] | select(.pid == $p) | .region_addr" "$d/ready.json")
		[ "$(region_sha "$p" "$addr" "$size")" = "${before[$p]}" ] || same=0
	done
	check "$v: restored tree is alive with the same pids" test $alive_all = 1
	check "$v: restored region contents equal the dumped ones" test $same = 1
	unset before
	kill_tracked
done
exit 0
