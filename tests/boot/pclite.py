# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot the pc-lite test guest with QEMU's own python/qemu package.

Used by the boot tests, the demo and the benchmark.  The guest's init
prints one line:

  PCLITE-REPORT uptime_ms=N cpus=N memtotal_kb=N acpi=SIG,... kernel=REL
                pmem=N log_errors=N

which parse_report() turns into a dict.
"""

import importlib.machinery
import importlib.util
import json
import logging
import os
import re
import subprocess
import tempfile
import time

from qemu.machine import QEMUMachine
from qemu.machine.machine import AbnormalShutdown

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.path.join(TOP, 'build')
QEMU = os.environ.get('PC_LITE_QEMU',
                      os.path.join(BUILD, 'qemu-system-x86_64'))
GUEST = os.path.join(BUILD, 'guest')
REPORT_RE = re.compile(r'PCLITE-REPORT (.*)')
BAD_LOG_RE = re.compile(r'ACPI Error|ACPI BIOS Error|\[Firmware Bug\]')


def guest_file(name):
    return os.path.join(GUEST, name)


def parse_report(text):
    """The guest's report line as a dict, or None if it never came."""
    m = REPORT_RE.search(text)
    if not m:
        return None
    report = {}
    for item in m.group(1).split():
        key, _, val = item.partition('=')
        report[key] = int(val) if re.fullmatch(r'-?\d+', val) else val
    return report


def _load_runner():
    """scripts/pc-lite-run as a module: its phase parser is shared."""
    path = os.path.join(TOP, 'scripts', 'pc-lite-run')
    loader = importlib.machinery.SourceFileLoader('pc_lite_run', path)
    spec = importlib.util.spec_from_loader('pc_lite_run', loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


runner = _load_runner()
parse_phases = runner.parse_phases


class Result:
    """What one boot gave: exit status, console text and the report."""

    def __init__(self, exitcode, console, wall_s, accel, phases=None):
        self.exitcode = exitcode
        self.console = console
        self.wall_s = wall_s
        self.accel = accel
        self.phases = phases
        self.report = parse_report(console)
        self.bad_log_lines = [line for line in console.splitlines()
                              if BAD_LOG_RE.search(line)]


def kvm_usable():
    """Can this process open /dev/kvm?"""
    try:
        fd = os.open('/dev/kvm', os.O_RDWR)
    except OSError:
        return False
    os.close(fd)
    return True


def _probe_kvm_boot():
    """Can KVM on this host boot the guest to init?  Cached per kernel."""
    kernel = os.path.realpath(guest_file('vmlinux'))
    cache = os.path.join(BUILD, 'accel-probe.json')
    try:
        with open(cache, encoding='utf-8') as f:
            data = json.load(f)
        if data.get('kernel') == kernel:
            return data['kvm_boots']
    except (OSError, ValueError, KeyError):
        pass
    # A failed probe is an answer, not an error: keep QEMUMachine quiet
    # about the guest it had to kill.
    log = logging.getLogger('qemu.machine')
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        res = boot(accel='kvm', timeout=20)
    finally:
        log.setLevel(level)
    ok = res.exitcode == 0 and res.report is not None
    os.makedirs(BUILD, exist_ok=True)
    with open(cache, 'w', encoding='utf-8') as f:
        json.dump({'kernel': kernel, 'kvm_boots': ok}, f)
    return ok


_ACCEL = None


def accel():
    """The accelerator for full boots: PC_LITE_ACCEL=kvm|tcg|auto.

    auto takes KVM when /dev/kvm can boot the guest to init (probed once),
    and TCG otherwise: a nested, software-assisted KVM may run QEMU but not
    an ordinary Linux guest.
    """
    global _ACCEL
    if _ACCEL is None:
        choice = os.environ.get('PC_LITE_ACCEL', 'auto')
        if choice not in ('kvm', 'tcg', 'auto'):
            raise ValueError(f'PC_LITE_ACCEL={choice}: use kvm, tcg or auto')
        if choice == 'auto':
            choice = 'kvm' if kvm_usable() and _probe_kvm_boot() else 'tcg'
        _ACCEL = choice
    return _ACCEL


def startup_accel():
    """The accelerator for VMM start-up measurements: KVM when usable."""
    choice = os.environ.get('PC_LITE_ACCEL', 'auto')
    if choice == 'auto':
        return 'kvm' if kvm_usable() else 'tcg'
    return choice


def boot(kernel='vmlinux', initrd='initramfs.cpio.gz', smp=1, mem='128M',
         append='', machine='pc-lite', args=(), accel=None, timeout=120,
         console='serial', no_reboot=True, wait_reports=None):
    """Boot once and wait for QEMU to exit; returns a Result.

    With wait_reports=N, stop QEMU as soon as the guest has reported N
    times (a guest that reboots in a loop).
    """
    if accel is None:
        accel = globals()['accel']()
    kernel_path = kernel if os.path.isabs(kernel) else guest_file(kernel)
    with tempfile.TemporaryDirectory(prefix='pc-lite-') as tmp:
        log = os.path.join(tmp, 'console.log')
        qargs = ['-accel', accel, '-smp', str(smp), '-m', mem,
                 '-kernel', kernel_path, '-nodefaults']
        if no_reboot:
            qargs.append('-no-reboot')
        if initrd:
            qargs += ['-initrd', initrd if os.path.isabs(initrd)
                      else guest_file(initrd)]
        if console == 'serial':
            qargs += ['-chardev', f'file,id=con,path={log}',
                      '-serial', 'chardev:con']
            cmdline = 'console=ttyS0'
        else:
            qargs += ['-chardev', f'file,id=con,path={log}',
                      '-device', 'virtio-serial-pci',
                      '-device', 'virtconsole,chardev=con']
            cmdline = 'console=hvc0'
        qargs += ['-append', f'{cmdline} {append}'.strip()]
        trace = os.path.join(tmp, 'trace.log')
        qargs += ['-msg', 'timestamp=on', '-D', trace, '-d',
                  'trace:pc_lite_cpu_entry,trace:pc_lite_marker']
        qargs += list(args)
        vm = QEMUMachine(QEMU, args=qargs, base_temp_dir=tmp)
        vm.set_machine(machine)
        start = time.monotonic()
        t_launch = time.time()
        vm.launch()
        if wait_reports:
            _wait_for_reports(log, wait_reports, start + timeout)
            vm.kill()
        else:
            try:
                vm.wait(timeout=timeout)
            except AbnormalShutdown:
                pass        # killed after the timeout: exitcode is < 0
        wall = time.monotonic() - start
        t_exit = time.time()
        exitcode = vm.exitcode()
        try:
            with open(trace, encoding='utf-8', errors='replace') as f:
                phases = parse_phases(f.read(), t_launch, t_exit)
        except OSError:
            phases = None
        try:
            with open(log, encoding='utf-8', errors='replace') as f:
                text = f.read()
        except OSError:
            text = ''
        text += vm.get_log() or ''
    return Result(exitcode, text, wall, accel, phases)


def _wait_for_reports(log, count, deadline):
    while time.monotonic() < deadline:
        try:
            with open(log, encoding='utf-8', errors='replace') as f:
                if f.read().count('PCLITE-REPORT') >= count:
                    return
        except OSError:
            pass
        time.sleep(0.2)


def run_qemu(args, timeout=30):
    """Run QEMU directly (for bad-input checks): (exit status, stderr)."""
    p = subprocess.run([QEMU] + list(args), capture_output=True, text=True,
                       timeout=timeout, check=False)
    return p.returncode, p.stderr
