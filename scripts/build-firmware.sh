#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Firmware for the boot-time benchmark's comparison machines (q35, microvm):
#
#   qboot.rom          roms/qboot of the QEMU source (meson + ninja)
#   linuxboot_dma.bin, pvh.bin, linuxboot.bin, multiboot*.bin, kvmvapic.bin
#                      pc-bios/optionrom of the QEMU source (host gcc,
#                      -m16/-m32); the Debian "+ds" source ships no binaries
#                      and configure skips them without 32-bit libgcc
#   bios-256k.bin, bios-microvm.bin
#                      copied from Debian's seabios package
#
# Our copies of qboot and of the linuxboot_dma/pvh option ROMs write one
# marker, 0xb000, to I/O port 0x510 just before they jump to the kernel
# (tests/boot-time/firmware/markers.patch).  Port 0x510 is fw_cfg's selector
# on q35 and microvm, so QEMU's fw_cfg_select trace stamps the kernel entry
# with the host clock; 0xb000 is not a valid key and selects nothing.  These
# files are for the benchmark only (pass the folder with -L).
#
# Usage: build-firmware.sh QEMU_SRC OUT_ROOT
# Prints the folder that holds the files: OUT_ROOT/KEY, KEY a hash of every
# input, so a changed source, patch or seabios package builds anew and an
# unchanged one is reused.  OUT_ROOT/current links to the newest.
set -euo pipefail

src=$(cd "$1" && pwd)
mkdir -p "$2"
out_root=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
patch_file=$top/tests/boot-time/firmware/markers.patch
seabios_dir=/usr/share/seabios
python=${PYTHON:-/usr/bin/python3}

for f in bios-256k.bin bios-microvm.bin; do
    if [ ! -f "$seabios_dir/$f" ]; then
        echo "build-firmware: $seabios_dir/$f is missing (Debian package seabios)" >&2
        exit 1
    fi
done

key=$( {
    cat "$0" "$patch_file"
    find "$src/pc-bios/optionrom" "$src/roms/qboot" -type f \
        ! -path '*/build/*' -print0 | sort -z | xargs -0 sha256sum |
        sed "s#$src/##"
    sha256sum "$src/include/standard-headers/linux/qemu_fw_cfg.h" \
        "$src/include/hw/xen/start_info.h" "$src/scripts/signrom.py" |
        sed "s#$src/##"
    sha256sum "$seabios_dir/bios-256k.bin" "$seabios_dir/bios-microvm.bin" |
        sed "s#$seabios_dir/##"
    gcc --version | head -1
} | sha256sum | cut -c1-16)

dest=$out_root/$key
if [ -f "$dest/.complete" ]; then
    ln -sfn "$key" "$out_root/current"
    echo "$dest"
    exit 0
fi

work=$(mktemp -d "$out_root/tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
log=$work/build.log

# A private copy of the two source folders with the marker patch applied;
# the QEMU tree itself stays untouched.
mkdir -p "$work/src/pc-bios" "$work/src/roms" "$work/bin"
cp -r "$src/pc-bios/optionrom" "$work/src/pc-bios/"
cp -r "$src/roms/qboot" "$work/src/roms/"
rm -rf "$work/src/roms/qboot/build"
ln -s "$src/include" "$work/src/include"
ln -s "$src/scripts" "$work/src/scripts"
patch -s -p1 -d "$work/src" < "$patch_file"

{
    mkdir -p "$work/optionrom"
    : > "$work/optionrom/config.mak"
    make -s -C "$work/optionrom" -f "$work/src/pc-bios/optionrom/Makefile" \
        TOPSRC_DIR="$work/src" SRC_DIR="$work/src/pc-bios/optionrom" \
        CC=gcc OBJCOPY=objcopy PYTHON="$python"
    cp "$work"/optionrom/*.bin "$work/bin/"

    meson setup "$work/qboot" "$work/src/roms/qboot"
    ninja -C "$work/qboot" > /dev/null
    cp "$work/qboot/bios.bin" "$work/bin/qboot.rom"
} > "$log" 2>&1 || { tail -30 "$log" >&2; echo "build-firmware: failed" >&2; exit 1; }

cp "$seabios_dir/bios-256k.bin" "$seabios_dir/bios-microvm.bin" "$work/bin/"
for f in linuxboot_dma.bin pvh.bin qboot.rom; do
    [ -s "$work/bin/$f" ] || { echo "build-firmware: $f was not built" >&2; exit 1; }
done
dpkg-query -W -f '${Version}\n' seabios > "$work/bin/seabios.version" 2>/dev/null || true
touch "$work/bin/.complete"
rm -rf "$dest"
mv "$work/bin" "$dest"
ln -sfn "$key" "$out_root/current"
echo "$dest"
