#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU start-up cost under KVM: ioctls, exec to the first guest instruction.

For each machine (pc-lite from build/qemu, microvm from build/qemu-full: the
same source; pc-lite again with -accel kvm,x-query-cache=off, upstream's KVM
queries) and each -smp in 1, 2, 4, 8, 16, 32, 64:

* ioctls: one run under "strace -f -e trace=ioctl -y" with -S and a QMP
  quit (the issue's method), counted by request and by file descriptor
  class: /dev/kvm (system scope), the VM fd, the vCPU fds, other.
* exec to first guest instruction: host wall clock from just before
  exec() (Python's time.time()) to QEMU's "vm_state_notify running=1"
  trace event (log backend, gettimeofday stamps), i.e. the moment the
  vCPUs are released into KVM_RUN.  Median (and min/max) of --runs runs
  without strace.

The guest is tiny (tests/boot-time/cpuid-guest.S, built here with gcc):
pc-lite boots it with -kernel; microvm runs a 64 KiB -bios of HLT
instructions (no kernel: microvm's firmware would load it, and the time
stops at the first instruction anyway).  Both halt; QEMU is then told to
quit over QMP.

Writes build/bench/startup.json (every figure) and startup.png (Agg) and
prints a table.  Targets from issue #6 are checked and printed.

With --accel tcg the same runs go without KVM (no targets, no
x-query-cache=off configuration): make check does that briefly
(tests/boot/test_startup.py), so that the benchmark and its guest cannot
break unseen on a machine without /dev/kvm.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

from pclite import accel
from pclite import launch
from pclite import paths
from pclite import procfs
from pclite import qemucmd

SMPS = (1, 2, 4, 8, 16, 32, 64)
GUEST_SRC = os.path.join(paths.TOP, 'tests', 'boot-time', 'cpuid-guest.S')
IOCTL_RE = re.compile(r'^\d+\s+ioctl\((\d+)<([^>]*)>, '
                      r'([A-Z0-9_]+|_IOC\([^)]*\)|0x[0-9a-f]+)')


def build_guest(outdir):
    """The tiny guest ELF and a 64 KiB HLT firmware; rebuilt when stale."""
    elf = os.path.join(outdir, 'cpuid-guest.elf')
    if not os.path.exists(elf) or \
            os.path.getmtime(elf) < os.path.getmtime(GUEST_SRC):
        subprocess.run(['gcc', '-nostdlib', '-static', '-no-pie',
                        '-Wl,-Ttext=0x1000000', '-Wl,--build-id=none',
                        '-Wl,-e,entry', '-o', elf, GUEST_SRC], check=True)
    hlt = os.path.join(outdir, 'hlt-64k.bin')
    if not os.path.exists(hlt):
        with open(hlt, 'wb') as f:
            f.write(b'\xf4' * 65536)
    return elf, hlt


def cmdline(qemu, machine, smp, guest, accel_props, mem='1G',
            accelerator='kvm', stopped=False):
    """A start-up run's command line: pc-lite boots the tiny guest ELF,
    microvm runs the HLT firmware (guest is build_guest()'s pair)."""
    cmd = qemucmd.Cmdline(machine, ','.join([accelerator] + list(accel_props)),
                          smp, mem, binary=qemu, stopped=stopped)
    if machine == 'pc-lite':
        return cmd.kernel(guest[0])
    return cmd.bios(guest[1])


def time_once(cmd, tmp):
    """(exec to first instruction, CPU time of QEMU by then), in ms."""
    vm = launch.Machine(cmd.trace(os.path.join(tmp, 'trace.log'),
                                  ['vm_state_notify']), tmp)
    vm.launch()
    ms = vm.vmm_init_ms(30)
    cpu = procfs.cpu_time_ms(vm.get_pid()) if ms is not None else None
    vm.shutdown()
    if ms is None:
        raise RuntimeError(f'{cmd.machine}: no vm_state_notify running 1')
    return ms, cpu


def classify(path):
    if path == '/dev/kvm':
        return 'kvm'
    if path.startswith('anon_inode:kvm-vm'):
        return 'vm'
    if path.startswith('anon_inode:kvm-vcpu'):
        return 'vcpu'
    return 'other'


def count_ioctls(cmd, tmp):
    """KVM ioctls of a start-up stopped before the first instruction."""
    out = os.path.join(tmp, f'strace-{cmd.machine}.txt')
    vm = launch.Machine(cmd, tmp, wrapper=['strace', '-f', '-qq', '-y', '-e',
                                           'trace=ioctl', '-o', out])
    vm.launch()
    vm.shutdown()
    by_class = {'kvm': 0, 'vm': 0, 'vcpu': 0, 'other': 0}
    by_req = {}
    with open(out, encoding='utf-8', errors='replace') as f:
        for line in f:
            m = IOCTL_RE.match(line)
            if not m:
                continue
            cls = classify(m.group(2))
            by_class[cls] += 1
            if cls != 'other':
                key = f'{cls}:{m.group(3)}'
                by_req[key] = by_req.get(key, 0) + 1
    kvm_total = by_class['kvm'] + by_class['vm'] + by_class['vcpu']
    return {'all': sum(by_class.values()), 'kvm_fds': kvm_total,
            'by_class': by_class, 'by_request': dict(sorted(by_req.items()))}


def measure(cfgs, smps, runs, tmp, accelerator='kvm'):
    """Per -smp, the configurations' runs interleaved (A B A B ...), so
    that a slow spell of the host hits every configuration alike."""
    results = []

    def cmd(qemu, machine, smp, extra, stopped=False):
        return cmdline(qemu, machine, smp, GUEST, extra,
                       accelerator=accelerator, stopped=stopped)

    for smp in smps:
        times = {name: [] for name, *_ in cfgs}
        for name, qemu, machine, extra in cfgs:     # warm-up
            time_once(cmd(qemu, machine, smp, extra), tmp)
        for _ in range(runs):
            for name, qemu, machine, extra in cfgs:
                times[name].append(time_once(
                    cmd(qemu, machine, smp, extra), tmp))
        for name, qemu, machine, extra in cfgs:
            t = [x[0] for x in times[name]]
            cpu = [x[1] for x in times[name]]
            ioc = count_ioctls(cmd(qemu, machine, smp, extra, stopped=True),
                               tmp)
            r = {'config': name, 'machine': machine, 'qemu': qemu,
                 'accel_props': list(extra), 'smp': smp,
                 'first_insn_ms': {
                     'median': round(statistics.median(t), 2),
                     'min': round(min(t), 2),
                     'max': round(max(t), 2),
                     'runs': [round(x, 2) for x in t]},
                 'cpu_ms': {
                     'median': round(statistics.median(cpu), 2),
                     'runs': [round(x, 2) for x in cpu]},
                 'ioctls': ioc}
            r['ioctls']['get_supported_cpuid'] = \
                ioc['by_request'].get('kvm:KVM_GET_SUPPORTED_CPUID', 0)
            results.append(r)
            print(f'  {name:<14} -smp {smp:<3} ioctls {ioc["kvm_fds"]:5} '
                  f'(/dev/kvm {ioc["by_class"]["kvm"]:4}, '
                  f'vm {ioc["by_class"]["vm"]:4}, '
                  f'vcpu {ioc["by_class"]["vcpu"]:5})  '
                  f'first insn {r["first_insn_ms"]["median"]:7.2f} ms',
                  flush=True)
    results.sort(key=lambda r: [c[0] for c in cfgs].index(r['config']))
    return results


def summarize(results):
    """Per config: per-extra-vCPU ioctls, ratios and the issue's targets."""
    summary = {}
    for name in dict.fromkeys(r['config'] for r in results):
        rows = {r['smp']: r for r in results if r['config'] == name}
        lo, hi = min(rows), max(rows)
        s = {'smp_lo': lo, 'smp_hi': hi}
        if hi > lo:
            s['ioctls_per_extra_vcpu'] = round(
                (rows[hi]['ioctls']['kvm_fds'] -
                 rows[lo]['ioctls']['kvm_fds']) / (hi - lo), 2)
        s['devkvm_lo'] = rows[lo]['ioctls']['by_class']['kvm']
        s['devkvm_hi'] = rows[hi]['ioctls']['by_class']['kvm']
        s['get_supported_cpuid'] = max(r['ioctls']['get_supported_cpuid']
                                       for r in rows.values())
        s['first_insn_ratio_hi_lo'] = round(
            rows[hi]['first_insn_ms']['median'] /
            rows[lo]['first_insn_ms']['median'], 2)
        s['first_insn_lo_ms'] = rows[lo]['first_insn_ms']['median']
        if hi > lo:
            # What the extra vCPUs cost in CPU time, and the best the host
            # could do with it: spread over all host CPUs at once.
            extra_cpu = rows[hi]['cpu_ms']['median'] - \
                rows[lo]['cpu_ms']['median']
            s['cpu_ms_per_extra_vcpu'] = round(extra_cpu / (hi - lo), 3)
            s['host_cpus'] = os.cpu_count()
            s['first_insn_ratio_floor'] = round(
                (s['first_insn_lo_ms'] + max(extra_cpu, 0) / os.cpu_count())
                / s['first_insn_lo_ms'], 2)
        summary[name] = s
    return summary


def targets(summary, lite, micro):
    s = summary.get(lite)
    if not s:
        return []
    out = [
        ('KVM_GET_SUPPORTED_CPUID: 1 call', s['get_supported_cpuid'] == 1,
         f'{s["get_supported_cpuid"]} call(s)'),
        (f'/dev/kvm ioctls same at -smp {s["smp_hi"]} as -smp {s["smp_lo"]}',
         s['devkvm_hi'] == s['devkvm_lo'],
         f'{s["devkvm_lo"]} -> {s["devkvm_hi"]}'),
    ]
    if 'ioctls_per_extra_vcpu' in s:
        out.append(('<= 25 ioctls per extra vCPU',
                    s['ioctls_per_extra_vcpu'] <= 25,
                    f'{s["ioctls_per_extra_vcpu"]}'))
        out.append((f'first insn at -smp {s["smp_hi"]} <= 1.5x -smp '
                    f'{s["smp_lo"]}', s['first_insn_ratio_hi_lo'] <= 1.5,
                    f'{s["first_insn_ratio_hi_lo"]}x'))
    m = summary.get(micro)
    if m:
        ratio = s['first_insn_lo_ms'] / m['first_insn_lo_ms']
        out.append((f'pc-lite first insn at -smp {s["smp_lo"]} <= half of '
                    'microvm', ratio <= 0.5, f'{ratio:.2f}x'))
    return [{'target': t, 'met': bool(ok), 'value': v} for t, ok, v in out]


def plot(results, path, accelerator='kvm'):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print('startup: matplotlib missing, no plot')
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in dict.fromkeys(r['config'] for r in results):
        rows = sorted((r for r in results if r['config'] == name),
                      key=lambda r: r['smp'])
        x = [r['smp'] for r in rows]
        ax1.plot(x, [r['first_insn_ms']['median'] for r in rows], 'o-',
                 label=name)
        ax2.plot(x, [r['ioctls']['kvm_fds'] for r in rows], 'o-', label=name)
    for ax, title in ((ax1, 'exec to first guest instruction (ms, median)'),
                      (ax2, 'KVM ioctls (all KVM fds, -S + quit)')):
        ax.set_xscale('log', base=2)
        ax.set_xlabel('-smp')
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f'QEMU start-up under {accelerator.upper()}: pc-lite vs '
                 'microvm (same source)')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f'startup: wrote {path}')


