# SPDX-License-Identifier: GPL-2.0-or-later
"""The NVDIMM root image that scripts/pc-lite-image.py writes.

An fsdax namespace: a Linux pfn info block at 4 KiB, and an ext4
filesystem at the 2 MiB data offset; the size is a multiple of 2 MiB.
"""

import os

MiB = 1 << 20
ALIGN = 2 * MiB
DATA_OFFSET = 2 * MiB
INFO_OFFSET = 4096
INFO_MAGIC = b'NVDIMM_PFN_INFO\0'


class ImageError(Exception):
    """The file is not a usable root image; the message says why."""


def check(path):
    """The image's size in bytes, or ImageError saying what is wrong."""
    hint = '(make images with scripts/pc-lite-image.py)'
    try:
        with open(path, 'rb') as f:
            f.seek(INFO_OFFSET)
            magic = f.read(len(INFO_MAGIC))
            size = os.fstat(f.fileno()).st_size
    except OSError as e:
        raise ImageError(f'root image {path}: {e.strerror}') from e
    if size == 0 or size % ALIGN:
        raise ImageError(f'root image {path}: size {size} is not a '
                         f'multiple of 2 MiB {hint}')
    if magic != INFO_MAGIC:
        raise ImageError(f'root image {path}: no fsdax info block at 4 KiB '
                         f'{hint}')
    return size
