# SPDX-License-Identifier: GPL-2.0-or-later
"""PCI INTx through the DSDT's _PRT: virtio devices without MSI-X
(vectors=0) on root-bus slots whose pins reach each of the four PCIe GSIs,
and one behind a PCIe root port.  Each disk must complete reads, which
it cannot without its interrupt, and its handler must be on the IOAPIC
pin the GPEX wires its slot to (include/hw/i386/pc_lite.h: INTA-INTD on
GSIs 16-19, pin P of slot S on 16 + (S + P) % 4).  A _PRT entry that
names another GSI leaves the disk's requests without completion: the
command then never ends and the test fails."""

import os
import re
import tempfile
import time
import unittest

from pclite import channel
from pclite import launch
from pclite import paths

GSI_BASE = 16
PINS = 4
FIRST_SLOT = 4          # after the slots QEMU gives the other devices
BEHIND_PORT = 'rp'

# Per disk: its virtio name, PCI address, INTx pin (1 = INTA) and IRQ;
# then /proc/interrupts after a direct read of each.
SCRIPT = r'''
set -e
for b in /sys/block/vd*; do
    v=$(basename "$(readlink -f "$b/device")")
    p=$(readlink -f "$b/device/..")
    echo "disk $(basename "$b") $v $p $(cat "$p/irq")" \
         "$(od -An -tu1 -j61 -N1 "$p/config" | tr -d ' ')"
    dd if=/dev/$(basename "$b") of=/dev/null bs=4096 count=256 \
       iflag=direct 2>/dev/null
done
cat /proc/interrupts
'''


def expected_gsi(slot, pin):
    """The GSI of INTx pin (0 = INTA) of a root-bus slot."""
    return GSI_BASE + (slot + pin) % PINS


class PciIntxTest(unittest.TestCase):

    def test_intx_on_every_gsi(self):
        slots = [FIRST_SLOT + i for i in range(PINS)]
        port_slot = slots[-1] + 1
        args = ['-device', f'pcie-root-port,id={BEHIND_PORT},chassis=1,'
                f'addr={port_slot:#x}']
        for i, slot in enumerate(slots + [None]):
            args += ['-blockdev', f'null-co,node-name=d{i},size=1048576,'
                     'read-zeroes=on']
            where = (f'addr={slot:#x}' if slot is not None
                     else f'bus={BEHIND_PORT},addr=0')
            args += ['-device', f'virtio-blk-pci,drive=d{i},vectors=0,'
                     f'{where}']

        with tempfile.TemporaryDirectory(prefix='pc-lite-intx-') as tmp:
            img = paths.guest_file('rootfs.img')
            cmd = launch.guest(initrd=None, mem='256M,slots=2,maxmem=1G')
            cmd.nvdimm_root(img, os.path.getsize(img), readonly=True)
            ours, theirs = channel.socketpair()
            cmd.channel(theirs.fileno())
            cmd.serial_console(os.path.join(tmp, 'console.log'))
            cmd.add(*args)
            vm = launch.Machine(cmd, tmp)
            vm.launch()
            theirs.close()
            try:
                status, out, err = channel.run_command(
                    ours, ['sh', '-c', SCRIPT], alive=vm.is_running,
                    deadline=time.monotonic() + 120)
            except channel.ChannelError as e:
                # A disk whose interrupt goes elsewhere never completes.
                self.fail(f'{e}:\n{vm.console_text()[-3000:]}')
            finally:
                console = vm.console_text()
                ours.close()
                vm.stop()
        out = out.decode()
        self.assertEqual(status, 0, f'{out}\n{err.decode()}\n'
                         f'{console[-3000:]}')

        disks = {}
        for line in out.splitlines():
            if line.startswith('disk '):
                _, name, virtio, path, irq, pin = line.split()
                disks[name] = (virtio, path, int(irq), int(pin))
        self.assertEqual(len(disks), len(slots) + 1, out)

        # Linux IRQ: (IOAPIC pin, count, handlers), from lines such as
        # " 28:  514  IO-APIC  16-fasteoi  virtio1, virtio5".
        lines = {}
        for line in out.splitlines():
            m = re.match(r'\s*(\d+):\s+((?:\d+\s+)+)IO-APIC\s+(\d+)-\S+\s+'
                         r'(.*)$', line)
            if m:
                count = sum(int(c) for c in m.group(2).split())
                names = [n.strip() for n in m.group(4).split(',')]
                lines[int(m.group(1))] = (int(m.group(3)), count, names)

        gsis = set()
        port = f'0000:00:{port_slot:02x}.0'
        for name, (virtio, path, irq, pin) in disks.items():
            addr = os.path.basename(path)
            with self.subTest(disk=name, addr=addr):
                bus, slot = int(addr[5:7], 16), int(addr[8:10], 16)
                self.assertGreaterEqual(pin, 1)     # INTA-INTD
                if bus == 0:
                    self.assertIn(slot, slots)
                    want = expected_gsi(slot, pin - 1)
                else:
                    # Behind the root port: swizzled onto the port's slot.
                    self.assertEqual(os.path.basename(os.path.dirname(path)),
                                     port)
                    want = expected_gsi(port_slot, (slot + pin - 1) % PINS)
                self.assertIn(irq, lines, out)
                gsi, count, names = lines[irq]
                self.assertEqual(gsi, want, out)
                self.assertIn(virtio, names, out)
                self.assertGreater(count, 0, out)
                if bus == 0:
                    gsis.add(gsi)
        # The four root-bus disks cover every PCIe GSI.
        self.assertEqual(gsis, {GSI_BASE + i for i in range(PINS)})


if __name__ == '__main__':
    unittest.main()
