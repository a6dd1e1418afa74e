# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot one configuration once and turn QEMU's trace into boot phases.

Clocks.  Every stamp is the host's wall clock (gettimeofday, the clock of
QEMU's "-msg timestamp=on" trace lines and of Python's time.time()):

  exec         just before the QEMU process is spawned (QEMUMachine's
               _pre_launch hook, right before subprocess.Popen)
  start        trace vm_state_notify "running 1": QEMU has finished
               initialising the machine and lets the vCPUs run; the first
               guest instruction follows (first KVM_RUN or TCG block)
  kernel entry pc-lite: the same instant (QEMU puts the boot CPU on the
               kernel's entry itself, trace pc_lite_cpu_entry, before the
               start); q35/microvm: the firmware's write of 0xb000 to port
               0x510 just before it jumps to the kernel (our qboot and
               option ROMs, see tests/boot-time/firmware/markers.patch)
  init, ready  the guest init's writes of 0xb001 and 0xb002 to port 0x510:
               pc-lite's marker device (trace pc_lite_marker) or fw_cfg's
               selector (trace fw_cfg_select) on q35/microvm
  exit         the QEMU process has exited (pidfd readable)

Phases: vmm_init = start - exec, firmware = kernel entry - start,
kernel = init - kernel entry, userspace = ready - init,
total = ready - exec, shutdown = exit - ready.
"""

import os
import re
import select
import tempfile
import time

from qemu.machine import QEMUMachine

import bench_configs as bc
from pclite import parse_report

PHASES = ('vmm_init', 'firmware', 'kernel', 'userspace', 'total',
          'shutdown')
MARKER_KERNEL = 0xb000
MARKER_INIT = 0xb001
MARKER_READY = 0xb002

_TRACE_RE = re.compile(
    r'^\d+@(?P<sec>\d+)\.(?P<usec>\d+):(?:'
    r'vm_state_notify running (?P<running>\d)|'
    r'pc_lite_cpu_entry|'
    r'pc_lite_marker boot marker 0x(?P<marker>[0-9a-fA-F]+)|'
    r'fw_cfg_select \S+ key 0x(?P<key>[0-9a-fA-F]+))', re.M)
_DEATH_RE = re.compile(r'(divide error|general protection fault|BUG:|'
                       r'Kernel panic - not syncing:)[^\n]*')


class BenchMachine(QEMUMachine):
    """QEMUMachine that stamps the exec and reaps QEMU itself.

    Reaping with wait4() gives the exit instant and the process's peak
    RSS (ru_maxrss), which Popen.wait() would discard.
    """

    t_exec = None

    def _pre_launch(self):
        super()._pre_launch()
        self.t_exec = time.time()       # Popen follows immediately

    def wait_exit(self, timeout):
        """Wait for QEMU to exit by itself: (t_exit, peak_rss_kb) or None."""
        pid = self.get_pid()
        fd = os.pidfd_open(pid)
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
        finally:
            os.close(fd)
        if not ready:
            return None
        t_exit = time.time()
        _, status, usage = os.wait4(pid, 0)
        self._popen.returncode = os.waitstatus_to_exitcode(status)
        self.wait()                     # Popen already knows: just cleanup
        return t_exit, usage.ru_maxrss


def parse_trace(text):
    """First host-clock stamp (s) of each event of interest."""
    stamps = {}
    for m in _TRACE_RE.finditer(text):
        t = int(m.group('sec')) + int(m.group('usec')) / 1e6
        if m.group('running') is not None:
            if m.group('running') == '1':
                stamps.setdefault('start', t)
            continue
        if m.group('marker') is None and m.group('key') is None:
            stamps.setdefault('cpu_entry', t)
            continue
        value = int(m.group('marker') or m.group('key'), 16)
        name = {MARKER_KERNEL: 'kernel_entry', MARKER_INIT: 'init',
                MARKER_READY: 'ready'}.get(value)
        if name:
            stamps.setdefault(name, t)
    return stamps


def phases(stamps, t_exec, t_exit, firmware):
    """Phases in ms from the stamps, or None when one is missing."""
    entry = stamps.get('start') if firmware == 'none' \
        else stamps.get('kernel_entry')
    points = (t_exec, stamps.get('start'), entry, stamps.get('init'),
              stamps.get('ready'))
    if any(p is None for p in points):
        return None
    exe, start, _, _, ready = points

    def ms(a, b):
        return round((b - a) * 1000, 3)

    out = {'vmm_init': ms(exe, start)}
    for name, (a, b) in zip(('firmware', 'kernel', 'userspace'),
                            zip(points[1:], points[2:])):
        out[name] = ms(a, b)
    out['total'] = ms(exe, ready)
    out['shutdown'] = ms(ready, t_exit) if t_exit is not None else None
    return out


def _read(path):
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()
    except OSError:
        return ''


def _wait_for(predicate, deadline, vm):
    while time.monotonic() < deadline:
        if predicate():
            return True
        if not vm.is_running():
            return predicate()
        time.sleep(0.01)
    return False


def _check(config, report, console):
    """What is wrong with a boot's output, or None."""
    if report is None:
        m = _DEATH_RE.search(console)
        lines = console.strip().splitlines()
        why = m.group(0).strip() if m else \
            f'last console line: {lines[-1].strip()}' if lines else \
            'no console output'
        return f'the guest did not report ({why})'
    for key, want in config.expect.items():
        if report.get(key) != want:
            return f'guest report {key}={report.get(key)}, expected {want}'
    for text in config.expect_console:
        if text not in console:
            return f'console lacks "{text}"'
    if report.get('log_errors', 0):
        return f'{report["log_errors"]} ACPI/firmware error lines in the log'
    return None


