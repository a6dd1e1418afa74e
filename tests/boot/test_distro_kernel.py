# SPDX-License-Identifier: GPL-2.0-or-later
"""A kernel none of our tests were written for: Debian's cloud kernel.

Its bzImage and the ELF vmlinux inside it (PVH note) boot to our
initramfs init with -serial and console=ttyS0.  The package comes from
Debian with apt-get download and is cached under PC_LITE_CACHE.
"""

import glob
import os
import subprocess
import unittest

from pclite import launch
from pclite import paths

CACHE = os.path.join(paths.CACHE, 'distro-kernel')


def fetch_cloud_kernel():
    """(bzImage, vmlinux) of linux-image-cloud-amd64, downloaded once."""
    vmlinux = os.path.join(CACHE, 'vmlinux')
    found = glob.glob(os.path.join(CACHE, 'x', 'boot', 'vmlinuz-*'))
    if found and os.path.exists(vmlinux):
        return found[0], vmlinux
    os.makedirs(CACHE, exist_ok=True)
    dep = subprocess.run(['apt-cache', 'depends', 'linux-image-cloud-amd64'],
                         capture_output=True, text=True, check=True).stdout
    pkg = [ln.split()[-1] for ln in dep.splitlines() if 'Depends:' in ln
           and 'linux-image-' in ln][0]
    subprocess.run(['apt-get', 'download', '-q', pkg], cwd=CACHE, check=True,
                   capture_output=True)
    deb = glob.glob(os.path.join(CACHE, pkg + '_*.deb'))[0]
    subprocess.run(['dpkg-deb', '-x', deb, os.path.join(CACHE, 'x')],
                   check=True)
    bz = glob.glob(os.path.join(CACHE, 'x', 'boot', 'vmlinuz-*'))[0]
    extract = glob.glob(os.path.join(os.path.dirname(os.path.realpath(
        paths.guest_file('vmlinux'))), '..', 'linux-source-*',
        'scripts', 'extract-vmlinux'))
    with open(vmlinux + '.tmp', 'wb') as out:
        subprocess.run(['sh', extract[0], bz], stdout=out, check=True)
    os.rename(vmlinux + '.tmp', vmlinux)
    return bz, vmlinux


class DistroKernelTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        try:
            cls.bzimage, cls.vmlinux = fetch_cloud_kernel()
        except (subprocess.CalledProcessError, IndexError, OSError) as e:
            raise unittest.SkipTest(f'Debian cloud kernel unavailable: {e}')

    def check(self, kernel):
        res = launch.boot(kernel=kernel, smp=2, mem='512M', timeout=180)
        self.assertIsNotNone(res.report, res.console[-3000:])
        self.assertEqual(res.exitcode, 0)
        self.assertEqual(res.report['cpus'], 2)
        self.assertIn('cloud-amd64', res.report['kernel'])
        self.assertEqual(res.report['log_errors'], 0)

    def test_cloud_bzimage(self):
        self.check(self.bzimage)

    def test_cloud_vmlinux_pvh(self):
        self.check(self.vmlinux)


if __name__ == '__main__':
    unittest.main()
