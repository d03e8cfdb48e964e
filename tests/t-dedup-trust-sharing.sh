#!/usr/bin/env bash
# Baseline's content-equal sharing (issue 12, item 7; issue 11 cause 3).
# CRIU 4.2.1 restores a child's page by reading it and comparing it with
# the page the child inherited from its parent: equal, the inherited page
# is kept, shared. So pages that parent and children wrote with equal
# content after fork (no COW sharing at dump, no marks) come back shared
# from a baseline restore. The dedup restore must not lose that: its
# anonymous PSS after restore (Pss_Anon summed over the tree) must be at
# most baseline's + 0.5%. Tree: tests/helpers/trust-tree.c --case
# equal-writes (region mapped before fork, written after it by every
# process with the same bytes).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/helpers/trust-lib.sh"
trust_tools_built "sharing tools are built" || exit 0

T=$(mktmp)
r=$T/ready
if ! trust_tree "$r" --case equal-writes --size 8 --children 3; then
	fail "equal-writes tree starts"
	exit 0
fi
root=$(root_of "$r")
before=$(smaps_sum Pss_Anon $(ready_pids "$r"))
"$BIN/cowscan" snapshot "$root" -o "$T/before"
mkdir -p "$T/base"
if ! "$CRIU_BASELINE" dump -R -t "$root" -D "$T/base" -o dump.log -v4 || ! criu_dump dedup "$root" "$T/dedup"; then
	fail "equal-writes tree is dumped (baseline, dedup)"
	exit 0
fi

# restored VARIANT DIR: restore, check the memory, print Pss_Anon, kill.
restored() {
	if ! criu_restore "$1" "$2"; then
		fail "$1 restore succeeds" "$(criu_error "$2/restore.log" | head -n 1)"
		wait_gone 20 $(ready_pids "$r")
		return 1
	fi
	smaps_sum Pss_Anon $(ready_pids "$r") >"$T/$1.pss"
	"$BIN/cowscan" snapshot "$root" -o "$T/$1.after"
	identical "$1 restore: memory identical" "$T/before" "$T/$1.after"
	kill_ready "$r"
}

if restored baseline "$T/base" && restored dedup "$T/dedup"; then
	bl=$(cat "$T/baseline.pss") dd=$(cat "$T/dedup.pss")
	echo "# equal-writes, 4 x 8 MiB: Pss_Anon kB before dump $before, after baseline restore $bl, after dedup restore $dd"
	check "baseline shares the content-equal pages on restore ($bl < $before kB)" [ "$bl" -lt "$before" ]
	check "dedup restore's anonymous PSS is at most baseline's + 0.5% ($dd vs $bl kB)" \
		[ $((dd * 1000)) -le $((bl * 1005)) ]
fi
exit 0
