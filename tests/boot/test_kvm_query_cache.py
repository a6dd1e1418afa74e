# SPDX-License-Identifier: GPL-2.0-or-later
"""The KVM query cache (target/i386/kvm/kvm-query-cache.c) changes nothing the
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

Tests that run the guest under KVM first check, once, that this host's
KVM runs it to its dump with upstream's queries (x-query-cache=off); on a
software-assisted kvm_pvm that does not, they are skipped with the reason
(make check names them at its end), on any other KVM they fail.

Under TCG, wherever it runs: TinyGuestTcgTest loads the same guest as the
KVM tests do (a PVH kernel to the loader), checks the entry state they
check, and that it runs and reports its dump, so that they cannot rot
unseen on a machine without KVM.

Without KVM: QueryCacheUnitTest links kvm-query-cache.c with a fake kernel
(kvm_query_cache_unit.c) that fails ioctls on demand, and checks that an
error is never kept as an answer, that a failed KVM_GET_SUPPORTED_CPUID
exits without the cache's lock held, and that a NULL KVMState takes the
uncached path.  It needs build/qemu (skipped without it).
"""

import glob
import json
import os
import shlex
import shutil
import struct
import subprocess
import tempfile
import unittest

from pclite import accel
from pclite import launch
from pclite import paths
from pclite import procfs
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

    def wait_dump(self, vm, timeout=20):
        """The guest's dump (parse_dump) once it is written, or None."""
        dump = os.path.join(self.tmp, 'dump.bin')
        result = None

        def finished():
            nonlocal result
            vm.cmd('pmemsave', val=RESULTS, size=0x5000, filename=dump)
            with open(dump, 'rb') as f:
                result = parse_dump(f.read())
            return result is not None

        vm.wait_until(finished, timeout)
        return result

    def regs(self, vm):
        out = vm.cmd('human-monitor-command',
                     command_line='info registers -a')
        return out.split('CPU#')[1:]

    def check_entry_state(self, regs):
        # The PVH entry on the BSP: 32-bit protected mode, paging off,
        # %ebx -> hvm_start_info; the APs wait for INIT/SIPI.
        self.assertRegex(regs[0], r'EIP=0*1000000 ')
        self.assertRegex(regs[0], r'EBX=0*6000 ')
        self.assertRegex(regs[0], r'CR0=00000011')
        self.assertRegex(regs[0], r'CS =0010 .* CS32')
        for ap in regs[1:]:
            self.assertRegex(ap, r'[RE]IP=0*fff0 ')
            self.assertRegex(ap, r'CS =f000 ')


KVM = unittest.skipUnless(accel.kvm_usable(),
                          accel.needs_kvm('/dev/kvm does not open'))

# Whether this host's KVM runs the tiny guest to its report: None until
# asked, then '' or why not.
_GUEST_UNDER_KVM = None


def kvm_runs_tiny_guest(case):
    """'' when KVM runs the tiny guest (started by its PVH entry in 32-bit
    protected mode) to its dump, with upstream's KVM queries
    (x-query-cache=off); else why not.  Asked once per run."""
    global _GUEST_UNDER_KVM
    if _GUEST_UNDER_KVM is None:
        vm = case.machine(qemucmd.Cmdline(accel='kvm,x-query-cache=off',
                                          smp=1, mem='64M'))
        if case.wait_dump(vm) is not None:
            _GUEST_UNDER_KVM = ''
        else:
            try:
                state = vm.cmd('query-status')['status']
            except Exception:   # pylint: disable=broad-except
                state = 'QEMU gone'
            _GUEST_UNDER_KVM = f'no dump in 20 s, run state {state}'
        vm.shutdown()
    return _GUEST_UNDER_KVM


def require_guest_under_kvm(case):
    """Skip a test that runs the tiny guest under KVM on a host whose KVM
    is software-assisted (kvm_pvm: it emulates what a guest runs, and may
    not run a guest's 32-bit entry); on any other KVM a guest that does not
    run fails the test."""
    why = kvm_runs_tiny_guest(case)
    if why and 'kvm_pvm' in procfs.kvm_modules():
        case.skipTest(accel.needs_kvm(
            f'the software-assisted kvm_pvm of this host does not run the '
            f'tiny guest ({why})'))


