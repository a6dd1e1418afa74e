# SPDX-License-Identifier: GPL-2.0-or-later
"""The boot-time benchmark: the phases from a trace, and one quick run.

make check runs the benchmark once in its quick mode, one boot of every
configuration at 1x128M (make check builds build/qemu-full and the
firmware for them; only Debian's own QEMU and Debian's kernel packages
may be missing), and checks the JSON, Markdown and chart it writes, and
the kernel breakdown (initcall_debug) of our own kernel.  It proves the
instrument works; the figures themselves are not judged here.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

from pclite import engines
from pclite import paths
from pclite import report
from pclite import trace

# tests/boot-time is on PYTHONPATH for make check-boot.
import bench_report

BENCH_DIR = os.path.join(paths.TOP, 'tests', 'boot-time')

PC_LITE_TRACE = """\
100@1000.000100:pc_lite_cpu_entry cpu 0 entry 0x1000000
100@1000.000200:vm_state_notify running 1 reason 9 (running)
100@1000.500000:pc_lite_marker boot marker 0xb001
100@1000.520000:pc_lite_marker boot marker 0xb002
100@1000.530000:vm_state_notify running 0 reason 11 (shutdown)
"""

FW_CFG_TRACE = """\
7@2000.010000:vm_state_notify running 1 reason 9 (running)
7@2000.020000:fw_cfg_select 0x55 key 0x0019 'etc/e820', ret: 1
7@2000.030000:fw_cfg_select 0x55 key 0xb000 'unknown', ret: 0
7@2000.050000:fw_cfg_select 0x55 key 0x0010 'kernel_entry', ret: 1
7@2000.700000:fw_cfg_select 0x55 key 0xb001 'unknown', ret: 0
7@2000.740000:fw_cfg_select 0x55 key 0xb002 'unknown', ret: 0
7@2000.745000:fw_cfg_select 0x55 key 0xb002 'unknown', ret: 0
"""


INITCALL_CONSOLE = """\
[    0.442197] calling  cpufreq_register_tsc_scaling+0x0/0x2e @ 1
[    0.442623] initcall cpufreq_register_tsc_scaling+0x0/0x2e returned 0 \
after 0 usecs
[    0.899488] initcall acpi_init+0x0/0x4bd returned 0 after 128000 usecs
[    1.1] initcall foo_init+0x0/0x10 [foo] returned -19 after 250 usecs
[    2.123609] initcall crypto_algapi_init+0x0/0x7e returned 0 after \
305424 usecs
[    2.276445] Run /init as init process
"""


class TraceParsing(unittest.TestCase):

    def test_initcalls(self):
        self.assertEqual(report.initcalls(INITCALL_CONSOLE), [
            ('cpufreq_register_tsc_scaling', 0, 0),
            ('acpi_init', 128000, 0), ('foo_init', 250, -19),
            ('crypto_algapi_init', 305424, 0)])
        self.assertEqual(report.kernel_clock_at_init(INITCALL_CONSOLE),
                         2.276445)
        self.assertIsNone(report.kernel_clock_at_init('Run /init as init '
                                                      'process'))

    def test_init_ratios(self):
        def entry(name, machine, firmware, to_init, package=''):
            return {'name': name, 'label': name, 'setup': name,
                    'machine': machine, 'firmware': firmware,
                    'kernel': 'bzImage', 'size': '1x128M',
                    'root': 'initramfs', 'package': package,
                    'kernel_label': package or 'own', 'status': 'ok',
                    'summary': {'to_init': {'median': to_init}}}
        data = {'configs': [
            entry('a', 'pc-lite', 'none', 300.0),
            entry('b', 'microvm,acpi=off', 'qboot', 400.0),
            entry('c', 'pc-lite', 'none', 900.0, 'linux-image-amd64'),
            entry('d', 'microvm,acpi=off', 'qboot', 1000.0,
                  'linux-image-amd64'),
            entry('e', 'q35', 'seabios', 2000.0, 'linux-image-amd64')]}
        rows = bench_report.init_ratios(data, 0.8)
        self.assertEqual([(r['lite'], r['microvm'], r['ratio'], r['met'])
                          for r in rows],
                         [('a', 'b', 0.75, True), ('c', 'd', 0.9, False)])
        md = '\n'.join(bench_report.init_ratio_markdown(rows))
        self.assertIn('| 0.75 | met |', md)
        self.assertIn('| 0.90 | not met |', md)

    def test_pc_lite_phases(self):
        p = trace.phases(trace.parse(PC_LITE_TRACE), 999.99, 1000.6)
        self.assertEqual(p, {'vmm_init': 10.2, 'firmware': 0.0,
                             'kernel': 499.8, 'userspace': 20.0,
                             'total': 530.0, 'shutdown': 80.0})

    def test_fw_cfg_phases_take_first_stamp(self):
        p = trace.phases(trace.parse(FW_CFG_TRACE), 2000.0, 2000.75,
                         firmware=True)
        self.assertEqual(p, {'vmm_init': 10.0, 'firmware': 20.0,
                             'kernel': 670.0, 'userspace': 40.0,
                             'total': 740.0, 'shutdown': 10.0})

    def test_command_phase(self):
        stamps = trace.parse(PC_LITE_TRACE +
                             '100@1000.525000:pc_lite_marker boot marker '
                             '0xb003\n')
        p = trace.phases(stamps, 999.99, 1000.6)
        self.assertEqual((p['command'], p['shutdown']), (5.0, 75.0))

    def test_missing_marker_gives_none(self):
        stamps = trace.parse(FW_CFG_TRACE.replace('0xb000', '0x0'))
        self.assertIsNone(trace.phases(stamps, 2000.0, 2001.0,
                                       firmware=True))
        self.assertIsNotNone(trace.phases(stamps, 2000.0, 2001.0))

    def test_baseline_ratio(self):
        def data(total):
            summ = {p: {'min': total, 'median': total, 'max': total}
                    for p in trace.BOOT_PHASES}
            return {'configs': [{'name': 'x', 'status': 'ok',
                                 'summary': summ}]}
        rows = bench_report.compare(data(300.0), data(200.0))
        self.assertEqual(rows[0]['total'], 1.5)


class QuickBench(unittest.TestCase):

    def test_quick_run_writes_valid_output(self):
        with tempfile.TemporaryDirectory(prefix='pc-lite-bench-') as out:
            p = subprocess.run(
                [sys.executable, os.path.join(BENCH_DIR, 'bench.py'),
                 '--quick', '--only', '*/1x128M', '--out', out],
                capture_output=True, text=True, timeout=600, check=False)
            self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr)
            with open(os.path.join(out, 'boot-time.json'),
                      encoding='utf-8') as f:
                data = json.load(f)
            self.assertEqual(data['schema'], 'pc-lite-boot-time/1')
            self.assertIn(data['accel'], ('kvm', 'tcg'))
            byname = {c['name']: c for c in data['configs']}
            lite = byname['pc-lite-pvh/1x128M']
            self.assertEqual(lite['status'], 'ok', lite.get('error'))
            self.assertEqual(len(lite['runs']), 1)
            run = lite['runs'][0]
            self.assertEqual(run['report']['cpus'], 1)
            self.assertEqual(run['phases']['firmware'], 0.0)
            self.assertGreater(run['phases']['kernel'], 0)
            self.assertGreater(run['peak_rss_kb'], 1024)
            mem = lite['memory']
            self.assertNotIn('error', mem)
            self.assertEqual(mem['memdevs_found'], '1/1')
            self.assertGreater(mem['guest_ram_rss_kb'], 0)
            self.assertLess(mem['guest_ram_rss_kb'], 128 * 1024)
            self.assertGreater(mem['vmm_uss_kb'], 0)
            # Where our kernel's time goes: its top initcalls.
            bd = lite['kernel_breakdown']
            self.assertNotIn('error', bd)
            self.assertGreater(bd['initcalls'], 10)
            self.assertEqual(len(bd['top']), 10)
            self.assertGreater(bd['initcalls_ms'], 0)
            self.assertLessEqual(bd['initcalls_ms'], bd['kernel_ms'])
            init_rows = {r['lite']: r for r in data['init_ratios']}
            if byname['microvm-qboot/1x128M']['status'] == 'ok':
                self.assertGreater(init_rows['pc-lite-pvh/1x128M']['ratio'],
                                   0)
            for c in data['configs']:
                with self.subTest(c['name']):
                    # make check builds qemu-full and the firmware: only
                    # Debian's own QEMU and its kernel packages (no apt,
                    # no network) are optional.
                    if c['status'] == 'skipped' and (
                            c['qemu'] == 'debian' or c['package']):
                        self.skipTest(c['error'])
                    if c['status'] == 'failed' and c.get('known_issue'):
                        # The peer's own fault: its firmware must still
                        # have run and entered the kernel.
                        self.assertIn('entry', c['first_failure']['stamps'],
                                      c)
                        self.skipTest(f'{c["name"]}: {c["known_issue"]}')
                    self.assertEqual(c['status'], 'ok', c)
            # memory.json: each measured configuration's breakdown.
            with open(os.path.join(out, 'memory.json'),
                      encoding='utf-8') as f:
                breakdowns = json.load(f)
            for c in data['configs']:
                if c['status'] == 'ok' and 'memory' in c:
                    self.assertGreater(breakdowns[c['name']]['own_kib'], 0,
                                       c['name'])
            # The driver validated its own output; check it again here.
            base = os.path.join(out, 'boot-time')
            self.assertEqual(bench_report.validate(data, base), [])
            rows = bench_report.compare(data, data)
            self.assertTrue(rows)
            self.assertEqual({r['total'] for r in rows}, {1.0})

    def test_shared_root_writes_valid_output(self):
        with tempfile.TemporaryDirectory(prefix='pc-lite-shared-') as out:
            p = subprocess.run(
                [sys.executable, os.path.join(BENCH_DIR, 'shared_root.py'),
                 '--vms', '2', '--out', out],
                capture_output=True, text=True, timeout=600, check=False)
            self.assertEqual(p.returncode, 0, p.stdout[-3000:] + p.stderr)
            with open(os.path.join(out, 'shared-root.json'),
                      encoding='utf-8') as f:
                data = json.load(f)
            self.assertEqual(data['vms'], 2)
            for layout in ('shared', 'private'):
                per_vm = data['layouts'][layout]['per_vm_kib']
                self.assertEqual(len(per_vm), 2)
                for vm in per_vm:
                    self.assertGreater(vm['Pss'], 1024)
                    self.assertGreater(vm['Pss_File'], 0)
            self.assertGreater(data['private_over_shared_pss'], 0)
            with open(os.path.join(out, 'shared-root.png'), 'rb') as f:
                self.assertEqual(f.read(8), b'\x89PNG\r\n\x1a\n')



def read_cmdline(pid):
    with open(f'/proc/{pid}/cmdline', 'rb') as f:
        return f.read()


class OwnLeftovers(unittest.TestCase):
    """make bench's OCI benchmark counts only processes of its own: a
    pc-lite VM of somebody else's running beside it is not a leftover."""

    def test_only_processes_naming_the_directory(self):
        with tempfile.TemporaryDirectory(prefix='pc-lite-own-') as mine, \
                tempfile.TemporaryDirectory(prefix='pc-lite-other-') as other:
            procs = {d: subprocess.Popen(   # pylint: disable=consider-using-with
                ['sh', '-c', 'sleep 60; true',
                 'virtio-9p-pci,mount_tag=pclite-root',
                 f'local,id=fsroot,path={d}/rootfs'])
                for d in (mine, other)}
            try:
                for p in procs.values():    # exec'd, their command lines set
                    deadline = time.monotonic() + 10
                    while b'pclite-root' not in read_cmdline(p.pid) and \
                            time.monotonic() < deadline:
                        time.sleep(0.01)
                self.assertEqual(engines.oci_processes(mentioning=mine),
                                 [procs[mine].pid])
                self.assertEqual(set(engines.oci_processes()) &
                                 {p.pid for p in procs.values()},
                                 {p.pid for p in procs.values()})
            finally:
                for p in procs.values():
                    p.kill()
                    p.wait()

if __name__ == '__main__':
    unittest.main()