GUEST = None


def main():
    global GUEST
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--smp', default=','.join(map(str, SMPS)))
    ap.add_argument('--runs', type=int, default=11)
    ap.add_argument('--lite', default=paths.QEMU)
    ap.add_argument('--full', default=paths.QEMU_FULL)
    ap.add_argument('--config', action='append', default=[],
                    help='NAME=QEMU:MACHINE[:KVM-PROPS] (repeatable; '
                    'replaces the default pc-lite/microvm pair); KVM-PROPS '
                    'are appended to -accel kvm, e.g. x-query-cache=off')
    ap.add_argument('--out', default=os.path.join(paths.BUILD, 'bench',
                                                  'startup.json'))
    ap.add_argument('--label', default='')
    ap.add_argument('--accel', choices=('kvm', 'tcg'), default='kvm',
                    help='tcg: the same runs without KVM, to check that '
                    'every configuration starts (make check does); the '
                    'issue\'s targets are about KVM and are not checked')
    opts = ap.parse_args()

    if opts.accel == 'kvm' and not accel.kvm_usable():
        print('startup: /dev/kvm is not usable: skipped')
        return 0
    os.makedirs(os.path.dirname(opts.out), exist_ok=True)
    GUEST = build_guest(os.path.dirname(opts.out))
    cfgs = []
    for c in opts.config:
        name, _, rest = c.partition('=')
        parts = rest.split(':', 2)
        extra = parts[2].split(',') if len(parts) > 2 and parts[2] else []
        cfgs.append((name, parts[0], parts[1], extra))
    if not cfgs:
        cfgs.append(('pc-lite', opts.lite, 'pc-lite', []))
        if os.path.exists(opts.full):
            cfgs.append(('microvm', opts.full, 'microvm', []))
        else:
            print(f'startup: {opts.full} missing (make qemu-full): '
                  'no microvm comparison')
        # The same binary with upstream's KVM queries (patch 0003 off).
        if opts.accel == 'kvm':
            cfgs.append(('pc-lite-nocache', opts.lite, 'pc-lite',
                         ['x-query-cache=off']))
    smps = [int(s) for s in opts.smp.split(',')]
    print(f'startup: {len(cfgs)} config(s) x -smp {smps}, '
          f'{opts.runs} timed runs each, {opts.accel.upper()}')
    with tempfile.TemporaryDirectory(prefix='pc-lite-startup-') as tmp:
        results = measure(cfgs, smps, opts.runs, tmp, opts.accel)
    summary = summarize(results)
    names = [c[0] for c in cfgs]
    tg = targets(summary, names[0],
                 'microvm' if 'microvm' in names else
                 (names[1] if len(names) > 1 and opts.config else None)) \
        if opts.accel == 'kvm' else []
    data = {'label': opts.label, 'accel': opts.accel,
            'date': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
            'host': {'kernel': platform.release(),
                     'cpus': os.cpu_count(),
                     'kvm_module': ','.join(procfs.kvm_modules())},
            'method': {'ioctls': 'strace -f -y -e trace=ioctl, -S, QMP quit',
                       'first_insn': 'time.time() before exec -> trace '
                       'vm_state_notify running=1 (log backend)',
                       'runs': opts.runs},
            'results': results, 'summary': summary, 'targets': tg}
    with open(opts.out, 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=1)
    print(f'startup: wrote {opts.out}')
    print_table(results, summary, tg)
    plot(results, os.path.splitext(opts.out)[0] + '.png', opts.accel)
    return 0


