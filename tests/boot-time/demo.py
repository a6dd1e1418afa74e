#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""make demo: boot the bundled guest on pc-lite and print its boot time."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'boot'))
import pclite  # noqa: E402  pylint: disable=wrong-import-position


def main():
    accel = pclite.accel()
    print(f'pc-lite demo: booting {pclite.guest_file("vmlinux")} (PVH) with '
          f'an initramfs, -smp 2 -m 256M, accelerator {accel}')
    res = pclite.boot(smp=2, mem='256M')
    if res.report is None or res.exitcode != 0:
        print(res.console[-3000:])
        print(f'pc-lite demo: the guest did not report (exit {res.exitcode})')
        return 1
    r = res.report
    print(f'guest: Linux {r["kernel"]}, {r["cpus"]} CPUs, '
          f'{r["memtotal_kb"] // 1024} MiB, ACPI {r["acpi"]}, '
          f'clocksource {r["clocksource"]}')
    print(f'guest uptime at init report: {r["uptime_ms"]} ms (guest clock)')
    p = res.phases
    if p:
        print('boot-time breakdown (host clock, ms):')
        for key, label in (('vmm_init', 'QEMU init (exec to kernel entry)'),
                           ('firmware', 'firmware'),
                           ('kernel', 'kernel (entry to init)'),
                           ('userspace', 'userspace (init to ready)'),
                           ('total', 'total (exec to ready)'),
                           ('shutdown', 'shutdown (ready to exit)')):
            print(f'  {label:34s} {p[key]:9.1f}')
    print(f'QEMU exit status {res.exitcode} after {res.wall_s * 1000:.0f} ms')
    return 0


if __name__ == '__main__':
    sys.exit(main())