@KVM
class KVMQueryCacheTest(TinyGuestTestCase):

    def run_guest(self, cpu, cache, smp=2, strace=False):
        """(guest dump, model expansion, /dev/kvm ioctl count or None)."""
        trace = os.path.join(self.tmp, 'strace.txt')
        wrapper = ['strace', '-f', '-qq', '-y', '-e', 'trace=ioctl',
                   '-o', trace] if strace else []
        vm = self.machine(qemucmd.Cmdline(accel=f'kvm,x-query-cache={cache}',
                                          smp=smp, mem='64M').add('-cpu', cpu),
                          wrapper)
        try:
            result = self.wait_dump(vm)
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

    def setUp(self):
        require_guest_under_kvm(self)

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

    def test_all_vcpus_created_with_entry_state(self):
        # Set up in parallel (patches 0005, 0008): each vCPU exactly once.
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
        require_guest_under_kvm(self)
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
        # First start: no KVM_KVMCLOCK_CTRL (patch 0006) and no TPR access
        # reporting (pc-lite has no kvmvapic); a resume after a pause still
        # tells every vCPU its guest was paused.
        require_guest_under_kvm(self)
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


class TinyGuestTcgTest(TinyGuestTestCase):
    """The KVM tests' guest under TCG: loaded as a PVH kernel, entered as
    the KVM tests expect, it switches to long mode on its own and writes
    its dump."""

    def dump(self, cpu, smp=2):
        vm = self.machine(qemucmd.Cmdline(accel='tcg', smp=smp, mem='64M')
                          .add('-cpu', cpu))
        result = self.wait_dump(vm)
        self.assertIsNotNone(result, f'{cpu}: the guest did not finish')
        return result

    def test_entry_state(self):
        vm = self.machine(qemucmd.Cmdline(accel='tcg', smp=4, mem='64M',
                                          stopped=True))
        self.assertEqual(len(vm.cmd('query-cpus-fast')), 4)
        self.check_entry_state(self.regs(vm))

    def test_runs_and_reports(self):
        # pc-lite gives qemu64 Intel's vendor under TCG (CPUID leaf 0x15,
        # docs "Clocks and calibration"); a vendor on -cpu wins.
        qemu64 = self.dump('qemu64,vendor=AuthenticAMD')
        self.assertGreater(len(qemu64['cpuid']), 300)
        _, ebx, ecx, edx = qemu64['cpuid'][(0, 0)]
        self.assertEqual(struct.pack('<3I', ebx, edx, ecx), b'AuthenticAMD')
        # Leaf 1: the dump came from the boot CPU (initial APIC ID 0) ...
        self.assertEqual(qemu64['cpuid'][(1, 0)][1] >> 24, 0)
        # ... running in long mode (EFER.LME and LMA), which the guest's
        # PVH entry code switched to, and xAPIC enabled as the BSP.
        efer = qemu64['msrs'][0xc0000080]
        self.assertEqual(efer & 0x500, 0x500, hex(efer))
        apic_base = qemu64['msrs'][0x1b]
        self.assertEqual(apic_base & 0xfffff900, 0xfee00900, hex(apic_base))
        # The control of the KVM test: the dump tells CPU models apart.
        self.assertNotEqual(self.dump('max')['cpuid'], qemu64['cpuid'])


HERE = os.path.dirname(os.path.abspath(__file__))
QEMU_BUILD = os.path.join(paths.BUILD, 'qemu')
CACHE_C = os.path.join('target', 'i386', 'kvm', 'kvm-query-cache.c')
TRACE_STUB = """\
/*
 * No trace events in tests/boot/kvm_query_cache_unit.c; the includes of
 * the generated header.
 */
#include "trace/control.h"
#include "qemu/log-for-trace.h"
#include "qemu/error-report.h"
static inline void trace_kvm_query_cache_fill(const char *query,
                                              uint64_t key, int64_t value)
{
}
"""


def unit_compile_command():
    """(cwd, compiler and flags) with which build/qemu compiles
    kvm-query-cache.c, without ccache, its source, output and depfile."""
    db = os.path.join(QEMU_BUILD, 'compile_commands.json')
    with open(db, encoding='utf-8') as f:
        entries = [e for e in json.load(f) if e['file'].endswith(CACHE_C)]
    if not entries:
        return None
    entry = entries[0]
    args = shlex.split(entry['command'])
    if os.path.basename(args[0]) == 'ccache':
        args = args[1:]
    cmd, skip = [args[0]], False
    for arg in args[1:]:
        if skip:
            skip = False
        elif arg in ('-MQ', '-MF', '-o', '-c'):
            skip = True
        elif arg != '-MD':
            cmd.append(arg)
    return entry['directory'], cmd


