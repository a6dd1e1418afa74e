#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run apt-get/apt-cache against a private configuration: Debian trixie
# sources and bookworm-backports binaries, with lists and caches under
# $PC_LITE_APT (default: build/apt).  The system's apt sources are never
# touched and no root is needed for update/source/download.
#
# Usage: apt-private.sh update | apt-get ARGS... | apt-cache ARGS...
set -eu

dir=${PC_LITE_APT:-$(pwd)/build/apt}
mirror=${PC_LITE_MIRROR:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
cat > "$dir/sources.list" <<EOF
deb-src [signed-by=$keyring] $mirror trixie main
deb [signed-by=$keyring] $mirror bookworm-backports main
EOF

set -- "$@"
cmd=$1
shift
case "$cmd" in
update) set -- apt-get update -q ;;
apt-get|apt-cache) set -- "$cmd" "$@" ;;
*) echo "apt-private.sh: unknown command '$cmd'" >&2; exit 2 ;;
esac
prog=$1
shift
exec "$prog" \
    -o Dir::Etc::SourceList="$dir/sources.list" \
    -o Dir::Etc::SourceParts=/nonexistent \
    -o Dir::State::Lists="$dir/lists" \
    -o Dir::Cache="$dir/cache" \
    -o Debug::NoLocking=1 \
    "$@"
