#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Check the exported patch series ("make series"), quickly, for make check:
#  - it applies with "git am" to a fresh checkout of pristine upstream;
#  - the result is exactly the development tree: build/qemu-src with our
#    files in place, nothing missing, nothing extra;
#  - every patch has a subject line, a Signed-off-by that is not
#    @localhost, and passes QEMU's scripts/checkpatch.pl without errors.
# Building the result is left to "make series-build" (a full QEMU build).
#
# Usage: check-series.sh [SERIES_DIR]   (default: export into a temp dir)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
src=$build/qemu-src
fail=0

die() { echo "check-series: $*" >&2; exit 1; }
bad() { echo "check-series: $*" >&2; fail=1; }

tmp=$(mktemp -d "$build/check-series.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
dir=${1:+$(cd "$1" && pwd)}
if [ -z "$dir" ]; then
    dir=$tmp/series
    "$top/scripts/make-series.sh" "$dir" >/dev/null
fi
ls "$dir"/*.patch >/dev/null 2>&1 || die "no patches in $dir"

base=$(git -C "$src" -c safe.directory='*' rev-list --max-parents=0 HEAD)
head=$(git -C "$src" -c safe.directory='*' rev-parse HEAD)
g() {
    git -C "$tmp/qemu" -c safe.directory='*' -c commit.gpgsign=false \
        -c user.name=check-series -c user.email=check-series@invalid "$@"
}
git -c safe.directory='*' clone -q --shared --no-checkout "$src" "$tmp/qemu"
g checkout -q "$base"
g am -q "$dir"/*.patch > "$tmp/am.log" 2>&1 ||
    { cat "$tmp/am.log" >&2; die "the series does not apply with git am"; }

# The applied series against the development tree: the upstream files
# must be the same, and the only extra paths must be our files, equal.
declare -A ours
while read -r repo qemu; do
    ours[$qemu]=$repo
done < <("$top/scripts/prepare-qemu.sh" --overlay)
while read -r status path; do
    repo=${ours[$path]:-}
    if [ "$status" = A ] && [ -n "$repo" ]; then
        cmp -s "$top/$repo" "$tmp/qemu/$path" ||
            bad "$path in the series differs from $repo"
    elif [ "$status" = A ] || [ "$status" = D ] || [ "$status" = M ]; then
        bad "$path: the series and build/qemu-src differ ($status)"
    fi
done < <(g diff --no-renames --name-status "$head" HEAD)
while read -r qemu; do
    if [ -z "$(g ls-files -- "$qemu")" ]; then
        # Files the manifest keeps out of the series.
        grep -qE "^-$" "$top/patches/series" &&
            awk '/^-$/ { out = 1; next } /^[^ \t#]/ { out = 0 }
                 out && NF { print $1 }' "$top/patches/series" |
            grep -qxF "${ours[$qemu]}" ||
            bad "${ours[$qemu]} is in no patch"
    fi
done < <(printf '%s\n' "${!ours[@]}")

# Headers and style.
for p in "$dir"/*.patch; do
    name=$(basename "$p")
    grep -q '^Subject: \[PATCH' "$p" || bad "$name: no subject"
    grep -q '^Signed-off-by: .*<[^@>]*@[^>]*\.[a-z]*>' "$p" ||
        bad "$name: no Signed-off-by with a real address"
    if grep -q '@localhost' "$p"; then
        bad "$name: an @localhost address"
    fi
    if ! (cd "$src" && perl scripts/checkpatch.pl --no-color -q "$p") \
            > "$tmp/checkpatch.log" 2>&1; then
        # A patch of binary files only (expected test data) has no
        # unified diff for checkpatch.pl to read.
        if ! grep -q '^@@ ' "$p" && grep -q '^GIT binary patch' "$p"; then
            sed -i '/^ERROR: Does not appear to be a unified-diff/d' \
                "$tmp/checkpatch.log"
        fi
        if grep -q '^ERROR' "$tmp/checkpatch.log"; then
            cat "$tmp/checkpatch.log" >&2
            bad "$name: checkpatch.pl reports errors"
        fi
    fi
done

[ "$fail" = 0 ] || exit 1
echo "check-series: $(ls "$dir"/*.patch | wc -l) patches apply to QEMU" \
    "$(cat "$tmp/qemu/VERSION") with git am and equal the development tree"
