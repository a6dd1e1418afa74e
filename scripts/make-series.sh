#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Export pc-lite as a patch series on pristine upstream QEMU, ready for
# "git am" (and for mailing): "make series SERIES_DIR=DIR".
#
# Usage: make-series.sh OUT_DIR
#
# build/qemu-src (scripts/prepare-qemu.sh) holds upstream as its root commit
# and one commit per patches/*.patch; our own files are only symlinked in.
# This script clones that upstream commit into a scratch tree, applies the
# patches in the order of patches/series, adds to each patch the files
# patches/series assigns to it (copied, not linked), and writes the result
# with "git format-patch" into OUT_DIR.  It refuses a manifest that does not
# match patches/ or leaves one of our files unassigned.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
src=$build/qemu-src
out=${1:?usage: make-series.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
manifest=$top/patches/series
author="pc-lite developers <pc-lite-devel@lists.pc-lite.org>"

die() { echo "make-series: $*" >&2; exit 1; }

[ -d "$src/.git" ] || die "no prepared tree in $src (run scripts/prepare-qemu.sh)"

# The manifest, as "PATCH_NAME" lines and "PATCH_NAME REPO_PATH QEMU_PATH"
# lines (PATCH_NAME "-" for files kept out); a folder stands for each of
# our files under it.
parse_manifest() {
    "$top/scripts/prepare-qemu.sh" --overlay > "$build/series-overlay.txt"
    awk '
        FNR == NR { overlay[++n] = $1; next }
        /^[ \t]*(#|$)/ { next }
        /^[^ \t]/ { name = $1; print name; next }
        $1 ~ /\/$/ {
            for (i = 1; i <= n; i++) {
                if (index(overlay[i], $1) == 1) {
                    print name, overlay[i], overlay[i]
                }
            }
            next
        }
        { to = (NF > 1) ? $2 : $1; print name, $1, to }
    ' "$build/series-overlay.txt" "$manifest"
}

# Patch names in patches/ order and in manifest order must be the same
# ("+NAME": a patch made of our files only, its message in patches/NAME.msg)
diff <(cd "$top/patches" && ls -- *.patch | sed 's/^[0-9]*-//; s/\.patch$//') \
     <(parse_manifest | awk 'NF == 1 && $1 != "-" && $1 !~ /^\+/') >/dev/null ||
    die "patches/series does not list patches/*.patch in order:
$(diff <(cd "$top/patches" && ls -- *.patch | sed 's/^[0-9]*-//; s/\.patch$//') \
       <(parse_manifest | awk 'NF == 1 && $1 != "-" && $1 !~ /^\+/') || true)"
for name in $(parse_manifest | awk 'NF == 1 && /^\+/ { print substr($1, 2) }'); do
    [ -f "$top/patches/$name.msg" ] || die "no patches/$name.msg for +$name"
done

# Every one of our files is assigned exactly once, at its QEMU path.
diff <("$top/scripts/prepare-qemu.sh" --overlay | sort) \
     <(parse_manifest | awk 'NF == 3 { print $2, $3 }' | sort) >/dev/null ||
    die "patches/series does not assign each overlay file once (< unassigned, > unknown):
$(diff <("$top/scripts/prepare-qemu.sh" --overlay | sort) \
       <(parse_manifest | awk 'NF == 3 { print $2, $3 }' | sort) || true)"

base=$(git -C "$src" -c safe.directory='*' rev-list --max-parents=0 HEAD)
tree=$build/series-tree
rm -rf "$tree"
git -c safe.directory='*' clone -q --shared --no-checkout "$src" "$tree"
g() {
    git -C "$tree" -c safe.directory='*' -c commit.gpgsign=false \
        -c user.name="${author% <*}" -c user.email="$(echo "$author" |
            sed 's/.*<\(.*\)>/\1/')" "$@"
}
g checkout -q -b series "$base"

# Commit the files added since the last commit: into it, or as the new
# patch +NAME.
commit_files() {
    if [ "${1:-}" ]; then
        g commit -q --no-verify -F "$top/patches/$1.msg"
    elif [ -n "$(g diff --cached --name-only)" ]; then
        g commit -q --amend --no-edit --no-verify
    fi
}

n=0
new=
while read -r name repo qemu; do
    [ "$name" != "-" ] || continue
    if [ -z "${repo:-}" ]; then
        commit_files "$new"
        new=
        n=$((n + 1))
        case "$name" in
        +*)
            new=${name#+}
            continue
            ;;
        esac
        patch=$(ls "$top"/patches/[0-9]*-"$name".patch)
        g am -q --whitespace=nowarn "$patch" ||
            die "$(basename "$patch") does not apply"
        continue
    fi
    mkdir -p "$tree/$(dirname "$qemu")"
    cp -L "$top/$repo" "$tree/$qemu"
    g add -- "$qemu"
done < <(parse_manifest)
commit_files "$new"

rm -rf "$out"
mkdir -p "$out"
g format-patch -q --no-signature --zero-commit --binary -o "$out" \
    "$base..HEAD"
echo "make-series: $n patches on QEMU $(cat "$tree/VERSION") in $out"
