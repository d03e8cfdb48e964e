#!/usr/bin/env bash
# Containers, the real client (issue 14): runc checkpoints and restores a
# container whose init is a cowtree fork tree, driving each CRIU build over
# RPC (`runc --criu PATH checkpoint|restore`, CRIU as `criu swrk`). The
# container comes from workloads/containers/runc-tree (rootfs of
# busybox-static + static cowtree, nothing downloaded).
#
# For both builds, on the split layout (the parent mprotects its region
# after fork, so baseline CRIU restores every child as a private copy):
#  - checkpoint writes pages; dedup: images version 3 with PE_COW marks
#    (the RPC default is on: runc 1.1 knows nothing of the option), fewer
#    page bytes than baseline, within the analyzer's ideal + CRIU's
#    footprint; baseline: version 2, no marks;
#  - restore: memory content identical (cowscan snapshot/compare over the
#    container's processes, matched by tree position: the host pids change,
#    the container's pids do not);
#  - anonymous PSS after restore <= PSS_KEPT x before with dedup, and above
#    it with baseline (which loses the sharing on this layout);
#  - `no-cow-dedup` in the file the annotation org.criu.config names gives
#    a version-2 image without marks, which baseline CRIU restores;
#  - the bench's container case (bench/run --cases runc-split) runs;
#  - the container's processes carry COWDUMP_TEST_MARK (tests/run's
#    leftover check sees them), also once restored; kill leaves no process,
#    no runc state and no bundle.
# /etc/criu/runc.conf (runc's default config file) and /etc/criu/default.conf
# work too, but writing them here would change every CRIU run on the
# machine; README.md ("Using the dedup build with runc and podman") says how
# they were checked.
. "$(dirname "$0")/lib.sh"

RT=$COWDUMP_ROOT/workloads/containers/runc-tree
ROOTFS=$COWDUMP_ROOT/build/containers/rootfs
# split layout, 5 processes (4 children writing 10 % each after fork)
TREE=(--scenario split --size 16M)
# Anonymous PSS after a dedup restore over before the checkpoint, at most;
# baseline restores 4 private copies of the region (~3.5 x here).
PSS_KEPT=1.05
# As tests/t-dedup-scenarios.sh: dedup image <= 1.01 x ideal + 12 pages per
# process (the vDSO written per process, pages the seizure makes private).
IDEAL_FACTOR=1.01
CRIU_FOOTPRINT_PAGES=12
PAGE=$(getconf PAGESIZE)

tools_built "runc test tools are built" "$BIN/cowscan" "$CRIU_BASELINE" "$CRIU_DEDUP" "$CRIT_DEDUP" "$RT" || exit 0
if ! command -v runc >/dev/null; then
	fail "runc is installed" "no runc (scripts/install-deps installs Debian's)"
	exit 0
fi
if [ ! -f "$ROOTFS/.built" ]; then
	fail "container rootfs is built" "$ROOTFS missing (make container-rootfs)"
	exit 0
fi
# The marker reaches the container through config.json (runc-tree passes
# it); set one when run without tests/run so the check below means something.
export COWDUMP_TEST_MARK=${COWDUMP_TEST_MARK:-t-runc-$$-$RANDOM}

T=$(mktmp)
BUNDLES=()
# Every container goes on every exit path, by id (runc delete -f), before
# lib.sh's cleanup removes the scratch dir its bundle lives in.
kill_containers() {
	local b
	for b in ${BUNDLES[@]+"${BUNDLES[@]}"}; do
		[ -d "$b" ] && "$RT" kill --bundle "$b" >/dev/null
	done
}
trap 'kill_containers; _cleanup' EXIT

# new_bundle NAME: a bundle path not yet made, whose name (the runc
# container id, global on the machine) is unique to this run.
new_bundle() {
	local b
	b=$(mktemp -u -p "$T" "cowdump-$1.XXXXXXXX")
	BUNDLES+=("$b")
	echo "$b"
}

