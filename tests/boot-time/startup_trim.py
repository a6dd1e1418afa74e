#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What compile-time trimming buys: the trimmed build (build/qemu) against
the default-featured build of the same source (build/qemu-full).

Measured now, on this host: binary size (file and text+data+bss), shared
libraries loaded, peak RSS (VmHWM) and exec-to-QMP-ready / exec to the
first guest instruction of the same pc-lite start-up (-S + QMP quit for
RSS; tiny guest, KVM when usable, else TCG).  Median of --runs.  Prints a
table and writes build/bench/trim.json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from pclite import accel as accels
from pclite import launch
from pclite import paths
from pclite import procfs

import startup


def size_of(binary):
    out = subprocess.run(['size', binary], capture_output=True, text=True,
                         check=True).stdout.split('\n')[1].split()
    return {'file_bytes': os.path.getsize(binary),
            'text': int(out[0]), 'data': int(out[1]), 'bss': int(out[2])}


def libs(binary):
    out = subprocess.run(['ldd', binary], capture_output=True, text=True,
                         check=False).stdout
    return len([ln for ln in out.splitlines() if '=>' in ln])


def run_once(binary, accel, guest, tmp):
    """One start-up of pc-lite: QMP ready and first instruction (ms from
    exec), peak and current RSS (kB); QEMU quits through QMP."""
    cmd = startup.cmdline(binary, 'pc-lite', 1, (guest, None), [],
                          mem='256M', accelerator=accel)
    vm = launch.Machine(cmd.trace(os.path.join(tmp, 'trace.log'),
                                  ['vm_state_notify']), tmp)
    vm.launch()
    t_qmp = (time.time() - vm.t_exec) * 1000
    first = vm.vmm_init_ms(30)
    status = procfs.status(vm.get_pid())
    vm.shutdown()
    return {'qmp_ready_ms': t_qmp, 'first_insn_ms': first,
            'vmhwm_kb': status['VmHWM'], 'vmrss_kb': status['VmRSS']}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--lite', default=paths.QEMU)
    ap.add_argument('--full', default=paths.QEMU_FULL)
    ap.add_argument('--runs', type=int, default=11)
    ap.add_argument('--out', default=os.path.join(paths.BUILD, 'bench',
                                                  'trim.json'))
    opts = ap.parse_args()
    for b in (opts.lite, opts.full):
        if not os.path.exists(b):
            print(f'trim report: {b} is missing (make qemu / make '
                  'qemu-full): skipped')
            return 0
    accel = accels.for_startup()
    os.makedirs(os.path.dirname(opts.out), exist_ok=True)
    guest = startup.build_guest(os.path.dirname(opts.out))[0]
    res = {}
    with tempfile.TemporaryDirectory(prefix='pc-lite-trim-') as tmp:
        builds = (('trimmed', opts.lite), ('full', opts.full))
        runs = {name: [] for name, _ in builds}
        for name, b in builds:
            run_once(b, accel, guest, tmp)          # warm-up
        # Interleaved, so that a slow spell of the host hits both alike.
        for _ in range(opts.runs):
            for name, b in builds:
                runs[name].append(run_once(b, accel, guest, tmp))
        for name, b in builds:
            r0 = runs[name][0]
            med = {k: round(statistics.median(r[k] for r in runs[name]), 2)
                   for k in r0 if r0[k] is not None}
            res[name] = {'binary': b, 'size': size_of(b), 'libs': libs(b),
                         'median': med, 'runs': runs[name]}
    with open(opts.out, 'w', encoding='utf-8') as f:
        json.dump({'accel': accel, 'runs': opts.runs, 'results': res}, f,
                  indent=1)
    t, u = res['trimmed'], res['full']
    rows = [
        ('binary file (MiB)', t['size']['file_bytes'] / 2**20,
         u['size']['file_bytes'] / 2**20),
        ('text+data+bss (MiB)',
         sum(t['size'][k] for k in ('text', 'data', 'bss')) / 2**20,
         sum(u['size'][k] for k in ('text', 'data', 'bss')) / 2**20),
        ('shared libraries', t['libs'], u['libs']),
        ('peak RSS, -smp 1 -m 256M (MiB)', t['median']['vmhwm_kb'] / 1024,
         u['median']['vmhwm_kb'] / 1024),
        ('exec to QMP ready (ms)', t['median']['qmp_ready_ms'],
         u['median']['qmp_ready_ms']),
        ('exec to first guest insn (ms)', t['median'].get('first_insn_ms'),
         u['median'].get('first_insn_ms')),
    ]
    print(f'What trimming buys (pc-lite machine, {accel}, median of '
          f'{opts.runs}; measured now):')
    print(f'| {"":32} | {"trimmed":>9} | {"full":>9} | {"trimmed/full":>12} |')
    print(f'|{"-" * 34}|{"-" * 11}|{"-" * 11}|{"-" * 14}|')
    for label, a, b in rows:
        ratio = f'{a / b:.2f}' if a and b else '-'
        print(f'| {label:32} | {a:9.2f} | {b:9.2f} | {ratio:>12} |')
    print(f'trim report: wrote {opts.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
