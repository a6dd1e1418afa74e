#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What a guest can reach: the PIO and MMIO regions of pc-lite beside q35
and microvm (build/qemu-full, the same source with QEMU's defaults).

Each machine is started stopped (-S) under -accel qtest (--accel tcg or
kvm: under that accelerator, pc-lite then with the guest's vmlinux, which
it needs there), with no guest running and no firmware run, and its flat
memory views are read with QMP's human-monitor-command "info mtree -f -o".
A region counts when a guest access reaches device code through it: the
flat views of the CPUs' address spaces ("memory", "cpu-*", "I/O"), minus
RAM and ROM (ram, rom, ramd), the background region of each view (I/O's
"io": unassigned) and "unassigned"; one MemoryRegion counts once however
many ranges it shows up in (a region split by another, or mapped twice
through aliases, as gpex's MMIO window below and above 4 GiB), and two
regions of the same name count twice (microvm's 24 virtio-mmio transports).
PCI BARs are not mapped before firmware or the guest assigns them:
query-pci's BARs are listed beside the count, not in it.

Configurations (each as "-nodefaults", and "+defaults": what a user
gets without -nodefaults); q35 and microvm with their default firmware
from build/firmware (-L build/firmware/current -bios ...), +defaults with
the VGA BIOS of Debian's seabios package (-L /usr/share/seabios) and
without the e1000e's option ROM (-global e1000e.romfile=: a ROM BAR is
ROM, not counted, and Debian's iPXE ROMs are not installed; a -global for
VGA would drop the default VGA).  "pc-lite rtc=off" is what rtc=auto
gives under KVM with kvmclock.

Writes build/bench/surface.{json,md} (or --out DIR; part of make bench):
{config: {count, regions: [names], ...}}, and checks the target: pc-lite's
count at most a quarter of q35's.  --quick: pc-lite and q35 only.
"""

import argparse
import os
import re
import socket
import subprocess
import sys

from qemu.qmp.legacy import QEMUMonitorProtocol

from pclite import paths
from pclite import process
from pclite import qemucmd

import bench_report

# name: (QEMU binary, -M, firmware of qemucmd.FIRMWARE or None, -nodefaults)
CONFIGS = {
    'pc-lite': (paths.QEMU, 'pc-lite', None, True),
    'pc-lite rtc=off': (paths.QEMU, 'pc-lite,rtc=off', None, True),
    'q35': (paths.QEMU_FULL, 'q35', 'seabios', True),
    'microvm': (paths.QEMU_FULL, 'microvm', 'seabios-microvm', True),
    'pc-lite +defaults': (paths.QEMU, 'pc-lite', None, False),
    'q35 +defaults': (paths.QEMU_FULL, 'q35', 'seabios', False),
    'microvm +defaults': (paths.QEMU_FULL, 'microvm', 'seabios-microvm',
                          False),
}
QUICK = ('pc-lite', 'q35')
# pc-lite configuration: the q35 configuration it is compared with.
PAIRS = {'pc-lite': 'q35', 'pc-lite rtc=off': 'q35',
         'pc-lite +defaults': 'q35 +defaults'}
TARGET = 0.25                   # pc-lite's count / q35's, at most
DEFAULTS = ('-L', '/usr/share/seabios', '-global', 'e1000e.romfile=')
NOT_DEVICES = ('ram', 'rom', 'ramd', 'nv-ram', 'nv-rom')

_AS = re.compile(r'^ AS "([^"]+)"')
_ROOT = re.compile(r'^ Root memory region: (.+)$')
_RANGE = re.compile(r'^  ([0-9a-f]+)-([0-9a-f]+) \(prio -?\d+, ([a-z/-]+)\): '
                    r'(.+?)(?: @([0-9a-f]+))?(?: (?:owner|parent):\{(.*)\})?$')


def argv_of(name, accel):
    """The command line of configuration name (without the monitor)."""
    binary, machine, firmware, nodefaults = CONFIGS[name]
    cmd = qemucmd.Cmdline(machine, accel, binary=binary, stopped=True)
    if firmware:
        cmd.firmware(firmware)
        if not nodefaults:
            cmd.add(*DEFAULTS)
    elif accel != 'qtest':
        cmd.kernel('vmlinux')   # pc-lite has no firmware to start instead
    return [a for a in cmd.argv() if nodefaults or a != '-nodefaults']


def query(argv, timeout=30):
    """(info mtree -f -o, query-pci or None) of QEMU started with argv."""
    ours, theirs = socket.socketpair()
    qemu = process.popen(argv + ['-chardev', f'socket,id=mon,fd='
                                 f'{theirs.fileno()}', '-mon',
                                 'chardev=mon,mode=control'],
                         pass_fds=[theirs.fileno()], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    theirs.close()
    qmp = QEMUMonitorProtocol(ours)
    try:
        qmp.settimeout(timeout)
        qmp.connect()
        mtree = qmp.cmd('human-monitor-command',
                        **{'command-line': 'info mtree -f -o'})
        try:
            pci = qmp.cmd('query-pci')
        except Exception:       # pylint: disable=broad-except
            pci = None          # no PCI bus (microvm without pcie=on)
    except Exception as err:    # pylint: disable=broad-except
        qemu.kill()
        _, stderr = qemu.communicate()
        sys.exit(f'{" ".join(argv)}: {err}\n{stderr.decode(errors="replace")}')
    finally:
        qmp.close()
    qemu.terminate()            # stopped at -S: nothing to save
    qemu.communicate(timeout=timeout)
    return mtree, pci


def regions(mtree):
    """The device regions of the CPUs' flat views in an "info mtree -f -o"
    text: [{name, space, start, end, owner}], one per MemoryRegion, in
    the order they first show up."""
    out = {}
    spaces, root = [], None
    for line in mtree.splitlines():
        if line.startswith('FlatView'):
            spaces, root = [], None
        elif m := _AS.match(line):
            spaces.append(m.group(1))
        elif m := _ROOT.match(line):
            root = m.group(1)
        elif m := _RANGE.match(line):
            start, end, kind, name, offset, owner = m.groups()
            if not any(s in ('memory', 'I/O') or s.startswith('cpu-')
                       for s in spaces):
                continue        # a bus master's view: DMA, not the CPU's
            if kind in NOT_DEVICES or name in (root, 'unassigned'):
                continue
            base = int(start, 16) - int(offset or '0', 16)
            key = (name, owner, base)
            if key not in out:
                out[key] = {'name': name,
                            'space': 'I/O' if 'I/O' in spaces else 'memory',
                            'start': f'0x{int(start, 16):x}',
                            'end': f'0x{int(end, 16):x}', 'owner': owner}
    return list(out.values())


def pci_functions(pci):
    """query-pci as (["BB:DD.F DESC VVVV:DDDD BARs N:TYPE ..."], number of
    BARs), the expansion ROM (BAR 6) left out."""
    out, count = [], 0
    for bus in pci or []:
        for dev in bus['devices']:
            bars = [f'{r["bar"]}:{r["type"]}' for r in dev.get('regions', [])
                    if r['bar'] != 6]
            count += len(bars)
            out.append(f'{dev["bus"]:02x}:{dev["slot"]:02x}.'
                       f'{dev["function"]} '
                       f'{dev["class_info"].get("desc", "?")} '
                       f'{dev["id"]["vendor"]:04x}:{dev["id"]["device"]:04x}'
                       + (f' BARs {" ".join(bars)}' if bars else ''))
    return out, count


def measure(name, accel):
    """One configuration's regions, PCI functions and command line."""
    argv = argv_of(name, accel)
    mtree, pci = query(argv)
    found = regions(mtree)
    funcs, bars = pci_functions(pci)
    return {'count': len(found), 'regions': [r['name'] for r in found],
            'detail': found, 'argv': argv, 'accel': accel,
            'pci_functions': funcs, 'pci_bars': bars}


def markdown(res, accel):
    lines = [f'Guest-reachable PIO/MMIO regions, each machine at -S under '
             f'-accel {accel} (`tests/boot-time/surface.py`; PCI BARs are '
             'assigned later, by firmware or the guest, and not counted):',
             '', '| configuration | regions | / q35 | PCI BARs |',
             '|---|---:|---:|---:|']
    for name, row in res.items():
        ratio = row.get('q35_ratio')
        lines.append(f'| {name} | {row["count"]} | '
                     f'{"-" if ratio is None else f"{ratio:.3f}"} | '
                     f'{row["pci_bars"]} |')
    lines.append('')
    for name, row in res.items():
        lines.append(f'- {name}: `{" ".join(row["argv"][1:])}`: '
                     + ', '.join(row['regions']))
    targets = [(name, row['q35_ratio']) for name, row in res.items()
               if 'q35_ratio' in row]
    if targets:
        lines += ['', f'Target: pc-lite\'s regions <= {TARGET} x q35\'s '
                  '(rtc=auto is on under TCG and qtest, off under KVM with '
                  'kvmclock):', '']
        lines += [f"- {name}: {ratio:.3f}, "
                  f'{"met" if ratio <= TARGET else "not met"}'
                  for name, ratio in targets]
    return '\n'.join(lines) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--accel', default='qtest',
                    choices=('qtest', 'tcg', 'kvm'))
    ap.add_argument('--quick', action='store_true',
                    help=f'only {" and ".join(QUICK)}')
    ap.add_argument('--out', default=os.path.join(paths.BUILD, 'bench'))
    opts = ap.parse_args()
    names = QUICK if opts.quick else tuple(CONFIGS)
    for name in names:
        if not os.access(CONFIGS[name][0], os.X_OK):
            sys.exit(f'{CONFIGS[name][0]} is not built (make qemu '
                     'qemu-full)')
    if (opts.accel != 'qtest' and
            not os.path.exists(paths.guest_file('vmlinux'))):
        sys.exit(f'{paths.guest_file("vmlinux")} is missing (make guest)')
    res = {name: measure(name, opts.accel) for name in names}
    for lite, q35 in PAIRS.items():
        if lite in res and q35 in res:
            res[lite]['q35_ratio'] = round(res[lite]['count'] /
                                           res[q35]['count'], 3)
    bench_report.save(opts.out, 'surface', res, markdown(res, opts.accel),
                      lambda data, path: None)
    return 0


if __name__ == '__main__':
    sys.exit(main())