def _launch(config, accel, tmp):
    """Start a configuration in tmp: (machine, console path, trace path)."""
    console = os.path.join(tmp, 'console.log')
    trace = os.path.join(tmp, 'trace.log')
    vm = BenchMachine(config.binary, base_temp_dir=tmp,
                      args=bc.qemu_args(config, accel, console, trace))
    vm.set_machine(config.machine)
    vm.launch()
    return vm, console, trace


def boot_once(config, accel, timeout=30):
    """One full boot, measured: a dict of raw stamps, phases and checks."""
    with tempfile.TemporaryDirectory(prefix='pc-lite-bench-') as tmp:
        vm, console, trace = _launch(config, accel, tmp)
        done = vm.wait_exit(timeout)
        if done is None:
            vm.kill()
            t_exit, peak = None, None
        else:
            t_exit, peak = done
        text = _read(console) + (vm.get_log() or '')
        stamps = parse_trace(_read(trace))
        run = {
            'exitcode': vm.exitcode(),
            'stamps': {k: round(v - vm.t_exec, 6) for k, v in stamps.items()},
            'exec': vm.t_exec,
            'exit': round(t_exit - vm.t_exec, 6) if t_exit else None,
            'phases': phases(stamps, vm.t_exec, t_exit, config.firmware),
            'peak_rss_kb': peak,
            'report': parse_report(text),
        }
    error = _check(config, run['report'], text)
    if error is None and done is None:
        error = f'QEMU did not exit within {timeout} s'
    if error is None and run['exitcode'] != 0:
        error = f'QEMU exit status {run["exitcode"]}'
    if error is None and run['phases'] is None:
        error = f'trace stamps missing: have {sorted(stamps)}'
    if error:
        run['error'] = error
        run['console_tail'] = text[-2000:]
    return run


def vmm_init_once(config, accel, timeout=60):
    """Only the VMM-init phase: start QEMU, wait for the vCPUs to start,
    stop it.  For accelerators that cannot boot the guest (nested kvm_pvm).
    """
    with tempfile.TemporaryDirectory(prefix='pc-lite-bench-') as tmp:
        vm, _, trace = _launch(config, accel, tmp)
        _wait_for(lambda: 'start' in parse_trace(_read(trace)),
                  time.monotonic() + timeout, vm)
        if vm.is_running():
            vm.kill()
        else:
            vm.wait()
        stamps = parse_trace(_read(trace))
        log = vm.get_log() or ''
    if 'start' not in stamps:
        return {'error': 'no vm_state_notify running 1 in the trace',
                'console_tail': log[-2000:]}
    return {'vmm_init': round((stamps['start'] - vm.t_exec) * 1000, 3)}