le_scaled() { awk -v a="$1" -v b="$2" -v f="$3" -v p="${4:-0}" 'BEGIN { exit !(a <= b * f + p) }'; }
gt_scaled() { ! le_scaled "$@"; }
cow_marks() { "$BIN/cowscan" image "$1" --json 2>/dev/null | jq '.totals.pages_cow_marked // -1'; }
has_mark() { tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | grep -qx "COWDUMP_TEST_MARK=$COWDUMP_TEST_MARK"; }
# pids_gone TIMEOUT PID...: none runs any more (a zombie waits for pid 1).
pids_gone() {
	local t=$1 p end left
	shift
	end=$((SECONDS + t))
	while :; do
		left=0
		for p in "$@"; do
			[ -d /proc/"$p" ] && ! grep -q '^State:.*Z' /proc/"$p"/status 2>/dev/null && left=1
		done
		[ $left = 0 ] && return 0
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.05
	done
}
# container_gone ID BUNDLE PID...: none of the pids runs, runc has no state
# for ID, the bundle is gone.
container_gone() {
	local id=$1 b=$2
	shift 2
	pids_gone 1 "$@" && ! runc state "$id" >/dev/null 2>&1 && [ ! -e "$b" ]
}

# --- runc can run a container here at all? -----------------------------------
# A bare `runc spec` container running busybox's true: nothing of cowdump's
# in it, so a failure here is the machine's, not runc-tree's.
probe=$(new_bundle probe)
mkdir -p "$probe/rootfs/bin" && cp /bin/busybox "$probe/rootfs/bin/true" &&
	(cd "$probe" && runc spec) &&
	jq '.process.terminal = false | .process.args = ["/bin/true"]' "$probe/config.json" >"$probe/c" &&
	mv "$probe/c" "$probe/config.json"
if ! runc run --bundle "$probe" "$(basename "$probe")" </dev/null >"$T/probe.log" 2>&1; then
	runc delete -f "$(basename "$probe")" >/dev/null 2>&1
	skip "runc checkpoint/restore" "runc cannot run a container here: $(tail -n 1 "$T/probe.log")"
	exit 0
fi
rm -rf "$probe"

# --- runc-tree's command line --------------------------------------------------
"$RT" --help >"$T/help" 2>&1
documents_all() {
	local c
	for c in start checkpoint restore ready kill; do grep -q "^  $c " "$T/help" || return 1; done
}
check "runc-tree --help documents every command" documents_all
"$RT" frobnicate --bundle "$T/x" >/dev/null 2>"$T/err"
rc=$?
check "runc-tree: an unknown command is a usage error (exit 2, one line)" \
	[ $rc = 2 -a "$(head -n 1 "$T/err")" = "runc-tree: unknown command 'frobnicate'" ]
"$RT" start --bundle "$T" -- --size 1M >/dev/null 2>"$T/err"
rc=$?
check "runc-tree start refuses an existing bundle directory (exit 1)" \
	[ $rc = 1 -a -n "$(grep 'exists' "$T/err")" ]

# --- both builds, split layout -------------------------------------------------
declare -A IMG PSS0 PSS1 IDEAL

