# SPDX-License-Identifier: GPL-2.0-or-later
"""pclite.memory on an idle pc-lite VM: the breakdown of its smaps adds up
and each category holds what it must.
"""

import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

from pclite import launch
from pclite import memory
from pclite import paths
from pclite import procfs

import benchrun

MEM_MIB = 128


class IdleVMMemory(unittest.TestCase):
    """One idle guest (pclite.action=idle), measured from outside."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix='pc-lite-mem-')
        cmd = launch.guest(mem=f'{MEM_MIB}M')
        log = os.path.join(cls.tmp.name, 'console.log')
        cmd.serial_console(log).append('pclite.action=idle')
        cls.accel = cmd.accel
        cls.vm, cls.report = launch.start(cmd, cls.tmp.name)
        if cls.report:
            time.sleep(0.5)             # let the guest settle into idle
        cls.pid = cls.vm.get_pid()

    @classmethod
    def tearDownClass(cls):
        cls.vm.shutdown()
        cls.tmp.cleanup()

    def setUp(self):
        self.assertIsNotNone(self.report, 'the guest did not report')
        self.bd = memory.breakdown(self.pid)

    def test_categories_add_up(self):
        self.assertEqual(sum(self.bd[k] for k in memory.CATEGORIES),
                         self.bd['uss_kib'])
        self.assertEqual(sum(self.bd['pss'].values()), self.bd['pss_kib'])
        self.assertEqual(self.bd['own_kib'], self.bd['uss_kib'] -
                         self.bd['guest_ram'] - self.bd['tcg_buffer'])
        # smaps_rollup, read a moment later: the same but for what changed
        # meanwhile (the idle guest's timer, another QEMU that starts or
        # exits and so shares the binary's pages or stops sharing them).
        rollup = procfs.smaps_rollup(self.pid)
        self.assertAlmostEqual(self.bd['uss_kib'], procfs.uss_kb(rollup),
                               delta=1024)
        self.assertAlmostEqual(self.bd['pss_kib'], rollup['Pss'],
                               delta=1024)

    def test_guest_ram(self):
        # What the guest touched: its kernel and initramfs at least, at
        # most its RAM, and the RSS of the one anonymous RAM mapping.
        ram = self.bd['guest_ram']
        self.assertGreater(ram, 4096)
        self.assertLessEqual(ram, MEM_MIB * 1024)
        mapping = procfs.find_mapping(procfs.smaps(self.pid),
                                      MEM_MIB * 1024)
        self.assertIsNotNone(mapping)
        # The kernel's pages mapped from vmlinux (share-kernel) are shared,
        # not private, while another VM of the same kernel runs.
        shared = mapping.get('Shared_Clean', 0) + \
            mapping.get('Shared_Dirty', 0)
        self.assertAlmostEqual(ram + shared, mapping['Rss'], delta=256)

    def test_tcg_buffer_only_under_tcg(self):
        if self.accel == 'tcg':
            self.assertGreater(self.bd['tcg_buffer'], 0)
        else:
            self.assertEqual(self.bd['tcg_buffer'], 0)

    def test_qemu_itself(self):
        self.assertGreater(self.bd['pss']['binary'], 0)
        self.assertGreater(self.bd['heap'], 0)
        self.assertGreater(self.bd['pss']['stacks'], 0)
        self.assertGreater(self.bd['pss']['libraries'], 0)
        # QEMU's own part is a few MiB to some tens, not the guest's.
        self.assertGreater(self.bd['own_kib'], 1024)
        self.assertLess(self.bd['own_kib'], 64 * 1024)

    def test_binary_copies_are_its_writable_data(self):
        # The binary's own copies of its pages (relocated and written
        # data, .bss) are private whatever else runs; they can only be
        # pages of its writable segments, never of its text.
        exe = os.readlink(f'/proc/{self.pid}/exe')
        out = subprocess.run(['readelf', '-lW', exe], capture_output=True,
                             text=True, check=True).stdout
        writable = 0
        for line in out.splitlines():
            f = line.split()
            if f and f[0] == 'LOAD' and 'W' in ''.join(f[6:-1]):
                writable += -(-int(f[5], 16) // 4096) + 1     # pages
        cow = self.bd['binary_cow_kib']
        self.assertGreater(cow, 0)
        self.assertLessEqual(cow, self.bd['binary'])
        self.assertLessEqual(cow, writable * 4)

    def test_relocations_not_resident(self):
        # The lite build packs its relative relocations (DT_RELR): the
        # binary's first segment, which held 1.2 MB of .rela.dyn that
        # ld.so read at start and that then stayed resident, is small.
        exe = os.readlink(f'/proc/{self.pid}/exe')
        first = [f for h, f in procfs.smaps(self.pid)
                 if procfs.mapping_path(h) == exe and int(h[2], 16) == 0]
        self.assertEqual(len(first), 1)
        self.assertLess(first[0]['Rss'], 256)

    def test_command_line_report(self):
        p = subprocess.run([sys.executable, '-m', 'pclite.memory',
                            str(self.pid)], capture_output=True, text=True,
                           timeout=30, check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        for label in memory.CATEGORIES.values():
            self.assertIn(label, p.stdout)
        self.assertIn('USS / PSS', p.stdout)


class LiteBuild(unittest.TestCase):
    """What the lite build's configuration must keep for memory's sake."""

    def test_malloc_trim_is_called(self):
        # --without-default-features also drops meson's malloc_trim, and
        # then QEMU's RCU thread never returns the heap's free pages.
        p = subprocess.run(['nm', '-D', '--undefined-only', paths.QEMU],
                           capture_output=True, text=True, check=True)
        names = [w.split('@')[0] for w in p.stdout.split()]
        self.assertTrue('malloc_trim' in names,
                        f'{paths.QEMU} does not call malloc_trim()')

    def test_qmp_schema_is_read_only(self):
        # Patch 0018: the introspection schema is JSON text in .rodata,
        # not a tree of pointers that every process relocates (470 KiB of
        # .data made private at start).  query-qmp-schema itself is
        # exercised by QEMU's qmp-cmd-test in "make check".
        out = subprocess.run(['readelf', '-SsW', paths.QEMU],
                             capture_output=True, text=True,
                             check=True).stdout
        flags = {}
        for m in re.finditer(r'^\s*\[\s*(\d+)\]\s+(\S+)\s+\S+\s+\S+\s+\S+'
                             r'\s+\S+\s+\S+\s+([A-Z]*)\s', out, re.M):
            flags[m.group(1)] = (m.group(2), m.group(3))
        syms = {f[7]: f[6] for f in (line.split() for line in
                                     out.splitlines())
                if len(f) == 8 and f[0].endswith(':')}
        self.assertFalse('qmp_schema_qlit' in syms,
                         'the schema is a QLitObject tree')
        self.assertTrue('qmp_schema_json' in syms, 'no qmp_schema_json')
        name, flag = flags[syms['qmp_schema_json']]
        self.assertIn('A', flag)
        self.assertNotIn('W', flag, f'qmp_schema_json is in {name}')


class Classification(unittest.TestCase):
    """classify() on a made-up smaps, one mapping of each kind."""

    MAPS = [
        ('55a000000000-55a000100000', 'r-xp', '/usr/bin/qemu'),
        ('55a000100000-55a000120000', 'rw-p', None),        # .bss
        ('55a100000000-55a100400000', 'rw-p', '[heap]'),
        ('7f0004000000-7f0004200000', 'rw-p', None),        # arena
        ('7f0004200000-7f0008000000', '---p', None),        # its tail
        ('7f0010000000-7f0018000000', 'rw-p', None),        # guest RAM
        ('7f0020000000-7f0060000000', 'rwxp', None),        # TCG
        ('7f0060001000-7f0060002000', '---p', None),        # guard
        ('7f0060002000-7f0060802000', 'rw-p', None),        # stack
        ('7f0070010000-7f0070110000', 'rw-p', None),        # malloc'd
        ('7f0080000000-7f0080100000', 'r-xp', '/usr/lib/libc.so.6'),
        ('7f0090000000-7f0090100000', 'r--p', '/tmp/trace.log'),
        ('7ffc00000000-7ffc00021000', 'rw-p', '[stack]'),
    ]

    @staticmethod
    def maps(rows):
        maps = []
        for span, perms, path in rows:
            start, end = (int(a, 16) for a in span.split('-'))
            header = [span, perms, '00000000', '00:00', '0'] + \
                ([path] if path else [])
            maps.append((header, {'Size': (end - start) // 1024}))
        return maps

    def test_each_kind(self):
        cats = memory.classify(self.maps(self.MAPS), '/usr/bin/qemu',
                               [{'size': 128 << 20}])
        self.assertEqual(cats, [
            'binary', 'binary', 'heap', 'heap', 'heap', 'guest_ram',
            'tcg_buffer', 'other_anon', 'stacks', 'other_anon', 'libraries',
            'other_files', 'stacks'])

    def test_guest_ram_with_the_kernel_mapped(self):
        # share-kernel: the kernel's segments mapped from vmlinux over
        # parts of the 128 MiB of anonymous RAM; two adjacent 64 MiB
        # arenas span 128 MiB too, but hold no file.
        cats = memory.classify(self.maps([
            ('7f0000000000-7f0004000000', 'rw-p', None),    # arena
            ('7f0004000000-7f0008000000', 'rw-p', None),    # arena
            ('7f0010000000-7f0011000000', 'rw-p', None),
            ('7f0011000000-7f0011b1d000', 'rw-p', '/k/vmlinux'),
            ('7f0011b1d000-7f0011c00000', 'rw-p', None),
            ('7f0011c00000-7f0011e92000', 'rw-p', '/k/vmlinux'),
            ('7f0011e92000-7f0018000000', 'rw-p', None),
            ('7f0018000000-7f0018001000', 'rw-p', None),    # malloc'd
        ]), '/usr/bin/qemu', [{'size': 128 << 20}])
        self.assertEqual(cats, ['heap', 'heap'] + ['guest_ram'] * 5 +
                         ['other_anon'])


class SharedKernelBenchmarkTest(unittest.TestCase):
    """make bench's shared-kernel rows (tests/boot-time/shared_kernel.py),
    short: 2 VMs that map the kernel from its file use less PSS than 2
    that copy it."""

    def test_quick_run(self):
        _, res, chart = benchrun.quick_run(
            self, 'boot-time/shared_kernel.py', ['--vms', '2'],
            'shared_kernel',
            env=dict(os.environ, PC_LITE_ACCEL=launch.boot_accel()))
        self.assertTrue(chart)
        two = res['vms']['2']
        self.assertEqual(len(two['shared']['per_vm']), 2)
        self.assertGreater(res['kernel_loaded_kib'], 1024)
        self.assertGreater(two['saved_kib'], 0)


if __name__ == '__main__':
    unittest.main()
