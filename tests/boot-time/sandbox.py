#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""What QEMU's seccomp filter (-sandbox on, the runners' default) costs:
"pc-lite-run -- true" with and without it (--no-sandbox), interleaved,
--runs times: QEMU's VMM init (exec to the vCPUs running, from its trace)
and the runner's exec to exit.  Writes build/bench/sandbox.{json,md,png}
(part of make bench)."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from pclite import launch
from pclite import paths

import bench_report

RUNNER = paths.RUNNER
KINDS = {'sandbox': [], 'no sandbox': ['--no-sandbox']}


def one(extra, env, tmp):
    """(VMM init ms, exec to exit ms) of one run."""
    timings = os.path.join(tmp, 'timings.json')
    t0 = time.monotonic()
    p = subprocess.run([RUNNER, '-n', '--timings-file', timings, *extra, '--',
                        'true'], capture_output=True, env=env, check=False,
                       timeout=300)
    wall = (time.monotonic() - t0) * 1000
    if p.returncode:
        sys.exit(f'pc-lite-run {extra}: {p.stderr.decode(errors="replace")}')
    with open(timings, encoding='utf-8') as f:
        return json.load(f)['vmm_init'], wall


def markdown(res):
    lines = [f'QEMU\'s seccomp filter at start-up: `pc-lite-run -- true`, '
             f'median of {res["runs"]} runs each, interleaved (guest under '
             f'{res["accel"]}):', '',
             '| | VMM init ms | exec to exit ms |', '|---|---:|---:|']
    for kind, row in res['medians'].items():
        lines.append(f'| {kind} | {row["vmm_init"]} | {row["exit"]} |')
    lines += ['', f'The filter adds {res["vmm_init_delta_ms"]} ms to VMM init '
              f'(run-to-run spread of VMM init without it: '
              f'{res["vmm_init_spread_ms"]} ms, min to max).']
    return '\n'.join(lines) + '\n'


def chart(res, path):
    # pylint: disable=import-outside-toplevel
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 2.6))
    kinds = list(res['runs_ms'])
    ax.boxplot([[r[0] for r in res['runs_ms'][k]] for k in kinds],
               labels=kinds, vert=False)
    ax.set_xlabel('VMM init, ms (exec of QEMU to vCPUs running)')
    ax.set_title(f'-sandbox on ({res["accel"]})', fontsize=9)
    bench_report.save_figure(fig, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--runs', type=int, default=20)
    ap.add_argument('--out', default=os.path.join(paths.BUILD, 'bench'))
    opts = ap.parse_args()
    accel = launch.boot_accel()
    env = dict(os.environ, PC_LITE_ACCEL=accel)
    runs = {kind: [] for kind in KINDS}
    with tempfile.TemporaryDirectory(prefix='pc-lite-sandbox-') as tmp:
        for _ in range(opts.runs):
            for kind, extra in KINDS.items():
                runs[kind].append(one(extra, env, tmp))
    medians = {k: {'vmm_init': round(statistics.median(r[0] for r in v), 2),
                   'exit': round(statistics.median(r[1] for r in v), 1)}
               for k, v in runs.items()}
    bare = [r[0] for r in runs['no sandbox']]
    res = {'accel': accel, 'runs': opts.runs, 'runs_ms': runs,
           'medians': medians,
           'vmm_init_delta_ms': round(medians['sandbox']['vmm_init'] -
                                      medians['no sandbox']['vmm_init'], 2),
           'vmm_init_spread_ms': round(max(bare) - min(bare), 2)}
    bench_report.save(opts.out, 'sandbox', res, markdown(res), chart)
    return 0


if __name__ == '__main__':
    sys.exit(main())
