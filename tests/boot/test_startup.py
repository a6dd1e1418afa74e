# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU start-up of pc-lite, stopped before the first guest instruction.

Runs under KVM where /dev/kvm is usable (also a nested KVM that cannot boot
an ordinary guest) and under TCG: the vCPU registers that QEMU hands to the
accelerator must be the kernel entry state of each boot protocol.
"""

import os
import sys
import unittest

from qemu.machine import QEMUMachine

sys.path.insert(0, os.path.dirname(__file__))
import pclite  # noqa: E402  pylint: disable=wrong-import-position


def accels():
    out = [('tcg', None)]
    if pclite.startup_accel() == 'kvm':
        out += [('kvm', 'on'), ('kvm', 'split')]
    return out


class StartupTest(unittest.TestCase):

    def start(self, accel, irqchip, kernel, smp=4):
        opt = accel + (f',kernel-irqchip={irqchip}' if irqchip else '')
        vm = QEMUMachine(pclite.QEMU, args=[
            '-accel', opt, '-S', '-smp', str(smp), '-m', '256M',
            '-nodefaults', '-kernel', pclite.guest_file(kernel),
            '-initrd', pclite.guest_file('initramfs.cpio.gz')])
        vm.set_machine('pc-lite')
        vm.launch()
        self.addCleanup(vm.shutdown)
        return vm

    def regs(self, vm):
        return vm.cmd('human-monitor-command',
                      command_line='info registers -a')

    def test_pvh_entry_state(self):
        for accel, irqchip in accels():
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
        for accel, irqchip in accels():
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