# run_variant VARIANT: start, measure, checkpoint, restore, compare, kill.
run_variant() {
	local v=$1 b o criu id pids new_pids ns0 ns1 rc
	b=$(new_bundle "$v")
	o=$T/$v
	mkdir -p "$o"
	criu=$(criu_bin "$v")
	id=$(basename "$b")
	if ! "$RT" start --bundle "$b" -- "${TREE[@]}" >"$o/ready.json" 2>"$o/err"; then
		fail "$v: container starts with the split tree" "$(head -n 1 "$o/err")"
		return 1
	fi
	mapfile -t pids < <(jq -r '.procs[].pid' "$o/ready.json")
	check "$v: container starts with the split tree (5 processes, host pids mapped)" \
		[ ${#pids[@]} = 5 -a "$(jq -r '.procs | map(select(.ns_pid != null)) | length' "$o/ready.json")" = 5 ]
	check "$v: the container's init carries COWDUMP_TEST_MARK" has_mark "${pids[0]}"
	ns0=$(jq -c '[.procs[].ns_pid]' "$o/ready.json")
	if ! "$BIN/cowscan" snapshot "${pids[0]}" -o "$o/before.json" 2>"$o/err" ||
		! "$BIN/cowscan" tree "${pids[0]}" --json >"$o/tree-before.json" 2>"$o/err"; then
		fail "$v: tree is measured before checkpoint" "$(head -n 1 "$o/err")"
		return 1
	fi
	if ! "$RT" checkpoint --bundle "$b" --criu "$criu" --images "$o/img" >"$o/checkpoint.json" 2>"$o/err"; then
		fail "$v: runc --criu checkpoint" "$(tr '\n' ' ' <"$o/err")"
		return 1
	fi
	pass "$v: runc --criu checkpoint"
	check "$v: checkpoint stops the container's processes" pids_gone 20 "${pids[@]}"
	IMG[$v]=$(jq .pages_img_bytes "$o/checkpoint.json")
	IDEAL[$v]=$(jq .predict.ideal_image_bytes "$o/tree-before.json")
	PSS0[$v]=$(jq .totals.pss_anon_bytes "$o/tree-before.json")
	if [ "$v" = dedup ]; then
		check "dedup: RPC default is on: images version 3 with PE_COW marks ($(cow_marks "$o/img") marks)" \
			[ "$(img_version "$o/img")" = 3 -a "$(cow_marks "$o/img")" -gt 0 ]
	else
		check "baseline: images version 2, no marks" \
			[ "$(img_version "$o/img")" = 2 -a "$(cow_marks "$o/img")" = 0 ]
	fi
	if ! "$RT" restore --bundle "$b" --criu "$criu" --images "$o/img" >"$o/restored.json" 2>"$o/err"; then
		fail "$v: runc --criu restore" "$(tr '\n' ' ' <"$o/err")"
		return 1
	fi
	pass "$v: runc --criu restore"
	rm -rf "$o/img" # tmpfs: give the memory back
	mapfile -t new_pids < <(jq -r '.procs[].pid' "$o/restored.json")
	ns1=$(jq -c '[.procs[].ns_pid]' "$o/restored.json")
	check "$v: restored tree has the container pids it had ($ns1)" [ "$ns0" = "$ns1" ]
	check "$v: the restored init carries COWDUMP_TEST_MARK" has_mark "${new_pids[0]}"
	if ! "$BIN/cowscan" snapshot "${new_pids[0]}" -o "$o/after.json" 2>"$o/err" ||
		! "$BIN/cowscan" tree "${new_pids[0]}" --json >"$o/tree-after.json" 2>"$o/err"; then
		fail "$v: tree is measured after restore" "$(head -n 1 "$o/err")"
		return 1
	fi
	"$BIN/cowscan" compare "$o/before.json" "$o/after.json" --json >"$o/compare.json" 2>"$o/err"
	rc=$?
	if [ $rc = 0 ] && jq -e '.content_identical and .procs_compared == 5' "$o/compare.json" >/dev/null; then
		pass "$v: memory content identical after restore"
	else
		fail "$v: memory content identical after restore" \
			"compare exit $rc: $(jq -c '.differences[:3]' "$o/compare.json" 2>/dev/null || head -n 1 "$o/err")"
	fi
	PSS1[$v]=$(jq .totals.pss_anon_bytes "$o/tree-after.json")
	if ! "$RT" kill --bundle "$b" >"$o/kill.json" 2>"$o/err"; then
		fail "$v: kill removes the container" "$(head -n 1 "$o/err")"
		return 1
	fi
	check "$v: kill leaves no process, no runc state, no bundle" container_gone "$id" "$b" "${new_pids[@]}"
}

run_variant baseline
run_variant dedup

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
if [ -n "${IMG[baseline]:-}" ] && [ -n "${IMG[dedup]:-}" ]; then
	echo "image bytes: baseline ${IMG[baseline]} dedup ${IMG[dedup]} ideal ${IDEAL[dedup]}"
	check "dedup image ($(mib "${IMG[dedup]}") MiB) < baseline image ($(mib "${IMG[baseline]}") MiB)" \
		[ "${IMG[dedup]}" -lt "${IMG[baseline]}" ]
	slack=$((CRIU_FOOTPRINT_PAGES * 5 * PAGE))
	check "dedup image ($(mib "${IMG[dedup]}") MiB) <= $IDEAL_FACTOR x ideal ($(mib "${IDEAL[dedup]}") MiB) + footprint" \
		le_scaled "${IMG[dedup]}" "${IDEAL[dedup]}" $IDEAL_FACTOR $slack
fi
for v in baseline dedup; do
	[ -n "${PSS1[$v]:-}" ] || continue
	echo "anon PSS $v: before ${PSS0[$v]} after ${PSS1[$v]}"
	what="anon PSS after restore $(mib "${PSS1[$v]}") MiB, before $(mib "${PSS0[$v]}") MiB"
	if [ $v = dedup ]; then
		check "dedup keeps the sharing: $what (<= $PSS_KEPT x)" le_scaled "${PSS1[$v]}" "${PSS0[$v]}" $PSS_KEPT
	else
		check "baseline loses the sharing on the split layout: $what (> $PSS_KEPT x)" \
			gt_scaled "${PSS1[$v]}" "${PSS0[$v]}" $PSS_KEPT
	fi
done

# --- org.criu.config: the per-container CRIU config file runc hands over -------
# `no-cow-dedup` there switches the dedup build off: a version-2 image,
# which CRIU without the series (baseline) restores.
printf 'no-cow-dedup\n' >"$T/no-cow-dedup.conf"
b=$(new_bundle conf)
o=$T/conf
mkdir -p "$o"
if ! "$RT" start --bundle "$b" --criu-config "$T/no-cow-dedup.conf" -- --scenario split --size 4M \
	>"$o/ready.json" 2>"$o/err"; then
	fail "annotation org.criu.config: container starts" "$(head -n 1 "$o/err")"
elif ! "$RT" checkpoint --bundle "$b" --criu "$CRIU_DEDUP" --images "$o/img" >/dev/null 2>"$o/err"; then
	fail "annotation org.criu.config: dedup checkpoint" "$(tr '\n' ' ' <"$o/err")"
else
	check "annotation org.criu.config -> no-cow-dedup: dedup build writes images version 2, no marks" \
		[ "$(img_version "$o/img")" = 2 -a "$(cow_marks "$o/img")" = 0 ]
	check "CRIU read the annotated config file (dump.log)" \
		grep -q "Parsing config file $T/no-cow-dedup.conf" "$b/work-checkpoint/dump.log"
	# runc hands CRIU the same file on restore, and a CRIU without the
	# series refuses the option it does not know.
	"$RT" restore --bundle "$b" --criu "$CRIU_BASELINE" --images "$o/img" >/dev/null 2>"$o/err"
	check "baseline CRIU refuses to restore with no-cow-dedup in the config file (runc shows why)" \
		grep -q "criu: unrecognized option '--no-cow-dedup'" "$o/err"
	: >"$T/no-cow-dedup.conf"
	if "$RT" restore --bundle "$b" --criu "$CRIU_BASELINE" --images "$o/img" >"$o/restored.json" 2>"$o/err"; then
		pass "baseline CRIU restores the no-cow-dedup image of the dedup build (config file emptied)"
	else
		fail "baseline CRIU restores the no-cow-dedup image of the dedup build (config file emptied)" "$(tr '\n' ' ' <"$o/err")"
	fi
fi
"$RT" kill --bundle "$b" >/dev/null 2>"$o/err" || fail "annotation org.criu.config: kill" "$(head -n 1 "$o/err")"

# --- the bench's container case ---------------------------------------------------
# bench/run runs a runc-NAME case (matrix key runc) through
# workloads/containers/bench-step for start, dump, restore and kill, and
# bench/lib's analyze, image and compare steps between, as for any tree.
if "$COWDUMP_ROOT/bench/run" --cases runc-split --scale small --repeat 1 --variants dedup --quiet --no-plots \
	--dump-dir-root "$T" --out "$T/bench" >"$T/bench.out" 2>"$T/err"; then
	fig() { jq --arg f "$1" '.cases[] | select(.id == "runc-split") | .variants.dedup.summary[$f].median' "$T/bench/run.json"; }
	check "bench case runc-split is a runc case of the split scenario" \
		jq -e '.cases[] | select(.id == "runc-split") | .kind == "runc" and .runtime == "runc" and .scenario == "split"' "$T/bench/run.json"
	check "bench case runc-split (dedup): content identical, image near the ideal, PSS kept (image $(fig image_bytes), ideal $(fig ideal_image_bytes), anon PSS $(fig pss_anon_before_bytes) -> $(fig pss_anon_after_bytes))" \
		jq -e --argjson f $PSS_KEPT '.cases[] | select(.id == "runc-split") | .variants.dedup.summary
			| .content_identical.min == 1 and .image_bytes.median < .ideal_image_bytes.median * 1.1
			and .pss_anon_after_bytes.median <= .pss_anon_before_bytes.median * $f' "$T/bench/run.json"
	rep=$(find "$T/bench/raw/runc-split/dedup" -maxdepth 1 -name 'r1' | head -n 1)
	check "bench case: every step wrote its outputs (no error.json; stats-restore.json, image-dir.bytes there)" \
		[ -n "$rep" -a ! -e "$rep/error.json" -a -s "$rep/stats-restore.json" -a -s "$rep/image-dir.bytes" ]
	mapfile -t bench_pids < <(ready_pids "$rep/ready.json")
	check "bench case: the restored container's ${#bench_pids[@]} processes are gone after the run" \
		eval '[ ${#bench_pids[@]} -gt 0 ] && pids_gone 20 "${bench_pids[@]}"'
else
	fail "bench/run --cases runc-split" "$(tail -n 1 "$T/err")"
fi

exit 0
