# SPDX-License-Identifier: GPL-2.0-or-later
"""Which accelerator runs the guest: PC_LITE_ACCEL=kvm|tcg|auto.

auto takes KVM when /dev/kvm opens and KVM boots the guest to init, TCG
otherwise: a nested, software-assisted KVM (kvm_pvm) may run QEMU but not
an ordinary Linux guest.  Whether KVM boots a kernel is probed once and
recorded in build/accel-probe.json, keyed by the kernel's real path.
"""

import json
import os

from pclite import paths

PROBE_RECORD = os.path.join(paths.BUILD, 'accel-probe.json')
_CHOICES = ('kvm', 'tcg', 'auto')


# The reason of every test skipped for want of KVM starts with this, so
# that tests/boot/run.py can count and name them at the end of make check.
NEEDS_KVM = 'needs KVM'


def needs_kvm(why):
    """A skip reason for a test that runs only under KVM."""
    return f'{NEEDS_KVM}: {why}'


def kvm_usable():
    """Can this process open /dev/kvm?"""
    try:
        os.close(os.open('/dev/kvm', os.O_RDWR))
    except OSError:
        return False
    return True


def requested():
    """PC_LITE_ACCEL (default auto); ValueError when it is none of them."""
    choice = os.environ.get('PC_LITE_ACCEL', 'auto')
    if choice not in _CHOICES:
        raise ValueError(f'PC_LITE_ACCEL={choice}: use kvm, tcg or auto')
    return choice


def _recorded(kernel):
    """Whether KVM boots kernel, as recorded, or None without a record."""
    try:
        with open(PROBE_RECORD, encoding='utf-8') as f:
            data = json.load(f)
        if data.get('kernel') == os.path.realpath(kernel):
            return bool(data['kvm_boots'])
    except (OSError, ValueError, KeyError):
        pass
    return None


def _record(kernel, kvm_boots):
    os.makedirs(os.path.dirname(PROBE_RECORD), exist_ok=True)
    with open(PROBE_RECORD, 'w', encoding='utf-8') as f:
        json.dump({'kernel': os.path.realpath(kernel),
                   'kvm_boots': kvm_boots}, f)


def for_boot(kernel, kvm_boots):
    """The accelerator for booting kernel to userspace.

    kvm_boots(kernel) -> bool boots it once under KVM; it is called only
    when auto is asked for, /dev/kvm opens and no record answers.
    """
    choice = requested()
    if choice != 'auto':
        return choice
    if not kvm_usable():
        return 'tcg'
    boots = _recorded(kernel)
    if boots is None:
        boots = kvm_boots(kernel)
        _record(kernel, boots)
    return 'kvm' if boots else 'tcg'


def for_startup():
    """The accelerator for VMM start-up measurements, which stop at or
    before the first guest instruction: KVM whenever /dev/kvm opens."""
    choice = requested()
    if choice == 'auto':
        return 'kvm' if kvm_usable() else 'tcg'
    return choice