class QueryCacheUnitTest(unittest.TestCase):
    """kvm-query-cache.c against a fake kernel: runs without /dev/kvm."""

    @classmethod
    def setUpClass(cls):
        libutil = os.path.join(QEMU_BUILD, 'libqemuutil.a')
        if not os.path.exists(libutil) or not os.path.exists(
                os.path.join(QEMU_BUILD, 'compile_commands.json')):
            raise unittest.SkipTest('build/qemu is not built (make qemu)')
        found = unit_compile_command()
        if found is None:
            raise unittest.SkipTest('build/qemu does not compile '
                                    'kvm-query-cache.c (no KVM?)')
        cls.tmp = tempfile.mkdtemp(prefix='pc-lite-kqc-')
        try:
            cls.build(*found, libutil)
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def build(cls, cwd, cc, libutil):
        with open(os.path.join(cls.tmp, 'trace.h'), 'w',
                  encoding='utf-8') as f:
            f.write(TRACE_STUB)
        # The stub trace.h first; kvm-query-cache.h from the tree.
        flags = ['-iquote', cls.tmp,
                 '-iquote', os.path.join(paths.TOP, 'target/i386/kvm')]
        objs = []
        for src in (os.path.join(paths.TOP, CACHE_C),
                    os.path.join(HERE, 'kvm_query_cache_unit.c')):
            obj = os.path.join(cls.tmp,
                               os.path.basename(src)[:-2] + '.o')
            cls.compile(cwd, cc[:1] + flags + cc[1:] +
                        ['-c', src, '-o', obj])
            objs.append(obj)
        cls.exe = os.path.join(cls.tmp, 'kvm_query_cache_unit')
        glib = subprocess.run(['pkg-config', '--libs', 'glib-2.0'],
                              capture_output=True, text=True,
                              check=True).stdout.split()
        # libqemuutil's thread-context.o needs QOM.
        qom = glob.glob(os.path.join(QEMU_BUILD, 'libqom.a.p', '*.o'))
        cls.compile(cwd, [cc[0], '-o', cls.exe] + objs + qom + [libutil] +
                    glib + ['-pthread', '-lm'])

    @classmethod
    def compile(cls, cwd, cmd):
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                           check=False)
        if r.returncode:
            raise AssertionError(f'{shlex.join(cmd)}:\n{r.stderr}')

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_unit(self, scenario, returncode=0):
        r = None
        try:
            r = subprocess.run([self.exe, scenario], capture_output=True,
                               text=True, timeout=20, check=False,
                               env=dict(os.environ, LC_ALL='C'))
        except subprocess.TimeoutExpired:
            pass
        self.assertIsNotNone(r, f'{scenario}: hung (a lock held?)')
        self.assertEqual(r.returncode, returncode,
                         f'{scenario}:\n{r.stdout}{r.stderr}')
        return r.stderr

    def test_every_scenario_is_run(self):
        listed = subprocess.run([self.exe, '--list'], capture_output=True,
                                text=True, check=True).stdout.split()
        run = {'ext', 'vm_ext', 'mmap_size', 'xcomp', 'mce', 'msr_error',
               'xcomp_enxio', 'msr', 'cpuid', 'cpuid_off', 'cpuid_error',
               'null', 'null_cpuid'}
        self.assertEqual(set(listed), run)

    def test_errors_are_not_cached(self):
        # The first ioctl fails (EINTR, ENOMEM, a VM fd not open yet): the
        # error is returned, the next call asks again and keeps the answer.
        for scenario in ('ext', 'vm_ext', 'mmap_size', 'xcomp', 'mce',
                         'msr_error'):
            with self.subTest(scenario=scenario):
                self.run_unit(scenario)

    def test_answers_are_cached(self):
        # Including the kernel's "no": 0 from KVM_CHECK_EXTENSION, -ENXIO
        # for XCOMP_GUEST_SUPP, a feature MSR KVM cannot read; the
        # supported CPUID's -E2BIG only resizes the buffer.
        for scenario in ('xcomp_enxio', 'msr', 'cpuid', 'cpuid_off'):
            with self.subTest(scenario=scenario):
                self.run_unit(scenario)

    def test_cpuid_error_exits_without_the_lock(self):
        # As upstream: the error and exit(1); an atexit handler can take
        # the cache's lock.
        err = self.run_unit('cpuid_error', returncode=1)
        self.assertIn('KVM_GET_SUPPORTED_CPUID failed: Cannot allocate '
                      'memory', err)
        self.assertNotIn('returned', err)
        self.assertIn("atexit: the cache's lock was free", err)

    def test_null_kvm_state(self):
        for scenario in ('null', 'null_cpuid'):
            with self.subTest(scenario=scenario):
                self.run_unit(scenario)


if __name__ == '__main__':
    unittest.main()
