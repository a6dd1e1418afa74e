#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the boot tests (unittest) and end with a 'N passed, N failed' line.

The tests import the pclite package (python/pclite) and QEMU's python/qemu
from PYTHONPATH, which the Makefile sets.

Tests skipped for want of KVM (their reason starts with accel.NEEDS_KVM)
are counted and named on a line of their own, also written to
build/check-kvm-skips.txt, which make check prints last: what this
machine did not check.
"""

import os
import sys
import unittest

from pclite import accel
from pclite import paths

KVM_SKIPS = os.path.join(paths.BUILD, 'check-kvm-skips.txt')


def kvm_line(skipped):
    """The line that counts and names the tests skipped for want of KVM."""
    names = sorted({t.id() for t, why in skipped
                    if why.startswith(accel.NEEDS_KVM)})
    if not names:
        return 'boot tests skipped for want of KVM: none'
    return (f'boot tests skipped for want of KVM: {len(names)} ('
            + ', '.join(names) + ')')


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    os.makedirs(paths.BUILD, exist_ok=True)
    if os.path.exists(KVM_SKIPS):
        os.unlink(KVM_SKIPS)
    suite = unittest.defaultTestLoader.discover(here, pattern='test_*.py',
                                                top_level_dir=here)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors) + \
        len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    line = kvm_line(result.skipped)
    with open(KVM_SKIPS, 'w', encoding='utf-8') as f:
        f.write(line + '\n')
    print(f'boot tests: {passed} passed, {failed} failed, {skipped} skipped')
    print(line)
    return 0 if result.wasSuccessful() and result.testsRun else 1


if __name__ == '__main__':
    sys.exit(main())
