#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The kernel mapped from its file (share-kernel, docs/pc-lite.rst
"Booting") beside the kernel copied into guest RAM: PSS of N idle VMs.

The same kernel, twice: build/guest/vmlinux, which nobody may write, so
pc-lite maps its segments copy-on-write (share-kernel=auto), and a
writable copy of it, which pc-lite copies into RAM.  For each VM count
(--vms, default 1 and 8), that many VMs run "sleep" at once through
build/pc-lite-run, cold-booted; their QEMUs' PSS (smaps_rollup) are
added up.  Target (issue #15): with 8 VMs, sharing saves at least 0.8x
the kernel's loaded size (its segments' file bytes) in PSS.

Writes build/bench/shared_kernel.{json,md,png} (make bench; make check
runs a short version).
"""

import argparse
import os
import shutil
import statistics
import struct
import sys
import tempfile

from pclite import launch
from pclite import paths

import bench_report
import clones

TARGET = 0.8


def loaded_size(path):
    """Bytes of the file that a kernel's PT_LOAD segments load."""
    with open(path, 'rb') as f:
        data = f.read(1 << 16)
    phoff, = struct.unpack_from('<Q', data, 32)
    phentsize, phnum = struct.unpack_from('<HH', data, 54)
    total = 0
    for i in range(phnum):
        ptype, _, _, _, _, filesz = struct.unpack_from(
            '<IIQQQQ', data, phoff + i * phentsize)
        if ptype == 1:
            total += filesz
    return total


def measure(count, kernel, env, timeout):
    per_vm = clones.idle_memory('cold', count, env, timeout,
                                ['--kernel', kernel])
    return {'pss_total': sum(v['pss'] for v in per_vm),
            'pss_median': round(statistics.median(v['pss']
                                                  for v in per_vm)),
            'per_vm': per_vm}


def markdown(res):
    lines = [f'The kernel mapped from its file vs copied, accelerator '
             f'{res["accel"]}, idle cold-booted VMs (`pc-lite-run -- '
             f'sleep`); kernel: {res["kernel_loaded_kib"]} KiB loaded:', '',
             '| VMs | PSS in all, shared (KiB) | PSS in all, copied (KiB) | '
             'saved (KiB) | saved / kernel |', '|---:|---:|---:|---:|---:|']
    for n, m in sorted(res['vms'].items(), key=lambda kv: int(kv[0])):
        lines.append(f'| {n} | {m["shared"]["pss_total"]} | '
                     f'{m["copied"]["pss_total"]} | {m["saved_kib"]} | '
                     f'{m["saved_per_kernel"]} |')
    t = res['target']
    lines += ['', f'Target: {t["text"]}: {t["figure"]} (at least '
              f'{t["limit"]}): {"met" if t["met"] else "not met"}.']
    return '\n'.join(lines) + '\n'


def chart(res, path):
    # pylint: disable=import-outside-toplevel
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.2))
    counts = sorted(res['vms'], key=int)
    xs = range(len(counts))
    width = 0.38
    for dx, kind in ((-width / 2, 'copied'), (width / 2, 'shared')):
        ax.bar([x + dx for x in xs],
               [res['vms'][n][kind]['pss_total'] / 1024 for n in counts],
               width, label=f'kernel {kind}')
    ax.set_xticks(list(xs), [f'{n} VMs' for n in counts])
    ax.set_ylabel('PSS of all QEMUs, MiB')
    ax.legend(fontsize=7)
    ax.set_title(f'pc-lite share-kernel ({res["accel"]})', fontsize=10)
    bench_report.save_figure(fig, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--vms', type=int, nargs='+', default=[1, 8])
    ap.add_argument('--timeout', type=float, default=600)
    ap.add_argument('--out', default=os.path.join(paths.BUILD, 'bench'))
    opts = ap.parse_args()
    accel = launch.boot_accel()
    kernel = os.path.realpath(paths.guest_file('vmlinux'))
    if os.stat(kernel).st_mode & 0o222:
        sys.exit(f'shared_kernel: {kernel} is writable: run make guest')
    res = {'accel': accel, 'kernel_loaded_kib': loaded_size(kernel) // 1024,
           'vms': {}}
    with tempfile.TemporaryDirectory(prefix='pc-lite-share-') as tmp:
        copy = os.path.join(tmp, 'vmlinux')
        shutil.copyfile(kernel, copy)       # mode 0644: copied into RAM
        env = clones.runner_env(os.path.join(tmp, 'cache'))
        env['PC_LITE_ACCEL'] = accel
        for count in opts.vms:
            m = {'shared': measure(count, kernel, env, opts.timeout),
                 'copied': measure(count, copy, env, opts.timeout)}
            m['saved_kib'] = m['copied']['pss_total'] - \
                m['shared']['pss_total']
            m['saved_per_kernel'] = round(m['saved_kib'] /
                                          res['kernel_loaded_kib'], 2)
            res['vms'][str(count)] = m
    biggest = str(max(opts.vms))
    figure = res['vms'][biggest]['saved_per_kernel']
    res['target'] = {'text': f'PSS saved by {biggest} VMs sharing the '
                             f'kernel / the kernel\'s loaded size',
                     'figure': figure, 'limit': TARGET,
                     'met': figure >= TARGET}
    bench_report.save(opts.out, 'shared_kernel', res, markdown(res), chart)
    return 0


if __name__ == '__main__':
    sys.exit(main())
