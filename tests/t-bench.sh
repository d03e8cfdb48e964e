#!/usr/bin/env bash
# bench/run, the pipeline: the tests' shared run of the catalogue (matrix
# [tests], tests/lib.sh pipeline_catalogue) ran every step of every case
# with both CRIU builds and wrote run.json/summary.csv; plots are drawn from
# it; a failing CRIU is recorded with its log tail and the run goes on; a
# terminated run leaves no process or dump behind; a scenario added as one
# .conf file in a scenario directory is run, held to the expectations it
# states, and reported; --v4 measures what CRIU's logging costs; the scale
# matrix plans its sweeps; workloads/measure-restore-pss is the pipeline.
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
		for p in $(ready_pids "$f"); do
			alive "$p" && cmdline_has "$p" "$f" && echo "$p"
		done
	done
}

# --- usage --------------------------------------------------------------------
help=$("$run" --help)
missing=''
for o in $(sed -n 's/.* -l \([^ ]*\) .*/\1/p' "$run" | head -n 1 | tr ',' ' ' | tr -d ':'); do
	grep -q -- "--$o" <<<"$help" || missing+=" --$o"
done
check "bench/run --help documents every option it accepts${missing:+ (missing:$missing)}" test -z "$missing"

out=$("$run" --matrix nosuch --out "$tmp/x0" 2>&1)
rc=$?
if [ $rc = 2 ] && [ "$(wc -l <<<"$out")" = 1 ] && grep -q "no matrix 'nosuch'" <<<"$out"; then
	pass "an unknown matrix is one error line and exit 2"
else
	fail "an unknown matrix is one error line and exit 2" "rc=$rc: $out"
fi
out=$("$run" --scenarios nosuch --out "$tmp/x" 2>&1)
rc=$?
check "a scenario missing from the catalogue is refused (exit 2)" test $rc = 2 -a ! -e "$tmp/x/run.json"

# --- the shared run of the catalogue -----------------------------------------------
before_dumps=$(bench_dumps)
pipeline_catalogue || exit 0
j=$PIPELINE_RUN/run.json
nscen=$("$BIN/cowtree" --list-scenarios --json | jq length)
nrep=$(jq '[.cases[].variants[].repeats[]] | length' "$j")
check "the shared run completes every step of every repeat" \
	jq -e '[.cases[].variants[].failed_repeats] | add == 0' "$j"
check "run.json carries the schema name" test "$(jq -r .schema "$j")" = cowdump-bench/2
check "every scenario of the catalogue ($nscen) and the 4 sweep points are cases of the run" \
	test "$(jq '[.cases[] | select(.kind == "scenario")] | length' "$j")" = "$nscen" -a \
	"$(jq '[.cases[] | select(.kind != "scenario")] | length' "$j")" = 4
check "a case with repeat 2 ran 2 repeats of each variant" \
	test "$(jq -c '[.cases[] | select(.id == "fanout") | .variants[].ok_repeats]' "$j")" = "[2,2]"
check "timings are min <= median <= max over repeats" \
	jq -e '[.cases[].variants[].summary | .dump_s, .restore_s | .min <= .median and .median <= .max] | all' "$j"
check "every repeat kept its hyperfine export of dump and restore ($nrep repeats)" \
	test "$(find "$PIPELINE_RUN/raw" -name 'hyperfine-dump.json' | wc -l)" = "$nrep" -a \
	"$(find "$PIPELINE_RUN/raw" -name 'hyperfine-restore.json' | wc -l)" = "$nrep"
check "every repeat measured CRIU's peak RSS of dump and restore" \
	jq -e '[.cases[].variants[].repeats[].figures | .dump_peak_rss_bytes > 0 and .restore_peak_rss_bytes > 0] | all' "$j"
# The dump's peak is CRIU's VmHWM at exit (bench/peak-rss/), GNU time's kept beside it
vmhwm_ok=1
while read -r f; do
	v=$(cat "$f")
	dir=$(dirname "$f")
	[[ "$v" =~ ^[0-9]+$ ]] && [ "$v" -gt 0 ] && [ -s "$dir/hyperfine-dump.json.rss" ] || { vmhwm_ok=0; echo "INFO: $f: '$v'"; }
done < <(find "$PIPELINE_RUN/raw" -name 'hyperfine-dump.json.vmhwm')
check "every repeat's dump wrote CRIU's VmHWM at exit and GNU time's maximum ($nrep repeats)" \
	test "$vmhwm_ok" = 1 -a "$(find "$PIPELINE_RUN/raw" -name 'hyperfine-dump.json.vmhwm' | wc -l)" = "$nrep"
