#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Make an NVDIMM root-disk image for pc-lite, without root privileges.

The image is an fsdax namespace: a Linux "pfn" info block (the layout of
drivers/nvdimm/pfn.h, as Kata's image builder writes it) followed, at the
2 MiB data offset, by an ext4 filesystem with 4 KiB blocks made by
"mkfs.ext4 -d" from a directory.  Linux finds the info block on the
label-less NVDIMM namespace and creates /dev/pmem0 in fsdax mode, so that
"rootflags=dax" maps the filesystem straight from host memory.

Usage: pc-lite-image.py ROOTDIR IMAGE [--size MiB]
"""

import argparse
import os
import struct
import subprocess
import sys
import uuid

MiB = 1 << 20
ALIGN = 2 * MiB            # PMD alignment of the mapping and the image
INFO_OFFSET = 4096         # the info block sits at 4 KiB into the namespace
DATA_OFFSET = ALIGN        # the filesystem starts here
PFN_MODE_RAM = 1           # struct pages in guest RAM, not on the device


def fletcher64(data):
    """Linux's nd_fletcher64() over little-endian 32-bit words."""
    lo, hi = 0, 0
    for (word,) in struct.iter_unpack('<I', data):
        lo = (lo + word) & 0xffffffff
        hi = (hi + lo) & 0xffffffffffffffff
    return ((hi << 32) | lo) & 0xffffffffffffffff


def pfn_info_block(total_size):
    """struct nd_pfn_sb (version 1.4) for a namespace of total_size bytes."""
    sb = bytearray(4096)
    sb[0:16] = b'NVDIMM_PFN_INFO\0'
    sb[16:32] = uuid.uuid4().bytes
    # parent_uuid stays zero: the namespace is label-less (namespace_io).
    struct.pack_into('<IHHQQIIIIIH', sb, 48,
                     0,                                  # flags
                     1, 4,                               # version 1.4
                     DATA_OFFSET,                        # dataoff
                     (total_size - DATA_OFFSET) // 4096,  # npfns
                     PFN_MODE_RAM,                       # mode
                     0, 0,                               # start_pad, end_trunc
                     ALIGN,                              # align
                     4096, 64)                           # page, struct page
    struct.pack_into('<Q', sb, 4088, fletcher64(bytes(sb)))
    return bytes(sb)


def make_image(rootdir, image, size_mib):
    fs_size = size_mib * MiB - DATA_OFFSET
    if size_mib * MiB % ALIGN or fs_size < 8 * MiB:
        sys.exit(f'pc-lite-image: size must be a multiple of 2 MiB and at '
                 f'least 10 MiB (got {size_mib} MiB)')
    tmp = image + '.tmp'
    with open(tmp, 'wb') as f:
        f.truncate(size_mib * MiB)
        f.seek(INFO_OFFSET)
        f.write(pfn_info_block(size_mib * MiB))
    # ext4 with 4 KiB blocks (DAX needs block size == page size), written
    # at the data offset of the image.
    subprocess.run(['mkfs.ext4', '-q', '-F', '-b', '4096', '-L', 'pc-lite',
                    '-E', f'offset={DATA_OFFSET}', '-d', rootdir, tmp,
                    f'{fs_size // 1024}k'], check=True)
    os.replace(tmp, image)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('rootdir')
    ap.add_argument('image')
    ap.add_argument('--size', type=int, default=64, help='MiB (default 64)')
    args = ap.parse_args()
    make_image(args.rootdir, args.image, args.size)


if __name__ == '__main__':
    main()
