#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""make demo: boot pc-lite from the NVDIMM root, run a command, time it.

The same path as scripts/pc-lite-run (pclite.runner): the bundled kernel
(PVH) boots with build/guest/rootfs.img as /dev/pmem0, mounted as / with
DAX; one command runs in the guest, its output is shown, the guest powers
off, and the boot-time breakdown (host clock, pclite.trace's phases) is
printed.
"""

import argparse
import os
import sys

from pclite import launch
from pclite import runner
from pclite import trace

COMMAND = ('echo "kernel: $(uname -r)"; echo "cpus:   $(nproc)"; '
           'echo "memory: $(awk \'/MemTotal/{print $2" "$3}\' /proc/meminfo)";'
           ' d=$(stat -c %d /); '
           'dev=$(basename $(readlink /sys/dev/block/$((d>>8)):$((d&255)))); '
           'echo "root:   /dev/$dev $(awk \'$2=="/"{print $3" "$4}\' '
           '/proc/mounts)"')


def main():
    opts = runner.parser().parse_args(['--cpus', '2', '--mem', '256M', '-n',
                                       '--timings', '--timeout', '300'])
    opts.accel = launch.boot_accel()
    print(f'pc-lite demo: {os.path.relpath(opts.kernel)} (PVH entry) with '
          f'root {os.path.relpath(opts.rootfs)} on a DAX NVDIMM, '
          f'-smp {opts.cpus} -m {opts.mem}, accelerator {opts.accel}')
    print('guest$ uname -r; nproc; MemTotal; the root mount')
    sys.stdout.flush()
    try:
        status, phases = runner.run(opts, ['/bin/sh', '-c', COMMAND])
    except runner.RunError as e:
        print(f'pc-lite demo: {e}', file=sys.stderr)
        return 1
    if status != 0 or not phases:
        print(f'pc-lite demo: the command exited with {status}'
              if status else 'pc-lite demo: no boot-phase stamps')
        return 1
    print(f'boot-time breakdown (host clock, ms, {opts.accel}):')
    print(trace.format_phases(phases))
    return 0


if __name__ == '__main__':
    argparse.ArgumentParser(description=__doc__).parse_args()
    sys.exit(main())
