#!/usr/bin/env bash
# COW dedup and --stream (issue 12, item 4), through a minimal image
# streamer (tests/helpers/fake-img-streamer.py, CRIU's streamer protocol).
# A streamed dump sends each image once, in order, and restore cannot read
# another task's images from a stream, so:
#  - dump --stream switches dedup off with one log line, and writes a
#    version-2 image without marks; restore --stream of it is identical;
#  - restore --stream of a version-3 (dedup) image fails with one clear
#    error and leaves no process.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/trust-lib.sh"
trust_tools_built "stream tools are built" || exit 0

T=$(mktmp)
STREAMER=$TRUST_HELPERS/fake-img-streamer.py

# start_streamer capture|serve DIR STORE: sets $streamer_pid once its
# socket is there.
start_streamer() {
	mkdir -p "$2"
	/usr/bin/python3 "$STREAMER" "$1" "$2" "$3" 2>"$2/streamer.err" &
	streamer_pid=$!
	track $streamer_pid
	local end=$((SECONDS + 10))
	until [ -S "$2/streamer-$1.sock" ]; do
		alive $streamer_pid && [ $SECONDS -lt $end ] || return 1
		sleep 0.05
	done
}
# streamer_done: it exits by itself once CRIU closed the connection.
streamer_done() {
	wait_gone 10 $streamer_pid || return 1
	wait $streamer_pid
}

if ! start_tree "$T/ready" --fanout 2 --child-write 0.1 --size 4M; then
	fail "fanout tree starts"
	exit 0
fi
root=$(root_of "$T/ready")
pids=$(ready_pids "$T/ready")
"$BIN/cowscan" snapshot "$root" -o "$T/before"

# --- dump --stream: dedup off, version 2, no marks ----------------------------
if start_streamer capture "$T/dump" "$T/store"; then
	"$CRIU_DEDUP" dump --stream -t "$root" -D "$T/dump" -o dump.log -v4
	rc=$?
	check "dump --stream succeeds" [ $rc = 0 ]
	check "the streamer stored the images" streamer_done
	wait_gone 20 $pids
	n=$(grep -c 'cow-dedup: switched off: --stream' "$T/dump/dump.log")
	check "dump --stream logs one 'cow-dedup: switched off: --stream' line ($n)" [ "$n" = 1 ]
	check "dump --stream writes images version 2 ($(img_version "$T/store"))" [ "$(img_version "$T/store")" = 2 ]
	check "dump --stream marks no page ($(marked_pages "$T/store"))" [ "$(marked_pages "$T/store")" = 0 ]
else
	fail "capture streamer starts" "$(cat "$T/dump/streamer.err")"
fi

# --- restore --stream of it: identical ------------------------------------
if [ -s "$T/store/inventory.img" ] && start_streamer serve "$T/rst" "$T/store"; then
	if "$CRIU_DEDUP" restore --stream -D "$T/rst" -d -o restore.log -v4; then
		"$BIN/cowscan" snapshot "$root" -o "$T/after"
		identical "restore --stream of the streamed dump: memory identical" "$T/before" "$T/after"
	else
		fail "restore --stream of the streamed dump: memory identical" \
			"restore failed: $(criu_error "$T/rst/restore.log" | head -n 1)"
	fi
	check "the streamer served the images" streamer_done
else
	fail "serve streamer starts (streamed dump)"
fi

# --- restore --stream of a dedup image: refused ------------------------------
if criu_dump dedup "$root" "$T/v3"; then
	check "the dedup image is version 3 ($(img_version "$T/v3"))" [ "$(img_version "$T/v3")" = 3 ]
	if start_streamer serve "$T/rst3" "$T/v3"; then
		if "$CRIU_DEDUP" restore --stream -D "$T/rst3" -d -o restore.log -v4 2>/dev/null; then
			fail "restore --stream refuses a version-3 image" "restored"
		else
			errs=$(criu_error "$T/rst3/restore.log" | grep -v 'Restoring FAILED')
			if [ "$(grep -c . <<<"$errs")" = 1 ] && grep -q 'cannot be restored from a stream' <<<"$errs"; then
				pass "restore --stream refuses a version-3 image with one clear error"
			else
				fail "restore --stream refuses a version-3 image with one clear error" \
					"$(grep -c . <<<"$errs") error lines: $(head -n 3 <<<"$errs" | tr '\n' ' ')"
			fi
			echo "# refused: $(head -n 1 <<<"$errs")"
			wait_gone 20 $pids
			check "the refused restore leaves no process" none_alive $pids
		fi
		check "the streamer exits after the restore" streamer_done
	else
		fail "serve streamer starts (dedup image)"
	fi
else
	fail "the restored tree is dumped with dedup"
fi
exit 0
