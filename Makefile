# SPDX-License-Identifier: GPL-2.0
# Top-level build: userspace tools and tests natively, the module per kernel.
#
#   make tools                 build/bin/{mkfs.vexfs,fsck.vexfs,vexfs-dump}
#   make module KVER=<release> build/kmod/<release>/vexfs.ko
#   make module KVER=... C=1   same, with sparse
#   make test-unit             native unit tests under ASan + UBSan

KVER ?= $(shell uname -r)
BUILD := build
CC ?= gcc

CORE_SRCS := $(wildcard core/*.c)
CORE_HDRS := $(wildcard core/*.h core/platform/*.h)
USER_SRCS := core/platform/vx_user.c

CFLAGS_COMMON := -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers -Icore -Iinclude -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
TOOL_CFLAGS := $(CFLAGS_COMMON) -O2 -g
SAN_CFLAGS := $(CFLAGS_COMMON) -O1 -g -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer

TOOLS := mkfs.vexfs fsck.vexfs vexfs-dump
TOOL_BINS := $(addprefix $(BUILD)/bin/,$(TOOLS))
TOOL_LIB_SRCS := $(wildcard tools/lib/*.c)
TOOL_LIB_HDRS := $(wildcard tools/lib/*.h)

.PHONY: all tools module test-unit clean
all: tools

tools: $(TOOL_BINS)

# mkfs.vexfs probes for existing signatures with libblkid (libblkid-dev) when
# it is installed, and falls back to a few built-in probes otherwise.
BLKID_LIBS := $(shell pkg-config --libs blkid 2>/dev/null)
ifneq ($(BLKID_LIBS),)
CFLAGS_mkfs.vexfs := -DHAVE_BLKID
LDLIBS_mkfs.vexfs := $(BLKID_LIBS)
endif

$(BUILD)/bin/%: tools/%.c $(CORE_SRCS) $(USER_SRCS) $(TOOL_LIB_SRCS) $(CORE_HDRS) $(TOOL_LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(TOOL_CFLAGS) $(CFLAGS_$*) -Itools/lib -o $@ $< $(CORE_SRCS) $(USER_SRCS) $(TOOL_LIB_SRCS) $(LDLIBS_$*)

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(wildcard tests/unit/test_*.c))
$(BUILD)/unit/%: tests/unit/%.c tests/unit/*.h $(CORE_SRCS) $(USER_SRCS) $(TOOL_LIB_SRCS) $(CORE_HDRS)
	@mkdir -p $(@D)
	$(CC) $(SAN_CFLAGS) -Itools/lib -Itests/unit -o $@ $< $(CORE_SRCS) $(USER_SRCS) $(TOOL_LIB_SRCS)

test-unit: $(UNIT_TESTS)
	@rc=0; for t in $(UNIT_TESTS); do echo "== $$t"; $$t || rc=1; done; exit $$rc

# Out-of-tree module: Kbuild runs in a per-kernel directory of symlinks so
# objects for 6.1 and 6.12 never mix, and core/ compiles unchanged.
KDIR ?= /lib/modules/$(KVER)/build
KOBJ := $(BUILD)/kmod/$(KVER)
module:
	@test -d $(KDIR) || { echo "no kernel headers for $(KVER) at $(KDIR): run scripts/install-deps $(KVER)" >&2; exit 1; }
	@mkdir -p $(KOBJ)/core/platform
	@for f in kmod/*.c kmod/*.h kmod/Kbuild; do ln -sf $(CURDIR)/$$f $(KOBJ)/; done
	@for f in core/*.c core/*.h; do ln -sf $(CURDIR)/$$f $(KOBJ)/core/; done
	@for f in core/platform/*.h; do ln -sf $(CURDIR)/$$f $(KOBJ)/core/platform/; done
	@find $(KOBJ) -xtype l -delete
	@if [ ! -f $(KOBJ)/vexfs_probes.h ] || [ kmod/probes.sh -nt $(KOBJ)/vexfs_probes.h ]; then \
		echo "  PROBE   kernel API of $(KVER)"; \
		sh kmod/probes.sh $(KDIR) $(CURDIR)/$(KOBJ).probes > $(KOBJ)/vexfs_probes.h.tmp && \
		mv $(KOBJ)/vexfs_probes.h.tmp $(KOBJ)/vexfs_probes.h; \
	fi
	$(MAKE) -C $(KDIR) M=$(CURDIR)/$(KOBJ) $(if $(C),C=$(C)) modules

clean:
	rm -rf $(BUILD)
