#!/usr/bin/env bash
# cowscan image on a missing, truncated or corrupt image file: exit
# non-zero with one error line naming the file (and the offset where one
# applies), and no sanitizer report (the ASan+UBSan build reads them all).
. "$(dirname "$0")/lib.sh"

COWSCAN_ASAN=${COWSCAN_ASAN:-$COWDUMP_ROOT/build/asan/bin/cowscan}
tools_built "the ASan build of cowscan is built" "$COWSCAN_ASAN" || exit 1

# A real baseline dump of a tiny detached tree (a python parent with one
# child), the good image every case below damages one file of.
d=$(mktmp)
cat >"$d/tree.py" <<'PY'
import os, sys, time
os.setsid()
buf = bytearray(b"x" * (1 << 20))
if os.fork() == 0:
    buf[0:4096] = b"y" * 4096
open("%s/ready-%d" % (sys.argv[1], os.getpid()), "w").close()
time.sleep(100000)
PY
mkdir -p "$d/ready"
# Started from a subshell so that our shell does not report its death by
# CRIU's dump as a killed job.
(python3 "$d/tree.py" "$d/ready" </dev/null >/dev/null 2>&1 & echo $! >"$d/root.pid")
root=$(cat "$d/root.pid")
track "$root"
for _ in $(seq 100); do
	[ "$(ls "$d/ready" | wc -l)" -eq 2 ] && break
	sleep 0.05
done
if ! criu_dump baseline "$root" "$d/good"; then
	fail "baseline dump for the corrupt-image cases"
	exit 1
fi
child=$(ls "$d/ready" | sed 's/ready-//' | grep -vx "$root")
pages_id=$("$COWDUMP_ROOT/build/criu-baseline/crit.sh" decode -i "$d/good/pagemap-$root.img" |
	jq '.entries[0].pages_id')

if "$COWSCAN_ASAN" image "$d/good" --json >/dev/null 2>"$d/good.err"; then
	pass "the ASan build reads the undamaged dump cleanly"
else
	fail "the ASan build reads the undamaged dump cleanly" "$(head -n 5 "$d/good.err")"
fi

# le32 FILE OFFSET VALUE: overwrite a little-endian u32 in place.
le32() {
	printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($3 & 255)) $(($3 >> 8 & 255)) \
		$(($3 >> 16 & 255)) $(($3 >> 24 & 255)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# expect_error NAME REGEX DAMAGE...: copy the good dump, run DAMAGE in it
# (cwd = the copy), then cowscan must fail with one line matching REGEX.
expect_error() {
	local name=$1 re=$2 c rc lines
	shift 2
	c=$(mktemp -d "$d/case.XXXXXX")
	cp -a "$d/good/." "$c/"
	(cd "$c" && eval "$@")
	"$COWSCAN_ASAN" image "$c" --json >"$c.out" 2>"$c.err"
	rc=$?
	lines=$(wc -l <"$c.err")
	if grep -qE 'Sanitizer|runtime error' "$c.err"; then
		fail "$name" "sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error' "$c.err")"
	elif [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ]; then
		fail "$name" "exit $rc, want a clean non-zero exit"
	elif [ "$lines" -ne 1 ] || ! grep -qE "^cowscan: $re" "$c.err"; then
		fail "$name" "want one line matching 'cowscan: $re', got: $(head -n 3 "$c.err")"
	else
		pass "$name"
	fi
}

pm=pagemap-$root.img
expect_error "a truncated pagemap names the file and offset" \
	".*/$pm: (truncated entry size at offset [0-9]+|entry at offset [0-9]+ claims [0-9]+ bytes, file has [0-9]+ left)" \
	"truncate -s -3 $pm"
expect_error "a bad magic names the file and offset" \
	".*/$pm: bad magic 0x12345678 at offset 4, want 0x56084025 \\(PAGEMAP\\)" \
	"le32 $pm 4 0x12345678"
expect_error "an oversized entry length names the file, offset and sizes" \
	".*/$pm: entry at offset 8 claims 4294967295 bytes, file has [0-9]+ left" \
	"le32 $pm 8 0xffffffff"
expect_error "an entry that is not protobuf names the file and offset" \
	".*/pstree.img: entry at offset 8 is not a pstree_entry" \
	"printf '\\xff\\xff\\xff' | dd of=pstree.img bs=1 seek=12 conv=notrunc status=none"
expect_error "a missing pages file is named" \
	".*/pages-$pages_id.img: missing from the image directory" \
	"rm pages-$pages_id.img"
expect_error "a missing pagemap of a process in pstree.img is named" \
	".*/pagemap-$child.img: missing from the image directory" \
	"rm pagemap-$child.img"
expect_error "a missing mm image is named" \
	".*/mm-$child.img: missing from the image directory" \
	"rm mm-$child.img"
expect_error "a missing pstree.img is named" \
	".*/pstree.img: missing from the image directory" \
	"rm pstree.img"
expect_error "a pages file cut mid-page names the file and offset" \
	".*/pages-$pages_id.img: size [0-9]+ is not a whole number of 4096-byte pages \\(truncated at offset [0-9]+\\)" \
	"truncate -s -100 pages-$pages_id.img"
expect_error "a pagemap pointing past its pages file's end is an error" \
	".*/$pm: entry at offset [0-9]+ needs [0-9]+ pages of .*/pages-$pages_id.img, which has [0-9]+" \
	"truncate -s -4096 pages-$pages_id.img"
expect_error "an empty pagemap file names the file and offset" \
	".*/$pm: truncated magic at offset 0: 0 bytes left, need 4" \
	": >$pm"

out=$("$COWSCAN_ASAN" image "$d/nonexistent" 2>&1)
check "a directory that does not exist is an error naming it" \
	grep -qE "^cowscan: $d/nonexistent/pstree.img: missing" <<<"$out"
out=$("$COWSCAN_ASAN" image 2>&1)
rc=$?
check "no directory is a usage error" test "$rc" -ne 0 -a -n "$out"
exit 0
