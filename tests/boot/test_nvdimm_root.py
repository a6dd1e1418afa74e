# SPDX-License-Identifier: GPL-2.0-or-later
"""NVDIMM root disk: fsdax image mounted with DAX, and guest data safety."""

import concurrent.futures
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import pclite  # noqa: E402  pylint: disable=wrong-import-position

DATA_OFFSET = 2 << 20       # scripts/pc-lite-image.py


def digest(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def read_guest_file(image, path):
    """A file from the ext4 filesystem behind the image's info block."""
    with tempfile.NamedTemporaryFile() as fs:
        with open(image, 'rb') as f:
            f.seek(DATA_OFFSET)
            shutil.copyfileobj(f, fs)
        fs.flush()
        out = subprocess.run(['debugfs', '-R', f'cat {path}', fs.name],
                             capture_output=True, text=True, check=True)
        return out.stdout


class NvdimmRootTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='pc-lite-root-')
        self.image = os.path.join(self.tmp, 'rootfs.img')
        shutil.copy(pclite.guest_file('rootfs.img'), self.image)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def boot_root(self, backend_opts='share=on', nvdimm_opts='',
                  append=''):
        size = os.path.getsize(self.image)
        return pclite.boot(
            initrd=None, mem='256M,slots=2,maxmem=1G',
            machine='pc-lite,nvdimm=on',
            append=f'root=/dev/pmem0 rootflags=dax rw {append}',
            args=['-object', f'memory-backend-file,id=root,'
                  f'mem-path={self.image},size={size},{backend_opts}',
                  '-device', f'nvdimm,memdev=root{nvdimm_opts}'])

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
        self.assertEqual(read_guest_file(self.image, '/root/data.txt'),
                         'written by the pc-lite guest\n')

    def test_share_off_leaves_image_unchanged(self):
        before = digest(self.image)
        res = self.boot_root(backend_opts='share=off',
                             append='pclite.write=/root/data.txt')
        self.assertEqual(res.report['write'], 'ok', res.console[-2000:])
        self.assertEqual(res.exitcode, 0)
        self.assertEqual(digest(self.image), before)

    def test_readonly_backend_refuses_writes(self):
        os.chmod(self.image, 0o444)
        before = digest(self.image)
        res = self.boot_root(backend_opts='share=on,readonly=on',
                             nvdimm_opts=',unarmed=on',
                             append='pclite.write=/root/data.txt')
        self.assertIsNotNone(res.report, res.console[-3000:])
        self.assertEqual(res.exitcode, 0)
        self.assertEqual(res.report['write'], 'EROFS')
        self.assertEqual(digest(self.image), before)

    def test_more_nvdimms_than_slots(self):
        code, err = pclite.run_qemu([
            '-M', 'pc-lite,nvdimm=on', '-display', 'none', '-nodefaults',
            '-kernel', pclite.guest_file('vmlinux'),
            '-m', '128M,slots=1,maxmem=1G',
            '-object', 'memory-backend-ram,id=a,size=64M',
            '-object', 'memory-backend-ram,id=b,size=64M',
            '-device', 'nvdimm,memdev=a', '-device', 'nvdimm,memdev=b'])
        self.assertEqual(code, 1, err)
        self.assertRegex(err, r'slots')

    def test_several_vms_share_one_readonly_image(self):
        """Three VMs at once from one read-only image all boot with DAX."""
        os.chmod(self.image, 0o444)
        before = digest(self.image)
        size = os.path.getsize(self.image)
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            results = list(pool.map(lambda _: pclite.boot(
                initrd=None, mem='128M,slots=1,maxmem=1G',
                machine='pc-lite,nvdimm=on',
                append='root=/dev/pmem0 rootflags=dax ro '
                       'pclite.write=/root/data.txt',
                args=['-object', f'memory-backend-file,id=root,'
                      f'mem-path={self.image},size={size},readonly=on',
                      '-device', 'nvdimm,memdev=root,unarmed=on']),
                range(3)))
        for res in results:
            self.assertIsNotNone(res.report, res.console[-3000:])
            self.assertEqual(res.exitcode, 0)
            self.assertEqual(res.report['rootdax'], 1)
            self.assertEqual(res.report['write'], 'EROFS')
        self.assertEqual(digest(self.image), before)


class NvdimmBadInputTest(unittest.TestCase):
    """Bad NVDIMM backends: one clear error, exit 1, nothing left behind."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='pc-lite-nvbad-')

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def expect_error(self, backend, pattern, slots=2):
        code, err = pclite.run_qemu([
            '-M', 'pc-lite,nvdimm=on', '-accel', 'tcg', '-display', 'none',
            '-nodefaults', '-kernel', pclite.guest_file('vmlinux'),
            '-m', f'128M,slots={slots},maxmem=1G',
            '-object', f'memory-backend-file,id=root,{backend}',
            '-device', 'nvdimm,memdev=root,id=nv0'])
        self.assertEqual(code, 1, f'QEMU accepted bad input: {err}')
        self.assertRegex(err, pattern)
        self.assertEqual(len(err.strip().splitlines()), 1, err)

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
                          r'No such file or directory')

    def test_image_smaller_than_size(self):
        path = os.path.join(self.tmp, 'small.img')
        shutil.copy(pclite.guest_file('rootfs.img'), path)
        self.expect_error(f'mem-path={path},size=128M,share=off',
                          r'too small for .size. option')

    def test_misaligned_size(self):
        path = os.path.join(self.tmp, 'odd.img')
        shutil.copy(pclite.guest_file('rootfs.img'), path)
        self.expect_error(f'mem-path={path},size=63M,share=off',
                          r"NVDIMM 'nv0': size 0x3f00000 is not a multiple "
                          r"of 2 MiB")

    def test_empty_file_that_existed_is_accepted(self):
        """A file the user made (even all holes) is not "missing"."""
        path = os.path.join(self.tmp, 'scratch.img')
        with open(path, 'wb') as f:
            f.truncate(64 << 20)
        time.sleep(0.05)
        res = pclite.boot(mem='128M,slots=1,maxmem=1G',
                          machine='pc-lite,nvdimm=on',
                          args=['-object', f'memory-backend-file,id=root,'
                                f'mem-path={path},size=64M,share=off',
                                '-device', 'nvdimm,memdev=root'])
        self.assertIsNotNone(res.report, res.console[-3000:])
        self.assertEqual(res.report['pmem'], 1)


if __name__ == '__main__':
    unittest.main()
