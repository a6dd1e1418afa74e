# SPDX-License-Identifier: GPL-2.0-or-later
"""The NVDIMM root image that scripts/pc-lite-image.py writes.

An fsdax namespace: a Linux pfn info block at 4 KiB, and an ext4
filesystem at the 2 MiB data offset; the size is a multiple of 2 MiB.
"""

import contextlib
import fcntl
import os
import shutil
import struct
import subprocess
import tempfile

MiB = 1 << 20
ALIGN = 2 * MiB
DATA_OFFSET = 2 * MiB
INFO_OFFSET = 4096
INFO_MAGIC = b'NVDIMM_PFN_INFO\0'
# ext4's superblock, 1 KiB into the filesystem: magic, incompat features.
EXT4_SUPERBLOCK = DATA_OFFSET + 1024
EXT4_MAGIC = 0xef53
EXT4_INCOMPAT_RECOVER = 0x4         # the journal needs replaying


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


def needs_recovery(path):
    """Was the image's ext4 left mounted (its journal not replayed), as a
    VM killed while it wrote leaves it?"""
    with open(path, 'rb') as f:
        f.seek(EXT4_SUPERBLOCK)
        sb = f.read(0x64)
    if len(sb) < 0x64 or struct.unpack_from('<H', sb, 0x38)[0] != EXT4_MAGIC:
        return False
    return bool(struct.unpack_from('<I', sb, 0x60)[0] & EXT4_INCOMPAT_RECOVER)


def allocate(path, fd, size):
    """Give a sparse image's holes their disk blocks now.  QEMU maps the
    image shared; a guest write to a hole on a full host file system would
    kill QEMU with SIGBUS, so a --persist VM starts only with every block
    in place (ImageError otherwise; a fully allocated image is left as it
    is)."""
    if os.fstat(fd).st_blocks * 512 >= size:
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as e:
        os.close(fd)
        raise ImageError(f'root image {path}: cannot allocate its '
                         f'{size >> 20} MiB for --persist writes: '
                         f'{e.strerror}') from None


def open_root(path, mode):
    """Check the image and take it for a VM: (size, a file descriptor to
    keep open while the VM runs).  mode is "persist" (the guest writes the
    image: no other VM may map it), "cow" or "readonly" (any number of
    such VMs, but none beside a "persist" one).  ImageError says why not.
    """
    size = check(path)
    try:
        fd = os.open(path, (os.O_RDWR if mode == 'persist' else os.O_RDONLY)
                     | os.O_CLOEXEC)
    except OSError as e:
        raise ImageError(f'root image {path}: {e.strerror}') from e
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if mode == 'persist' else
                         fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ImageError(f'root image {path} is in use by another VM: '
                         f'--persist needs it alone' if mode == 'persist'
                         else f'root image {path} is being written by a '
                         f'--persist VM') from None
    if mode == 'persist':
        allocate(path, fd, size)
    if mode == 'readonly' and needs_recovery(path):
        os.close(fd)
        raise ImageError(f'root image {path} was not cleanly unmounted (a '
                         f'--persist VM was killed?): boot it once with '
                         f'--persist to replay its journal')
    return size, fd


@contextlib.contextmanager
def filesystem_copy(path):
    """The path of a temporary copy of the ext4 filesystem behind the
    image's info block (for e2fsck and debugfs, which want it at 0)."""
    with tempfile.NamedTemporaryFile() as fs:
        with open(path, 'rb') as f:
            f.seek(DATA_OFFSET)
            shutil.copyfileobj(f, fs)
        fs.flush()
        yield fs.name


def read_file(path, name):
    """The file name of the image's filesystem, as text (debugfs)."""
    with filesystem_copy(path) as fs:
        return subprocess.run(['debugfs', '-R', f'cat {name}', fs],
                              capture_output=True, text=True,
                              check=True).stdout


def fsck(path):
    """e2fsck -fn of the image's filesystem: (exit status, output)."""
    with filesystem_copy(path) as fs:
        out = subprocess.run(['e2fsck', '-fn', fs], capture_output=True,
                             text=True, check=False)
        return out.returncode, out.stdout + out.stderr
