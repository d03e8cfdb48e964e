# cowscan image: the CRIU image reader. Included by analyzer/analyzer.mk,
# which links $(COWSCAN_IMAGE_OBJS) into build/bin/cowscan and
# $(COWSCAN_IMAGE_ASAN_OBJS) into build/asan/bin/cowscan (with -ljansson
# -lprotobuf-c).
#
# The protobuf-c code for the few CRIU images the reader decodes is
# generated here at build time from the dedup tree's .proto files (a
# superset of baseline's), into build/gen/criu-proto/. Nothing generated
# from CRIU is committed.
#
#   make fuzz-image [FUZZ_SECONDS=60]   libFuzzer run over the image parser

IMAGE_PROTO_SRC := $(BUILD)/criu-dedup/images
IMAGE_PROTO_GEN := $(BUILD)/gen/criu-proto
IMAGE_PROTO_STAMP := $(BUILD)/criu-dedup/.cowdump-built
# The images cowscan reads, plus what they import.
IMAGE_PROTOS := opts vma mm pagemap pstree
IMAGE_PROTO_CS := $(IMAGE_PROTO_GEN)/google/protobuf/descriptor.pb-c.c \
	$(patsubst %,$(IMAGE_PROTO_GEN)/%.pb-c.c,$(IMAGE_PROTOS))
IMAGE_PROTO_HS := $(IMAGE_PROTO_CS:.c=.h)

COWSCAN_IMAGE_SRCS := $(addprefix analyzer/,image_cmd.c image_file.c image_decode.c \
	image_pages.c image_report.c)
# The parser proper, without the CLI and report: what the fuzz target links.
COWSCAN_IMAGE_PARSER_SRCS := $(addprefix analyzer/,image_file.c image_decode.c)

image_obj = $(patsubst analyzer/%.c,$(1)/analyzer/%.o,$(2)) \
	$(patsubst $(IMAGE_PROTO_GEN)/%.c,$(1)/criu-proto/%.o,$(IMAGE_PROTO_CS))
COWSCAN_IMAGE_OBJS := $(call image_obj,$(BUILD)/obj,$(COWSCAN_IMAGE_SRCS))
COWSCAN_IMAGE_ASAN_OBJS := $(call image_obj,$(BUILD)/asan/obj,$(COWSCAN_IMAGE_SRCS))

IMAGE_CPPFLAGS := -Ianalyzer -I$(IMAGE_PROTO_GEN)
IMAGE_HDRS := $(wildcard analyzer/image*.h) analyzer/util.h analyzer/cli.h

# The dedup tree's stamp holds the hash of the tarball and the series; its
# copy in IMAGE_PROTO_KEY changes only when that hash does, so the code is
# regenerated exactly when the series changes. The key waits for the
# top-level criu-dedup target (order-only: make runs it once, so `make -j`
# never starts a second, concurrent build-criu on the same tree, and never
# reads the stamp before the build has written it). While the dedup tree is
# being rebuilt (no stamp), code generated earlier is kept.
IMAGE_PROTO_KEY := $(BUILD)/gen/criu-proto.key
.PHONY: image-proto-key
image-proto-key: | criu-dedup
	@mkdir -p $(dir $(IMAGE_PROTO_KEY))
	@if [ -f $(IMAGE_PROTO_STAMP) ]; then \
		cmp -s $(IMAGE_PROTO_STAMP) $(IMAGE_PROTO_KEY) || cp $(IMAGE_PROTO_STAMP) $(IMAGE_PROTO_KEY); \
	elif [ ! -f $(IMAGE_PROTO_KEY) ]; then \
		echo "cowscan image: $(IMAGE_PROTO_STAMP) missing: run 'make criu-dedup' first" >&2; \
		exit 1; \
	fi
$(IMAGE_PROTO_KEY): image-proto-key ;

# One protoc-c run generates all of them, so they share a stamp.
$(IMAGE_PROTO_GEN)/.generated: $(IMAGE_PROTO_KEY) analyzer/image.mk
	@rm -rf $(IMAGE_PROTO_GEN) && mkdir -p $(IMAGE_PROTO_GEN)
	protoc-c --proto_path=/usr/include --proto_path=$(IMAGE_PROTO_SRC) \
		--c_out=$(IMAGE_PROTO_GEN) google/protobuf/descriptor.proto \
		$(patsubst %,$(IMAGE_PROTO_SRC)/%.proto,$(IMAGE_PROTOS))
	@touch $@
$(IMAGE_PROTO_CS) $(IMAGE_PROTO_HS): $(IMAGE_PROTO_GEN)/.generated ;

# Generated code: no -Werror (its warnings are protoc-c's, not ours).
$(BUILD)/obj/criu-proto/%.o: $(IMAGE_PROTO_GEN)/%.c $(IMAGE_PROTO_GEN)/.generated
	@mkdir -p $(@D)
	$(CC) $(filter-out -Werror,$(COWDUMP_CFLAGS)) -I$(IMAGE_PROTO_GEN) -c -o $@ $<
$(BUILD)/asan/obj/criu-proto/%.o: $(IMAGE_PROTO_GEN)/%.c $(IMAGE_PROTO_GEN)/.generated
	@mkdir -p $(@D)
	$(CC) $(filter-out -Werror,$(SAN_CFLAGS)) -I$(IMAGE_PROTO_GEN) -c -o $@ $<

$(BUILD)/obj/analyzer/image%.o: analyzer/image%.c $(IMAGE_HDRS) $(IMAGE_PROTO_GEN)/.generated
	@mkdir -p $(@D)
	$(CC) $(COWDUMP_CFLAGS) $(IMAGE_CPPFLAGS) -c -o $@ $<
$(BUILD)/asan/obj/analyzer/image%.o: analyzer/image%.c $(IMAGE_HDRS) $(IMAGE_PROTO_GEN)/.generated
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) $(IMAGE_CPPFLAGS) -c -o $@ $<

# --- fuzzing: libFuzzer with Debian's clang ---------------------------------
FUZZ_CC := clang-14
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_IMAGE := $(FUZZ_DIR)/fuzz-image

$(FUZZ_IMAGE): analyzer/fuzz/fuzz_image.c $(COWSCAN_IMAGE_PARSER_SRCS) analyzer/util.c \
		$(IMAGE_HDRS) $(IMAGE_PROTO_GEN)/.generated
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(IMAGE_CPPFLAGS) -o $@ \
		analyzer/fuzz/fuzz_image.c $(COWSCAN_IMAGE_PARSER_SRCS) analyzer/util.c \
		$(IMAGE_PROTO_CS) -ljansson -lprotobuf-c

.PHONY: fuzz-image
# New inputs go to build/fuzz/corpus; the committed seeds stay read-only.
# libFuzzer exits non-zero on a crash, leak or sanitizer report.
fuzz-image: $(FUZZ_IMAGE)
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/crashes
	$(FUZZ_IMAGE) -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 \
		-close_fd_mask=2 -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/crashes/ \
		$(FUZZ_DIR)/corpus analyzer/fuzz/seeds
