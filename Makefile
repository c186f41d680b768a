# SPDX-License-Identifier: GPL-2.0
# Top-level build: userspace tools and tests natively, the module per kernel.
#
#   make tools                 build/bin/{mkfs.vexfs,fsck.vexfs,vexfs-dump,vexctl} + lib
#   make lib                   build/lib/libvexfs.{a,so} and build/lib/pkgconfig/libvexfs.pc
#   make install [PREFIX=/usr/local] [DESTDIR=]   tools, libvexfs, headers, .pc, man pages
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

.PHONY: all tools lib install module test-unit clean
all: tools

tools: $(TOOL_BINS) $(BUILD)/bin/vexctl lib $(BUILD)/bin/vexfsd

# The sidecar is Python (tools/vexfsd); its launcher finds the package
# through the symlink.
$(BUILD)/bin/vexfsd: tools/vexfsd/bin/vexfsd
	@mkdir -p $(@D)
	ln -sf $(CURDIR)/tools/vexfsd/bin/vexfsd $@

# libvexfs (lib/, include/vexfs/libvexfs.h) and vexctl (tools/vexctl/) only
# speak the ioctl ABI of include/uapi/linux/vexfs.h: no core.  vexctl links
# the static library, so build/bin/vexctl runs anywhere (VM guests too).
LIBVEXFS_VERSION := 1.2
LIBVEXFS_SOVER := 1
LIB_CFLAGS := -std=gnu11 -Wall -Wextra -O2 -g -Iinclude -Iinclude/uapi -D_GNU_SOURCE \
	-D_FILE_OFFSET_BITS=64
LIB_HDRS := include/vexfs/libvexfs.h include/uapi/linux/vexfs.h
LIB_OUT := $(BUILD)/lib/libvexfs.a $(BUILD)/lib/libvexfs.so.$(LIBVEXFS_VERSION) \
	$(BUILD)/lib/libvexfs.so.$(LIBVEXFS_SOVER) $(BUILD)/lib/libvexfs.so \
	$(BUILD)/lib/pkgconfig/libvexfs.pc
VEXCTL_SRCS := $(wildcard tools/vexctl/*.c)
lib: $(LIB_OUT)

$(BUILD)/lib/libvexfs.o: lib/libvexfs.c $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -fPIC -fvisibility=default -c -o $@ $<
$(BUILD)/lib/libvexfs.a: $(BUILD)/lib/libvexfs.o
	rm -f $@ && $(AR) rcs $@ $<
$(BUILD)/lib/libvexfs.so.$(LIBVEXFS_VERSION): $(BUILD)/lib/libvexfs.o
	$(CC) -shared -Wl,-soname,libvexfs.so.$(LIBVEXFS_SOVER) -o $@ $<
$(BUILD)/lib/libvexfs.so.$(LIBVEXFS_SOVER) $(BUILD)/lib/libvexfs.so: $(BUILD)/lib/libvexfs.so.$(LIBVEXFS_VERSION)
	ln -sf libvexfs.so.$(LIBVEXFS_VERSION) $@
# The build tree's .pc points into the source tree (PKG_CONFIG_PATH=build/lib/pkgconfig);
# make install writes one for PREFIX.
LIBVEXFS_PC = printf '%s\n' 'prefix=$(1)' 'includedir=$(2)' 'libdir=$(3)' '' 'Name: libvexfs' \
	'Description: VexFS vector spaces, embeddings and search (ioctl wrapper)' \
	'Version: $(LIBVEXFS_VERSION)' 'Cflags: $(4)' 'Libs: -L$${libdir} -lvexfs'
$(BUILD)/lib/pkgconfig/libvexfs.pc: Makefile
	@mkdir -p $(@D)
	@$(call LIBVEXFS_PC,$(CURDIR),$(CURDIR)/include,$(CURDIR)/$(BUILD)/lib,-I$${includedir} -I$${includedir}/uapi) >$@

$(BUILD)/bin/vexctl: $(VEXCTL_SRCS) tools/vexctl/vexctl.h $(BUILD)/lib/libvexfs.a
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -pthread -o $@ $(VEXCTL_SRCS) $(BUILD)/lib/libvexfs.a -lm

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
install: tools
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(INCLUDEDIR)/vexfs $(DESTDIR)$(INCLUDEDIR)/linux $(DESTDIR)$(MANDIR)/man8
	$(if $(TOOL_BINS),install -m 755 $(TOOL_BINS) $(DESTDIR)$(SBINDIR)/)
	install -m 755 $(BUILD)/bin/vexctl $(DESTDIR)$(BINDIR)/
	install -m 644 $(BUILD)/lib/libvexfs.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(BUILD)/lib/libvexfs.so.$(LIBVEXFS_VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libvexfs.so.$(LIBVEXFS_VERSION) $(DESTDIR)$(LIBDIR)/libvexfs.so.$(LIBVEXFS_SOVER)
	ln -sf libvexfs.so.$(LIBVEXFS_VERSION) $(DESTDIR)$(LIBDIR)/libvexfs.so
	install -m 644 include/vexfs/libvexfs.h $(DESTDIR)$(INCLUDEDIR)/vexfs/
	install -m 644 include/uapi/linux/vexfs.h $(DESTDIR)$(INCLUDEDIR)/linux/
	install -m 644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	install -d $(DESTDIR)$(PREFIX)/lib/vexfsd/vexfsd
	install -m 644 tools/vexfsd/vexfsd/*.py $(DESTDIR)$(PREFIX)/lib/vexfsd/vexfsd/
	install -m 755 tools/vexfsd/bin/vexfsd $(DESTDIR)$(BINDIR)/
	$(call LIBVEXFS_PC,$(PREFIX),$(INCLUDEDIR),$(LIBDIR),-I$${includedir}) \
		>$(DESTDIR)$(LIBDIR)/pkgconfig/libvexfs.pc

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
	@ln -sf $(CURDIR)/include/uapi/linux/vexfs.h $(KOBJ)/vexfs_uapi.h
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
