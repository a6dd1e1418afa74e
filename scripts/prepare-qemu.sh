#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Make build/qemu-src: upstream QEMU 10.0.x plus pc-lite.
#
#  1. Upstream comes from $QEMU_SRC (a local tree, e.g. a v10.0.x checkout)
#     or from Debian trixie's source package "qemu", fetched with a private
#     apt configuration (scripts/apt-private.sh) and unpacked without
#     Debian's own patches.  The newest 10.0.x is taken; anything else is
#     refused.
#  2. The tree becomes a git repository and patches/*.patch are applied in
#     order with "git am"; a patch that does not apply stops the build with
#     its name.
#  3. Our new files are symlinked into the tree at the same paths, so that
#     editing them needs no copy step ("prepare-qemu.sh --overlay" lists
#     them; "make series" puts them into the patches, see patches/series).
#
# The tree is rebuilt only when upstream or the patch series changes.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
src=$build/qemu-src
cache=${PC_LITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pc-lite}
apt="$top/scripts/apt-private.sh"
export PC_LITE_APT=$build/apt

die() { echo "prepare-qemu: $*" >&2; exit 1; }

check_version() {
    case "$1" in
    10.0.[0-9]*) ;;
    *) die "upstream QEMU $1 is not 10.0.x: pc-lite is pinned to QEMU 10.0" ;;
    esac
}

# Our files: the sources and documents under these folders, the expected
# ACPI tables of tests/data/acpi, plus the device config.
overlay_files() {
    local d dirs=()
    for d in hw target include tests/qtest docs; do
        [ -d "$top/$d" ] && dirs+=("$d")
    done
    (cd "$top" && find "${dirs[@]}" -type f \
        \( -name '*.c' -o -name '*.h' -o -name '*.rst' \) &&
        { find tests/data/acpi -type f 2>/dev/null || true; }) | sort
}

# "REPO_PATH QEMU_PATH" for each of our files.
overlay_map() {
    overlay_files | sed 's/.*/& &/'
    echo "configs/pc-lite.mak configs/devices/x86_64-softmmu/pc-lite.mak"
}

if [ "${1:-}" = "--overlay" ]; then
    overlay_map
    exit 0
fi

link_overlay() {
    local f
    # Links left by files that were renamed or removed since.
    find "$src" -type l -lname "$top/*" ! -exec test -e {} \; -delete
    local to
    overlay_map | while read -r f to; do
        mkdir -p "$src/$(dirname "$to")"
        ln -sfn "$top/$f" "$src/$to"
    done
    # Keep the links out of "git status" in the prepared tree.
    { overlay_map | cut -d' ' -f2; echo .pc-lite-stamp; echo .pc-lite-origin; } \
        > "$src/.git/info/exclude"
}

fetch_debian() {
    local dsc ver
    mkdir -p "$cache/src"
    if ! "$apt" update >"$build/apt-update.log" 2>&1; then
        echo "prepare-qemu: apt update failed (see $build/apt-update.log); trying the cache" >&2
    fi
    ver=$("$apt" apt-cache showsrc qemu 2>/dev/null |
          sed -n 's/^Version: //p' | sort -V | tail -1 || true)
    if [ -n "$ver" ]; then
        upstream=${ver#*:}
        upstream=${upstream%%+*}
        upstream=${upstream%%-*}
        check_version "$upstream"
        if [ -z "$(ls "$cache/src"/qemu_"$upstream"*.orig.tar.* 2>/dev/null)" ]; then
            echo "prepare-qemu: downloading Debian source qemu $ver"
            (cd "$cache/src" && "$apt" apt-get source --download-only -q \
                -o APT::Sandbox::User="$(id -un)" "qemu=$ver" >/dev/null) ||
                die "could not download the qemu source package"
        fi
    fi
    tarball=$(ls "$cache/src"/qemu_10.0.*.orig.tar.* 2>/dev/null | sort -V | tail -1 || true)
    [ -n "$tarball" ] || die "no QEMU 10.0.x source: apt failed and nothing is cached"
    upstream=$(basename "$tarball")
    upstream=${upstream#qemu_}
    upstream=${upstream%%+*}
    upstream=${upstream%.orig.tar.*}
    check_version "$upstream"
    origin="debian:$(basename "$tarball")"
}

series_stamp() {
    { echo "$1"; cat "$top"/patches/*.patch; } | sha256sum | cut -c1-16
}

mkdir -p "$build"
# A prepared tree whose stamp still matches is used as it is, before apt is
# touched: the stamp covers the origin recorded in the tree and the patches.
if [ -z "${QEMU_SRC:-}" ] && [ -f "$src/.pc-lite-stamp" ] &&
   [ -f "$src/.pc-lite-origin" ]; then
    origin=$(cat "$src/.pc-lite-origin")
    case "$origin" in
    debian:*)
        if [ -f "$cache/src/${origin#debian:}" ] &&
           [ "$(cat "$src/.pc-lite-stamp")" = "$(series_stamp "$origin")" ]; then
            link_overlay
            exit 0
        fi
        ;;
    esac
fi

if [ -n "${QEMU_SRC:-}" ]; then
    [ -f "$QEMU_SRC/VERSION" ] || die "QEMU_SRC=$QEMU_SRC is not a QEMU source tree"
    upstream=$(cat "$QEMU_SRC/VERSION")
    check_version "$upstream"
    origin="local:$(cd "$QEMU_SRC" && pwd)"
else
    fetch_debian
fi

stamp=$(series_stamp "$origin")
if [ -f "$src/.pc-lite-stamp" ] && [ "$(cat "$src/.pc-lite-stamp")" = "$stamp" ]; then
    echo "$origin" > "$src/.pc-lite-origin"
    link_overlay
    exit 0
fi

echo "prepare-qemu: preparing QEMU $upstream ($origin)"
rm -rf "$src" "$src.tmp"
mkdir -p "$src.tmp"
if [ -n "${QEMU_SRC:-}" ]; then
    if git -C "$QEMU_SRC" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$QEMU_SRC" archive --format=tar HEAD | tar -x -C "$src.tmp"
    else
        cp -a "$QEMU_SRC/." "$src.tmp/"
        rm -rf "$src.tmp/.git"
    fi
else
    tar -xf "$tarball" -C "$src.tmp" --strip-components=1 --no-same-owner
fi
[ "$(cat "$src.tmp/VERSION")" = "$upstream" ] ||
    die "tree VERSION $(cat "$src.tmp/VERSION") does not match $upstream"

git_q() { git -C "$src.tmp" -c safe.directory="*" \
              -c user.name="pc-lite developers" \
              -c user.email=pc-lite-devel@lists.pc-lite.org \
              -c commit.gpgsign=false "$@"; }
git_q init -q
git_q add -A >/dev/null
git_q commit -q -m "Upstream QEMU $upstream ($origin)"
for p in "$top"/patches/*.patch; do
    [ -e "$p" ] || continue
    if ! git_q am -q --whitespace=nowarn "$p" >"$build/patch.log" 2>&1; then
        cat "$build/patch.log" >&2
        die "patch $(basename "$p") does not apply to QEMU $upstream"
    fi
done
mv "$src.tmp" "$src"
link_overlay
echo "$stamp" > "$src/.pc-lite-stamp"
echo "$origin" > "$src/.pc-lite-origin"
echo "prepare-qemu: QEMU $upstream with $(ls "$top"/patches/*.patch 2>/dev/null | wc -l) patches in $src"
