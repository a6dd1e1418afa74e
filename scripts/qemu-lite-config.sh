#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Configure QEMU for pc-lite: x86_64-softmmu only, KVM and TCG, the device
# set of configs/pc-lite.mak and nothing else, and no optional features
# beyond what pc-lite uses.  Everything left out here is left out of the
# binary at compile time.
#
# Usage: qemu-lite-config.sh SRC_DIR BUILD_DIR [extra configure args...]
#   PC_LITE_FLAVOUR=lite (default) | full | fuzz
#     full keeps QEMU's default devices and features (for comparisons);
#     fuzz is lite built by clang with libFuzzer, ASan and UBSan, for
#     QEMU's generic-fuzz on pc-lite's devices (make fuzz, tests/fuzz).
#        qemu-lite-config.sh --report [--runs N]
#     measures what trimming buys, now, on this host: binary size, shared
#     libraries, peak RSS and start-up time of build/qemu against
#     build/qemu-full (the same source with defaults; "make qemu-full").
set -eu

if [ "${1:-}" = "--report" ]; then
    shift
    top=$(cd "$(dirname "$0")/.." && pwd)
    PYTHONPATH="$top/build/qemu-src/python${PYTHONPATH:+:$PYTHONPATH}" \
        exec "${PYTHON:-/usr/bin/python3}" \
        "$top/tests/boot-time/startup_trim.py" "$@"
fi

src=$(cd "$1" && pwd)
out=$2
shift 2
flavour=${PC_LITE_FLAVOUR:-lite}
python=${PYTHON:-/usr/bin/python3}

case "$flavour" in
lite|fuzz)
    if [ "$flavour" = lite ]; then
        # Relative relocations packed (DT_RELR, binutils >= 2.38 and glibc
        # >= 2.36): the PIE binary's 1.2 MB of .rela.dyn, read by ld.so at
        # every start and then resident for nothing, shrinks to a few KB.
        set -- --extra-ldflags=-Wl,-z,pack-relative-relocs "$@"
        # --without-default-features turns malloc_trim() off, and then
        # QEMU's RCU thread never gives the heap's free pages back: 1.4
        # MiB of an idle pc-lite-run VM under TCG.
        set -- --enable-malloc-trim "$@"
    else
        set -- --cc=clang --cxx=clang++ \
            --enable-fuzzing --enable-asan --enable-ubsan "$@"
    fi
    set -- \
        --without-default-devices \
        --with-devices-x86_64=pc-lite \
        --without-default-features \
        --enable-kvm \
        --enable-tcg \
        --enable-vhost-kernel \
        --enable-vhost-net \
        --enable-attr \
        --enable-virtfs \
        --enable-seccomp \
        "$@"
    ;;
full)
    ;;
*)
    echo "qemu-lite-config.sh: unknown PC_LITE_FLAVOUR '$flavour'" >&2
    exit 2
    ;;
esac

# ccache (with CCACHE_BASEDIR/CCACHE_NOHASHDIR set by the Makefile) lets a
# fresh clone in another folder reuse earlier compilations.
if [ -z "${CC:-}" ] && command -v ccache >/dev/null 2>&1; then
    if [ "$flavour" = fuzz ]; then
        set -- "$@" --cc="ccache clang" --cxx="ccache clang++"
    else
        set -- --cc="ccache cc" "$@"
    fi
fi

mkdir -p "$out"
cd "$out"
exec "$src/configure" \
    --python="$python" \
    --target-list=x86_64-softmmu \
    --disable-docs \
    --disable-user \
    --disable-download \
    --disable-install-blobs \
    --enable-trace-backends=log \
    "$@"
