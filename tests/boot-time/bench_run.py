# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot one configuration once and measure it.

The phases and their clocks are pclite.trace's (see its docstring and
"Measuring boot time" in docs/pc-lite.rst); QEMU is started by
pclite.launch.Machine, which stamps the exec and reaps QEMU itself for the
exit instant and the peak RSS.
"""

import os
import re
import tempfile
import time

from pclite import launch
from pclite import memory
from pclite import procfs
from pclite import report
from pclite import trace

import bench_configs as bc

_DEATH_RE = re.compile(r'(divide error|general protection fault|BUG:|'
                       r'Kernel panic - not syncing:)[^\n]*')


def _check(config, guest_report, console):
    """What is wrong with a boot's output, or None."""
    if guest_report is None:
        m = _DEATH_RE.search(console)
        lines = console.strip().splitlines()
        why = m.group(0).strip() if m else \
            f'last console line: {lines[-1].strip()}' if lines else \
            'no console output'
        return f'the guest did not report ({why})'
    for key, want in config.expect.items():
        if guest_report.get(key) != want:
            return (f'guest report {key}={guest_report.get(key)}, '
                    f'expected {want}')
    if not bc.kernel_ok(config, guest_report.get('kernel')):
        return (f'guest report kernel={guest_report.get("kernel")}, '
                f'expected /{config.expect_kernel}/')
    for text in config.expect_console:
        if text not in console:
            return f'console lacks "{text}"'
    if guest_report.get('log_errors', 0):
        return (f'{guest_report["log_errors"]} ACPI/firmware error lines in '
                f'the log')
    return None


def _launch(config, accel, tmp, append=''):
    """Start a configuration in tmp: a launch.Machine."""
    vm = launch.Machine(bc.cmdline(config, accel,
                                   os.path.join(tmp, 'console.log'),
                                   os.path.join(tmp, 'trace.log'), append),
                        tmp)
    vm.launch()
    return vm


