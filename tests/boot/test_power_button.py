# SPDX-License-Identifier: GPL-2.0-or-later
"""The ACPI power button (QMP system_powerdown, virsh shutdown): init
ends what runs and powers off as it does itself, file systems synced and
the root remounted read-only, and QEMU exits 0."""

import os
import shutil
import tempfile
import threading
import unittest

from pclite import channel
from pclite import image as rootimage
from pclite import launch
from pclite import paths
from pclite import process
from pclite import report

BUTTON = 'pc-lite init: power button: powering off'


class PowerButtonTest(unittest.TestCase):

    def setUp(self):
        self.tmp = self.enterContext(
            tempfile.TemporaryDirectory(prefix='pc-lite-button-'))
        self.log = os.path.join(self.tmp, 'console.log')

    def launch(self, cmd):
        vm = launch.Machine(cmd.serial_console(self.log), self.tmp)
        vm.launch()
        self.addCleanup(vm.stop)
        return vm

    def console(self, vm):
        return vm.console_text()[-3000:]

    def press_and_wait(self, vm, timeout=60):
        """system_powerdown, then QEMU's exit status."""
        vm.qmp('system_powerdown')
        self.assertIsNotNone(vm.wait_exit(timeout),
                             f'still running {timeout} s after the button '
                             f'press:\n{self.console(vm)}')
        return vm.exitcode()

    def test_idle_guest(self):
        vm = self.launch(launch.guest().append('pclite.action=idle'))
        self.assertTrue(vm.wait_until(
            lambda: report.count(process.read_text(self.log)), 120),
            self.console(vm))
        self.assertEqual(self.press_and_wait(vm), 0)
        self.assertIn(BUTTON, vm.console_text())

    def test_command_ends_and_root_is_clean(self):
        """A command sleeping on the channel when the button is pressed:
        it gets SIGTERM, a file it wrote without fsync is on the --persist
        style root (shared image) afterwards, whose ext4 is clean."""
        img = shutil.copy(paths.guest_file('rootfs.img'), self.tmp)
        cmd = launch.guest(initrd=None, mem='256M,slots=2,maxmem=1G')
        cmd.nvdimm_root(img, os.path.getsize(img), share=True, mount='rw')
        ours, theirs = channel.socketpair()
        self.addCleanup(ours.close)
        cmd.channel(theirs.fileno())
        vm = self.launch(cmd)
        theirs.close()

        out_path = os.path.join(self.tmp, 'stdout')
        result = {}
        with open(out_path, 'wb', buffering=0) as out:
            session = channel.Session(
                ours, ['sh', '-c', 'echo before the button > /root/button; '
                       'echo ready; exec sleep 600'], stdout=out)
            thread = threading.Thread(target=lambda: result.update(
                status=session.run(alive=vm.is_running)), daemon=True)
            thread.start()
            self.assertTrue(vm.wait_until(
                lambda: 'ready' in process.read_text(out_path), 120),
                self.console(vm))
            self.assertEqual(self.press_and_wait(vm), 0, self.console(vm))
            thread.join(30)
        self.assertIn(BUTTON, vm.console_text())
        self.assertEqual(result.get('status'), 128 + 15, self.console(vm))

        self.assertFalse(rootimage.needs_recovery(img),
                         'the guest left its root mounted')
        status, out = rootimage.fsck(img)
        self.assertEqual(status, 0, out)
        self.assertEqual(rootimage.read_file(img, '/root/button'),
                         'before the button\n')


if __name__ == '__main__':
    unittest.main()
