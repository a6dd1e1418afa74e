#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Clones of a template beside cold boots: time to a command's output and
end, restore time, memory per idle VM, clones per second.

Everything runs through build/pc-lite-run, as a user would, with the
same guest and the same command for both kinds of VM:

  time     --runs times, cold and clone interleaved: "pc-lite-run [--clone]
           -- echo hi" from exec of the runner to its first output byte
           and to its exit; restore (clone) and VMM init (cold) from QEMU's
           trace, exec of QEMU to its vCPUs running, and pc-lite-run's
           own CPU time, QEMU's not included (--timings-file)
  memory   N VMs at once (--vms, default 1 8 32) running "sleep" (idle),
           cold-booted or cloned: per QEMU its PSS, USS and own (USS
           without guest RAM and TCG's code buffer; with other VMs
           running, the binary's and the libraries' shared pages are no
           VM's own), from one read of smaps (pclite.memory), and how
           many such VMs fit in the host's memory (MemTotal / PSS per VM
           with the most VMs)
  rate     --back-to-back clones one after the other, each echoing its
           number: failures, wrong outputs, clones per second

and checks the targets of the templates issue, printing met / not met.
Writes build/bench/clones.{json,md,png} (part of make bench; make check
runs a short version).
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from pclite import launch
from pclite import memory as pcmemory
from pclite import paths
from pclite import procfs

import bench_report

RUNNER = paths.RUNNER
IDLE = 'echo started; exec sleep 3600'


def runner_env(cache):
    return dict(os.environ, PC_LITE_CACHE=cache)


def timed_run(args, env, tmp):
    """One runner: {'output': ms, 'exit': ms, 'qemu': phases} from exec."""
    timings = os.path.join(tmp, 'timings.json')
    t0 = time.time()
    with subprocess.Popen([RUNNER, '-n', '--timings-file', timings] + args,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env) as p:
        first = p.stdout.read(1)
        t_out = time.time()
        rest = p.stdout.read()
        err = p.stderr.read()
        status = p.wait()
    t_exit = time.time()
    if status != 0 or first + rest != b'hi\n':
        raise RuntimeError(f'{args}: status {status}, output '
                           f'{first + rest!r}: {err.decode()[-500:]}')
    with open(timings, encoding='utf-8') as f:
        phases = json.load(f)
    return {'output': round((t_out - t0) * 1000, 2),
            'exit': round((t_exit - t0) * 1000, 2), 'qemu': phases}


def qemu_child(pid):
    """The QEMU process the runner pid started."""
    with open(f'/proc/{pid}/task/{pid}/children', encoding='ascii') as f:
        children = [int(c) for c in f.read().split()]
    for child in children:
        with open(f'/proc/{child}/comm', encoding='ascii') as f:
            if f.read().startswith('qemu'):
                return child
    raise RuntimeError(f'runner {pid} has no QEMU child')


def idle_memory(kind, count, env, timeout, extra=()):
    """count VMs running IDLE at once: per VM {'pss', 'uss', 'rss', 'own'}
    KiB.
    extra: more pc-lite-run options."""
    args = (['--clone'] if kind == 'clone' else []) + list(extra)
    runners = []
    try:
        for _ in range(count):
            runners.append(subprocess.Popen(
                [RUNNER, '-n'] + args + ['--', IDLE], stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, env=env))
        deadline = time.monotonic() + timeout
        for p in runners:
            # readline() blocks; the deadline bounds the whole batch.
            if time.monotonic() > deadline or \
                    p.stdout.readline() != b'started\n':
                raise RuntimeError(f'{kind} x{count}: a VM did not start')
        time.sleep(1.0)             # let the guests settle into idle
        out = []
        for p in runners:
            qemu = qemu_child(p.pid)
            bd = pcmemory.breakdown(qemu)   # PSS, USS and own: one read
            out.append({'pss': bd['pss_kib'], 'uss': bd['uss_kib'],
                        'rss': procfs.smaps_rollup(qemu)['Rss'],
                        'own': bd['own_kib']})
        return out
    finally:
        for p in runners:
            p.send_signal(signal.SIGKILL)   # QEMU dies with its runner
            p.wait()


