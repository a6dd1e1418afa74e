# SPDX-License-Identifier: GPL-2.0-or-later
"""NVDIMM root disk: fsdax image mounted with DAX, and guest data safety."""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
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


if __name__ == '__main__':
    unittest.main()
