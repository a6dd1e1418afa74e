# SPDX-License-Identifier: GPL-2.0-or-later
"""A kernel none of our tests were written for: Debian's cloud kernel.

Its bzImage and the ELF vmlinux inside it (PVH note) boot to our
initramfs init with -serial and console=ttyS0.  The package comes from
Debian with apt-get download and is cached under PC_LITE_CACHE
(pclite.distro, which make bench's 'distro' configurations share).
"""

import unittest

from pclite import distro
from pclite import launch


class DistroKernelTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        try:
            cls.bzimage, cls.vmlinux = distro.cloud_kernel()
        except distro.UNAVAILABLE as e:
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
