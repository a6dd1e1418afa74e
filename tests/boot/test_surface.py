# SPDX-License-Identifier: GPL-2.0-or-later
"""make bench's guest-reachable regions (tests/boot-time/surface.py), the
quick run: the JSON's shape and sane counts, not the target."""

import os
import unittest

from pclite import paths

import benchrun


class SurfaceBenchmarkTest(unittest.TestCase):

    def test_quick_run(self):
        if not os.access(paths.QEMU_FULL, os.X_OK):
            self.skipTest(f'{paths.QEMU_FULL} is not built (make qemu-full)')
        p, res, _ = benchrun.quick_run(self, 'boot-time/surface.py',
                                       ['--quick'], 'surface', timeout=300)
        self.assertEqual(set(res), {'pc-lite', 'q35'})
        for name, row in res.items():
            self.assertEqual(row['count'], len(row['regions']), name)
            self.assertTrue(all(isinstance(r, str) and r
                                for r in row['regions']), name)
            self.assertNotIn('io', row['regions'], name)
            self.assertIn('-S', row['argv'], name)
        lite, q35 = res['pc-lite'], res['q35']
        self.assertGreater(lite['count'], 0)
        self.assertGreater(q35['count'], lite['count'])
        # Under qtest rtc=auto is on; RAM is never a device region.
        self.assertIn('rtc-index', lite['regions'])
        self.assertNotIn('pc-lite.ram', lite['regions'])
        self.assertAlmostEqual(lite['q35_ratio'],
                               lite['count'] / q35['count'], places=2)
        self.assertIn('pc-lite', p.stdout)


if __name__ == '__main__':
    unittest.main()
