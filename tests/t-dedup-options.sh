#!/usr/bin/env bash
# The switch of COW dedup (dedup/patches 0003) on every surface it has:
#  - criu.conf: a config file with `no-cow-dedup` / `cow-dedup`, given with
#    --config FILE or CRIU_CONFIG_FILE (criu/config.c reads, in order:
#    /etc/criu/default.conf, ~/.criu/default.conf, $CRIU_CONFIG_FILE,
#    --config FILE, the command line; later ones override earlier ones, and
#    --config skips the first two);
#  - RPC: criu_opts.cow_dedup over `criu swrk` (pycriu from the dedup build);
#  - no CAP_SYS_ADMIN: no PFNs in pagemap, dedup switched off with one log
#    line. Root-mode CRIU cannot run here without CAP_SYS_ADMIN (kerndat
#    fails creating a network namespace), so this uses --unprivileged
#    (CAP_CHECKPOINT_RESTORE), with a tree started without CAP_SYS_ADMIN
#    too, so that restore need not give it a capability it lacks;
#  - `criu --help` documents the option.
# Marks are counted with `cowscan image DIR --json` (totals.pages_cow_marked)
# and cross-checked with the dump stats (pages_cow_skipped). Every "off"
# check is paired with an "on" one on the same tree, so each can fail.
source "$(dirname "$0")/lib.sh"

PYCRIU=$COWDUMP_ROOT/build/criu-dedup/lib
for b in "$BIN/cowtree" "$BIN/cowscan" "$CRIU_DEDUP" "$CRIU_BASELINE" "$CRIT_DEDUP"; do
	[ -x "$b" ] || { fail "option tools are built" "$b missing (run: make)"; exit 0; }
done

T=$(mktmp)
TREE=(--size 4M --fanout 2 --child-write 0.1)
# No kerndat cache from another run (see the kdat-cache checks at the end).
unset XDG_RUNTIME_DIR

marks() { "$BIN/cowscan" image "$1" --json 2>/dev/null | jq '.totals.pages_cow_marked // -1'; }
skipped() { "$CRIT_DEDUP" show "$1/stats-dump" 2>/dev/null | jq '.entries[0].dump.pages_cow_skipped // 0'; }
root_of() { jq .root "$T/$1.ready"; }
stop_tree() { kill -9 $(jq -r '.procs[].pid' "$T/$1.ready") 2>/dev/null; wait_gone 10 $(jq -r '.procs[].pid' "$T/$1.ready"); }

# expect_marks NAME DIR on|off: the image in DIR has marks (on) or none
# (off, and then images version 2: readable by CRIU without the series).
expect_marks() {
	local m s
	m=$(marks "$2") s=$(skipped "$2")
	if [ "$3" = on ]; then
		check "$1: marks pages (cowscan $m, stats $s)" [ "$m" -gt 0 -a "$m" = "$s" ]
	else
		check "$1: marks nothing, images version 2 (cowscan $m, stats $s)" \
			[ "$m" = 0 -a "$s" = 0 -a "$(img_version "$2")" = 2 ]
	fi
}

# dump_R NAME ROOT ARGS...: dedup dump of a tree left running (-R) into
# $T/NAME; the environment of the caller applies (CRIU_CONFIG_FILE).
dump_R() {
	local n=$1 r=$2; shift 2
	mkdir -p "$T/$n"
	"$CRIU_DEDUP" dump -R -t "$r" -D "$T/$n" -o dump.log -v4 "$@" 2>>"$T/err" ||
		{ fail "$n: dump" "$(grep Error "$T/$n/dump.log" | head -n 2 | tr '\n' ' ')"; return 1; }
}

