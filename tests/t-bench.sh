#!/usr/bin/env bash
# bench/run: the benchmark driver runs every step of a small matrix with both
# CRIU builds, writes run.json/summary.csv/plots, records a failing CRIU
# with its log tail and goes on, and leaves no process or dump behind on
# any exit path.
. "$(dirname "$0")/lib.sh"

root=$COWDUMP_ROOT
run=$root/bench/run
tmp=$(mktmp)

bench_dumps() { ls -d /dev/shm/cowdump-bench.* 2>/dev/null | sort; }
# Every pid of every ready line under DIR that still runs that tree: its
# command line names the ready file (pids recycle, and others run trees).
live_tree_pids() {
	local f p
	find "$1" -name ready.json | while read -r f; do
		for p in $(jq -r '.procs[].pid' "$f"); do
			alive "$p" && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$f" && echo "$p"
		done
	done
}

# --- usage --------------------------------------------------------------------
help=$("$run" --help)
missing=''
for o in $(sed -n 's/.* -l \([^ ]*\) .*/\1/p' "$run" | head -n 1 | tr ',' ' ' | tr -d ':'); do
	grep -q -- "--$o" <<<"$help" || missing+=" --$o"
done
check "bench/run --help documents every option it accepts" test -z "$missing"

out=$("$run" --matrix nosuch 2>&1)
rc=$?
if [ $rc = 2 ] && [ "$(wc -l <<<"$out")" = 1 ] && grep -q "no matrix 'nosuch'" <<<"$out"; then
	pass "an unknown matrix is one error line and exit 2"
else
	fail "an unknown matrix is one error line and exit 2" "rc=$rc: $out"
fi
out=$("$run" --scenarios nosuch --out "$tmp/x" 2>&1)
rc=$?
check "a scenario missing from the catalogue is refused (exit 2)" test $rc = 2 -a ! -e "$tmp/x/run.json"

# --- a whole small matrix ---------------------------------------------------------
before_dumps=$(bench_dumps)
"$run" --matrix test --no-plots --out "$tmp/run" >"$tmp/run.out" 2>"$tmp/run.err"
rc=$?
j=$tmp/run/run.json
check "the test matrix completes every step of every repeat (exit 0)" test $rc = 0
check "run.json carries the schema name" test "$(jq -r .schema "$j" 2>/dev/null)" = cowdump-bench/1
check "every case of the matrix is in run.json (1 scenario + 2 + 2 sweep points)" \
	test "$(jq '.cases | length' "$j" 2>/dev/null)" = 5
check "the scenario case ran 2 repeats of each variant" \
	test "$(jq -c '[.cases[] | select(.id == "fanout") | .variants[].ok_repeats]' "$j" 2>/dev/null)" = "[2,2]"
check "timings are min <= median <= max over repeats" \
	jq -e '[.cases[].variants[].summary | .dump_s, .restore_s | .min <= .median and .median <= .max] | all and length == 20' "$j"
check "every repeat kept its hyperfine export of dump and restore" \
	test "$(find "$tmp/run/raw" -name 'hyperfine-dump.json' | wc -l)" = 12 -a \
	"$(find "$tmp/run/raw" -name 'hyperfine-restore.json' | wc -l)" = 12
check "run.json records machine, kernel, both CRIU builds and the patch-series hash" \
	jq -e '.machine.kernel and .machine.cpus and (.criu.variants | length == 2) and
		(.criu.variants | all(.binary_sha256 | length == 64)) and (.criu.patch_series | has("sha256"))' "$j"
check "every repeat compared content before/after and found it identical" \
	jq -e '[.cases[].variants[].repeats[].figures.content_identical] | length == 12 and all(. == 1)' "$j"
check "the sweep cases carry their swept parameter" \
	jq -e '[.cases[] | select(.kind == "sweep-fanout") | .params.fanout] == ["1", "3"]' "$j"
# Read-only children: dedup's image must be well under baseline's.
check "with nothing written dedup's image is smaller than baseline's" \
	jq -e '.cases[] | select(.id == "fanout@child-write=0") | .ratios.dedup_over_baseline_image_bytes < 0.5' "$j"
