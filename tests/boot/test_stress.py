# SPDX-License-Identifier: GPL-2.0-or-later
"""make stress (tests/boot/stress.py), short: boots back to back and
several at a time, and QEMU killed while a --persist guest writes fsynced
files, with the image checked afterwards."""

import unittest

import benchrun


class StressTest(unittest.TestCase):

    def test_short_run(self):
        _, res, _ = benchrun.quick_run(
            self, 'boot/stress.py',
            ['--boots', '16', '--parallel', '4', '--kills', '3'], 'stress')
        self.assertEqual(res['back_to_back']['failures'], [])
        self.assertEqual(res['parallel']['failures'], [])
        self.assertEqual(len(res['kills']), 3)
        for kill in res['kills']:
            self.assertGreater(kill['synced'], 0)
            self.assertEqual(kill['lost'], [])
            self.assertEqual(kill['fsck_status'], 0)
        self.assertEqual(res['qemu_left'], [])


if __name__ == '__main__':
    unittest.main()
