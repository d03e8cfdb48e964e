# Shared by tests/t-dedup-trust-*.sh: source it after tests/lib.sh.
#
# DEDUP_CRIU=PATH runs the trust tests against another build of the dedup
# series (PATH is BUILD/criu/criu; that build's crit.sh and pycriu are
# used with it), e.g. an older one, to show a test fails there:
#   DEDUP_CRIU=/path/to/old/criu/criu tests/run dedup-trust

CRIU_DEDUP=${DEDUP_CRIU:-$CRIU_DEDUP}
DEDUP_BUILD=$(cd "$(dirname "$CRIU_DEDUP")/.." && pwd)
CRIT_DEDUP=$DEDUP_BUILD/crit.sh
TRUST_HELPERS=$COWDUMP_ROOT/tests/helpers
echo "# dedup build under test: $CRIU_DEDUP; kernel $(uname -r)"

# trust_tools_built WHAT: the tools every trust test needs, plus the
# baseline CRIU; one FAIL and a non-zero return if one is missing.
trust_tools_built() {
	tools_built "$1" "$BIN/cowtree" "$BIN/cowscan" "$CRIU_BASELINE" "$CRIU_DEDUP" "$CRIT_DEDUP"
}

# trust_images CMD ARGS...: tests/helpers/trust-images.py with the pycriu
# of the build under test.
trust_images() { PYTHONPATH=$DEDUP_BUILD/lib /usr/bin/python3 "$TRUST_HELPERS/trust-images.py" "$@"; }

root_of() { jq -r .root "$1"; }
# kill_ready READY: kill the tree of a ready file by pid, wait until gone.
kill_ready() { kill_tree $(ready_pids "$1"); }
none_alive() { local p; for p in "$@"; do alive "$p" && return 1; done; return 0; }

# marked_pages DIR: pages marked PE_COW or PE_COW_REF in DIR.
marked_pages() { trust_images marks "$1"; }
pages_disk_bytes() { du -B1 -c "$1"/pages-*.img | tail -n 1 | cut -f1; }

# smaps_sum FIELD PID...: FIELD (kB) of smaps_rollup summed over the pids.
smaps_sum() {
	local f=$1 p
	shift
	for p in "$@"; do cat /proc/"$p"/smaps_rollup; done | awk -v f="$f:" '$1 == f { s += $2 } END { print s + 0 }'
}

# trust_tree READY CASE [ARGS...]: build tests/helpers/trust-tree.c (once
# per test script) and start one of its trees, detached; track its pids.
trust_tree() {
	local ready=$1 bin=$_TEST_TMP/trust-tree
	shift
	if [ ! -x "$bin" ]; then
		cc -std=c11 -O2 -Wall -Wextra -Werror -o "$bin" "$TRUST_HELPERS/trust-tree.c" || return 1
	fi
	"$bin" --ready-file "$ready" "$@" >/dev/null || { [ -s "$ready" ] && track_ready "$ready"; return 1; }
	track_ready "$ready"
}
