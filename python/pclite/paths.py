# SPDX-License-Identifier: GPL-2.0-or-later
"""Where things are: the tree, build/, the cache, QEMU and the guest.

Environment:
  PC_LITE_QEMU       the pc-lite QEMU (default build/qemu-system-x86_64)
  PC_LITE_QEMU_FULL  QEMU with its default devices, from the same source
                     (default build/qemu-full/qemu-system-x86_64)
  PC_LITE_CACHE      caches kept outside the tree (default
                     $XDG_CACHE_HOME/pc-lite or ~/.cache/pc-lite)
"""

import os

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.path.join(TOP, 'build')
GUEST = os.path.join(BUILD, 'guest')
FIRMWARE = os.path.join(BUILD, 'firmware', 'current')
CACHE = os.environ.get('PC_LITE_CACHE') or os.path.join(
    os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'),
    'pc-lite')

QEMU = os.environ.get('PC_LITE_QEMU',
                      os.path.join(BUILD, 'qemu-system-x86_64'))
QEMU_FULL = os.environ.get('PC_LITE_QEMU_FULL',
                           os.path.join(BUILD, 'qemu-full',
                                        'qemu-system-x86_64'))
QEMU_DEBIAN = '/usr/bin/qemu-system-x86_64'
# The host tools (run/, oci/ over host/; "make oci" builds both).
RUNNER = os.path.join(BUILD, 'pc-lite-run')
OCI = os.path.join(BUILD, 'pc-lite-oci')


def guest_file(name):
    """A file of build/guest (an absolute name is returned as it is)."""
    return os.path.join(GUEST, name)
