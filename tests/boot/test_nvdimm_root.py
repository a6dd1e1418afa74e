# SPDX-License-Identifier: GPL-2.0-or-later
"""NVDIMM root disk: fsdax image mounted with DAX, and guest data safety."""

import concurrent.futures
import hashlib
import os
import re
import shutil
import tempfile
import unittest

from pclite import image as rootimage
from pclite import launch
from pclite import paths
from pclite import process
from pclite import qemucmd


def digest(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


class NvdimmRootTest(unittest.TestCase):

    def setUp(self):
        self.tmp = self.enterContext(
            tempfile.TemporaryDirectory(prefix='pc-lite-root-'))
        self.image = shutil.copy(paths.guest_file('rootfs.img'), self.tmp)

    def boot_root(self, share=True, readonly=False, append=''):
        cmd = launch.guest(initrd=None, mem='256M,slots=2,maxmem=1G')
        cmd.nvdimm_root(self.image, os.path.getsize(self.image), share=share,
                        readonly=readonly, mount='rw')
        return launch.boot(cmd, append=append)

    def test_dax_root(self):
        res = self.boot_root()
        self.assertIsNotNone(res.report, res.console[-3000:])
        self.assertEqual(res.exitcode, 0)
        self.assertEqual(res.report['pmem'], 1)
        self.assertEqual(res.report['rootdax'], 1, res.console[-3000:])
        self.assertNotIn('DAX unsupported', res.console)
        self.assertIn('EXT4-fs (pmem0)', res.console)
        self.assertEqual(res.report['log_errors'], 0)

    def test_share_on_keeps_guest_writes(self):
        res = self.boot_root(append='pclite.write=/root/data.txt')
        self.assertEqual(res.report['write'], 'ok', res.console[-2000:])
        self.assertEqual(res.exitcode, 0)
        self.assertEqual(rootimage.read_file(self.image, '/root/data.txt'),
                         'written by the pc-lite guest\n')

    def test_share_off_leaves_image_unchanged(self):
        before = digest(self.image)
        res = self.boot_root(share=False,
                             append='pclite.write=/root/data.txt')
        self.assertEqual(res.report['write'], 'ok', res.console[-2000:])
        self.assertEqual(res.exitcode, 0)
        self.assertEqual(digest(self.image), before)

    def test_readonly_backend_refuses_writes(self):
        os.chmod(self.image, 0o444)
        before = digest(self.image)
        res = self.boot_root(readonly=True,
                             append='pclite.write=/root/data.txt')
        self.assertIsNotNone(res.report, res.console[-3000:])
        self.assertEqual(res.exitcode, 0)
        self.assertEqual(res.report['write'], 'EROFS')
        self.assertEqual(digest(self.image), before)

    def test_more_nvdimms_than_slots(self):
        cmd = qemucmd.Cmdline('pc-lite,nvdimm=on',
                              mem='128M,slots=1,maxmem=1G').kernel('vmlinux')
        second = shutil.copy(self.image, os.path.join(self.tmp, 'b.img'))
        code, err = process.run(cmd.add(
            '-object', f'memory-backend-file,id=a,mem-path={self.image},'
            'size=64M,share=off',
            '-object', f'memory-backend-file,id=b,mem-path={second},'
            'size=64M,share=off',
            '-device', 'nvdimm,memdev=a', '-device', 'nvdimm,memdev=b').argv())
        self.assertEqual(code, 1, err)
        self.assertRegex(err, r'-device nvdimm,memdev=b: no free slots '
                         r'available')

    def test_several_vms_share_one_readonly_image(self):
        """Three VMs at once from one read-only image all boot with DAX."""
        os.chmod(self.image, 0o444)
        before = digest(self.image)
        size = os.path.getsize(self.image)

        def boot(_):
            cmd = launch.guest(initrd=None, mem='128M,slots=1,maxmem=1G')
            cmd.nvdimm_root(self.image, size, readonly=True)
            return launch.boot(cmd, append='pclite.write=/root/data.txt')

        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            results = list(pool.map(boot, range(3)))
        for res in results:
            self.assertIsNotNone(res.report, res.console[-3000:])
            self.assertEqual(res.exitcode, 0)
            self.assertEqual(res.report['rootdax'], 1)
            self.assertEqual(res.report['write'], 'EROFS')
        self.assertEqual(digest(self.image), before)


class NvdimmBadInputTest(unittest.TestCase):
    """Bad NVDIMM backends: one clear error, exit 1, nothing left behind."""

    def setUp(self):
        self.tmp = self.enterContext(
            tempfile.TemporaryDirectory(prefix='pc-lite-nvbad-'))
        self.image = shutil.copy(paths.guest_file('rootfs.img'), self.tmp)

    def expect_error(self, backend, pattern, lines=1):
        cmd = qemucmd.Cmdline('pc-lite,nvdimm=on',
                              mem='128M,slots=2,maxmem=1G').kernel('vmlinux')
        code, err = process.run(cmd.add(
            '-object', f'memory-backend-file,id=root,{backend}',
            '-device', 'nvdimm,memdev=root,id=nv0').argv())
        self.assertEqual(code, 1, f'QEMU accepted bad input: {err}')
        self.assertRegex(err.strip().splitlines()[-1], pattern)
        self.assertEqual(len(err.strip().splitlines()), lines, err)

    def test_missing_image(self):
        # 63M: the missing image is reported (and QEMU's empty file
        # removed) before the size is judged.
        for share, size in (('on', '64M'), ('off', '64M'), ('on', '63M')):
            path = os.path.join(self.tmp, 'missing.img')
            self.expect_error(f'mem-path={path},size={size},share={share}',
                              r"NVDIMM 'nv0': image '.*missing.img' does "
                              r"not exist")
            self.assertFalse(os.path.exists(path),
                             'QEMU left the file it created behind')

    def test_missing_image_readonly(self):
        path = os.path.join(self.tmp, 'missing.img')
        self.expect_error(f'mem-path={path},size=64M,readonly=on',
                          r"can't open backing store .*missing\.img for "
                          r'guest RAM: No such file or directory')

    def test_image_smaller_than_size(self):
        self.expect_error(f'mem-path={self.image},size=128M,share=off',
                          r'root backing store size 0x[0-9a-f]+ is too small '
                          r"for 'size' option 0x8000000")

    def test_misaligned_size(self):
        self.expect_error(f'mem-path={self.image},size=63M,share=off',
                          r"NVDIMM 'nv0': size 0x3f00000 is not a multiple "
                          r"of 2 MiB")

    def test_image_larger_than_size(self):
        # A short disk: the guest would see part of the image.
        self.expect_error(f'mem-path={self.image},size=62M,share=off',
                          r"NVDIMM 'nv0': image '.*rootfs.img' is 67108864 "
                          r"bytes, not the 65011712 of size=$")

    def test_directory_is_refused(self):
        # memory-backend-file would make an empty temporary file in it.
        self.expect_error(f'mem-path={self.tmp},size=64M,share=off',
                          rf"NVDIMM 'nv0': '{re.escape(self.tmp)}' is not "
                          rf"an image file$")
        self.assertEqual(os.listdir(self.tmp), ['rootfs.img'])

    def test_character_device_is_refused(self):
        # One line: upstream's memory-backend-file printed "ftruncate:
        # Invalid argument" first (patch 0015 tries to resize only
        # regular files).
        self.expect_error('mem-path=/dev/zero,size=64M,share=off',
                          r"NVDIMM 'nv0': '/dev/zero' is not an image file$")

    def test_ram_and_memfd_backends_are_refused(self):
        for backend in ('memory-backend-ram', 'memory-backend-memfd'):
            cmd = qemucmd.Cmdline('pc-lite,nvdimm=on',
                                  mem='128M,slots=2,maxmem=1G')
            code, err = process.run(cmd.kernel('vmlinux').add(
                '-object', f'{backend},id=root,size=64M',
                '-device', 'nvdimm,memdev=root,id=nv0').argv())
            self.assertEqual(code, 1, err)
            self.assertEqual(err, "qemu-system-x86_64: -device nvdimm,"
                             "memdev=root,id=nv0: NVDIMM 'nv0': backend "
                             "'root' is not a memory-backend-file: an NVDIMM "
                             "needs an image file\n")

    def test_empty_file_that_existed_is_accepted(self):
        """A file the user made (even all holes) is not "missing"."""
        path = os.path.join(self.tmp, 'scratch.img')
        with open(path, 'wb') as f:
            f.truncate(64 << 20)
        res = launch.boot(mem='128M,slots=1,maxmem=1G',
                          machine='pc-lite,nvdimm=on',
                          args=['-object', f'memory-backend-file,id=root,'
                                f'mem-path={path},size=64M,share=off',
                                '-device', 'nvdimm,memdev=root'])
        self.assertIsNotNone(res.report, res.console[-3000:])
        self.assertEqual(res.report['pmem'], 1)


if __name__ == '__main__':
    unittest.main()
