#!/usr/bin/env bash
# bench/peak-rss/vmhwm-at-exit.so, the dump's peak RSS in the bench: the
# process it is preloaded into writes its VmHWM (KiB) as it exits, and a
# figure that follows what the process touched; a program it executes and
# a child it forks do not write over it; without the variable nothing is
# written; and its figure agrees with /proc/PID/status read from outside.
. "$(dirname "$0")/lib.sh"

lib=$COWDUMP_ROOT/build/lib/vmhwm-at-exit.so
[ -f "$lib" ] || { fail "the VmHWM preload is built" "$lib missing"; exit 1; }
tmp=$(mktmp)
py=/usr/bin/python3

# peak FILE CMD...: run CMD with the preload writing to FILE
peak() {
	local f=$1
	shift
	rm -f "$f"
	env COWDUMP_VMHWM_FILE="$f" LD_PRELOAD="$lib" "$@"
}

peak "$tmp/small" "$py" -c 'b = bytearray(1 << 20)'
peak "$tmp/big" "$py" -c 'b = bytearray(96 << 20)'
small=$(cat "$tmp/small" 2>/dev/null) big=$(cat "$tmp/big" 2>/dev/null)
echo "INFO: VmHWM of python touching 1 MiB: ${small:-none} KiB, 96 MiB: ${big:-none} KiB"
check "the process writes one number of KiB as it exits" test -n "$small" -a "$small" -gt 0
check "the figure follows what the process touched (95 MiB more: at least 94 MiB more)" \
	test -n "$big" -a -n "$small" -a "$((big - small))" -ge $((94 * 1024))

# A shell that runs the 96 MiB python: the shell's own peak, not python's
# (bash: dash leaves through _exit(), which runs no destructor)
peak "$tmp/exec" /bin/bash -c "$py -c 'b = bytearray(96 << 20)'; true"
v=$(cat "$tmp/exec" 2>/dev/null)
echo "INFO: VmHWM of a shell that ran it: ${v:-none} KiB"
check "a program the process executes does not write over its figure" test -n "$v" -a "${v:-0}" -lt $((32 * 1024))

# A child forked without exec touches 96 MiB and exits through exit()
peak "$tmp/fork" "$py" -c '
import os, sys
pid = os.fork()
if pid == 0:
    b = bytearray(96 << 20)
    sys.exit(0)
os.waitpid(pid, 0)'
v=$(cat "$tmp/fork" 2>/dev/null)
echo "INFO: VmHWM of a parent whose forked child touched 96 MiB: ${v:-none} KiB"
check "a forked child does not write over its parent's figure" test -n "$v" -a "${v:-0}" -lt $((48 * 1024))

rm -f "$tmp/none"
env LD_PRELOAD="$lib" "$py" -c 'pass'
check "without COWDUMP_VMHWM_FILE nothing is written" test ! -e "$tmp/none"

# From outside: the process stops itself before exiting, the test reads its status
rm -f "$tmp/out"
env COWDUMP_VMHWM_FILE="$tmp/out" LD_PRELOAD="$lib" "$py" -c '
import os, signal
b = bytearray(64 << 20)
os.kill(os.getpid(), signal.SIGSTOP)' &
pid=$!
track "$pid"
for _ in $(seq 200); do
	[ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" = T ] && break
	sleep 0.05
done
outside=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
kill -CONT "$pid"
wait "$pid"
v=$(cat "$tmp/out" 2>/dev/null)
echo "INFO: VmHWM read from outside while stopped: ${outside:-none} KiB, written at exit: ${v:-none} KiB"
# Python unmaps the 64 MiB before it exits: the peak at exit is then the
# kernel's record at that unmap, which carries the per-CPU counters' error
# (up to 32 pages a CPU, vmhwm-at-exit.c), and no more.
tol=$(($(nproc) * 32 * 4))
d=$((${v:-0} - ${outside:-0}))
check "the figure at exit agrees with /proc/PID/status read from outside (within $tol KiB)" \
	test -n "$v" -a -n "$outside" -a "${d#-}" -le "$tol"
