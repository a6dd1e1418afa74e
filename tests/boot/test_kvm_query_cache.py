# SPDX-License-Identifier: GPL-2.0-or-later
"""The KVM query cache (target/i386/kvm-cpuid-cache.c) changes nothing the
guest sees, and vCPU creation gives every vCPU the same view.

Under KVM only (skipped without a usable /dev/kvm).  For each CPU model the
same machine is started with -accel kvm,x-query-cache=on and =off, and

* a tiny guest (tests/boot-time/cpuid-guest.S) dumps CPUID (a grid of
  leaves/subleaves) and reads a list of MSRs, recording #GP faults, on the
  boot CPU; the dump is read back with pmemsave;
* QMP query-cpu-model-expansion (type full) of the model is taken;
* the ioctls on /dev/kvm are counted (strace), to show the cache is on.

Both must be identical with and without the cache.  A control checks that
the dump does tell CPU models apart, so that the comparison can fail.
"""

import os
import shutil
import struct
import tempfile
import unittest

from pclite import accel
from pclite import launch
from pclite import qemucmd

# tests/boot-time is on PYTHONPATH for make check-boot.
import startup

RESULTS = 0x1001000
DONE = 0x600dcafe


def parse_dump(data):
    magic, ncpuid, nmsr = struct.unpack_from('<III', data, 0)
    if magic != DONE:
        return None
    cpuid = {}
    for i in range(ncpuid):
        leaf, sub, *regs = struct.unpack_from('<6I', data, 0x10 + 24 * i)
        cpuid[(leaf, sub)] = tuple(regs)
    msrs = {}
    for i in range(nmsr):
        index, fault, lo, hi = struct.unpack_from('<4I', data,
                                                  0x4000 + 16 * i)
        msrs[index] = None if fault else (hi << 32) | lo
    return {'cpuid': cpuid, 'msrs': msrs}


class TinyGuestTestCase(unittest.TestCase):
    """A temporary directory with the tiny guest built in it."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='pc-lite-kvm-')
        cls.guest = startup.build_guest(cls.tmp)[0]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def machine(self, cmd, wrapper=()):
        """A launch.Machine of cmd running the tiny guest, stopped at the
        test's end."""
        vm = launch.Machine(cmd.kernel(self.guest), self.tmp,
                            wrapper=wrapper)
        vm.launch()
        self.addCleanup(vm.shutdown)
        return vm


KVM = unittest.skipUnless(accel.kvm_usable(), '/dev/kvm is not usable')


@KVM
class KVMQueryCacheTest(TinyGuestTestCase):

    def run_guest(self, cpu, cache, smp=2, strace=False):
        """(guest dump, model expansion, /dev/kvm ioctl count or None)."""
        dump = os.path.join(self.tmp, 'dump.bin')
        trace = os.path.join(self.tmp, 'strace.txt')
        wrapper = ['strace', '-f', '-qq', '-y', '-e', 'trace=ioctl',
                   '-o', trace] if strace else []
        vm = self.machine(qemucmd.Cmdline(accel=f'kvm,x-query-cache={cache}',
                                          smp=smp, mem='64M').add('-cpu', cpu),
                          wrapper)
        try:
            result = None

            def finished():
                nonlocal result
                vm.cmd('pmemsave', val=RESULTS, size=0x5000, filename=dump)
                with open(dump, 'rb') as f:
                    result = parse_dump(f.read())
                return result is not None

            vm.wait_until(finished, 20)
            name, _, props = cpu.partition(',')
            model = {'name': name}
            if props:
                model['props'] = {p.lstrip('+-'): not p.startswith('-')
                                  for p in props.split(',')}
            expansion = vm.cmd('query-cpu-model-expansion', type='full',
                               model=model)
        finally:
            vm.shutdown()
        self.assertIsNotNone(result, f'{cpu}: the guest did not finish')
        count = None
        if strace:
            with open(trace, encoding='utf-8', errors='replace') as f:
                count = sum(1 for ln in f
                            if 'ioctl(' in ln and '</dev/kvm>' in ln)
        return result, expansion, count

    def test_same_view_with_and_without_cache(self):
        for cpu in ('qemu64', 'max,-arch-capabilities',
                    'host,-arch-capabilities'):
            with self.subTest(cpu=cpu):
                on, exp_on, n_on = self.run_guest(cpu, 'on', smp=4,
                                                  strace=True)
                off, exp_off, n_off = self.run_guest(cpu, 'off', smp=4,
                                                     strace=True)
                self.assertGreater(len(on['cpuid']), 300)
                self.assertEqual(on['cpuid'], off['cpuid'])
                self.assertEqual(on['msrs'], off['msrs'])
                self.assertEqual(exp_on, exp_off)
                # The cache was really used: fewer system-scope ioctls.
                self.assertLess(n_on, n_off)

    def test_dump_tells_models_apart(self):
        a, _, _ = self.run_guest('qemu64', 'on')
        b, _, _ = self.run_guest('host,-arch-capabilities', 'on')
        self.assertNotEqual(a['cpuid'], b['cpuid'])

    def test_devkvm_ioctls_do_not_grow_with_vcpus(self):
        _, _, n1 = self.run_guest('qemu64', 'on', smp=1, strace=True)
        _, _, n8 = self.run_guest('qemu64', 'on', smp=8, strace=True)
        self.assertEqual(n1, n8)


