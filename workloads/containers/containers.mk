# workloads/containers: a runc bundle whose init is a cowtree. Included by
# the top-level Makefile after workloads.mk (it links cowtree's objects).
#
# The container's rootfs holds nothing but Debian's busybox-static, a static
# cowtree and the scenario catalogue: no library to copy in, nothing
# downloaded.

COWTREE_STATIC := $(BUILD)/bin/cowtree-static
CONTAINER_ROOTFS := $(BUILD)/containers/rootfs

$(COWTREE_STATIC): $(COWTREE_OBJS)
	@mkdir -p $(@D)
	$(CC) $(COWDUMP_CFLAGS) -static -o $@ $^ -ljansson -lm

# The stamp is the rootfs's last file: a rootfs that failed halfway is rebuilt.
# busybox-static comes from scripts/install-deps (order-only: a new package
# list does not make a new rootfs).
$(CONTAINER_ROOTFS)/.built: workloads/containers/make-rootfs $(COWTREE_STATIC) \
		$(wildcard workloads/scenarios/*.conf) | $(DEPS_STAMP)
	workloads/containers/make-rootfs $(CONTAINER_ROOTFS) $(COWTREE_STATIC) workloads/scenarios

.PHONY: container-rootfs
container-rootfs: $(CONTAINER_ROOTFS)/.built

TOOLS += $(COWTREE_STATIC) $(CONTAINER_ROOTFS)/.built