def back_to_back(count, env):
    """count clones one after the other: (failures, seconds)."""
    failures = []
    t0 = time.monotonic()
    for i in range(count):
        p = subprocess.run([RUNNER, '--clone', '-n', '--', f'echo {i}'],
                           capture_output=True, env=env, check=False)
        if p.returncode != 0 or p.stdout != f'{i}\n'.encode():
            failures.append({'run': i, 'status': p.returncode,
                             'stdout': p.stdout.decode(errors='replace'),
                             'stderr': p.stderr.decode(errors='replace')})
    return failures, time.monotonic() - t0


def median(values):
    return round(statistics.median(values), 2)


def targets(res):
    """The issue's targets: (text, figure, limit, met)."""
    t = res['time']
    cold, clone = t['cold'], t['clone']
    out = [('clone exec to exit / cold exec to exit',
            clone['exit'] / cold['exit'], 0.12),
           ('pc-lite-run\'s own CPU per clone run, ms',
            clone['runner_cpu'], 5),
           ('clone restore / cold VMM init',
            clone['restore'] / cold['vmm_init'], 1.5)]
    mem = res['memory']
    biggest = str(max(int(n) for n in mem))
    out.append((f'PSS per VM, {biggest} idle clones / {biggest} cold VMs',
                mem[biggest]['clone']['pss'] / mem[biggest]['cold']['pss'],
                0.3))
    # The memory issue's target for QEMU's own USS per idle VM, in MiB.
    for kind in ('cold', 'clone'):
        vms = 'cold VMs' if kind == 'cold' else 'clones'
        out.append((f'QEMU\'s own MiB per idle VM, {biggest} {vms}',
                    mem[biggest][kind]['own'] / 1024, 5))
    out.append((f'failures in {res["rate"]["clones"]} clones back to back',
                len(res['rate']['failures']), 0))
    return [(text, round(value, 3), limit, value <= limit)
            for text, value, limit in out]


def fit(memory, memtotal_kib):
    """How many idle VMs of each kind fit in memtotal_kib, by their PSS
    per VM with the most VMs at once (QEMU only: the host kernel's own
    cost per VM, page tables and the like, is not in it)."""
    biggest = memory[str(max(int(n) for n in memory))]
    return {kind: memtotal_kib // biggest[kind]['pss']
            for kind in ('cold', 'clone')}


def markdown(res):
    t = res['time']
    lines = [f'Clones of a template vs cold boots, accelerator '
             f'{res["accel"]}, median of {res["runs"]} runs '
             f'(`pc-lite-run [--clone] -- echo hi`):', '',
             '| VM | exec to first output (ms) | exec to exit (ms) | '
             'QEMU: exec to vCPUs running (ms) |', '|---|---:|---:|---:|']
    for kind, label in (('cold', 'cold boot'), ('clone', 'clone')):
        q = t[kind]['vmm_init' if kind == 'cold' else 'restore']
        lines.append(f'| {label} | {t[kind]["output"]} | {t[kind]["exit"]} '
                     f'| {q} |')
    lines += ['', 'Memory of idle VMs (running `sleep`), per VM, median '
              '(KiB; own: QEMU\'s USS without guest RAM and TCG\'s code '
              'buffer):', '', '| VMs | cold PSS | clone PSS | clone / cold | '
              'cold USS | clone USS | cold own | clone own |',
              '|---:|---:|---:|---:|---:|---:|---:|---:|']
    for n, m in sorted(res['memory'].items(), key=lambda kv: int(kv[0])):
        lines.append(f'| {n} | {m["cold"]["pss"]} | {m["clone"]["pss"]} | '
                     f'{m["clone"]["pss"] / m["cold"]["pss"]:.2f} | '
                     f'{m["cold"]["uss"]} | {m["clone"]["uss"]} | '
                     f'{m["cold"]["own"]} | {m["clone"]["own"]} |')
    biggest = max(int(n) for n in res['memory'])
    lines += ['', f'Idle VMs that fit in this host\'s '
              f'{res["host_memtotal_kib"] / 1024 ** 2:.1f} GiB (MemTotal / '
              f'PSS per VM with {biggest} VMs): {res["fit"]["cold"]} cold-'
              f'booted, {res["fit"]["clone"]} clones.']
    r = res['rate']
    lines += ['', f'{r["clones"]} clones back to back: {len(r["failures"])} '
              f'failures, {r["per_second"]} clones per second.', '',
              'KVM restore (at most 10 ms): ' + res['kvm_restore'], '',
              '| target | figure | limit | |', '|---|---:|---:|---|']
    for text, value, limit, met in res['targets']:
        lines.append(f'| {text} | {value} | {limit} | '
                     f'{"met" if met else "not met"} |')
    return '\n'.join(lines) + '\n'


