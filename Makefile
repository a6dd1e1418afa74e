# pc-lite: upstream QEMU 10.0 + a minimal, firmware-less x86 machine.
#
#   make demo    install what is missing, build, boot the bundled guest and
#                print its boot-time breakdown
#   make check   install what is missing, build (both QEMUs, firmware,
#                guest), run every test
#   make series  the patch series on pristine upstream QEMU, with our files
#                (SERIES_DIR, default build/series; see patches/series)
#   make stress  1000 boots, 8 at a time, kills during fsynced writes
#   make fuzz    the loader's libFuzzer targets and generic-fuzz on
#                pc-lite's devices, FUZZ_TIME seconds each (default 60)
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
QEMU_FUZZ_BUILD := $(BUILD)/qemu-fuzz
PC_LITE_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/pc-lite
PYTHON     := /usr/bin/python3
SERIES_DIR ?= $(BUILD)/series
JOBS       ?= $(shell nproc)

export PC_LITE_CACHE
export CCACHE_DIR ?= $(PC_LITE_CACHE)/ccache
export CCACHE_BASEDIR := $(TOP)
export CCACHE_NOHASHDIR := 1
export CCACHE_MAXSIZE ?= 5G
# pc-lite's package (python/pclite) and QEMU's python/qemu.
export PYTHONPATH := $(TOP)/python:$(QEMU_SRCDIR)/python$(if $(PYTHONPATH),:$(PYTHONPATH))

# Debian packages the build and tests need (meson >= 1.5 comes from
# bookworm-backports through scripts/apt-private.sh).  libfdt-dev: the full
# QEMU leaves microvm out without it.
DEB_PACKAGES := build-essential ninja-build pkg-config libglib2.0-dev \
	libpixman-1-dev python3-venv flex bison bc libelf-dev libssl-dev cpio \
	ccache linux-source-6.1 busybox-static e2fsprogs python3-matplotlib \
	strace xz-utils git file seabios libfdt-dev \
	libseccomp-dev libjansson-dev

.PHONY: all deps deps-engines deps-libvirt deps-fuzz fuzz fuzz-loader fuzz-oci check-unit fuzz-coverage qemu-fuzz check-fuzz oci stress qemu qemu-full firmware guest demo bench bench-startup check check-qtest \
	check-boot check-series series series-build rebuild-acpi clean

all: qemu guest oci