check "summary.csv has a header and one row per case and variant" \
	test "$(wc -l <"$tmp/run/summary.csv")" = 11
check "the summary table is printed" grep -q '^fanout@fanout=3 *dedup' "$tmp/run.out"
check "a progress line with an ETA is printed per step" \
	test "$(grep -c 'ETA .*: \(start\|analyze\|dump\|image\|restore\|compare\|kill\)$' "$tmp/run.err")" = 84
check "no tree process is left after the run" test -z "$(live_tree_pids "$tmp/run/raw")"
check "no dump directory is left after the run" test "$(bench_dumps)" = "$before_dumps"

# A file-backed region's file (CRIU needs it until restore) goes with its
# repeat's dump directory.
mkdir -p "$tmp/fdumps"
"$run" --scenarios filepriv --scale small --repeat 1 --variants dedup --no-plots \
	--dump-dir-root "$tmp/fdumps" --out "$tmp/frun" >/dev/null 2>&1
check "a file-backed scenario runs" jq -e '.cases[0].variants.dedup.repeats[0].ok' "$tmp/frun/run.json"
froot=$(jq -r .root "$tmp"/frun/raw/filepriv/dedup/r*/ready.json 2>/dev/null | head -n 1)
check "no region file of a file-backed tree is left after the run" \
	test -n "$froot" -a -z "$(find "$tmp/fdumps" /dev/shm -maxdepth 2 -name "cowtree-$froot-*" 2>/dev/null)"

"$root/bench/plot" "$tmp/run" "$tmp/plots" 2>"$tmp/plot.err"
n=0
for p in image-vs-written image-vs-fanout pss-restore time-vs-image; do
	for e in png svg; do [ -s "$tmp/plots/$p.$e" ] && n=$((n + 1)); done
done
check "bench/plot draws all four plots as PNG and SVG" test $n = 8

# --- a failing CRIU is recorded and the run goes on --------------------------------
cat >"$tmp/fake-criu" <<'FAKE'
#!/bin/sh
# Stands for a CRIU whose dump always fails.
case "$1" in --version) echo "Version: fake"; exit 0 ;; esac
while [ $# -gt 0 ]; do [ "$1" = -D ] && dir=$2; shift; done
echo "(00.000001) Error (fake.c:1): injected dump failure" >"$dir/dump.log"
exit 1
FAKE
chmod +x "$tmp/fake-criu"
"$run" --scenarios fanout --scale small --repeat 1 --criu-dedup "$tmp/fake-criu" --no-plots \
	--out "$tmp/fail" >/dev/null 2>"$tmp/fail.err"
rc=$?
j=$tmp/fail/run.json
check "a failed repeat makes bench/run exit 1" test $rc = 1
check "the failure is recorded with its step and the CRIU log tail" \
	jq -e '.cases[0].variants.dedup.repeats[0] | .ok == false and .error.step == "dump" and
		(.error.log_tail | any(test("injected dump failure")))' "$j"
check "the run goes on past a failure (baseline measured)" \
	jq -e '.cases[0].variants.baseline.ok_repeats == 1' "$j"
check "the tree of the failed repeat is killed" test -z "$(live_tree_pids "$tmp/fail/raw")"

# --- a terminated run kills its tree and removes its dumps -----------------------
before_dumps=$(bench_dumps)
"$run" --scenarios fanout --scale small --repeat 5 --no-plots --out "$tmp/term" >/dev/null 2>&1 &
bpid=$!
track $bpid
for _ in $(seq 200); do
	[ -n "$(find "$tmp/term/raw" -name ready.json 2>/dev/null)" ] && break
	sleep 0.05
done
kill -TERM $bpid
wait $bpid
rc=$?
check "SIGTERM stops bench/run with exit 130" test $rc = 130
check "a terminated run leaves no tree process behind" test -z "$(live_tree_pids "$tmp/term/raw")"
check "a terminated run leaves no dump directory behind" test "$(bench_dumps)" = "$before_dumps"
exit 0
