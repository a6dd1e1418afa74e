#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install the Debian packages pc-lite needs, and meson >= 1.5 from
# bookworm-backports (bookworm has 1.0.1; QEMU 10 needs 1.5).  As root this
# installs what is missing; otherwise it prints the exact commands.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
missing=()
for p in "$@"; do
    if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing+=("$p")
    fi
done

meson_ok() {
    local v
    v=$(/usr/bin/python3 -c 'import mesonbuild.coredata as c; print(c.version)' 2>/dev/null) || return 1
    [ "$(printf '%s\n1.5.0\n' "$v" | sort -V | head -1)" = 1.5.0 ]
}

[ ${#missing[@]} -eq 0 ] && meson_ok && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "pc-lite: missing build dependencies; run as root:" >&2
    [ ${#missing[@]} -eq 0 ] || echo "  apt-get install -y ${missing[*]}" >&2
    meson_ok || echo "  $top/scripts/install-deps.sh   # meson >= 1.5 from bookworm-backports" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -ne 0 ]; then
    echo "pc-lite: installing ${missing[*]}"
    # No service of a package starts on the host (docker.io's dockerd
    # would make its bridge and firewall rules there): the tests start
    # private daemons themselves.  policy-rc.d's 101 is "action forbidden".
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -q >/dev/null
    # APT_NO_RECOMMENDS=1: what is asked for and its dependencies only
    # (libvirt's daemon would otherwise bring Debian's QEMU and more).
    apt-get install -y -q ${APT_NO_RECOMMENDS:+--no-install-recommends} \
        "${missing[@]}" >/dev/null
fi
if ! meson_ok; then
    echo "pc-lite: installing meson from bookworm-backports"
    dir=$(mktemp -d)
    export PC_LITE_APT=$top/build/apt
    "$top/scripts/apt-private.sh" update >/dev/null
    (cd "$dir" && "$top/scripts/apt-private.sh" apt-get download -q \
        -o APT::Sandbox::User=root meson/bookworm-backports >/dev/null)
    apt-get install -y -q "$dir"/meson_*.deb >/dev/null
    rm -rf "$dir"
    meson_ok || { echo "pc-lite: meson >= 1.5 is still missing" >&2; exit 1; }
fi
