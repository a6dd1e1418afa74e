#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the pc-lite test guest from Debian packages and guest/:
#   vmlinux (ELF with the PVH note), bzImage, vmlinux-nopvh (the same
#   kernel with its PVH note removed), init (static), initramfs.cpio.gz.
# Results are cached outside the clone under $PC_LITE_CACHE/guest/KEY,
# keyed by a hash of their inputs, and linked into $1 (default build/guest).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/guest}
cache=${PC_LITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pc-lite}
ksrc_tar=$(ls /usr/src/linux-source-6.1.tar.* 2>/dev/null | head -1 || true)
if [ -z "$ksrc_tar" ]; then
    echo "build-guest: linux-source-6.1 is not installed (apt-get install linux-source-6.1)" >&2
    exit 1
fi
kver=$(dpkg-query -W -f '${Version}' linux-source-6.1)
ncpu=$(nproc)

hash() { sha256sum | cut -c1-16; }
kkey=$( { echo "$kver"; cat "$top/guest/kernel.config"; sed -n '/^# kernel-build-begin/,/^# kernel-build-end/p' "$0"; } | hash)
ikey=$( { cat "$top"/guest/*.[ch] "$top/proto/channel.h" "$top/guest/initramfs.list"; gcc --version | head -1; echo "$kkey"; } | hash)
kdir=$cache/guest/kernel-$kkey
idir=$cache/guest/init-$ikey

# kernel-build-begin
build_kernel() {
    local src=$cache/guest/linux-source-$kver
    local tmp=$kdir.tmp
    if [ ! -f "$src/.unpacked" ]; then
        echo "build-guest: unpacking $ksrc_tar"
        rm -rf "$src" && mkdir -p "$src"
        tar -xf "$ksrc_tar" -C "$src" --strip-components=1
        touch "$src/.unpacked"
    fi
    rm -rf "$tmp" && mkdir -p "$tmp/obj"
    echo "build-guest: configuring Linux $kver (allnoconfig + guest/kernel.config)"
    make -s -C "$src" O="$tmp/obj" ARCH=x86_64 \
        KCONFIG_ALLCONFIG="$top/guest/kernel.config" allnoconfig
    # Every "=y" of the fragment must have survived dependency resolution.
    local missing=0 opt
    while read -r opt; do
        if ! grep -qx "$opt" "$tmp/obj/.config"; then
            echo "build-guest: $opt did not survive Kconfig" >&2
            missing=1
        fi
    done < <(grep -E '^CONFIG_[A-Z0-9_]+=y$' "$top/guest/kernel.config")
    [ "$missing" = 0 ] || exit 1
    echo "build-guest: building Linux with $ncpu jobs (log: $tmp/build.log)"
    if ! make -C "$src" O="$tmp/obj" ARCH=x86_64 -j"$ncpu" \
            KBUILD_BUILD_TIMESTAMP=2026-01-01 KBUILD_BUILD_USER=pc-lite \
            KBUILD_BUILD_HOST=pc-lite vmlinux bzImage \
            > "$tmp/build.log" 2>&1; then
        tail -30 "$tmp/build.log" >&2
        exit 1
    fi
    cp "$tmp/obj/vmlinux" "$tmp/vmlinux"
    cp "$tmp/obj/arch/x86/boot/bzImage" "$tmp/bzImage"
    gcc -O2 -o "$tmp/gen_init_cpio" "$src/usr/gen_init_cpio.c"
    cp "$tmp/obj/.config" "$tmp/config"
    # The same kernel without its PVH entry note, for the 64-bit boot path.
    objcopy --remove-section=.notes "$tmp/vmlinux" "$tmp/vmlinux-nopvh"
    rm -rf "$tmp/obj"
    mv "$tmp" "$kdir"
}
# kernel-build-end

if [ ! -f "$kdir/vmlinux" ]; then
    build_kernel
fi
if ! readelf -n "$kdir/vmlinux" | grep -q 'Xen.*0x00000012\|Xen.*Unknown note type: (0x00000012)'; then
    if ! readelf -n "$kdir/vmlinux" | grep -A1 '^ *Xen' | grep -q '0x00000012'; then
        echo "build-guest: $kdir/vmlinux has no PVH (XEN_ELFNOTE_PHYS32_ENTRY) note" >&2
        exit 1
    fi
fi

# pc-lite maps a kernel that nobody may write from its file (share-kernel=auto,
# docs/pc-lite.rst "Booting"): VMs share its pages in the page cache.
chmod a-w "$kdir/vmlinux" "$kdir/vmlinux-nopvh" "$kdir/bzImage"

if [ ! -f "$idir/initramfs.cpio.gz" ]; then
    rm -rf "$idir.tmp" && mkdir -p "$idir.tmp"
    gcc -static -Os -Wall -Werror -o "$idir.tmp/init" "$top/guest/init.c" \
        "$top/guest/container.c"
    strip "$idir.tmp/init"
    sed "s|@INIT@|$idir.tmp/init|" "$top/guest/initramfs.list" > "$idir.tmp/list"
    "$kdir/gen_init_cpio" "$idir.tmp/list" | gzip -9n > "$idir.tmp/initramfs.cpio.gz"
    sed -i "s|$idir.tmp/init|$idir/init|" "$idir.tmp/list"
    mv "$idir.tmp" "$idir"
fi

# The NVDIMM root disk: busybox (Debian's busybox-static) and our init on
# ext4 behind an fsdax info block (scripts/pc-lite-image.py).
rkey=$( { echo "$ikey"; sha256sum /bin/busybox; cat "$top/scripts/pc-lite-image.py"; } | hash)
rdir=$cache/guest/rootfs-$rkey
if [ ! -f "$rdir/rootfs.img" ]; then
    if ! file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; then
        echo "build-guest: /bin/busybox is not static (apt-get install busybox-static)" >&2
        exit 1
    fi
    rm -rf "$rdir.tmp" && mkdir -p "$rdir.tmp/root"/{bin,sbin,dev,proc,sys,tmp,etc,root}
    cp "$idir/init" "$rdir.tmp/root/sbin/init"
    cp /bin/busybox "$rdir.tmp/root/bin/busybox"
    for applet in $(/bin/busybox --list | grep -vx busybox); do
        ln -s busybox "$rdir.tmp/root/bin/$applet"
    done
    python3 "$top/scripts/pc-lite-image.py" "$rdir.tmp/root" \
        "$rdir.tmp/rootfs.img" --size 64
    rm -rf "$rdir.tmp/root"
    mv "$rdir.tmp" "$rdir"
fi

# Hard links to the cache's files (copies across file systems), not
# symbolic links: a user who is not root runs the guest from build/ (a
# rootless engine's runtime) without reading root's home directory.
place() {
    rm -f "$2"
    ln "$1" "$2" 2>/dev/null || cp "$1" "$2"
}
mkdir -p "$out"
place "$rdir/rootfs.img" "$out/rootfs.img"
for f in vmlinux vmlinux-nopvh bzImage config; do
    place "$kdir/$f" "$out/$f"
done
for f in init initramfs.cpio.gz; do
    place "$idir/$f" "$out/$f"
done
echo "build-guest: guest ready in $out (kernel $kkey, init $ikey)"