# identical NAME BEFORE AFTER
identical() {
	local out rc
	out=$("$BIN/cowscan" compare "$2" "$3" --json 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then pass "$1"; else fail "$1" "compare exit $rc: $(jq -c '.differences[:3]' <<<"$out" 2>/dev/null || echo "$out")"; fi
}

# --- (d) --help -----------------------------------------------------------
help=$("$CRIU_DEDUP" --help 2>&1)
check "criu --help documents --[no-]cow-dedup" grep -q -- '--\[no-\]cow-dedup' <<<"$help"

# --- (a) criu.conf ----------------------------------------------------------
printf 'no-cow-dedup\n' >"$T/off.conf"
printf 'cow-dedup\n' >"$T/on.conf"
if start_tree "$T/cfg.ready" "${TREE[@]}" 2>"$T/err"; then
	r=$(root_of cfg)
	"$BIN/cowscan" snapshot "$r" -o "$T/cfg.before"
	dump_R default "$r" && expect_marks "no option (default on)" "$T/default" on
	dump_R conf-off "$r" --config "$T/off.conf" && expect_marks "--config with no-cow-dedup" "$T/conf-off" off
	dump_R conf-on "$r" --config "$T/on.conf" && expect_marks "--config with cow-dedup" "$T/conf-on" on
	CRIU_CONFIG_FILE=$T/off.conf dump_R env-off "$r" &&
		expect_marks "CRIU_CONFIG_FILE with no-cow-dedup" "$T/env-off" off
	CRIU_CONFIG_FILE=$T/on.conf dump_R env-on "$r" --no-cow-dedup &&
		expect_marks "command line --no-cow-dedup overrides CRIU_CONFIG_FILE's cow-dedup" "$T/env-on" off
	dump_R argv-on "$r" --config "$T/off.conf" --cow-dedup &&
		expect_marks "command line --cow-dedup overrides --config's no-cow-dedup" "$T/argv-on" on
	CRIU_CONFIG_FILE=$T/on.conf dump_R env-then-conf "$r" --config "$T/off.conf" &&
		expect_marks "--config's no-cow-dedup overrides CRIU_CONFIG_FILE's cow-dedup" "$T/env-then-conf" off

	# The config-off image is a baseline image: baseline CRIU restores it.
	if criu_dump dedup "$r" "$T/conf-final" --config "$T/off.conf" 2>>"$T/err"; then
		expect_marks "--config no-cow-dedup, final dump" "$T/conf-final" off
		if criu_restore baseline "$T/conf-final" 2>>"$T/err"; then
			"$BIN/cowscan" snapshot "$r" -o "$T/cfg.after"
			identical "baseline CRIU restores the no-cow-dedup image identical" "$T/cfg.before" "$T/cfg.after"
		else
			fail "baseline CRIU restores the no-cow-dedup image identical" "restore failed"
		fi
	else
		fail "--config no-cow-dedup, final dump" "dump failed"
	fi
	stop_tree cfg
else
	fail "config: tree starts" "$(head -n 1 "$T/err")"
fi

# --- (b) RPC: criu swrk, criu_opts.cow_dedup ------------------------------------
# rpc_dump DIR PID on|off|unset: one DUMP request (leave_running false).
rpc_dump() {
	PYTHONPATH=$PYCRIU /usr/bin/python3 - "$CRIU_DEDUP" "$@" <<'EOF'
import os, sys
import pycriu
criu_bin, d, pid, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
os.makedirs(d, exist_ok=True)
c = pycriu.criu()
c.use_binary(criu_bin)
c.opts.images_dir_fd = os.open(d, os.O_DIRECTORY)
c.opts.pid = pid
c.opts.leave_running = False
c.opts.log_file = "dump.log"
c.opts.log_level = 4
if mode != "unset":
    c.opts.cow_dedup = mode == "on"
try:
    c.dump()
except pycriu.CRIUException as e:
    print(f"rpc dump failed: {e}", file=sys.stderr)
    sys.exit(1)
EOF
}
if start_tree "$T/rpc.ready" "${TREE[@]}" 2>"$T/err"; then
	r=$(root_of rpc)
	pids=$(jq -r '.procs[].pid' "$T/rpc.ready")
	"$BIN/cowscan" snapshot "$r" -o "$T/rpc.before"
	for mode in off on unset; do
		n="RPC cow_dedup=$mode"
		[ $mode = unset ] && n="RPC without cow_dedup (default on)"
		if ! rpc_dump "$T/rpc-$mode" "$r" $mode 2>>"$T/err"; then
			fail "$n: dump" "$(tail -n 1 "$T/err")"
			break
		fi
		wait_gone 20 $pids
		expect_marks "$n" "$T/rpc-$mode" "$([ $mode = off ] && echo off || echo on)"
		if criu_restore dedup "$T/rpc-$mode" 2>>"$T/err"; then
			"$BIN/cowscan" snapshot "$r" -o "$T/rpc.after"
			identical "$n: restores identical" "$T/rpc.before" "$T/rpc.after"
		else
			fail "$n: restores identical" "restore failed"
			break
		fi
	done
	stop_tree rpc
else
	fail "rpc: tree starts" "$(head -n 1 "$T/err")"
fi

# --- (c) no CAP_SYS_ADMIN ---------------------------------------------------
NOADMIN=(setpriv --bounding-set -sys_admin)
sysadmin_bit() { printf '%d' $((0x$("$@" awk '/^CapEff:/ {print $2}' /proc/self/status) >> 21 & 1)); }
if [ "$(sysadmin_bit "${NOADMIN[@]}")" != 0 ] || [ "$(sysadmin_bit env)" != 1 ]; then
	fail "setpriv drops CAP_SYS_ADMIN from a root command" "CapEff bit 21 not dropped"
else
	# the tree itself runs without CAP_SYS_ADMIN (restore without it
	# cannot hand out a capability it lacks)
	if "${NOADMIN[@]}" "$BIN/cowtree" --detach --ready-file "$T/cap.ready" "${TREE[@]}" >/dev/null 2>"$T/err"; then
		track_ready "$T/cap.ready"
		r=$(root_of cap)
		pids=$(jq -r '.procs[].pid' "$T/cap.ready")
		"$BIN/cowscan" snapshot "$r" -o "$T/cap.before"
		# the same tree, dumped with CAP_SYS_ADMIN, is marked
		dump_R cap-with "$r" --unprivileged && expect_marks "--unprivileged with CAP_SYS_ADMIN" "$T/cap-with" on
		mkdir -p "$T/cap-without"
		if "${NOADMIN[@]}" "$CRIU_DEDUP" dump --unprivileged -t "$r" -D "$T/cap-without" -o dump.log -v4 2>>"$T/err"; then
			wait_gone 20 $pids
			expect_marks "without CAP_SYS_ADMIN" "$T/cap-without" off
			n=$(grep -c 'cow-dedup: switched off: no page frame numbers' "$T/cap-without/dump.log")
			check "without CAP_SYS_ADMIN: exactly one 'cow-dedup: switched off' line ($n)" [ "$n" = 1 ]
			check "without CAP_SYS_ADMIN: dedup compares no pages" \
				[ "$(grep -c 'cow-dedup: comparing' "$T/cap-without/dump.log")" = 0 ]
			if "${NOADMIN[@]}" "$CRIU_DEDUP" restore --unprivileged -d -D "$T/cap-without" -o restore.log -v4 2>>"$T/err"; then
				"$BIN/cowscan" snapshot "$r" -o "$T/cap.after"
				identical "without CAP_SYS_ADMIN: restores identical (restore also without it)" "$T/cap.before" "$T/cap.after"
			else
				fail "without CAP_SYS_ADMIN: restores identical (restore also without it)" \
					"$(grep Error "$T/cap-without/restore.log" | head -n 2 | tr '\n' ' ')"
			fi
		else
			fail "without CAP_SYS_ADMIN: dump" "$(grep Error "$T/cap-without/dump.log" | head -n 2 | tr '\n' ' ')"
		fi

		# kdat cache: --unprivileged keeps kerndat (kdat.pmap, whether
		# pagemap shows PFNs) in $XDG_RUNTIME_DIR/criu.kdat. PFN
		# visibility depends on the caller's CAP_SYS_ADMIN, not the
		# kernel, so a cache written with other capabilities must not
		# decide whether dedup runs.
		mkdir -p "$T/xdg"
		XDG_RUNTIME_DIR=$T/xdg "${NOADMIN[@]}" "$CRIU_DEDUP" check --unprivileged >/dev/null 2>&1
		if [ -s "$T/xdg/criu.kdat" ]; then
			XDG_RUNTIME_DIR=$T/xdg dump_R cache-with "$r" --unprivileged &&
				expect_marks "with CAP_SYS_ADMIN after a kdat cache written without it" "$T/cache-with" on
			rm -f "$T/xdg/criu.kdat"
			XDG_RUNTIME_DIR=$T/xdg "$CRIU_DEDUP" check --unprivileged >/dev/null 2>&1
			mkdir -p "$T/cache-without"
			if XDG_RUNTIME_DIR=$T/xdg "${NOADMIN[@]}" "$CRIU_DEDUP" dump -R --unprivileged -t "$r" \
				-D "$T/cache-without" -o dump.log -v4 2>>"$T/err"; then
				check "without CAP_SYS_ADMIN after a kdat cache written with it: one 'switched off' line" \
					[ "$(grep -c 'cow-dedup: switched off: no page frame' "$T/cache-without/dump.log")" = 1 ]
			else
				fail "without CAP_SYS_ADMIN after a kdat cache written with it: dump"
			fi
		else
			skip "dedup with a kdat cache from other capabilities" "criu check wrote no $T/xdg/criu.kdat"
		fi
		stop_tree cap
	else
		fail "no CAP_SYS_ADMIN: tree starts" "$(head -n 1 "$T/err")"
	fi
fi
exit 0