# The host tools: pc-lite-run (run/) and the OCI runtime pc-lite-oci
# (oci/, docs/pc-lite.rst "Containers: pc-lite-oci") over one host
# library (host/: the VM's command line, templates, the channel's host
# end, QMP), beside the QEMU binary they start.  Linked statically
# (GLib, jansson, libc): an engine runs pc-lite-oci several times per
# container, and loading shared libraries was most of its CPU time
# (docs/bench/oci.md).
HOST_CFLAGS := -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wno-sign-compare -Wno-missing-field-initializers
HOST_SRC := $(wildcard $(TOP)/host/*.c)
HOST_DEPS := $(HOST_SRC) $(TOP)/host/host.h $(TOP)/proto/channel.h
HOST_LIB := $(BUILD)/host/libpclite-host.a
OCI_BIN := $(BUILD)/pc-lite-oci
OCI_SRC := $(wildcard $(TOP)/oci/*.c $(TOP)/oci/*.h)
RUN_BIN := $(BUILD)/pc-lite-run
POOL_BIN := $(BUILD)/pc-lite-pool
oci: $(OCI_BIN) $(RUN_BIN) $(POOL_BIN)
$(HOST_LIB): $(HOST_DEPS) | deps
	@mkdir -p $(BUILD)/host
	@echo "pc-lite: building $@"
	@cd $(BUILD)/host && $(CC) $(HOST_CFLAGS) -c \
	    $$(pkg-config --cflags glib-2.0 jansson) $(HOST_SRC) && \
	    rm -f $@ && ar rcs $@ $(notdir $(HOST_SRC:.c=.o))
# $(call link-tool,OUTPUT,SOURCES)
define link-tool
	@echo "pc-lite: building $(1)"
	@# (linked to a new file and renamed: a tool that runs keeps its file)
	@$(CC) $(HOST_CFLAGS) -static $$(pkg-config --cflags glib-2.0 jansson) \
	    -o $(1).new $(2) $(HOST_LIB) \
	    $$(pkg-config --static --libs glib-2.0 jansson) \
	    > $(1).log 2>&1 || { cat $(1).log; exit 1; }
	@mv -f $(1).new $(1)
	@# The linker's note on getpwnam() and getpwuid() in a static program
	@# (pc-lite-run's --qemu-user; GLib's, never reached) stays in the log.
	@grep -v -e 'getpw' -e 'g_get_user_database_entry' -e ': in function' $(1).log || true
endef
$(OCI_BIN): $(OCI_SRC) $(HOST_LIB)
	$(call link-tool,$@,$(filter %.c,$^))
$(RUN_BIN): $(TOP)/run/pc-lite-run.c $(HOST_LIB)
	$(call link-tool,$@,$(TOP)/run/pc-lite-run.c)
$(POOL_BIN): $(TOP)/pool/pc-lite-pool.c $(HOST_LIB)
	$(call link-tool,$@,$(TOP)/pool/pc-lite-pool.c)

deps:
	@$(TOP)/scripts/install-deps.sh $(DEB_PACKAGES)

# The container engines the OCI runtime's tests and benchmark drive
# (tests/boot/test_oci.py, tests/boot-time/oci.py), from Debian; netavark
# publishes ports with iptables, pc-lite-oci joins taps with iproute2's tc.
ENGINE_PACKAGES := podman conmon runc containerd netavark aardvark-dns \
	catatonit uidmap slirp4netns iptables iproute2
# Docker (dockerd 20.10 and its CLI) without recommends; the tests run a
# private dockerd in namespaces of its own, never the host's service.
DOCKER_PACKAGES := docker.io
deps-engines:
	@$(TOP)/scripts/install-deps.sh $(ENGINE_PACKAGES)
	@APT_NO_RECOMMENDS=1 $(TOP)/scripts/install-deps.sh $(DOCKER_PACKAGES)

# libvirt for tests/boot/test_libvirt.py, which runs a private libvirtd
# of its own (config, socket, state under a temporary directory, in a
# mount namespace).  The daemon, its QEMU driver and virsh only, without
# recommends: not libvirt-daemon-system, whose services and default
# network would start on the host, nor Debian's QEMU.
LIBVIRT_PACKAGES := libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
deps-libvirt:
	@APT_NO_RECOMMENDS=1 $(TOP)/scripts/install-deps.sh $(LIBVIRT_PACKAGES)

# One recipe for both QEMU builds: prepare the tree, configure once (again
# when the configure script, the device set or the source tree changes),
# then ninja (which re-runs meson itself when a meson.build or Kconfig
# changes), and check that the binary lists the machine the build is for.
#   $(call build-qemu,BUILD_DIR,FLAVOUR,LOG_SUFFIX,MACHINE,WHAT[,FILES[,TARGETS]])
# FILES: further inputs that call for configuring again when newer than
# the build (e.g. a library header installed since); TARGETS: further
# ninja targets.
define build-qemu
	@$(TOP)/scripts/prepare-qemu.sh
	@if [ ! -f $(1)/build.ninja ] || \
	    [ $(TOP)/scripts/qemu-lite-config.sh -nt $(1)/build.ninja ] || \
	    [ $(TOP)/configs/pc-lite.mak -nt $(1)/build.ninja ] || \
	    $(foreach f,$(6),[ $(f) -nt $(1)/build.ninja ] || )\
	    ! grep -q "$(QEMU_SRCDIR)" $(1)/config.status 2>/dev/null; then \
	    rm -rf $(1); \
	    echo "pc-lite: configuring $(5) in $(1)"; \
	    PC_LITE_FLAVOUR=$(2) PYTHON=$(PYTHON) \
	        $(TOP)/scripts/qemu-lite-config.sh $(QEMU_SRCDIR) $(1) \
	        > $(BUILD)/configure$(3).log 2>&1 || \
	        { tail -30 $(BUILD)/configure$(3).log; exit 1; }; \
	fi
	@echo "pc-lite: building $(5) (ninja -j$(JOBS))"
	@ninja -C $(1) -j$(JOBS) qemu-system-x86_64 $(7) > $(BUILD)/ninja$(3).log 2>&1 || \
	    { grep -m20 -E 'error:|FAILED' $(BUILD)/ninja$(3).log || \
	      tail -40 $(BUILD)/ninja$(3).log; exit 1; }
	@$(1)/qemu-system-x86_64 -M help | grep -q '^$(4) ' || \
	    { echo "pc-lite: $(5) does not list the $(4) machine"; \
	      grep -iE '^ *(fdt support|kvm support)' $(BUILD)/configure$(3).log; \
	      exit 1; }
endef

qemu: deps
	$(call build-qemu,$(QEMU_BUILD),lite,,pc-lite,QEMU)
	@ln -sfn $(QEMU_BUILD)/qemu-system-x86_64 $(QEMU_BIN)
	@echo "pc-lite: $(QEMU_BIN) ($$($(QEMU_BIN) --version | head -1))"

# The same source with QEMU's default devices and features (q35, microvm,
# ...), x86_64-softmmu only, for the benchmark's comparisons.
qemu-full: deps
	$(call build-qemu,$(QEMU_FULL_BUILD),full,-full,microvm,the full QEMU,\
	    /usr/include/libfdt.h)

# qboot and option ROMs from the source (with a kernel-entry marker),
# SeaBIOS from Debian; cached in build/firmware/KEY.
firmware: deps
	@$(TOP)/scripts/prepare-qemu.sh
	@dir=$$(PYTHON=$(PYTHON) $(TOP)/scripts/build-firmware.sh $(QEMU_SRCDIR) $(BUILD)/firmware) && \
	    echo "pc-lite: firmware in $$dir"

guest: deps
	@$(TOP)/scripts/build-guest.sh $(BUILD)/guest

demo: qemu guest oci
	@$(PYTHON) $(TOP)/tests/boot-time/demo.py

bench: qemu qemu-full firmware guest oci deps-engines
	@$(PYTHON) $(TOP)/tests/boot-time/bench.py $(BENCH_ARGS)
	@$(PYTHON) $(TOP)/tests/boot-time/shared_root.py $(SHARED_ROOT_ARGS)
	@$(PYTHON) $(TOP)/tests/boot-time/clones.py $(CLONES_ARGS)
	@$(PYTHON) $(TOP)/tests/boot-time/pool.py $(POOL_ARGS)
	@$(PYTHON) $(TOP)/tests/boot-time/oci.py $(OCI_ARGS)
	@$(PYTHON) $(TOP)/tests/boot-time/sandbox.py $(SANDBOX_ARGS)
	@$(PYTHON) $(TOP)/tests/boot-time/shared_kernel.py $(SHARED_KERNEL_ARGS)
	@$(PYTHON) $(TOP)/tests/boot-time/surface.py $(SURFACE_ARGS)

# Start-up cost under KVM (issue #6): ioctls by request and exec to the
# first guest instruction, -smp 1..64, pc-lite vs microvm; then what
# compile-time trimming buys.  build/bench/startup.{json,png}, trim.json.
# microvm and the untrimmed figures need build/qemu-full (make qemu-full).
bench-startup: qemu
	@$(PYTHON) $(TOP)/tests/boot-time/startup.py $(STARTUP_ARGS)
	@$(TOP)/scripts/qemu-lite-config.sh --report

# The patch series on pristine upstream, ready for git am / mailing, with
# our files added by the patches listed in patches/series.
series: deps
	@$(TOP)/scripts/prepare-qemu.sh
	@$(TOP)/scripts/make-series.sh $(SERIES_DIR)

# Apply the exported series to pristine upstream and build it (x86_64,
# default configuration of the trimmed build), once, outside build/qemu.
series-build: series
	@$(TOP)/scripts/check-series.sh $(SERIES_DIR)
	@$(TOP)/scripts/build-series.sh $(SERIES_DIR) $(BUILD)/series-build

# Quick: the series applies with git am and equals the development tree.
check-series: deps
	@$(TOP)/scripts/prepare-qemu.sh
	@$(TOP)/scripts/check-series.sh

# Regenerate pc-lite's expected ACPI tables (tests/data/acpi/x86/pc-lite/,
# compared by tests/qtest/pc-lite-test) from the current build, after an
# intended change to the tables; review with git diff and commit them.
rebuild-acpi: qemu
	@ninja -C $(QEMU_BUILD) tests/qtest/pc-lite-test > $(BUILD)/qtest-build.log 2>&1 || \
	    { tail -30 $(BUILD)/qtest-build.log; exit 1; }
	@mkdir -p $(TOP)/tests/data/acpi/x86/pc-lite
	@cd $(QEMU_BUILD) && QTEST_QEMU_BINARY=./qemu-system-x86_64 \
	    TEST_ACPI_REBUILD_AML=y PC_LITE_ACPI_DATA=$(TOP)/tests/data/acpi \
	    tests/qtest/pc-lite-test -p /x86_64/pc-lite/acpi/expected
	@$(TOP)/scripts/prepare-qemu.sh
	@git -C $(TOP) status --short -- tests/data/acpi

# Stress and faults (tests/boot/stress.py): 1000 boots back to back and
# 8 at a time, QEMU killed while a --persist guest writes fsynced files
# (the image must be fsck-clean and keep them); build/stress/stress.json.
# make check runs a short version (tests/boot/test_stress.py).
stress: qemu guest oci
	@$(PYTHON) $(TOP)/tests/boot/stress.py $(STRESS_ARGS)

check-qtest: qemu
	@$(TOP)/scripts/run-qtests.sh $(QEMU_BUILD)

# The boot tests include one quick run of every benchmark configuration,
# so the full QEMU and the firmware are built too: a dependency the
# benchmark needs fails here, not in make bench.  test_bench.py also
# imports the benchmark's bench_report.py.
check-boot: qemu qemu-full firmware guest oci deps-engines deps-libvirt
	@PYTHONPATH=$(TOP)/tests/boot-time:$$PYTHONPATH $(PYTHON) $(TOP)/tests/boot/run.py

# Fuzzing (tests/fuzz, docs/pc-lite.rst "Fuzzing"): libFuzzer targets on
# the loader's plan (hw/i386/direct_boot_plan.c) with ASan and UBSan,
# linked with the trimmed build's libqemuutil; machine shapes for the ACPI
# builder, run in the sanitized QEMU (fuzz_acpi.c); QEMU's generic-fuzz on
# pc-lite's devices from a clang build of the trimmed QEMU with ASan and
# UBSan (build/qemu-fuzz).  FUZZ_TIME seconds per target; exits non-zero
# on any finding; build/fuzz/fuzz.json.  make check runs each briefly.
FUZZ_PACKAGES := clang libclang-rt-14-dev
FUZZ_TIME ?= 60
CHECK_FUZZ_TIME ?= 20
# The OCI targets run longer in make fuzz: 10^7 executions each at least.
FUZZ_OCI_TIME ?= 300
FUZZ_LOADER := elf bzimage placement
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -I$(QEMU_BUILD) -I$(QEMU_BUILD)/qapi \
	-I$(QEMU_SRCDIR)/include -I$(QEMU_SRCDIR) \
	-I$(QEMU_SRCDIR)/host/include/x86_64 \
	-I$(QEMU_SRCDIR)/host/include/generic -I$(QEMU_SRCDIR)/linux-headers

deps-fuzz:
	@$(TOP)/scripts/install-deps.sh $(FUZZ_PACKAGES)

qemu-fuzz: deps deps-fuzz
	$(call build-qemu,$(QEMU_FUZZ_BUILD),fuzz,-fuzz,pc-lite,the fuzzing QEMU,,\
	    qemu-fuzz-x86_64)

fuzz-loader: qemu deps-fuzz
	@mkdir -p $(BUILD)/fuzz
	@for t in $(FUZZ_LOADER); do \
	    clang $(FUZZ_CFLAGS) -DFUZZ_TARGET=FUZZ_$$(echo $$t | tr a-z A-Z) \
	        $$(pkg-config --cflags glib-2.0) -o $(BUILD)/fuzz/fuzz-$$t \
	        $(TOP)/tests/fuzz/fuzz_loader.c $(TOP)/hw/i386/direct_boot_plan.c \
	        $(QEMU_BUILD)/libqemuutil.a $$(pkg-config --libs glib-2.0) -lm \
	        || exit 1; \
	done
	@clang $(FUZZ_CFLAGS) $$(pkg-config --cflags glib-2.0) \
	    -o $(BUILD)/fuzz/fuzz-acpi $(TOP)/tests/fuzz/fuzz_acpi.c \
	    $$(pkg-config --libs glib-2.0)

# Source coverage of the loader's plan by the loader targets' corpora
# (FUZZ_CORPUS, default build/fuzz/corpus, with tests/fuzz/corpus): the
# targets built with clang's coverage instrumentation, each corpus run
# once, llvm-cov's report on hw/i386/direct_boot_plan.c in
# build/fuzz/coverage.txt.
FUZZ_CORPUS ?= $(BUILD)/fuzz/corpus
fuzz-coverage: fuzz-loader
	@rm -rf $(BUILD)/fuzz/cov && mkdir -p $(BUILD)/fuzz/cov
	@for t in $(FUZZ_LOADER); do \
	    clang $(FUZZ_CFLAGS) -fprofile-instr-generate -fcoverage-mapping \
	        -DFUZZ_TARGET=FUZZ_$$(echo $$t | tr a-z A-Z) \
	        $$(pkg-config --cflags glib-2.0) -o $(BUILD)/fuzz/cov/$$t \
	        $(TOP)/tests/fuzz/fuzz_loader.c $(TOP)/hw/i386/direct_boot_plan.c \
	        $(QEMU_BUILD)/libqemuutil.a $$(pkg-config --libs glib-2.0) -lm \
	        || exit 1; \
	    LLVM_PROFILE_FILE=$(BUILD)/fuzz/cov/$$t.profraw \
	        $(BUILD)/fuzz/cov/$$t -runs=0 $(FUZZ_CORPUS)/$$t \
	        $(TOP)/tests/fuzz/corpus/$$t > $(BUILD)/fuzz/cov/$$t.log 2>&1 \
	        || { tail -5 $(BUILD)/fuzz/cov/$$t.log; exit 1; }; \
	done
	@llvm-profdata merge -o $(BUILD)/fuzz/cov/all.profdata \
	    $(BUILD)/fuzz/cov/*.profraw
	@llvm-cov report $(BUILD)/fuzz/cov/elf \
	    $(foreach t,$(filter-out elf,$(FUZZ_LOADER)),-object $(BUILD)/fuzz/cov/$(t)) \
	    -instr-profile=$(BUILD)/fuzz/cov/all.profdata \
	    $(TOP)/hw/i386/direct_boot_plan.c | tee $(BUILD)/fuzz/coverage.txt

# The OCI runtime's parsers of untrusted input: the channel's host end
# (what a guest writes) and config.json (what an engine hands it).
FUZZ_OCI := guest-frames oci-config
OCI_FUZZ_SRC := $(addprefix $(TOP)/oci/,spec.c hooks.c util.c cgroup.c) \
	$(HOST_SRC)
fuzz-oci: deps deps-fuzz
	@mkdir -p $(BUILD)/fuzz
	@for t in $(FUZZ_OCI); do \
	    clang -g -O1 -fsanitize=fuzzer,address,undefined \
	        -fno-sanitize-recover=undefined \
	        $$(pkg-config --cflags glib-2.0 jansson) \
	        -o $(BUILD)/fuzz/fuzz-$$t \
	        $(TOP)/tests/fuzz/fuzz_$$(echo $$t | tr - _).c $(OCI_FUZZ_SRC) \
	        $$(pkg-config --libs glib-2.0 jansson) || exit 1; \
	done

fuzz: fuzz-loader fuzz-oci qemu-fuzz guest
	@$(PYTHON) $(TOP)/tests/fuzz/fuzz.py --time $(FUZZ_TIME) \
	    --oci-time $(FUZZ_OCI_TIME) $(FUZZ_ARGS)

check-fuzz: fuzz-loader fuzz-oci qemu-fuzz guest
	@$(PYTHON) $(TOP)/tests/fuzz/fuzz.py --time $(CHECK_FUZZ_TIME)

# The last line: the boot tests this machine skipped for want of KVM, by
# name (tests/boot/run.py), so a reader sees what was not checked here.
# The fast tier (tests/unit): no VM, no engine, seconds.  The host
# library's command lines, template checks, sizes, trace phases and
# session (host_unit.c), the OCI runtime's channel host end, config
# parser, cgroup paths and hook state (oci_unit.c), both with GLib's
# harness under ASan and UBSan, and the Python helpers' constants and
# phases against the C side's.
UNIT_OCI_SRC := $(addprefix $(TOP)/oci/,spec.c hooks.c util.c cgroup.c)
UNIT_CFLAGS := -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wno-sign-compare -Wno-missing-field-initializers \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
check-unit: deps
	@mkdir -p $(BUILD)/unit
	@$(CC) $(UNIT_CFLAGS) $$(pkg-config --cflags glib-2.0 jansson) \
	    -o $(BUILD)/unit/host-unit $(TOP)/tests/unit/host_unit.c \
	    $(HOST_SRC) $$(pkg-config --libs glib-2.0 jansson)
	@$(CC) $(UNIT_CFLAGS) $$(pkg-config --cflags glib-2.0 jansson) \
	    -o $(BUILD)/unit/oci-unit $(TOP)/tests/unit/oci_unit.c \
	    $(UNIT_OCI_SRC) $(HOST_SRC) $$(pkg-config --libs glib-2.0 jansson)
	@PC_LITE_TEST_DATA=$(TOP)/tests/data $(BUILD)/unit/host-unit --tap -q
	@$(BUILD)/unit/oci-unit --tap -q
	@PYTHONPATH=$(TOP)/python $(PYTHON) -m unittest discover -s $(TOP)/tests/unit \
	    -p 'test_*.py'

check: check-unit check-series check-qtest check-boot check-fuzz
	@echo "pc-lite: make check passed"
	@echo "pc-lite: $$(cat $(BUILD)/check-kvm-skips.txt)"

clean:
	rm -rf $(BUILD)
