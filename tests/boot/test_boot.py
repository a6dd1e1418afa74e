# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot tests: the project's guest on pc-lite, checked from inside the guest.

Each boot runs QEMU through python/qemu's QEMUMachine; the guest's init
reports CPUs, memory, ACPI tables and kernel-log errors, then powers off.
"""

import os
import sys
import tempfile
import time
import unittest

from pclite import launch
from pclite import paths

EXPECTED_ACPI = {'APIC', 'DSDT', 'FACP', 'MCFG'}


def setUpModule():
    print(f'\npc-lite boot tests: accelerator {launch.boot_accel()} '
          f'(PC_LITE_ACCEL={os.environ.get("PC_LITE_ACCEL", "auto")})',
          file=sys.stderr)


class BootTest(unittest.TestCase):
    """Every kernel format, 1 and 4 vCPUs, 128 MiB and 4 GiB."""

    def check_boot(self, res, cpus, mem_mib):
        self.assertIsNotNone(res.report, 'no report from the guest:\n' +
                             res.console[-3000:])
        r = res.report
        self.assertEqual(res.exitcode, 0, res.console[-2000:])
        self.assertEqual(r['cpus'], cpus)
        # MemTotal: RAM less the kernel image and early reservations.
        self.assertLessEqual(r['memtotal_kb'], mem_mib * 1024)
        self.assertGreater(r['memtotal_kb'], mem_mib * 1024 * 0.85 - 24576)
        self.assertTrue(EXPECTED_ACPI <= set(r['acpi'].split(',')),
                        r['acpi'])
        self.assertEqual(r['log_errors'], 0)
        self.assertEqual(res.bad_log_lines, [])

    def boot_matrix(self, kernel):
        for cpus, mem in ((1, 128), (4, 4096)):
            with self.subTest(kernel=kernel, cpus=cpus, mem=mem):
                res = launch.boot(kernel=kernel, smp=cpus, mem=f'{mem}M')
                self.check_boot(res, cpus, mem)

    def test_pvh_vmlinux(self):
        self.boot_matrix('vmlinux')

    def test_elf_without_pvh(self):
        self.boot_matrix('vmlinux-nopvh')

    def test_bzimage(self):
        self.boot_matrix('bzImage')

    def test_mixed_shapes(self):
        for kernel, cpus, mem in (('vmlinux', 4, 128), ('bzImage', 1, 4096)):
            with self.subTest(kernel=kernel, cpus=cpus, mem=mem):
                res = launch.boot(kernel=kernel, smp=cpus, mem=f'{mem}M')
                self.check_boot(res, cpus, mem)

    def test_memory_map_above_4g(self):
        res = launch.boot(mem='4G')
        self.check_boot(res, 1, 4096)
        # 3 GiB below the PCI hole, 1 GiB at 4 GiB.
        self.assertIn('[mem 0x0000000000100000-0x00000000bfffffff] usable',
                      res.console)
        self.assertIn('[mem 0x0000000100000000-0x000000013fffffff] usable',
                      res.console)

    def test_virtio_console_and_devices(self):
        res = launch.boot(console='virtio', args=[
            '-device', 'virtio-rng-pci',
            '-device', 'virtio-net-pci,netdev=n0',
            '-netdev', 'hubport,id=n0,hubid=0',
            '-blockdev', 'null-co,node-name=d0,size=1048576',
            '-device', 'virtio-blk-pci,drive=d0'])
        self.assertIsNotNone(res.report, res.console[-2000:])
        self.assertEqual(res.exitcode, 0)
        # virtio-serial (the hvc0 console), rng, net, blk
        self.assertEqual(res.report['virtio'], 4)
        self.assertEqual(res.report['pci'], 5)    # + the host bridge

    def test_virtio_packed_rings(self):
        # Every virtio device with packed virtqueues: QEMU allocates a
        # queue's used-element array when the driver negotiates packed or
        # in-order rings (patch 0019), no longer at realize.  The guest's
        # console (its report comes through it), entropy and disk must
        # work, and the guest must have negotiated packed rings.
        with tempfile.TemporaryDirectory(prefix='pc-lite-') as tmp:
            log = os.path.join(tmp, 'console.log')
            cmd = launch.guest().virtio_console(log)
            cmd.append('pclite.action=idle').add(
                '-global', 'virtio-device.packed=on',
                '-device', 'virtio-rng-pci',
                '-blockdev', 'null-co,node-name=d0,size=1048576,'
                'read-zeroes=on',
                '-device', 'virtio-blk-pci,drive=d0')
            vm, res = launch.start(cmd, tmp, timeout=120)
            try:
                self.assertIsNotNone(res, vm.console_text()[-2000:])
                features = {}
                for dev in vm.qmp('x-query-virtio')['return']:
                    status = vm.qmp('x-query-virtio-status',
                                    path=dev['path'])['return']
                    features[dev['name']] = ' '.join(
                        status['guest-features']['transports'])
            finally:
                vm.stop()
        self.assertEqual(res['virtio'], 3)
        self.assertEqual(res['log_errors'], 0)
        self.assertEqual(len(features), 3, features)
        for name, transports in features.items():
            self.assertIn('VIRTIO_F_RING_PACKED', transports, name)

    def test_nvdimm_enumerates(self):
        img = os.path.join(paths.BUILD, 'test-nvdimm.img')
        with open(img, 'wb') as f:
            f.truncate(64 << 20)
        try:
            res = launch.boot(mem='128M,slots=2,maxmem=1G',
                              machine='pc-lite,nvdimm=on', args=[
                                  '-object', 'memory-backend-file,id=m0,'
                                  f'mem-path={img},size=64M,share=on',
                                  '-device', 'nvdimm,memdev=m0'])
        finally:
            os.unlink(img)
        self.assertIsNotNone(res.report, res.console[-3000:])
        self.assertEqual(res.report['pmem'], 1)
        self.assertIn('NFIT', res.report['acpi'].split(','))
        self.assertEqual(res.report['log_errors'], 0)

    def test_repeated_boots_calibrate_time(self):
        """No kernel arguments: the guest must calibrate its clocks itself."""
        for i in range(5):
            with self.subTest(boot=i):
                res = launch.boot(smp=2)
                self.assertIsNotNone(res.report, res.console[-2000:])
                self.assertEqual(res.exitcode, 0)
                self.assertRegex(res.console, r'tsc: (Detected|Refined)')

    def test_clocks_not_calibrated(self):
        """The guest is told its TSC's and LAPIC timer's frequencies and
        calibrates neither (TCG: CPUID leaf 0x15 for a TSC counting the
        virtual clock; KVM: kvmclock and the TSC-deadline timer), and the
        frequency it was told is right: the ACPI PM timer's clocksource
        watchdog (TCG), checking the TSC every 0.5 s while the guest
        idles, does not find it unstable."""
        with tempfile.TemporaryDirectory(prefix='pc-lite-') as tmp:
            cmd = launch.guest().append('apic=verbose', 'pclite.action=idle')
            vm, rep = launch.start(cmd.serial_console(
                os.path.join(tmp, 'console.log')), tmp, timeout=120)
            try:
                self.assertIsNotNone(rep, vm.console_text()[-3000:])
                time.sleep(3)
                console = vm.console_text()
            finally:
                vm.stop()
        self.assertRegex(console, r'tsc: Detected \d+\.\d+ MHz')
        for calibration in ('Fast TSC calibration',
                            'PMTIMER reference calibration',
                            'calibrating APIC timer',
                            'APIC calibration not consistent',
                            'Marking TSC unstable'):
            self.assertFalse(calibration in console,
                             f'{calibration!r} on the console:\n' +
                             console[-3000:])
        if cmd.accel.startswith('kvm'):
            self.assertIn('TSC deadline timer available', console)
        else:
            self.assertIn('lapic timer already calibrated', console)
            self.assertIn('clocksource: Switched to clocksource tsc\n',
                          console)

    def test_reboot_resets_machine(self):
        # Without -no-reboot, "reboot" resets: kernel, tables and boot data
        # are written again and the guest boots a second time.
        res = launch.boot(append='pclite.action=reboot', timeout=120,
                          no_reboot=False, wait_reports=2)
        self.assertGreaterEqual(res.console.count('PCLITE-REPORT'), 2,
                                res.console[-2000:])

    def test_boot_phases_measured(self):
        # Host-clock stamps: QEMU's exec, its vCPUs' start (the kernel
        # entry: pc-lite has no firmware), init's two markers, QEMU's exit.
        res = launch.boot()
        p = res.phases
        self.assertIsNotNone(p, 'no vm_state_notify/pc_lite_marker trace')
        for key in ('vmm_init', 'kernel', 'userspace', 'shutdown'):
            self.assertGreater(p[key], 0, p)
        self.assertEqual(p['firmware'], 0)
        self.assertAlmostEqual(p['total'], p['vmm_init'] + p['kernel'] +
                               p['userspace'], delta=0.1)
        self.assertLess(p['total'], res.wall_s * 1000)

    def test_reboot_with_no_reboot_exits(self):
        res = launch.boot(append='pclite.action=reboot')
        self.assertIsNotNone(res.report)
        self.assertEqual(res.exitcode, 0)
        self.assertEqual(res.console.count('PCLITE-REPORT'), 1)


if __name__ == '__main__':
    unittest.main()
