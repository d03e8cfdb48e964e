# bench: the benchmark matrix, its reference run and the performance gate.
#   make bench            the default matrix, both CRIU builds -> results/<ts>/, plots/latest/
#   make bench-reference  regenerate results/reference/, plots/reference/, REPORT.md's tables, README.md's figures
#   make bench-scale      the scale matrix (tasks, shared memory) -> results/scale/<ts>/, plots/scale/
#   make bench-scale-reference  regenerate results/scale/reference/, plots/scale/, REPORT.md's scale tables
#   make gate             the quick matrix checked against bench/thresholds.conf [gate] and [goals]
# BENCH_ARGS passes options to bench/run (bench/run --help).
BENCH_ARGS ?=

# The dump's peak RSS, read by CRIU itself as it exits (bench/peak-rss/).
$(BUILD)/lib/vmhwm-at-exit.so: bench/peak-rss/vmhwm-at-exit.c
	@mkdir -p $(@D)
	$(CC) $(COWDUMP_CFLAGS) -fPIC -shared -o $@ $<

TOOLS += $(BUILD)/lib/vmhwm-at-exit.so

.PHONY: bench-reference bench-scale bench-scale-reference report
bench: all
	bench/run $(BENCH_ARGS)

bench-reference: all
	bench/run --reference $(BENCH_ARGS)
	bench/report
	bench/report --report README.md

bench-scale: all
	bench/run --matrix scale $(BENCH_ARGS)

bench-scale-reference: all
	bench/run --matrix scale --reference $(BENCH_ARGS)
	bench/report

# REPORT.md's generated blocks from results/reference/ (no measuring).
report:
	bench/report

gate: all
	bench/gate
