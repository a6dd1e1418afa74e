# SPDX-License-Identifier: GPL-2.0-or-later
"""pc-lite under a real KVM on every machine: KVM nested in a TCG guest.

The KVM tests (test_kvm_query_cache.py, test_startup.py) run only where
/dev/kvm opens.  So that pc-lite's KVM paths and the KVM tests' guest are
exercised where it does not, this test boots Debian's generic kernel
(linux-image-amd64, fetched once) under TCG with -cpu max (SVM is part of
TCG's CPU), loads its kvm-amd module, and inside runs build/qemu's
pc-lite under that KVM on the tiny guest (tests/boot-time/cpuid-guest.S,
a PVH kernel), with -accel kvm,x-query-cache=on and =off.  The guest's
dumps (CPUID grid and MSRs, read back with HMP pmemsave) must be complete
and the same with and without the query cache.
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from pclite import distro
from pclite import paths

import startup
from test_kvm_query_cache import parse_dump

MODULES = ('irqbypass', 'kvm', 'ccp', 'kvm-amd')

# The L1 guest's init: KVM up, then pc-lite under KVM on the tiny guest,
# once per x-query-cache setting, polled through its monitor until the
# guest has written its dump; dumps printed as hex between markers.
INIT = r'''#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in MODULES; do insmod /m/$m.ko || echo "L1: insmod $m failed"; done
[ -c /dev/kvm ] && echo "L1: /dev/kvm is there"
for c in on off; do
    mkfifo /mon-$c
    /qemu -M pc-lite -accel kvm,x-query-cache=$c -cpu qemu64 -smp 2 -m 64M \
        -display none -nodefaults -kernel /cpuid-guest.elf \
        -monitor stdio < /mon-$c > /out-$c 2>&1 &
    exec 3> /mon-$c
    i=0
    while [ $i -lt 120 ] && ! grep -q 0x600dcafe /out-$c; do
        echo 'xp /1wx 0x1001000' >&3
        sleep 0.5
        i=$((i + 1))
    done
    echo "pmemsave 0x1001000 0x5000 \"/dump-$c\"" >&3
    echo 'qom-get /machine pm-timer' >&3
    echo quit >&3
    exec 3>&-
    wait
    echo "L1: qemu x-query-cache=$c exited $?"
    echo "L1: pm-timer $c: $(grep -o '"o[nf]*"' /out-$c | head -1)"
    grep -v '^(qemu)\|^QEMU\|xp /1wx\|^0000000001001000' /out-$c
    echo "L1: dump $c begin"
    od -A n -t x1 -v /dump-$c | tr -d ' \n'
    echo
    echo "L1: dump $c end"
done
poweroff -f
'''.replace('MODULES', ' '.join(MODULES))


def parse_dumps(console):
    """{'on': bytes, 'off': bytes} of the dumps printed on console."""
    out = {}
    for c, hexdump in re.findall(r'L1: dump (on|off) begin\s*([0-9a-f]*)\s*'
                                 r'L1: dump \1 end', console):
        out[c] = bytes.fromhex(hexdump)
    return out


class NestedKvmTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        try:
            root = distro.kernel_package('linux-image-amd64')
            cls.kernel = distro.vmlinuz(root)
            cls.mods = [distro.module(root, m) for m in MODULES]
        except (subprocess.CalledProcessError, IndexError, OSError) as e:
            raise unittest.SkipTest(f"Debian's kernel unavailable: {e}")
        cls.tmp = tempfile.mkdtemp(prefix='pc-lite-nested-')
        cls.initrd = cls.make_initrd(os.path.join(cls.tmp, 'ir'))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def make_initrd(cls, ir):
        """busybox, the modules, pc-lite's QEMU with its libraries and the
        tiny guest, as a cpio archive."""
        for d in ('bin', 'proc', 'sys', 'dev', 'm', 'lib64'):
            os.makedirs(os.path.join(ir, d))
        shutil.copy('/bin/busybox', os.path.join(ir, 'bin'))
        for applet in ('sh', 'mount', 'insmod', 'mkfifo', 'grep', 'sleep',
                       'od', 'tr', 'echo', 'poweroff'):
            os.symlink('busybox', os.path.join(ir, 'bin', applet))
        for m in cls.mods:
            shutil.copy(m, os.path.join(ir, 'm'))
        qemu = os.path.realpath(paths.QEMU)
        shutil.copy(qemu, os.path.join(ir, 'qemu'))
        ldd = subprocess.run(['ldd', qemu], capture_output=True, text=True,
                             check=True).stdout
        for lib in re.findall(r'(/\S+) \(0x', ldd):
            dest = os.path.join(ir, lib.lstrip('/'))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy(lib, dest)
        shutil.copy(startup.build_guest(cls.tmp)[0],
                    os.path.join(ir, 'cpuid-guest.elf'))
        with open(os.path.join(ir, 'init'), 'w', encoding='utf-8') as f:
            f.write(INIT)
        os.chmod(os.path.join(ir, 'init'), 0o755)
        out = os.path.join(cls.tmp, 'initrd.cpio')
        with open(out, 'wb') as f:
            files = subprocess.run(['find', '.'], cwd=ir, capture_output=True,
                                   check=True).stdout
            subprocess.run(['cpio', '-o', '-H', 'newc', '--quiet'], cwd=ir,
                           input=files, stdout=f, check=True)
        return out

    def test_tiny_guest_under_nested_kvm(self):
        p = subprocess.run(
            [paths.QEMU, '-M', 'pc-lite', '-accel', 'tcg', '-cpu', 'max',
             '-m', '1G', '-display', 'none', '-serial', 'stdio',
             '-no-reboot', '-kernel', self.kernel, '-initrd', self.initrd,
             '-append', 'console=ttyS0 rdinit=/init quiet panic=-1'],
            capture_output=True, timeout=600, check=False)
        console = p.stdout.decode(errors='replace')
        self.assertEqual(p.returncode, 0, console[-3000:])
        self.assertIn('L1: /dev/kvm is there', console, console[-3000:])
        for c in ('on', 'off'):
            self.assertIn(f'L1: qemu x-query-cache={c} exited 0', console)
        dumps = parse_dumps(console)
        self.assertEqual(set(dumps), {'on', 'off'}, console[-3000:])
        on, off = parse_dump(dumps['on']), parse_dump(dumps['off'])
        self.assertIsNotNone(on, 'the guest did not finish (cache on)')
        self.assertIsNotNone(off, 'the guest did not finish (cache off)')
        self.assertGreater(len(on['cpuid']), 300)
        # In long mode, which its PVH entry code switched to, as the BSP.
        self.assertEqual(on['msrs'][0xc0000080] & 0x500, 0x500)
        self.assertEqual(on['msrs'][0x1b] & 0xfffff900, 0xfee00900)
        # pc-lite under KVM: the TSC-deadline timer (CPUID.01H:ECX bit 24)
        # on the default qemu64, so that Linux does not calibrate its
        # LAPIC timer, and no ACPI PM timer beside kvmclock (pm-timer=auto).
        leaf1 = on['cpuid'][(1, 0)]
        self.assertTrue(leaf1[2] & (1 << 24), leaf1)
        self.assertTrue(on['cpuid'][(0x40000001, 0)][0] & (1 << 3))
        for c in ('on', 'off'):
            self.assertIn(f'L1: pm-timer {c}: "off"', console)
        # The query cache changes nothing the guest sees.
        self.assertEqual(on['cpuid'], off['cpuid'])
        self.assertEqual(on['msrs'], off['msrs'])

if __name__ == '__main__':
    unittest.main()
