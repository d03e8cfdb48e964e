# analyzer: cowscan, one binary with subcommands (tree, snapshot, compare,
# image). The image reader is built from analyzer/image.mk (its own owner),
# which appends its objects to COWSCAN_IMAGE_OBJS.

COWSCAN_SRCS := cowscan.c cli.c util.c threads.c proctree.c vmas.c maps_path.c scan.c page_smaps.c pagemap_read.c pagemap_slices.c pfn_index.c kpage.c pair_matrix.c tree_stats.c predict.c tree_cmd.c tree_output.c \
	hash.c rseq.c memread.c snapshot.c snapshot_cmd.c compare_cmd.c pages_cmd.c
COWSCAN_IMAGE_OBJS :=
COWSCAN_IMAGE_ASAN_OBJS :=
-include analyzer/image.mk

COWSCAN_OBJS := $(COWSCAN_SRCS:%.c=$(BUILD)/obj/analyzer/%.o)
COWSCAN_ASAN_OBJS := $(COWSCAN_SRCS:%.c=$(BUILD)/asan/obj/analyzer/%.o)
COWSCAN_HDRS := $(wildcard analyzer/*.h)
COWSCAN_LIBS := -ljansson -lprotobuf-c -pthread

$(BUILD)/obj/analyzer/%.o: analyzer/%.c $(COWSCAN_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(COWDUMP_CFLAGS) -Ianalyzer -c -o $@ $<

$(BUILD)/asan/obj/analyzer/%.o: analyzer/%.c $(COWSCAN_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -Ianalyzer -c -o $@ $<

$(BUILD)/bin/cowscan: $(COWSCAN_OBJS) $(COWSCAN_IMAGE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(COWDUMP_CFLAGS) -o $@ $^ $(COWSCAN_LIBS)

# The sanitizer build links the image reader's sanitizer objects when
# image.mk provides them (COWSCAN_IMAGE_ASAN_OBJS), else its normal ones.
$(BUILD)/asan/bin/cowscan: $(COWSCAN_ASAN_OBJS) $(or $(COWSCAN_IMAGE_ASAN_OBJS),$(COWSCAN_IMAGE_OBJS))
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -o $@ $^ $(COWSCAN_LIBS)

TOOLS += $(BUILD)/bin/cowscan $(BUILD)/asan/bin/cowscan
