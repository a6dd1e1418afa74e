#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""pc-lite-pool's warm VMs beside clones and cold boots, through
build/pc-lite-run as a user runs it, the same guest and command:

  time     --runs times, interleaved: "pc-lite-run [--clone|--pool] -n --
           true", exec of the runner to its exit (the pool refilled
           before each pool run, so that each takes a warm VM)
  rate     --rate-runs runs with 1 and with 8 at a time against a pool of
           --size VMs that refills as it goes: runs per second, per host
           core, how many the pool served (the rest fell back to clones)
           and failures
  memory   the PSS of the pool's idle VMs (pclite.memory)

Writes build/bench/pool.{json,md,png} (part of make bench; make check
runs a short version).  The podman rows of the pool issue are not here:
pc-lite-oci does not take VMs from the pool yet.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent import futures

from pclite import launch
from pclite import memory as pcmemory
from pclite import paths
from pclite import procfs

import bench_report

POOL = os.path.join(paths.BUILD, 'pc-lite-pool')


def status(env, sock):
    p = subprocess.run([POOL, 'status', '--socket', sock],
                       capture_output=True, env=env, check=True)
    return json.loads(p.stdout)


def wait_ready(env, sock, count, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(sock) and status(env, sock)['ready'] >= count:
            return
        time.sleep(0.05)
    raise RuntimeError(f'the pool has not {count} VMs ready')


def timed(args, env, tmp):
    """exec to exit of one runner (ms), and where its VM came from."""
    timings = os.path.join(tmp, 'timings.json')
    t0 = time.time()
    p = subprocess.run([paths.RUNNER, '-n', '--timings-file', timings, *args,
                        '--', 'true'], capture_output=True, env=env,
                       check=False)
    ms = (time.time() - t0) * 1000
    if p.returncode:
        raise RuntimeError(f'{args}: {p.stderr.decode(errors="replace")}')
    with open(timings, encoding='utf-8') as f:
        source = json.load(f).get('source', 'boot')
    return round(ms, 2), source


def rate(env, runs, parallel):
    """runs through the pool, parallel at a time: (runs/s, served by the
    pool, failures)."""
    def one(i):
        timings = os.path.join(env['TMP_DIR'], f'rate-{parallel}-{i}.json')
        p = subprocess.run([paths.RUNNER, '--pool', '-n', '--timings-file',
                            timings, '--', f'echo {i}'], capture_output=True,
                           env=env, check=False)
        ok = (p.returncode, p.stdout) == (0, f'{i}\n'.encode())
        source = None
        if ok:
            with open(timings, encoding='utf-8') as f:
                source = json.load(f).get('source')
        return ok, source

    t0 = time.monotonic()
    with futures.ThreadPoolExecutor(parallel) as ex:
        results = list(ex.map(one, range(runs)))
    seconds = time.monotonic() - t0
    return {'runs_per_s': round(runs / seconds, 2),
            'per_core': round(runs / seconds / os.cpu_count(), 2),
            'from_pool': sum(1 for ok, s in results if s == 'pool'),
            'failures': sum(1 for ok, _ in results if not ok),
            'seconds': round(seconds, 2)}


def pool_memory(pid):
    """PSS, USS and own KiB of each of the pool's idle VMs."""
    out = []
    for vm in procfs.qemu_children(pid):
        bd = pcmemory.breakdown(vm)
        out.append({'pss': bd['pss_kib'], 'uss': bd['uss_kib'],
                    'own': bd['own_kib']})
    return out


def targets(res):
    out = [('pc-lite-run --pool -- true, exec to exit, ms',
            res['pool_run_ms'], 50, res['pool_run_ms'] <= 50)]
    for n in ('1', '8'):
        r = res['rate'][n]
        out.append((f'runs per host core per second, {n} at a time',
                    r['per_core'], 5, r['per_core'] >= 5))
        out.append((f'failures, {n} at a time', r['failures'], 0,
                    r['failures'] == 0))
    return out


def markdown(res):
    lines = [f'pc-lite-pool beside clones and cold boots, accelerator '
             f'{res["accel"]}, {res["host_cores"]} host cores, median of '
             f'{res["runs"]} runs of `pc-lite-run [--clone|--pool] -n -- '
             f'true` (exec to exit):', '',
             '| VM | ms |', '|---|---:|',
             f'| cold boot | {res["cold_run_ms"]} |',
             f'| clone | {res["clone_run_ms"]} |',
             f'| pool | {res["pool_run_ms"]} |', '',
             f'Launch rate, {res["rate_runs"]} runs against a pool of '
             f'{res["size"]} that refills as it goes:', '',
             '| at a time | runs/s | per core | from the pool | failures |',
             '|---:|---:|---:|---:|---:|']
    for n, r in res['rate'].items():
        lines.append(f'| {n} | {r["runs_per_s"]} | {r["per_core"]} | '
                     f'{r["from_pool"]} | {r["failures"]} |')
    mem = res['memory']
    lines += ['', f'The pool\'s {len(mem)} idle VMs: PSS '
              f'{sum(m["pss"] for m in mem) // 1024} MiB in all '
              f'(median {statistics.median(m["pss"] for m in mem):.0f} KiB '
              f'each; QEMU\'s own {statistics.median(m["own"] for m in mem):.0f}'
              f' KiB each).', '', 'podman through the pool: not measured '
              '(pc-lite-oci does not take VMs from the pool yet).', '',
              '| target | figure | limit | |', '|---|---:|---:|---|']
    for text, value, limit, met in res['targets']:
        lines.append(f'| {text} | {value} | {limit} | '
                     f'{"met" if met else "not met"} |')
    return '\n'.join(lines) + '\n'


def chart(res, path):
    # pylint: disable=import-outside-toplevel
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.2))
    kinds = ('cold_run_ms', 'clone_run_ms', 'pool_run_ms')
    ax1.bar(['cold', 'clone', 'pool'], [res[k] for k in kinds],
            color=['C0', 'C1', 'C2'])
    ax1.axhline(50, color='grey', linestyle=':', label='target 50 ms')
    ax1.set_ylabel('exec to exit, ms (median)')
    ax1.set_title('pc-lite-run ... -- true', fontsize=9)
    ax1.legend(fontsize=7)
    ns = list(res['rate'])
    ax2.bar([f'{n} at a time' for n in ns],
            [res['rate'][n]['per_core'] for n in ns], color='C2')
    ax2.axhline(5, color='grey', linestyle=':', label='target 5')
    ax2.set_ylabel('runs per host core per second')
    ax2.legend(fontsize=7)
    fig.suptitle(f'pc-lite-pool ({res["accel"]})', fontsize=10)
    bench_report.save_figure(fig, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--runs', type=int, default=10)
    ap.add_argument('--size', type=int, default=8)
    ap.add_argument('--rate-runs', type=int, default=200)
    ap.add_argument('--out', default=os.path.join(paths.BUILD, 'bench'))
    opts = ap.parse_args()
    accel = launch.boot_accel()
    with tempfile.TemporaryDirectory(prefix='pc-lite-bench-pool-') as tmp:
        sock = os.path.join(tmp, 'pool.sock')
        env = dict(os.environ, PC_LITE_ACCEL=accel, TMP_DIR=tmp,
                   PC_LITE_CACHE=os.path.join(tmp, 'cache'),
                   PC_LITE_POOL=sock)
        with open(os.path.join(tmp, 'pool.log'), 'wb') as log, \
                subprocess.Popen([POOL, '--socket', sock, '--size',
                                  str(opts.size)], env=env, stdout=log,
                                 stderr=log) as pool:
            try:
                wait_ready(env, sock, opts.size)
                runs = {'cold': [], 'clone': [], 'pool': []}
                for _ in range(opts.runs):
                    runs['cold'].append(timed([], env, tmp)[0])
                    runs['clone'].append(timed(['--clone', '--no-pool'],
                                               env, tmp)[0])
                    wait_ready(env, sock, opts.size)
                    ms, source = timed(['--pool'], env, tmp)
                    if source != 'pool':
                        raise RuntimeError(f'a pool run was a {source}')
                    runs['pool'].append(ms)
                wait_ready(env, sock, opts.size)
                memory = pool_memory(pool.pid)
                rates = {}
                for parallel in (1, 8):
                    wait_ready(env, sock, opts.size)
                    rates[str(parallel)] = rate(env, opts.rate_runs,
                                                parallel)
                final = status(env, sock)
            finally:
                pool.terminate()
                pool.wait(timeout=60)
    res = {'accel': accel, 'runs': opts.runs, 'size': opts.size,
           'host_cores': os.cpu_count(), 'rate_runs': opts.rate_runs,
           'cold_run_ms': round(statistics.median(runs['cold']), 2),
           'clone_run_ms': round(statistics.median(runs['clone']), 2),
           'pool_run_ms': round(statistics.median(runs['pool']), 2),
           'time_runs': runs, 'rate': rates, 'memory': memory,
           'pool_status': final,
           'podman': {'runc_ms': None, 'pool_ms': None, 'clone_ms': None,
                      'note': 'pc-lite-oci does not take VMs from the pool '
                              'yet'}}
    res['targets'] = targets(res)
    bench_report.save(opts.out, 'pool', res, markdown(res), chart)
    failures = sum(r['failures'] for r in rates.values())
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
