# workloads: cowtree (the fork-tree generator) and the pagemap checker its
# tests use. Included by the top-level Makefile.

COWTREE_SRCS := $(wildcard workloads/cowtree/*.c)
COWTREE_HDRS := $(wildcard workloads/cowtree/*.h)
COWTREE_OBJS := $(patsubst workloads/%.c,$(BUILD)/obj/workloads/%.o,$(COWTREE_SRCS))
COWTREE_ASAN_OBJS := $(patsubst workloads/%.c,$(BUILD)/asan/obj/workloads/%.o,$(COWTREE_SRCS))
# The catalogue cowtree reads by default: this checkout's, wherever the
# binary is (build/bin, build/asan/bin).
COWTREE_DEFS := -DCOWTREE_SCENARIO_DIR='"$(CURDIR)/workloads/scenarios"'

$(BUILD)/obj/workloads/%.o: workloads/%.c $(COWTREE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(COWDUMP_CFLAGS) $(COWTREE_DEFS) -c -o $@ $<

$(BUILD)/asan/obj/workloads/%.o: workloads/%.c $(COWTREE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(COWTREE_DEFS) -c -o $@ $<

$(BUILD)/bin/cowtree: $(COWTREE_OBJS)
	@mkdir -p $(@D)
	$(CC) $(COWDUMP_CFLAGS) -o $@ $^ -ljansson -lm -pthread

$(BUILD)/asan/bin/cowtree: $(COWTREE_ASAN_OBJS)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) -o $@ $^ -ljansson -lm -pthread

TOOLS += $(BUILD)/bin/cowtree
