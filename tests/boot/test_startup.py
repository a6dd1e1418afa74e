# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU start-up of pc-lite, stopped before the first guest instruction.

Runs under KVM where /dev/kvm is usable (also a nested KVM that cannot boot
an ordinary guest) and under TCG: the vCPU registers that QEMU hands to the
accelerator must be the kernel entry state of each boot protocol.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

from pclite import accel as accels
from pclite import launch
from pclite import paths
from pclite import qemucmd

ACCELS = (('tcg', None), ('kvm', 'on'), ('kvm', 'split'))


class StartupTest(unittest.TestCase):

    def setUp(self):
        self.tmp = self.enterContext(
            tempfile.TemporaryDirectory(prefix='pc-lite-startup-'))

    def start(self, accel, irqchip, kernel, smp=4):
        """QEMU stopped before the first instruction (-S); KVM runs are
        skipped, with the reason, when /dev/kvm does not open."""
        if accel == 'kvm' and accels.for_startup() != 'kvm':
            self.skipTest(accels.needs_kvm('/dev/kvm does not open (or '
                                           'PC_LITE_ACCEL=tcg)'))
        opt = accel + (f',kernel-irqchip={irqchip}' if irqchip else '')
        cmd = qemucmd.Cmdline(accel=opt, smp=smp, mem='256M', stopped=True)
        vm = launch.Machine(cmd.kernel(kernel, 'initramfs.cpio.gz'),
                            self.tmp)
        vm.launch()
        self.addCleanup(vm.shutdown)
        return vm

    def regs(self, vm):
        return vm.cmd('human-monitor-command',
                      command_line='info registers -a')

    def test_pvh_entry_state(self):
        for accel, irqchip in ACCELS:
            with self.subTest(accel=accel, irqchip=irqchip):
                vm = self.start(accel, irqchip, 'vmlinux')
                kvm = vm.cmd('query-kvm')
                self.assertEqual(kvm['enabled'], accel == 'kvm')
                self.assertEqual(len(vm.cmd('query-cpus-fast')), 4)
                regs = self.regs(vm).split('CPU#')
                bsp = regs[1]
                # PVH: 32-bit protected mode, %ebx -> hvm_start_info
                self.assertRegex(bsp, r'EIP=0*1000500')
                self.assertRegex(bsp, r'EBX=0*6000')
                self.assertRegex(bsp, r'CR0=00000011')
                self.assertRegex(bsp, r'CS =0010 0+ ffffffff 00c09b00 '
                                 r'DPL=0 CS32')
                # Application processors stay at reset for INIT/SIPI.
                for ap in regs[2:]:
                    self.assertRegex(ap, r'EIP=0000fff0')

    def test_64bit_entry_state(self):
        for accel, irqchip in ACCELS:
            for kernel in ('bzImage', 'vmlinux-nopvh'):
                with self.subTest(accel=accel, irqchip=irqchip,
                                  kernel=kernel):
                    vm = self.start(accel, irqchip, kernel, smp=1)
                    bsp = self.regs(vm)
                    # Long mode with paging, %rsi -> boot_params
                    self.assertRegex(bsp, r'RSI=0*7000')
                    self.assertRegex(bsp, r'CR0=80000011')
                    self.assertRegex(bsp, r'CR3=0*9000')
                    self.assertRegex(bsp, r'EFER=0*500')
                    self.assertRegex(bsp, r'CS =0010 .* CS64')
                    rip = '1000200' if kernel == 'bzImage' else '1000000'
                    self.assertRegex(bsp, r'RIP=0*' + rip)


class StartupBenchTcgTest(unittest.TestCase):
    """make bench-startup's runs (its tiny guest on pc-lite, the HLT
    firmware on microvm), briefly and under TCG: they start and the
    benchmark writes its JSON on a machine without /dev/kvm too."""

    def test_startup_bench_under_tcg(self):
        if not os.path.exists(paths.QEMU_FULL):
            self.skipTest(f'{paths.QEMU_FULL} is not built (make qemu-full)')
        with tempfile.TemporaryDirectory(prefix='pc-lite-startup-') as tmp:
            out = os.path.join(tmp, 'startup.json')
            p = subprocess.run(
                [sys.executable, os.path.join(paths.TOP, 'tests', 'boot-time',
                                              'startup.py'),
                 '--accel', 'tcg', '--smp', '1,2', '--runs', '1',
                 '--out', out], capture_output=True, text=True, timeout=300,
                check=False)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            with open(out, encoding='utf-8') as f:
                data = json.load(f)
        self.assertEqual(data['accel'], 'tcg')
        rows = {(r['config'], r['smp']): r for r in data['results']}
        self.assertEqual(set(rows), {(c, n) for c in ('pc-lite', 'microvm')
                                     for n in (1, 2)})
        for row in rows.values():
            self.assertGreater(row['first_insn_ms']['median'], 0)
            self.assertEqual(row['ioctls']['kvm_fds'], 0)
        self.assertEqual(data['targets'], [])


if __name__ == '__main__':
    unittest.main()