# The same figures, as multisets: run.json's dump peaks are the files' VmHWM
peaks_run=$(jq -r '.cases[].variants[].repeats[].figures.dump_peak_rss_bytes' "$j" | sort -n | paste -sd ' ')
peaks_files=$(find "$PIPELINE_RUN/raw" -name 'hyperfine-dump.json.vmhwm' -exec cat {} + |
	awk '{ print $1 * 1024 }' | sort -n | paste -sd ' ')
check "the dump's peak RSS figure is the VmHWM, GNU time's is dump_maxrss_bytes" \
	test -n "$peaks_run" -a "$peaks_run" = "$peaks_files" -a \
	"$(jq '[.cases[].variants[].repeats[].figures | .dump_maxrss_bytes > 0] | all' "$j")" = true
check "every repeat decoded CRIU's stats of dump and restore" \
	jq -e '[.cases[].variants[].repeats[].figures | has("stats_dump_pages_written") and has("stats_restore_pages_restored")] | all' "$j"
check "run.json records machine, kernel, page size, both CRIU builds and the patch-series hash" \
	jq -e '.machine.kernel and .machine.cpus and .machine.page_size and (.criu.variants | length == 2) and
		(.criu.variants | all(.binary_sha256 | length == 64)) and (.criu.patch_series | has("sha256"))' "$j"
# scripts/build-criu gives each build a RUNDIR on tmpfs: the commands bench
# times load the kerndat cache instead of probing the kernel each time.
check "run.json records that both builds loaded their own kerndat cache" \
	jq -e '[.criu.variants[].kdat_cache] | (map(type == "string" and endswith("/criu.kdat")) | all) and
		(unique | length == 2)' "$j"
check "every scenario case records the catalogue's expectation for both builds" \
	jq -e '[.cases[] | select(.kind == "scenario") | .expect.baseline.restore, .expect.dedup.restore |
		IN("shared", "copy")] | all' "$j"
check "the parameters come from the trees' ready lines (resolved)" \
	jq -e '.cases[] | select(.id == "fanout") | .params.fanout == 4 and .params.scale == "small" and
		.params["region-size"] > 0' "$j"
check "every repeat compared content before/after and found it identical" \
	jq -e "[.cases[].variants[].repeats[].figures.content_identical] | length == $nrep and all(. == 1)" "$j"
check "the sweep cases carry their swept parameter" \
	jq -e '[.cases[] | select(.kind == "sweep-fanout") | .params.fanout] == [1, 3]' "$j"
# Read-only children: dedup's image must be well under baseline's.
check "with nothing written dedup's image is smaller than baseline's" \
	jq -e '.cases[] | select(.id == "fanout@child-write=0") | .ratios.dedup_over_baseline_image_bytes < 0.5' "$j"
# The dump floor (bench/README.md): baseline's dump time less the share of
# its page dump that the pages dedup does not write took, over baseline's.
check "every case's dump floor is baseline's time less the page dump of the pages dedup skips, over it" \
	jq -e '[.cases[] | .variants as $v | ($v.baseline.summary | .dump_s.median) as $tb |
		($v.baseline.summary.stats_dump_memdump_time.median / 1e6) as $mb |
		($v.baseline.summary.stats_dump_pages_written.median) as $pb |
		($v.dedup.summary.stats_dump_pages_written.median) as $pd |
		(($tb - $mb * ([0, 1 - $pd / $pb] | max)) / $tb) as $want |
		.derived.dedup_dump_floor_over_baseline as $got |
		$got != null and $got > 0 and $got <= 1 and (($got - $want) | fabs) < 1e-9] |
		length > 0 and all' "$j"
check "summary.csv has a header and one row per case and variant" \
	test "$(wc -l <"$PIPELINE_RUN/summary.csv")" = $((1 + 2 * (nscen + 4)))
check "the summary table is printed" grep -q '^fanout@fanout=3 *dedup' "$PIPELINE_RUN.log"
nsteps=$(grep -c 'ETA .*: \(start\|analyze\|dump\|image\|restore\|compare\|kill\)$' "$PIPELINE_RUN.log")
check "a progress line with an ETA is printed per step ($nsteps for $nrep repeats)" test "$nsteps" = $((7 * nrep))
check "the probes ran at their points of every repeat" \
	test "$(grep -c 'ETA .*: probe:\(before-dump\|after-dump\|after-restore\)$' "$PIPELINE_RUN.log")" = $((3 * nrep))
