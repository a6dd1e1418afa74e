# SPDX-License-Identifier: GPL-2.0-or-later
"""make stress (tests/boot/stress.py), short: boots back to back and
several at a time, and QEMU killed while a --persist guest writes fsynced
files, with the image checked afterwards."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

from pclite import paths


class StressTest(unittest.TestCase):

    def test_short_run(self):
        with tempfile.TemporaryDirectory(prefix='pc-lite-stress-') as out:
            p = subprocess.run(
                [sys.executable, os.path.join(paths.TOP, 'tests', 'boot',
                                              'stress.py'),
                 '--boots', '16', '--parallel', '4', '--kills', '3',
                 '--out', out], capture_output=True, text=True, timeout=900,
                check=False)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            with open(os.path.join(out, 'stress.json'),
                      encoding='utf-8') as f:
                res = json.load(f)
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
