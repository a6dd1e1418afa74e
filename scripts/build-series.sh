#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the exported patch series as someone receiving it would: a fresh
# checkout of pristine upstream, "git am" of every patch, configure (the
# trimmed pc-lite configuration), ninja, and check that the binary lists
# the pc-lite machine.  Nothing of this repository is linked in.
#
# Usage: build-series.sh SERIES_DIR OUT_DIR
#   OUT_DIR/qemu-src  pristine upstream + the series
#   OUT_DIR/qemu      the build (OUT_DIR/build.log, configure.log)
# The layout mirrors build/, so the shared ccache serves most objects.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
src=$build/qemu-src
dir=$(cd "${1:?usage: build-series.sh SERIES_DIR OUT_DIR}" && pwd)
out=${2:?usage: build-series.sh SERIES_DIR OUT_DIR}
jobs=${JOBS:-$(nproc)}

die() { echo "build-series: $*" >&2; exit 1; }

cache=${PC_LITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pc-lite}
origin=$(cat "$src/.pc-lite-origin" 2>/dev/null) ||
    die "no prepared tree in $src (run scripts/prepare-qemu.sh)"
rm -rf "$out"
mkdir -p "$out/qemu-src"
out=$(cd "$out" && pwd)
# The whole upstream tree, as released (git clones of build/qemu-src would
# lack the files upstream's .gitignore names, e.g. the subprojects).
case "$origin" in
debian:*)
    tar -xf "$cache/src/${origin#debian:}" -C "$out/qemu-src" \
        --strip-components=1 --no-same-owner
    ;;
local:*)
    cp -a "${origin#local:}/." "$out/qemu-src/"
    rm -rf "$out/qemu-src/.git"
    ;;
*)
    die "unknown origin '$origin'"
    ;;
esac
g() {
    git -C "$out/qemu-src" -c safe.directory='*' -c commit.gpgsign=false \
        -c user.name=build-series -c user.email=build-series@invalid "$@"
}
g init -q
g add -A -f
g commit -q -m "QEMU $(cat "$out/qemu-src/VERSION") ($origin)"
g am -q "$dir"/*.patch || die "the series does not apply"
echo "build-series: $(ls "$dir"/*.patch | wc -l) patches applied to" \
    "QEMU $(cat "$out/qemu-src/VERSION") in $out/qemu-src"

export CCACHE_BASEDIR=$out
start=$(date +%s)
"$top/scripts/qemu-lite-config.sh" "$out/qemu-src" "$out/qemu" \
    > "$out/configure.log" 2>&1 ||
    { tail -30 "$out/configure.log"; die "configure failed"; }
ninja -C "$out/qemu" -j"$jobs" qemu-system-x86_64 tests/qtest/pc-lite-test \
    > "$out/build.log" 2>&1 ||
    { grep -m20 -E 'error:|FAILED' "$out/build.log" || tail -40 "$out/build.log"
      die "the series does not build"; }
"$out/qemu/qemu-system-x86_64" -M help | grep -q '^pc-lite ' ||
    die "the built QEMU does not list the pc-lite machine"
echo "build-series: built in $(( $(date +%s) - start )) s:" \
    "$("$out/qemu/qemu-system-x86_64" --version | head -1)"