check "no tree process is left after the run" test -z "$(live_tree_pids "$PIPELINE_RUN/raw")"
check "no dump directory is left after the run" test "$(bench_dumps)" = "$before_dumps"
# A file-backed region's file (CRIU needs it until restore) goes with its
# repeat's dump directory.
froot=$(jq -r .root "$PIPELINE_RUN"/raw/filepriv/dedup/r1/ready.json 2>/dev/null)
check "a file-backed scenario runs" jq -e '.cases[] | select(.id == "filepriv") | .variants.dedup.ok_repeats == 1' "$j"
check "no region file of a file-backed tree is left after the run" \
	test -n "$froot" -a -z "$(find /dev/shm -maxdepth 2 -name "cowtree-$froot-*" 2>/dev/null)"

"$root/bench/plot" "$PIPELINE_RUN" "$tmp/plots" 2>"$tmp/plot.err"
n=0
for p in image-vs-written image-vs-fanout pss-restore time-vs-image cost-vs-tasks; do
	for e in png svg; do [ -s "$tmp/plots/$p.$e" ] && n=$((n + 1)); done
done
check "bench/plot draws every plot the run has data for, as PNG and SVG" test $n = 10
check "bench/plot skips the plot the run has no data for" grep -q 'cost-vs-size: no data' "$tmp/plot.err"

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
"$run" --matrix test --criu-dedup "$tmp/fake-criu" --no-plots --out "$tmp/fail" >/dev/null 2>"$tmp/fail.err"
rc=$?
j=$tmp/fail/run.json
check "a failed repeat makes bench/run exit 1" test $rc = 1
check "the failure is recorded with its step and the CRIU log tail" \
	jq -e '.cases[0].variants.dedup.repeats[0] | .ok == false and .error.step == "dump" and
		(.error.log_tail | any(test("injected dump failure")))' "$j"
check "the run goes on past a failure (baseline measured)" \
	jq -e '.cases[0].variants.baseline.ok_repeats == 1' "$j"
check "the tree of the failed repeat is killed" test -z "$(live_tree_pids "$tmp/fail/raw")"
check "a case whose dedup dumps all failed has no dump floor (nothing to compute it from)" \
	jq -e '.cases[0].derived | has("dedup_dump_floor_over_baseline") | not' "$j"

# --- a terminated run kills its tree and removes its dumps -----------------------
before_dumps=$(bench_dumps)
"$run" --matrix test --repeat 5 --no-plots --out "$tmp/term" >/dev/null 2>&1 &
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

# --- adding a scenario is one .conf file ---------------------------------------------
# A copy of the catalogue plus one new file, in a directory of its own: the
# plan, the run, the expectations and the report all take it from there.
mkdir -p "$tmp/scen"
cp "$root"/workloads/scenarios/*.conf "$tmp/scen/"
cat >"$tmp/scen/tiny-sibling.conf" <<'EOF'
# purpose: test: 2 children share a 16 MiB region only between themselves
size = 16M
fanout = 2
depth = 1
child-write = 0.1
layout = munmap
seed = 3
expect-baseline = copy
expect-dedup = shared
expect-why = the parent unmapped the region: baseline inherits only from the parent
bound-pss-after-over-before = 1.04
EOF
"$run" --scenario-dir "$tmp/scen" --scenarios tiny-sibling --repeat 1 --no-plots --quiet \
	--out "$tmp/new" >/dev/null 2>"$tmp/new.err"
rc=$?
j=$tmp/new/run.json
check "a scenario added as one .conf file runs through the pipeline (exit $rc)" \
	jq -e '.cases[0].id == "tiny-sibling" and ([.cases[0].variants[].ok_repeats] == [1, 1])' "$j"
check "its expectations and bounds come from its .conf file" \
	jq -e '.cases[0] | .expect.baseline.restore == "copy" and .expect.dedup.restore == "shared" and
		(.expect.baseline.why | test("unmapped")) and .bounds["pss-after-over-before"] == 1.04 and
		.bounds["image-over-ideal"] == 1.01' "$j"
check "its parameters are the resolved ones of its tree" \
	jq -e '.cases[0].params | .fanout == 2 and .layout == "munmap" and .["region-size"] == 16777216' "$j"
check "dedup restores it as its .conf expects (shared: PSS after/before within its bound)" \
	jq -e '.cases[0] | .variants.dedup.summary.pss_inflation.median <= .bounds["pss-after-over-before"]' "$j"
check "baseline restores it as its .conf expects (a copy)" \
	jq -e '.cases[0] | .variants.baseline.summary.pss_inflation.median > .bounds["pss-after-over-before"]' "$j"
printf '<!-- BEGIN generated:beyond -->\n<!-- END generated:beyond -->\n' >"$tmp/REPORT.md"
"$root/bench/report" --results "$tmp/new" --report "$tmp/REPORT.md" 2>/dev/null
check "the report lists it with the catalogue's expectation" \
	grep -q '^| `tiny-sibling` | munmap |.* (≤ 1.04) |.*| shared | [a-z*]* |$' "$tmp/REPORT.md"

# --- what CRIU's logging costs: --v4 -------------------------------------------------
mkdir -p "$tmp/v4dumps"
"$run" --scenarios no-sharing --scale small --repeat 1 --variants dedup --v4 --no-plots --quiet --keep \
	--dump-dir-root "$tmp/v4dumps" --out "$tmp/v4" >/dev/null 2>&1
check "--v4 measures each variant again at -v4 and records the time ratio" \
	jq -e '(.run.variants == ["dedup", "dedup-v4"]) and (.criu.variants[1].criu_args | test("-v4")) and
		(.cases[0].ratios.dedup_v4_over_default_dump_s > 0) and (.cases[0].ratios.dedup_v4_over_default_restore_s > 0)' \
	"$tmp/v4/run.json"
log_default=$(cat "$tmp"/v4dumps/cowdump-bench.*/no-sharing-dedup-r1/dump.log 2>/dev/null | wc -l)
log_v4=$(cat "$tmp"/v4dumps/cowdump-bench.*/no-sharing-dedup-v4-r1/dump.log 2>/dev/null | wc -l)
check "the default variant runs CRIU at its default verbosity ($log_default log lines, -v4: $log_v4)" \
	test "$log_v4" -gt $((10 * log_default + 10))

