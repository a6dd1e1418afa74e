#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# For developers: regenerate patches/ from the commits made on top of
# upstream in build/qemu-src (edit there, commit or "git commit --fixup" +
# "git rebase -i --autosquash"), and mark the tree as up to date so that
# the next "make" does not unpack it again.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
src=$top/build/qemu-src
base=$(git -C "$src" rev-list --max-parents=0 HEAD)
rm -f "$top"/patches/*.patch
git -C "$src" -c safe.directory='*' format-patch -q --no-signature \
    --zero-commit -o "$top/patches" "$base..HEAD"
origin=$(git -C "$src" log -1 --format=%s "$base" | sed -n 's/.*(\(.*\))$/\1/p')
{ echo "$origin"; cat "$top"/patches/*.patch; } | sha256sum | cut -c1-16 \
    > "$src/.pc-lite-stamp"
ls "$top/patches"
