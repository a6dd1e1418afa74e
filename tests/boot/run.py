#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the boot tests (unittest) and end with a 'N passed, N failed' line.

The tests import the pclite package (python/pclite) and QEMU's python/qemu
from PYTHONPATH, which the Makefile sets.
"""

import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
suite = unittest.defaultTestLoader.discover(here, pattern='test_*.py',
                                            top_level_dir=here)
result = unittest.TextTestRunner(verbosity=2).run(suite)
failed = len(result.failures) + len(result.errors) + \
    len(result.unexpectedSuccesses)
skipped = len(result.skipped)
passed = result.testsRun - failed - skipped
print(f'boot tests: {passed} passed, {failed} failed, {skipped} skipped')
sys.exit(0 if result.wasSuccessful() and result.testsRun else 1)