@KVM
class VcpuCreationTest(TinyGuestTestCase):
    """Batched vCPU creation and the single register push per vCPU."""

    def start(self, smp, wrapper=()):
        return self.machine(qemucmd.Cmdline(accel='kvm', smp=smp, mem='64M',
                                            stopped=True), wrapper)

    def regs(self, vm):
        out = vm.cmd('human-monitor-command',
                     command_line='info registers -a')
        return out.split('CPU#')[1:]

    def check_entry_state(self, regs):
        # 64-bit boot protocol on the BSP; the APs wait for INIT/SIPI.
        self.assertRegex(regs[0], r'RIP=0*1000000 ')
        self.assertRegex(regs[0], r'RSI=0*7000 ')
        self.assertRegex(regs[0], r'CR0=80000011')
        for ap in regs[1:]:
            self.assertRegex(ap, r'[RE]IP=0*fff0 ')
            self.assertRegex(ap, r'CS =f000 ')

    def test_all_vcpus_created_with_entry_state(self):
        # Set up in parallel (patches 0007, 0010): each vCPU exactly once.
        for _ in range(3):
            vm = self.start('64')
            cpus = vm.cmd('query-cpus-fast')
            self.assertEqual([c['cpu-index'] for c in cpus],
                             list(range(64)))
            self.assertEqual(len({c['thread-id'] for c in cpus}), 64)
            self.check_entry_state(self.regs(vm))
            vm.shutdown()
            self.assertEqual(vm.exitcode(), 0)

    def test_cpu_hotplug_and_reset(self):
        vm = self.start('2,maxcpus=4')
        vm.cmd('device_add', driver='qemu64-x86_64-cpu', id='cpu2',
               **{'socket-id': 0, 'core-id': 2, 'thread-id': 0})
        self.assertEqual(len(vm.cmd('query-cpus-fast')), 3)
        regs = self.regs(vm)
        self.assertEqual(len(regs), 3)
        self.check_entry_state(regs)
        vm.cmd('system_reset')
        self.check_entry_state(self.regs(vm))
        vm.cmd('cont')
        self.assertEqual(vm.cmd('query-status')['status'], 'running')

    def test_start_skips_per_vcpu_round_trips(self):
        # First start: no KVM_KVMCLOCK_CTRL (patch 0008) and no TPR access
        # reporting (pc-lite has no kvmvapic); a resume after a pause still
        # tells every vCPU its guest was paused.
        trace = os.path.join(self.tmp, 'start.strace')
        vm = self.start(4, ['strace', '-f', '-qq', '-e', 'trace=ioctl',
                            '-o', trace])
        try:
            vm.cmd('cont')
            vm.cmd('stop')
            with open(trace, encoding='utf-8', errors='replace') as f:
                first = f.read()
            vm.cmd('cont')
            self.assertEqual(vm.cmd('query-status')['status'], 'running')
        finally:
            vm.shutdown()
        with open(trace, encoding='utf-8', errors='replace') as f:
            both = f.read()
        self.assertIn('KVM_SET_CLOCK', first)
        self.assertEqual(first.count('KVM_KVMCLOCK_CTRL'), 0)
        self.assertEqual(both.count('KVM_KVMCLOCK_CTRL'), 4)
        self.assertEqual(both.count('KVM_TPR_ACCESS_REPORTING'), 0)


if __name__ == '__main__':
    unittest.main()
