#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""make bench: boot-time and memory benchmark, pc-lite beside q35/microvm.

Boots the project's guest N times per configuration (after a warm-up) and
writes OUT/boot-time.{json,md,png,svg}, and each idle guest's memory by
category (pclite.memory) to OUT/memory.{json,md,png}.  See "Measuring
boot time" and "Memory" in docs/pc-lite.rst for the phases and their
clocks and the categories; python/pclite/trace.py has the phases' one
definition.

  bench.py                      the whole matrix, N=10
  bench.py --quick              N=1, no warm-up, pc-lite PVH (+ microvm
                                qboot when build/qemu-full exists); the
                                kernel breakdown of our own kernel only
  bench.py --only 'distro*'     Debian's cloud and generic kernels
  bench.py --only 'pc-lite*'    configurations by glob (--list shows them)
  bench.py --baseline OLD.json  also print each phase's ratio to OLD
"""

import argparse
import datetime
import fnmatch
import json
import os
import platform
import subprocess
import sys
import time

from pclite import accel as accels
from pclite import launch
from pclite import paths
from pclite import procfs

import bench_configs as bc
import bench_report as rep
import bench_run as br

SCHEMA = 'pc-lite-boot-time/1'
QUICK = ('pc-lite-pvh/1x128M', 'microvm-qboot/1x128M')


def _cmd(args):
    try:
        return subprocess.run(args, capture_output=True, text=True,
                              check=False, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ''


def host_facts():
    vendor = [m for m in procfs.kvm_modules() if m != 'kvm']
    rev = _cmd(['git', '-C', paths.TOP, 'rev-parse', '--short', 'HEAD'])
    dirty = _cmd(['git', '-C', paths.TOP, 'status', '--porcelain',
                  '--untracked-files=no'])
    return {
        'cpu_model': procfs.cpu_model(), 'cpus': os.cpu_count(),
        'kernel': platform.release(),
        'kvm_module': vendor[-1] if vendor else 'none',
        'kvm_usable': accels.kvm_usable(),
        'git_rev': rev + ('-dirty' if dirty else ''),
        'loadavg_start': os.getloadavg(),
    }


def qemu_facts(configs):
    out = {}
    for key in sorted({c.qemu for c in configs}):
        path = bc.QEMUS[key]
        out[key] = {'path': path,
                    'version': _cmd([path, '--version']).splitlines()[0]
                    if os.access(path, os.X_OK) else None}
    fw = os.path.realpath(paths.FIRMWARE)
    version = ''
    if os.path.exists(os.path.join(fw, 'seabios.version')):
        with open(os.path.join(fw, 'seabios.version'),
                  encoding='utf-8') as f:
            version = f.read().strip()
    return out, {'dir': fw, 'seabios_deb': version}


def select(args):
    configs = bc.all_configs()
    if args.quick and not args.only:
        configs = [c for c in configs if c.name in QUICK]
    if args.only:
        pats = args.only.split(',')
        configs = [c for c in configs
                   if any(fnmatch.fnmatch(c.name, p) for p in pats)]
    return configs


def bench_config(config, accel, args, log):
    entry = {
        'name': config.name, 'label': config.label, 'qemu': config.qemu,
        'machine': config.machine, 'firmware': config.firmware,
        'kernel': config.kernel, 'initrd': config.initrd,
        'smp': config.smp, 'mem': config.mem, 'size': config.size,
        'root': config.root, 'group': config.group, 'accel': accel,
        'markers': config.markers, 'runs': [], 'failed_boots': 0,
        'errors': [], 'package': config.package,
        'kernel_label': config.kernel_label,
        'setup': config.setup or config.label,
    }
    why = bc.missing(config)
    if why:
        entry['status'] = 'skipped'
        entry['error'] = why
        log(f'  skipped: {why}')
        return entry
    entry['kernel_file'] = bc.kernel_file(config)
    if config.package:
        log(f'  kernel: {entry["kernel_file"]}')
    entry['qemu_args'] = bc.cmdline(config, accel, 'CONSOLE',
                                    'TRACE').argv()[1:]
    full = args.full_accel
    if full:
        for i in range(args.warmup):
            r = br.boot_once(config, full)
            log(f'  warm-up {i + 1}: ' +
                (r.get('error') or f'total {r["phases"]["total"]:.1f} ms'))
        attempts = 0
        while len(entry['runs']) < args.runs and \
                attempts < args.runs * args.max_attempts:
            attempts += 1
            r = br.boot_once(config, full)
            if 'error' in r:
                entry['failed_boots'] += 1
                entry['errors'].append(r['error'])
                entry.setdefault('first_failure', r)
                log(f'  boot failed: {r["error"]}')
                continue
            entry['runs'].append(r)
            p = r['phases']
            log(f'  run {len(entry["runs"])}: ' + ' '.join(
                f'{k}={p[k]:.1f}' for k in rep.PHASES))
        entry['summary'] = rep.summarise(entry['runs'])
        if not entry['runs']:
            entry['status'] = 'failed'
            entry['error'] = entry['errors'][0] if entry['errors'] \
                else 'no boot'
            if config.known_issue:
                entry['known_issue'] = config.known_issue
        else:
            entry['status'] = 'ok'
        if entry['runs'] and config.breakdown and not args.no_breakdown \
                and not (args.quick and config.package):
            b = br.kernel_breakdown(config, full)
            entry['kernel_breakdown'] = b
            log('  kernel breakdown: ' + (b.get('error') or ', '.join(
                f'{t["initcall"]} {t["ms"]:.1f}' for t in b['top'][:3]) +
                f' ms; {b["initcalls"]} initcalls, {b["initcalls_ms"]:.1f} '
                f'ms'))
        if entry['runs'] and config.memory and not args.no_memory:
            for _ in range(args.max_attempts):
                m = br.idle_memory(config, full)
                if 'error' not in m:
                    break
            entry['memory'] = m
            log('  idle memory: ' + (m.get('error') or
                ' '.join(f'{k}={v}' for k, v in m.items()
                         if not isinstance(v, dict))))
    else:
        entry['status'] = 'vmm-init-only'
    if args.kvm_startup:
        vals = []
        errors = []
        for i in range(args.warmup + args.runs):
            r = br.vmm_init_once(config, 'kvm')
            if 'error' in r:
                errors.append(r['error'])
                break
            if i >= args.warmup:
                vals.append(r['vmm_init'])
        entry['kvm_vmm_init'] = {'accel': 'kvm', 'runs': vals,
                                 'summary': rep.stats(vals)}
        if errors:
            entry['kvm_vmm_init']['error'] = errors[0]
        log('  KVM VMM init: ' + (errors[0] if errors else
                                  ' '.join(f'{v:.1f}' for v in vals)))
    return entry


def _command(argv):
    """How this run was started, for the record."""
    args = ' '.join(argv if argv is not None else sys.argv[1:])
    if argv is None and os.environ.get('MAKELEVEL'):
        return 'make bench' + (f' BENCH_ARGS="{args}"' if args else '')
    return ('tests/boot-time/bench.py ' + args).strip()


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--runs', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--quick', action='store_true',
                    help='N=1, no warm-up, a small subset (make check)')
    ap.add_argument('--only', help='comma-separated globs of config names')
    ap.add_argument('--list', action='store_true')
    ap.add_argument('--out', default=os.path.join(paths.BUILD, 'bench'))
    ap.add_argument('--baseline', help='a stored boot-time.json')
    ap.add_argument('--fail-above', type=float, metavar='RATIO',
                    help='with --baseline: exit 1 when a total ratio is '
                    'above RATIO')
    ap.add_argument('--no-memory', action='store_true')
    ap.add_argument('--no-breakdown', action='store_true',
                    help='skip the kernel breakdown (initcall_debug) boots')
    ap.add_argument('--no-kvm', action='store_true',
                    help='skip the KVM VMM-init measurement')
    ap.add_argument('--max-attempts', type=int, default=3,
                    help='boot attempts per wanted run (failed boots are '
                    'counted and reported)')
    args = ap.parse_args(argv)
    if args.quick:
        args.runs, args.warmup = 1, 0
    return args


def main(argv=None):
    args = parse_args(argv)
    configs = select(args)
    if args.list:
        for c in configs:
            why = bc.missing(c, fetch=False)
            print(f'{c.name:44s} {c.label}' + (f'  [{why}]' if why else ''))
        return 0
    if not configs:
        print('bench: no configuration selected')
        return 1
    accel = launch.boot_accel()
    # Full boots under the accelerator that can boot the guest; when that
    # is TCG and /dev/kvm exists, KVM still measures VMM init.
    args.full_accel = accel
    args.kvm_startup = (accel != 'kvm' and accels.kvm_usable() and
                        not args.no_kvm)
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, 'boot-time')
    qemus, firmware = qemu_facts(configs)
    data = {
        'schema': SCHEMA,
        'created': datetime.datetime.now(datetime.timezone.utc)
        .isoformat(timespec='seconds'),
        'command': _command(argv),
        'accel': accel, 'kvm_vmm_init_measured': args.kvm_startup,
        'runs': args.runs, 'warmup': args.warmup, 'quick': args.quick,
        'host': host_facts(), 'qemu': qemus, 'firmware': firmware,
        'configs': [],
    }
    print(f'bench: {len(configs)} configurations, {args.runs} boots each '
          f'after {args.warmup} warm-up, accelerator {accel}'
          + (', plus VMM init under KVM' if args.kvm_startup else '')
          + f'; load average {os.getloadavg()[0]:.2f}')
    t0 = time.monotonic()
    for c in configs:
        print(f'bench: {c.name} ({c.label})', flush=True)
        data['configs'].append(bench_config(
            c, accel, args, lambda s: print(s, flush=True)))
    data['host']['loadavg_end'] = os.getloadavg()
    data['duration_s'] = round(time.monotonic() - t0, 1)
    data['ratios'] = rep.ratios(data)
    data['init_ratios'] = rep.init_ratios(data, bc.INIT_RATIO_TARGET)
    status = 0
    if args.baseline:
        with open(args.baseline, encoding='utf-8') as f:
            baseline = json.load(f)
        data['baseline'] = {'file': args.baseline,
                            'ratios': rep.compare(data, baseline)}
    with open(base + '.json', 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=1)
    with open(base + '.md', 'w', encoding='utf-8') as f:
        f.write(rep.markdown(data))
    rep.chart(data, base)
    print()
    print(rep.markdown(data))
    breakdowns = rep.memory_breakdowns(data)
    if breakdowns:
        rep.save(args.out, 'memory', breakdowns,
                 rep.memory_markdown(breakdowns, data['accel']),
                 rep.memory_chart)
    if args.baseline:
        rows = data['baseline']['ratios']
        print(rep.compare_text(rows, args.baseline))
        if args.fail_above and any(
                r['total'] and r['total'] > args.fail_above for r in rows):
            print(f'bench: a total ratio is above {args.fail_above}')
            status = 1
    problems = rep.validate(data, base)
    failed = [c for c in data['configs'] if c['status'] == 'failed']
    for p in problems:
        print(f'bench: invalid output: {p}')
    for c in failed:
        print(f'bench: no successful boot for {c["name"]}: {c["error"]}')
    for c in data['configs']:
        if 'error' in c.get('kernel_breakdown', {}):
            print(f'bench: no kernel breakdown for {c["name"]}: '
                  f'{c["kernel_breakdown"]["error"]}')
    print(f'bench: wrote {base}.json, .md, .png, .svg' +
          (', memory.json, .md, .png' if breakdowns else '') +
          f' ({data["duration_s"]:.0f} s)')
    # A comparison machine that cannot boot here is reported, not fatal;
    # pc-lite failing or bad output is.
    if problems or any(c['qemu'] == 'lite' for c in failed):
        return 1
    return status


if __name__ == '__main__':
    sys.exit(main())