def chart(res, path):
    """Two panels: time to exit, PSS per idle VM; cold vs clone."""
    # pylint: disable=import-outside-toplevel
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.2))
    t = res['time']
    kinds = ('cold', 'clone')
    ax1.bar([f'{k}\nfirst output' for k in kinds],
            [t[k]['output'] for k in kinds], color=['C0', 'C1'])
    ax1.bar([f'{k}\nexit' for k in kinds], [t[k]['exit'] for k in kinds],
            color=['C0', 'C1'], alpha=0.6)
    ax1.set_ylabel('ms from exec of pc-lite-run (median)')
    ax1.set_title('echo hi', fontsize=9)
    counts = sorted(res['memory'], key=int)
    width = 0.38
    xs = range(len(counts))
    ax2.bar([x - width / 2 for x in xs],
            [res['memory'][n]['cold']['pss'] / 1024 for n in counts], width,
            label='cold boot')
    ax2.bar([x + width / 2 for x in xs],
            [res['memory'][n]['clone']['pss'] / 1024 for n in counts], width,
            label='clone')
    ax2.set_xticks(list(xs), [f'{n} VMs' for n in counts])
    ax2.set_ylabel('PSS per idle VM, MiB (median)')
    ax2.legend(fontsize=7)
    fig.suptitle(f'pc-lite clones of a template vs cold boots '
                 f'({res["accel"]})', fontsize=10)
    bench_report.save_figure(fig, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--runs', type=int, default=10)
    ap.add_argument('--vms', type=int, nargs='+', default=[1, 8, 32])
    ap.add_argument('--back-to-back', type=int, default=100)
    ap.add_argument('--timeout', type=float, default=600)
    ap.add_argument('--out', default=os.path.join(paths.BUILD, 'bench'))
    opts = ap.parse_args()
    accel = launch.boot_accel()
    with tempfile.TemporaryDirectory(prefix='pc-lite-clones-') as tmp:
        cache = os.path.join(tmp, 'cache')
        env = runner_env(cache)
        env['PC_LITE_ACCEL'] = accel
        subprocess.run([RUNNER, '--template-create'], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        runs = {'cold': [], 'clone': []}
        for _ in range(opts.runs):
            runs['cold'].append(timed_run(['--', 'echo hi'], env, tmp))
            runs['clone'].append(timed_run(['--clone', '--', 'echo hi'], env,
                                           tmp))
        time_summary = {
            'cold': {'output': median(r['output'] for r in runs['cold']),
                     'exit': median(r['exit'] for r in runs['cold']),
                     'vmm_init': median(r['qemu']['vmm_init']
                                        for r in runs['cold'])},
            'clone': {'output': median(r['output'] for r in runs['clone']),
                      'exit': median(r['exit'] for r in runs['clone']),
                      'restore': median(r['qemu']['restore']
                                        for r in runs['clone']),
                      'runner_cpu': median(r['qemu']['runner_cpu']
                                           for r in runs['clone'])}}
        memory = {}
        for count in opts.vms:
            memory[str(count)] = {}
            for kind in ('cold', 'clone'):
                per_vm = idle_memory(kind, count, env, opts.timeout)
                memory[str(count)][kind] = {
                    key: round(statistics.median(v[key] for v in per_vm))
                    for key in ('pss', 'uss', 'rss', 'own')}
                memory[str(count)][kind]['per_vm'] = per_vm
        failures, seconds = back_to_back(opts.back_to_back, env)
    res = {'accel': accel, 'runs': opts.runs, 'time': time_summary,
           'time_runs': runs, 'memory': memory,
           'rate': {'clones': opts.back_to_back, 'failures': failures,
                    'seconds': round(seconds, 2),
                    'per_second': round(opts.back_to_back / seconds, 2)},
           'kvm_restore': 'not measured: the guest is not booted under KVM '
                          'on this host' if accel != 'kvm' else
                          f'{time_summary["clone"]["restore"]} ms'}
    res['host_memtotal_kib'] = procfs.kb_fields('/proc/meminfo')['MemTotal']
    res['fit'] = fit(memory, res['host_memtotal_kib'])
    res['targets'] = targets(res)
    bench_report.save(opts.out, 'clones', res, markdown(res), chart)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
