# cowdump: workload -> analyze -> dump -> restore -> compare -> report.
#
#   make            dependencies, CRIU baseline + dedup, cowdump's tools
#   make test       every test; last line "N passed, N failed"
#   make bench      the scenario matrix with both CRIU builds (bench/)
#   make gate       the quick performance gate (bench/thresholds.conf)
#   make dedup-checkout / dedup-export   develop dedup/patches as git history
#
# Everything built goes to build/.

SHELL := /bin/bash
BUILD := build
TARBALL := $(BUILD)/dl/criu_4.2.1.orig.tar.xz
DEPS_STAMP := $(BUILD)/.deps-stamp
CRIU_BASELINE := $(BUILD)/criu-baseline/criu/criu
CRIU_DEDUP := $(BUILD)/criu-dedup/criu/criu

CC ?= gcc
COWDUMP_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g
SAN_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 -g \
	-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

TOOLS :=

.PHONY: all deps fetch criu criu-baseline criu-dedup tools test bench gate clean \
	dedup-checkout dedup-export format
all: criu tools

# Dependencies: installed once, again when the list changes.
$(DEPS_STAMP): scripts/install-deps
	@scripts/install-deps
	@mkdir -p $(BUILD) && touch $@
deps: $(DEPS_STAMP)

$(TARBALL): | $(DEPS_STAMP)
	scripts/fetch-criu $(BUILD)/dl
fetch: $(TARBALL)

# build-criu is a no-op while the tarball and the patches are unchanged.
criu-baseline: $(TARBALL)
	@scripts/build-criu baseline
criu-dedup: $(TARBALL)
	@scripts/build-criu dedup
criu: criu-baseline criu-dedup

dedup-checkout: $(TARBALL)
	scripts/dedup-series checkout
dedup-export:
	scripts/dedup-series export

include workloads/workloads.mk
include workloads/containers/containers.mk
include analyzer/analyzer.mk
include bench/bench.mk

# The analyzer generates its image decoders from the dedup build's protos.
tools: $(TOOLS) | criu

test: all
	@tests/run

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)/bin $(BUILD)/obj $(BUILD)/asan $(BUILD)/gen