def print_table(results, summary, tg):
    print()
    print('| config | -smp | ioctls (KVM fds) | /dev/kvm | VM | vCPU | '
          'GET_SUPPORTED_CPUID | exec->first insn ms (median) | '
          'CPU time by then, ms |')
    print('|---|---|---|---|---|---|---|---|---|')
    for r in results:
        c = r['ioctls']['by_class']
        print(f'| {r["config"]} | {r["smp"]} | {r["ioctls"]["kvm_fds"]} | '
              f'{c["kvm"]} | {c["vm"]} | {c["vcpu"]} | '
              f'{r["ioctls"]["get_supported_cpuid"]} | '
              f'{r["first_insn_ms"]["median"]} | '
              f'{r["cpu_ms"]["median"]} |')
    print()
    for name, s in summary.items():
        print(f'{name}: {s.get("ioctls_per_extra_vcpu", "-")} ioctls per '
              f'extra vCPU; first insn -smp {s["smp_hi"]}/-smp '
              f'{s["smp_lo"]} = {s["first_insn_ratio_hi_lo"]}x')
        if 'cpu_ms_per_extra_vcpu' in s:
            print(f'  CPU time per extra vCPU {s["cpu_ms_per_extra_vcpu"]} '
                  f'ms: even spread over all {s["host_cpus"]} host CPUs, '
                  f'-smp {s["smp_hi"]} could not start faster than '
                  f'{s["first_insn_ratio_floor"]}x -smp {s["smp_lo"]}')
    for t in tg:
        print(f'  [{"met" if t["met"] else "NOT met"}] {t["target"]}: '
              f'{t["value"]}')


if __name__ == '__main__':
    sys.exit(main())
