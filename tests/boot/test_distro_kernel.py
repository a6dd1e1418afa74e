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

from pclite import distro
from pclite import launch
from pclite import paths


def fetch_cloud_kernel():
    """(bzImage, vmlinux) of linux-image-cloud-amd64, downloaded once."""
    root = distro.kernel_package('linux-image-cloud-amd64')
    bz = distro.vmlinuz(root)
    vmlinux = os.path.join(root, 'vmlinux')
    if os.path.exists(vmlinux):
        return bz, vmlinux
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