def _smaps_ranges(pid):
    """(header fields, {key: kB}) for each mapping in /proc/PID/smaps."""
    maps = []
    with open(f'/proc/{pid}/smaps', encoding='utf-8') as f:
        for line in f:
            parts = line.split()
            if re.match(r'^[0-9a-f]+-[0-9a-f]+ ', line):
                maps.append((parts, {}))
            elif len(parts) >= 2 and parts[0].endswith(':') and \
                    parts[1].isdigit():
                maps[-1][1][parts[0][:-1]] = int(parts[1])
    return maps


def _kb_fields(path):
    out = {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(':') and \
                    parts[1].isdigit():
                out[parts[0][:-1]] = int(parts[1])
    return out


def memory_snapshot(pid, memdevs):
    """Memory of an idle QEMU: totals, and the guest RAM part apart.

    Guest RAM is found as the mappings of QEMU's memory backends
    (query-memdev): a file backend by its path, an anonymous one as the
    read-write, non-executable anonymous mapping of exactly its size.
    """
    rollup = _kb_fields(f'/proc/{pid}/smaps_rollup')
    status = _kb_fields(f'/proc/{pid}/status')
    maps = _smaps_ranges(pid)
    guest = {'Rss': 0, 'Pss': 0, 'Private': 0}
    found = 0
    for dev in memdevs:
        size_kb = dev['size'] // 1024
        path = dev.get('mem-path')
        cands = [m for m in maps if m[1].get('Size') == size_kb and
                 m[0][1].startswith('rw') and 'x' not in m[0][1] and
                 ((path and len(m[0]) > 5 and
                   os.path.realpath(m[0][5]) == os.path.realpath(path)) or
                  (not path and len(m[0]) == 5))]
        if len(cands) != 1:
            continue
        found += 1
        fields = cands[0][1]
        guest['Rss'] += fields.get('Rss', 0)
        guest['Pss'] += fields.get('Pss', 0)
        guest['Private'] += fields.get('Private_Clean', 0) + \
            fields.get('Private_Dirty', 0)
    uss = rollup.get('Private_Clean', 0) + rollup.get('Private_Dirty', 0)
    return {
        'peak_rss_kb': status.get('VmHWM'),
        'rss_kb': rollup.get('Rss'),
        'pss_kb': rollup.get('Pss'),
        'uss_kb': uss,
        'guest_ram_rss_kb': guest['Rss'],
        'guest_ram_uss_kb': guest['Private'],
        'vmm_pss_kb': rollup.get('Pss', 0) - guest['Pss'],
        'vmm_uss_kb': uss - guest['Private'],
        'memdevs_found': f'{found}/{len(memdevs)}',
    }


def idle_memory(config, accel, settle=1.0, timeout=30):
    """Boot with pclite.action=idle, read the memory once the guest is
    ready and has settled, then quit through QMP."""
    with tempfile.TemporaryDirectory(prefix='pc-lite-bench-') as tmp:
        console = os.path.join(tmp, 'console.log')
        trace = os.path.join(tmp, 'trace.log')
        vm = BenchMachine(config.binary, base_temp_dir=tmp,
                          args=bc.qemu_args(config, accel, console, trace,
                                            'pclite.action=idle'))
        vm.set_machine(config.machine)
        vm.launch()
        ok = _wait_for(lambda: 'ready' in parse_trace(_read(trace)),
                       time.monotonic() + timeout, vm)
        time.sleep(settle)
        if not ok or not vm.is_running():
            if vm.is_running():
                vm.kill()
            else:
                vm.wait()
            return {'error': 'the guest did not stay up idle after ready '
                             '(does init know pclite.action=idle?)'}
        memdevs = vm.cmd('query-memdev')
        for dev in memdevs:
            # query-memdev does not tell a file backend's path; QOM does.
            if dev.get('id'):
                try:
                    dev['mem-path'] = vm.cmd(
                        'qom-get', path=f'/objects/{dev["id"]}',
                        property='mem-path')
                except Exception:       # pylint: disable=broad-except
                    pass                # not a file backend
        snap = memory_snapshot(vm.get_pid(), memdevs)
        vm.shutdown()
    snap['settle_s'] = settle
    return snap