def boot_once(config, accel, timeout=None):
    """One full boot, measured: a dict of raw stamps, phases and checks."""
    timeout = timeout or config.timeout
    with tempfile.TemporaryDirectory(prefix='pc-lite-bench-') as tmp:
        vm = _launch(config, accel, tmp)
        done = vm.wait_exit(timeout)
        vm.stop()
        t_exit, peak = done or (None, None)
        text = vm.console_text()
        stamps = vm.stamps()
        run = {
            'exitcode': vm.exitcode(),
            'stamps': {k: round(v - vm.t_exec, 6) for k, v in stamps.items()},
            'exec': vm.t_exec,
            'exit': round(t_exit - vm.t_exec, 6) if t_exit else None,
            'phases': trace.phases(stamps, vm.t_exec, t_exit,
                                   firmware=config.firmware != 'none'),
            'peak_rss_kb': peak,
            'report': report.parse(text),
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


def kernel_breakdown(config, accel, top=10, timeout=None):
    """Where the kernel's time goes: one more boot, with
    bc.BREAKDOWN_APPEND (initcall_debug; its console output slows this
    boot, which is not one of the timed ones).  The kernel phase of this
    boot (host clock), the kernel's own printk time at "Run /init as init
    process", the part of the phase before that clock (decompression and
    the earliest setup, approximately), and the initcalls: how many, their
    sum, the top ones and every one of 0.1 ms or more (ms)."""
    timeout = timeout or config.timeout
    with tempfile.TemporaryDirectory(prefix='pc-lite-bench-') as tmp:
        vm = _launch(config, accel, tmp, bc.BREAKDOWN_APPEND)
        done = vm.wait_exit(timeout)
        vm.stop()
        text = vm.console_text()
        ph = trace.phases(vm.stamps(), vm.t_exec, done[0] if done else None,
                          firmware=config.firmware != 'none')
    calls = report.initcalls(text)
    out = {'append': bc.BREAKDOWN_APPEND, 'phases': ph}
    if report.parse(text) is None or ph is None or not calls:
        why = 'the guest did not report' if report.parse(text) is None \
            else 'trace stamps missing' if ph is None \
            else 'no initcall_debug lines on the console'
        out.update(error=why, console_tail=text[-2000:])
        return out
    per_fn = {}
    for fn, usecs, _ in calls:
        per_fn[fn] = per_fn.get(fn, 0) + usecs
    ranked = sorted(per_fn.items(), key=lambda kv: -kv[1])
    clock = report.kernel_clock_at_init(text)
    out.update({
        'kernel_ms': ph['kernel'],
        'kernel_clock_at_init_ms': None if clock is None
        else round(clock * 1000, 3),
        'before_clock_ms': None if clock is None
        else round(max(ph['kernel'] - clock * 1000, 0.0), 3),
        'initcalls': len(calls),
        'initcalls_ms': round(sum(u for _, u, _ in calls) / 1000, 3),
        'top': [{'initcall': fn, 'ms': u / 1000} for fn, u in ranked[:top]],
        'all_ms': {fn: u / 1000 for fn, u in ranked if u >= 100},
    })
    return out


def vmm_init_once(config, accel, timeout=60):
    """Only the VMM-init phase: start QEMU, wait for the vCPUs to start,
    stop it.  For accelerators that cannot boot the guest (nested kvm_pvm).
    """
    with tempfile.TemporaryDirectory(prefix='pc-lite-bench-') as tmp:
        vm = _launch(config, accel, tmp)
        ms = vm.vmm_init_ms(timeout)
        vm.stop()
        log = vm.get_log() or ''
    if ms is None:
        return {'error': 'no vm_state_notify running 1 in the trace',
                'console_tail': log[-2000:]}
    return {'vmm_init': ms}


def memory_snapshot(pid, memdevs):
    """Memory of an idle QEMU: totals, the guest RAM part apart, and
    pclite.memory's breakdown by category ('breakdown').

    Guest RAM is found as the mappings of QEMU's memory backends
    (query-memdev): a file backend by its path, an anonymous one as the
    read-write, non-executable anonymous mapping of exactly its size.
    """
    rollup = procfs.smaps_rollup(pid)
    maps = procfs.smaps(pid)
    guest = {'Rss': 0, 'Pss': 0, 'Private': 0}
    found = 0
    for dev in memdevs:
        fields = procfs.find_mapping(maps, dev['size'] // 1024,
                                     dev.get('mem-path'))
        if fields is None:
            continue
        found += 1
        guest['Rss'] += fields.get('Rss', 0)
        guest['Pss'] += fields.get('Pss', 0)
        guest['Private'] += procfs.uss_kb(fields)
    uss = procfs.uss_kb(rollup)
    return {
        'peak_rss_kb': procfs.status(pid).get('VmHWM'),
        'rss_kb': rollup.get('Rss'),
        'pss_kb': rollup.get('Pss'),
        'uss_kb': uss,
        'guest_ram_rss_kb': guest['Rss'],
        'guest_ram_uss_kb': guest['Private'],
        'vmm_pss_kb': rollup.get('Pss', 0) - guest['Pss'],
        'vmm_uss_kb': uss - guest['Private'],
        'memdevs_found': f'{found}/{len(memdevs)}',
        'breakdown': memory.breakdown(pid, memdevs),
    }


def idle_memory(config, accel, settle=1.0, timeout=30):
    """Boot with pclite.action=idle, read the memory once the guest is
    ready and has settled for settle s, then quit through QMP."""
    with tempfile.TemporaryDirectory(prefix='pc-lite-bench-') as tmp:
        vm = _launch(config, accel, tmp, 'pclite.action=idle')
        ok = vm.wait_until(lambda: 'ready' in vm.stamps(), timeout)
        if ok:
            time.sleep(settle)      # part of the measurement: see above
        if not ok or not vm.is_running():
            vm.stop()
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
