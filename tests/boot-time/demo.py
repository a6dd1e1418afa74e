#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""make demo: boot pc-lite from the NVDIMM root, run a command, time it.

Through build/pc-lite-run, as a user runs it: the bundled kernel (PVH)
boots with build/guest/rootfs.img as /dev/pmem0, mounted as / with DAX;
one command runs in the guest, its output is shown, the guest powers off,
and the boot-time breakdown (host clock; the phases of docs/pc-lite.rst,
"Measuring boot time") is printed.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

from pclite import launch
from pclite import paths
from pclite import trace

COMMAND = ('echo "kernel: $(uname -r)"; echo "cpus:   $(nproc)"; '
           'echo "memory: $(awk \'/MemTotal/{print $2" "$3}\' /proc/meminfo)";'
           ' d=$(stat -c %d /); '
           'dev=$(basename $(readlink /sys/dev/block/$((d>>8)):$((d&255)))); '
           'echo "root:   /dev/$dev $(awk \'$2=="/"{print $3" "$4}\' '
           '/proc/mounts)"')


def main():
    accel = launch.boot_accel()
    print(f'pc-lite demo: {os.path.relpath(paths.guest_file("vmlinux"))} '
          f'(PVH entry) with root '
          f'{os.path.relpath(paths.guest_file("rootfs.img"))} on a DAX '
          f'NVDIMM, -smp 2 -m 256M, accelerator {accel}')
    print('guest$ uname -r; nproc; MemTotal; the root mount')
    sys.stdout.flush()
    with tempfile.TemporaryDirectory(prefix='pc-lite-demo-') as tmp:
        timings = os.path.join(tmp, 'timings.json')
        p = subprocess.run([paths.RUNNER, '--cpus', '2', '--mem', '256M',
                            '-n', '--timings-file', timings, '--timeout',
                            '300', '--', COMMAND], check=False,
                           env=dict(os.environ, PC_LITE_ACCEL=accel))
        if p.returncode != 0:
            print(f'pc-lite demo: the command exited with {p.returncode}')
            return 1
        try:
            with open(timings, encoding='utf-8') as f:
                phases = json.load(f)
        except OSError:
            print('pc-lite demo: no boot-phase stamps')
            return 1
    print(f'boot-time breakdown (host clock, ms, {accel}):')
    print(trace.format_phases(phases))
    return 0


if __name__ == '__main__':
    argparse.ArgumentParser(description=__doc__).parse_args()
    sys.exit(main())
