# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU start-up of pc-lite, stopped before the first guest instruction.

Runs under KVM where /dev/kvm is usable (also a nested KVM that cannot boot
an ordinary guest) and under TCG: the vCPU registers that QEMU hands to the
accelerator must be the kernel entry state of each boot protocol.
"""

import tempfile
import unittest

from pclite import accel as accels
from pclite import launch
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
            self.skipTest('/dev/kvm is not usable (or PC_LITE_ACCEL=tcg)')
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


if __name__ == '__main__':
    unittest.main()
