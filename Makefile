# pc-lite: upstream QEMU 10.0 + a minimal, firmware-less x86 machine.
#
#   make demo    install what is missing, build, boot the bundled guest and
#                print its boot-time breakdown
#   make check   install what is missing, build, run every test
#   make bench   boot-time and memory benchmark: pc-lite beside q35 and
#                microvm from a second, full build of the same source
#                (BENCH_ARGS="--runs 3 --only 'pc-lite*'" etc.)
#
# Caches live outside the clone (PC_LITE_CACHE, default ~/.cache/pc-lite):
# ccache, the Debian source package and the guest kernel, keyed by inputs.

TOP        := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD      := $(TOP)/build
QEMU_BUILD := $(BUILD)/qemu
QEMU_SRCDIR:= $(BUILD)/qemu-src
QEMU_BIN   := $(BUILD)/qemu-system-x86_64
QEMU_FULL_BUILD := $(BUILD)/qemu-full
PC_LITE_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/pc-lite
PYTHON     := /usr/bin/python3
JOBS       ?= $(shell nproc)

export PC_LITE_CACHE
export CCACHE_DIR ?= $(PC_LITE_CACHE)/ccache
export CCACHE_BASEDIR := $(TOP)
export CCACHE_NOHASHDIR := 1
export CCACHE_MAXSIZE ?= 5G
# pc-lite's package (python/pclite) and QEMU's python/qemu.
export PYTHONPATH := $(TOP)/python:$(QEMU_SRCDIR)/python$(if $(PYTHONPATH),:$(PYTHONPATH))

# Debian packages the build and tests need (meson >= 1.5 comes from
# bookworm-backports through scripts/apt-private.sh).
DEB_PACKAGES := build-essential ninja-build pkg-config libglib2.0-dev \
	libpixman-1-dev python3-venv flex bison bc libelf-dev libssl-dev cpio \
	ccache linux-source-6.1 busybox-static e2fsprogs python3-matplotlib \
	strace xz-utils git file seabios

.PHONY: all deps qemu qemu-full firmware guest demo bench bench-startup check check-qtest \
	check-boot clean

all: qemu guest

deps:
	@$(TOP)/scripts/install-deps.sh $(DEB_PACKAGES)

# Prepare the tree, configure once, then ninja (which re-runs meson itself
# when a meson.build or Kconfig changes).
qemu: deps
	@$(TOP)/scripts/prepare-qemu.sh
	@if [ ! -f $(QEMU_BUILD)/build.ninja ] || \
	    [ $(TOP)/scripts/qemu-lite-config.sh -nt $(QEMU_BUILD)/build.ninja ] || \
	    [ $(TOP)/configs/pc-lite.mak -nt $(QEMU_BUILD)/build.ninja ] || \
	    ! grep -q "$(QEMU_SRCDIR)" $(QEMU_BUILD)/config.status 2>/dev/null; then \
	    rm -rf $(QEMU_BUILD); \
	    echo "pc-lite: configuring QEMU in $(QEMU_BUILD)"; \
	    $(TOP)/scripts/qemu-lite-config.sh $(QEMU_SRCDIR) $(QEMU_BUILD) \
	        > $(BUILD)/configure.log 2>&1 || \
	        { tail -30 $(BUILD)/configure.log; exit 1; }; \
	fi
	@echo "pc-lite: building QEMU (ninja -j$(JOBS))"
	@ninja -C $(QEMU_BUILD) -j$(JOBS) qemu-system-x86_64 > $(BUILD)/ninja.log 2>&1 || \
	    { grep -m20 -E 'error:|FAILED' $(BUILD)/ninja.log || tail -40 $(BUILD)/ninja.log; exit 1; }
	@ln -sfn $(QEMU_BUILD)/qemu-system-x86_64 $(QEMU_BIN)
	@$(QEMU_BIN) -M help | grep -q '^pc-lite ' || \
	    { echo "pc-lite: the built QEMU does not list the pc-lite machine"; exit 1; }
	@echo "pc-lite: $(QEMU_BIN) ($$($(QEMU_BIN) --version | head -1))"

