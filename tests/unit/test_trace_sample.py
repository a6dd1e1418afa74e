# SPDX-License-Identifier: GPL-2.0-or-later
"""python/pclite/trace.py on the trace log that tests/unit/host_unit.c
gives host/trace.c: both make the same phases of it (the benchmark's
machines and the tools' runs are timed alike)."""

import json
import os
import unittest

from pclite import trace

DATA = os.path.join(os.path.dirname(__file__), '..', 'data')


class TraceSampleTest(unittest.TestCase):

    def test_same_phases_as_host_trace(self):
        with open(os.path.join(DATA, 'trace-sample.log'),
                  encoding='utf-8') as f:
            stamps = trace.parse(f.read())
        with open(os.path.join(DATA, 'trace-sample.json'),
                  encoding='utf-8') as f:
            want = json.load(f)
        boot = trace.phases(stamps, want['t_exec'], want['t_exit'])
        clone = trace.clone_phases(stamps, want['t_exec'],
                                   want['t_first_output'], want['t_exit'])
        for got, expected in ((boot, want['boot']), (clone, want['clone'])):
            self.assertEqual(set(got), set(expected))
            for key, value in expected.items():
                self.assertAlmostEqual(got[key], value, places=6, msg=key)


if __name__ == '__main__':
    unittest.main()
