#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Memory of several VMs booted from one NVDIMM root image vs private copies.

Boots --vms pc-lite VMs at once, each with the root filesystem on a DAX
NVDIMM, in two layouts:

  shared   every VM maps the same read-only image file (readonly=on)
  private  every VM maps its own copy of the image (share=off)

Each guest runs a small workload that executes and reads files of its root
(busybox, init), then stays idle.  Once all have reported, the QEMU
processes' /proc/PID/smaps_rollup is read: with DAX the guest's view of a
file is the host's page cache of the image, so in the shared layout those
pages count once across all VMs (PSS splits them), while private copies
each bring their own.  Writes build/bench/shared-root.json, .md and .png
(part of make bench).
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

from pclite import channel
from pclite import launch
from pclite import paths
from pclite import procfs
from pclite import qemucmd

import bench_report

WORKLOAD = ('cat /bin/busybox /sbin/init > /dev/null; ls -R / > /dev/null; '
            'sh -c true; awk "BEGIN{}"')
ROLLUP_KEYS = ('Rss', 'Pss', 'Pss_Anon', 'Pss_File', 'Pss_Shmem',
               'Shared_Clean', 'Private_Clean', 'Private_Dirty')


def launch_vm(image, readonly, tmp, index, accel):
    """One VM to run WORKLOAD from image and then stay idle: a
    launch.Machine and our end of its command channel."""
    ours, theirs = channel.socketpair()
    cmd = qemucmd.Cmdline(accel=accel, mem='128M,slots=1,maxmem=1G',
                          no_reboot=True)
    cmd.kernel('vmlinux').serial_console(
        os.path.join(tmp, f'console-{index}.log'))
    cmd.nvdimm_root(image, os.path.getsize(image), readonly=readonly)
    cmd.channel(theirs.fileno()).append('quiet', 'pclite.action=idle')
    vm = launch.Machine(cmd, tmp)
    vm.launch()
    theirs.close()
    return vm, ours


def run_workload(machines, timeout):
    """Run WORKLOAD in every guest (they boot in parallel)."""
    deadline = time.monotonic() + timeout
    for vm, sock in machines:
        status, _, err = channel.run_command(
            sock, ['/bin/sh', '-c', WORKLOAD], deadline, vm.is_running)
        if status != 0:
            raise RuntimeError(f'the workload failed ({status}): {err}')


def measure(layout, vms, accel, timeout):
    tmp = tempfile.mkdtemp(prefix='pc-lite-shared-')
    machines = []
    try:
        images = []
        for i in range(vms):
            if layout == 'shared' and images:
                images.append(images[0])
                continue
            path = os.path.join(tmp, f'rootfs-{i}.img')
            shutil.copy(paths.guest_file('rootfs.img'), path)
            images.append(path)
        for i, image in enumerate(images):
            machines.append(launch_vm(image, layout == 'shared', tmp, i,
                                      accel))
        run_workload(machines, timeout)
        time.sleep(0.5)             # let the guests settle into idle
        per_vm = [{key: value for key, value in
                   procfs.smaps_rollup(vm.get_pid()).items()
                   if key in ROLLUP_KEYS} for vm, _ in machines]
    finally:
        for vm, sock in machines:
            sock.close()
            vm.shutdown(hard=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return per_vm


def summarise(per_vm):
    return {key: {'sum': sum(v[key] for v in per_vm),
                  'median': statistics.median(v[key] for v in per_vm)}
            for key in ROLLUP_KEYS if all(key in v for v in per_vm)}


def table(result):
    lines = ['| layout | VMs | PSS per VM (median, KiB) | of it file-backed '
             '(KiB) | PSS of all VMs (KiB) | RSS per VM (median, KiB) |',
             '|---|---|---|---|---|---|']
    for layout in ('shared', 'private'):
        s = result['layouts'][layout]['summary']
        lines.append(f'| {layout} | {result["vms"]} | '
                     f'{s["Pss"]["median"]:.0f} | '
                     f'{s["Pss_File"]["median"]:.0f} | {s["Pss"]["sum"]} | '
                     f'{s["Rss"]["median"]:.0f} |')
    return '\n'.join(lines)


def chart(result, path):
    """Stacked bars: PSS per VM (median), anonymous and file-backed."""
    # pylint: disable=import-outside-toplevel
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    layouts = ('shared', 'private')
    anon = [result['layouts'][k]['summary']['Pss_Anon']['median'] / 1024
            for k in layouts]
    files = [result['layouts'][k]['summary']['Pss_File']['median'] / 1024
             for k in layouts]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    names = [f'{k}\n({result["vms"]} VMs)' for k in layouts]
    ax.bar(names, anon, label='anonymous (guest RAM, QEMU heap)')
    ax.bar(names, files, bottom=anon, label='file-backed (image, binary)')
    ax.set_ylabel('PSS per VM, MiB (median)')
    ax.set_title(f'NVDIMM root: one read-only image vs private copies '
                 f'({result["accel"]})', fontsize=9)
    ax.legend(fontsize=7, loc='lower right')
    bench_report.save_figure(fig, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--vms', type=int, default=4)
    ap.add_argument('--timeout', type=float, default=300)
    ap.add_argument('--out', default=os.path.join(paths.BUILD, 'bench'))
    opts = ap.parse_args()
    accel = launch.boot_accel()
    result = {'vms': opts.vms, 'accel': accel, 'workload': WORKLOAD,
              'image_bytes': os.path.getsize(paths.guest_file('rootfs.img')),
              'layouts': {}}
    for layout in ('shared', 'private'):
        per_vm = measure(layout, opts.vms, accel, opts.timeout)
        result['layouts'][layout] = {'per_vm_kib': per_vm,
                                     'summary': summarise(per_vm)}
    shared = result['layouts']['shared']['summary']['Pss']['sum']
    private = result['layouts']['private']['summary']['Pss']['sum']
    result['private_over_shared_pss'] = round(private / shared, 3)
    md = (f'{opts.vms} pc-lite VMs from one read-only NVDIMM root image '
          f'(shared) vs one private copy each, accelerator {accel}:\n\n'
          f'{table(result)}\n\nPSS of all VMs, private / shared: '
          f'{result["private_over_shared_pss"]}; saved by sharing: '
          f'{private - shared} KiB\n')
    bench_report.save(opts.out, 'shared-root', result, md, chart)
    return 0


if __name__ == '__main__':
    sys.exit(main())