# The same source with QEMU's default devices and features (q35, microvm,
# ...), x86_64-softmmu only, for the benchmark's comparisons.  Configured
# once; ninja rebuilds incrementally when patches/ or our files change.
qemu-full: deps
	@$(TOP)/scripts/prepare-qemu.sh
	@if [ ! -f $(QEMU_FULL_BUILD)/build.ninja ] || \
	    [ $(TOP)/scripts/qemu-lite-config.sh -nt $(QEMU_FULL_BUILD)/build.ninja ] || \
	    ! grep -q "$(QEMU_SRCDIR)" $(QEMU_FULL_BUILD)/config.status 2>/dev/null; then \
	    rm -rf $(QEMU_FULL_BUILD); \
	    echo "pc-lite: configuring the full QEMU in $(QEMU_FULL_BUILD)"; \
	    PC_LITE_FLAVOUR=full PYTHON=$(PYTHON) $(TOP)/scripts/qemu-lite-config.sh \
	        $(QEMU_SRCDIR) $(QEMU_FULL_BUILD) > $(BUILD)/configure-full.log 2>&1 || \
	        { tail -30 $(BUILD)/configure-full.log; exit 1; }; \
	fi
	@echo "pc-lite: building the full QEMU (ninja -j$(JOBS))"
	@ninja -C $(QEMU_FULL_BUILD) -j$(JOBS) qemu-system-x86_64 > $(BUILD)/ninja-full.log 2>&1 || \
	    { grep -m20 -E 'error:|FAILED' $(BUILD)/ninja-full.log || tail -40 $(BUILD)/ninja-full.log; exit 1; }
	@$(QEMU_FULL_BUILD)/qemu-system-x86_64 -M help | grep -q '^microvm ' || \
	    { echo "pc-lite: the full QEMU does not list microvm"; exit 1; }

# qboot and option ROMs from the source (with a kernel-entry marker),
# SeaBIOS from Debian; cached in build/firmware/KEY.
firmware: deps
	@$(TOP)/scripts/prepare-qemu.sh
	@dir=$$(PYTHON=$(PYTHON) $(TOP)/scripts/build-firmware.sh $(QEMU_SRCDIR) $(BUILD)/firmware) && \
	    echo "pc-lite: firmware in $$dir"

guest: deps
	@$(TOP)/scripts/build-guest.sh $(BUILD)/guest

demo: qemu guest
	@$(PYTHON) $(TOP)/tests/boot-time/demo.py

bench: qemu qemu-full firmware guest
	@$(PYTHON) $(TOP)/tests/boot-time/bench.py $(BENCH_ARGS)
	@$(PYTHON) $(TOP)/tests/boot-time/shared_root.py $(SHARED_ROOT_ARGS)
	@$(PYTHON) $(TOP)/tests/boot-time/clones.py $(CLONES_ARGS)

# Start-up cost under KVM (issue #6): ioctls by request and exec to the
# first guest instruction, -smp 1..64, pc-lite vs microvm; then what
# compile-time trimming buys.  build/bench/startup.{json,png}, trim.json.
# microvm and the untrimmed figures need build/qemu-full (make qemu-full).
bench-startup: qemu
	@$(PYTHON) $(TOP)/tests/boot-time/startup.py $(STARTUP_ARGS)
	@$(TOP)/scripts/qemu-lite-config.sh --report

check-qtest: qemu
	@$(TOP)/scripts/run-qtests.sh $(QEMU_BUILD)

# test_bench.py also imports the benchmark's bench_report.py.
check-boot: qemu guest
	@PYTHONPATH=$(TOP)/tests/boot-time:$$PYTHONPATH $(PYTHON) $(TOP)/tests/boot/run.py

check: check-qtest check-boot
	@echo "pc-lite: make check passed"

clean:
	rm -rf $(BUILD)
