# SPDX-License-Identifier: GPL-2.0-or-later
"""make stress (tests/boot/stress.py), short: boots back to back and
several at a time, QEMU killed while a --persist guest writes fsynced
files, with the image checked afterwards, runners killed (their QEMU must
go too) and the host's disk full."""

import os
import unittest

import benchrun


class StressTest(unittest.TestCase):

    def test_short_run(self):
        _, res, _ = benchrun.quick_run(
            self, 'boot/stress.py',
            ['--boots', '16', '--parallel', '4', '--kills', '3',
             '--runner-kills', '3', '--pool-runs', '16', '--pool-size',
             '2'], 'stress')
        self.assertEqual(res['back_to_back']['failures'], [])
        self.assertEqual(res['parallel']['failures'], [])
        self.assertEqual(len(res['kills']), 3)
        for kill in res['kills']:
            self.assertGreater(kill['synced'], 0)
            self.assertEqual(kill['lost'], [])
            self.assertEqual(kill['fsck_status'], 0)
        self.assertEqual(len(res['runner_kills']), 3)
        for kill in res['runner_kills']:
            self.assertTrue(kill['qemu'])
            self.assertEqual(kill['left'], [])
        if os.geteuid() == 0:
            self.assertEqual(set(res['disk_full']),
                             {'persist_image', 'template'})
            for name, run in res['disk_full'].items():
                self.assertEqual(run['status'], 125, run)
                self.assertTrue(run['ok'], run)
        else:
            self.assertIn('skipped', res['disk_full'])
        self.assertEqual(res['qemu_left'], [])
        pool = res['pool']
        self.assertEqual(pool['back_to_back']['failures'], [])
        self.assertEqual(pool['parallel']['failures'], [])
        self.assertGreater(pool['status']['runs'], 0)
        self.assertEqual(pool['left_after_kill'], [])


if __name__ == '__main__':
    unittest.main()