# --- the scale matrix plans its sweeps --------------------------------------------
mkdir -p "$tmp/scale"
"$root/bench/lib/plan" --matrix scale "$tmp/scale" 2>"$tmp/scale.err"
check "the scale matrix has 5 task counts and 4 memory sizes" \
	test "$(jq -s -c 'map(.id)' "$tmp/scale/cases.jsonl" 2>/dev/null)" = \
	'["tasks@fanout=0","tasks@fanout=7","tasks@fanout=31","tasks@fanout=127","tasks@fanout=255","shared@size=64M","shared@size=256M","shared@size=1G","shared@size=4G"]'
check "the 4 GiB case runs the dedup build only" \
	jq -e -s 'map(select(.id == "shared@size=4G"))[0].variants == ["dedup"]' "$tmp/scale/cases.jsonl"

# --- scripts/dedup-phase-time reads the root's phases whatever its pid's width ------
# CRIU pads a task's pid in its log lines to 6 columns: "  9513: ...".
phases=$("$root/scripts/dedup-phase-time" --runs 1 'cousins:--size 8M' dedup="$CRIU_DEDUP" 2>"$tmp/phases.err" |
	awk '$1 == "dedup"')
read -r _ _ _ _ prep load plan _ <<<"$phases"
check "dedup-phase-time reports the restore's prep, load and plan (prep $prep, load $load, plan $plan ms)" \
	awk -v a="$prep" -v b="$load" -v c="$plan" 'BEGIN { exit !(a + 0 > 0 && b + 0 > 0 && c + 0 > 0) }'

# --- scripts/vm-reuse-cost times a touch of freed memory --------------------------
out=$("$root/scripts/vm-reuse-cost" --mib 4 --wait 0 --runs 1 2>&1)
check "vm-reuse-cost prints the kernel and one timed touch per run ($(tr '\n' ';' <<<"$out"))" \
	test "$(grep -c '^touch 4 MiB, 0 s after the last free: [0-9]* ms$' <<<"$out")" = 2 -a \
	"$(grep -c '^kernel .* page_reporting_order ' <<<"$out")" = 1
out=$("$root/scripts/vm-reuse-cost" --runs 0 2>&1)
check "vm-reuse-cost refuses --runs 0 with one line" test $? -ne 0 -a "$(wc -l <<<"$out")" = 1

# --- workloads/measure-restore-pss is the pipeline ------------------------------------
line=$("$root/workloads/measure-restore-pss" --size 4M --fanout 2 2>"$tmp/mrp.err")
check "measure-restore-pss prints PSS before and after a restore and the image size ($line)" \
	jq -e '.args == "--size 4M --fanout 2" and .pss_before_mib > 0 and .pss_after_mib > 0 and .images_mib > 0' \
	<<<"$line"
exit 0
