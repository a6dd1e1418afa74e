#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run pc-lite's fuzz targets (make fuzz; make check runs a short version).

Targets (docs/pc-lite.rst, "Fuzzing"):
  elf, bzimage, placement   libFuzzer on the loader's plan
                            (hw/i386/direct_boot_plan.c), built by make
                            into build/fuzz/fuzz-TARGET with ASan and UBSan
                            (tests/fuzz/fuzz_loader.c)
  acpi                      random machine shapes for pc-lite's ACPI
                            builder, each started under qtest from the
                            sanitized QEMU and its tables checked
                            (tests/fuzz/fuzz_acpi.c)
  generic-fuzz              QEMU's own generic-fuzz target on pc-lite's
                            devices, in a clang build of the trimmed QEMU
                            with ASan and UBSan (build/qemu-fuzz)
  guest-frames, oci-config  libFuzzer on the OCI runtime's parsers of
                            untrusted input: the command channel's host
                            end (host/guest.c, fed what a guest may write)
                            and config.json (oci/spec.c), built by make
                            fuzz-oci (tests/fuzz/fuzz_guest_frames.c,
                            fuzz_oci_config.c); --oci-time seconds each

Each target runs for --time seconds from two corpora: build/fuzz/corpus/T
(seeds made here from the kernels the project builds, see seeds.py, and
what the fuzzer adds) and tests/fuzz/corpus/T (regression inputs, one per
bug found, run first).  Findings go to build/fuzz/crashes/.  Writes
build/fuzz/fuzz.json (executions, coverage, corpus, crashes per target);
exits 1 on any finding.
"""

import argparse
import json
import os
import re
import struct
import subprocess
import sys
import time

from pclite import paths

import seeds    # tests/fuzz/seeds.py, beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
LOADER_TARGETS = ('elf', 'bzimage', 'placement')
ACPI = 'acpi'
GENERIC = 'generic-fuzz'
OCI_TARGETS = ('guest-frames', 'oci-config')
TARGETS = LOADER_TARGETS + (ACPI, GENERIC) + OCI_TARGETS


def _frame(kind, session, payload=b''):
    return struct.pack('<BBxxI', ord(kind), session, len(payload)) + payload


# What a guest says: a boot's hello, a container's ready and process, an
# exec's session, a ps answer; and a frame of a later protocol.
GUEST_SEEDS = {
    'run': bytes([7]) + _frame('h', 0, struct.pack('<I', 2)) +
    _frame('r', 0) + _frame('p', 0, struct.pack('<I', 42)) +
    _frame('o', 0, b'hello\n') + _frame('e', 0, b'oops\n') +
    _frame('x', 0, struct.pack('<II', 3, 0)),
    'exec': bytes([99]) + _frame('p', 1, struct.pack('<I', 7)) +
    _frame('o', 1, b'x' * 5000) + _frame('x', 1, struct.pack('<II', 0, 9)) +
    _frame('y', 0, b'2 0 sleep 1000\n') + _frame('z', 3, b'later'),
}

# config.json as podman, Docker and runc write it (the essentials).
OCI_CONFIG_SEED = {
    'ociVersion': '1.0.2', 'root': {'path': 'rootfs', 'readonly': True},
    'hostname': 'h',
    'process': {'terminal': True, 'consoleSize': {'height': 24,
                                                  'width': 80},
                'user': {'uid': 1000, 'gid': 1000, 'umask': 18,
                         'additionalGids': [5, 6]},
                'args': ['sh', '-c', 'echo hi'], 'env': ['PATH=/bin', 'A=b'],
                'cwd': '/tmp', 'rlimits': [{'type': 'RLIMIT_NOFILE',
                                            'hard': 1024, 'soft': 1024}]},
    'mounts': [{'destination': '/proc', 'type': 'proc', 'source': 'proc'},
               {'destination': '/etc/hosts', 'type': 'bind',
                'source': '/etc/hosts', 'options': ['rbind', 'ro']},
               {'destination': '/dev/shm', 'type': 'tmpfs', 'source': 'shm',
                'options': ['nosuid', 'size=65536k']}],
    'hooks': {'prestart': [{'path': '/usr/bin/true', 'args': ['true'],
                            'env': ['X=1'], 'timeout': 5}],
              'poststop': [{'path': '/bin/true'}]},
    'annotations': {'org.pclite.template': 'off', 'a': 'b'},
    'linux': {'namespaces': [{'type': 'pid'}, {'type': 'network',
                                               'path': '/proc/1/ns/net'},
                             {'type': 'mount'}],
              'cgroupsPath': 'system.slice:docker:abc',
              'resources': {'cpu': {'quota': 150000, 'period': 100000},
                            'memory': {'limit': 268435456}}},
}
BIN = os.path.join(paths.BUILD, 'fuzz')      # make fuzz-loader's targets
QEMU_FUZZ = os.path.join(paths.BUILD, 'qemu-fuzz', 'qemu-fuzz-x86_64')
QEMU_SANITIZED = os.path.join(paths.BUILD, 'qemu-fuzz', 'qemu-system-x86_64')

# Machine shapes for the acpi target (fuzz_acpi.c's decode()): one vCPU;
# 4 of 8 vCPUs and 2 NVDIMMs with labels; 280 vCPUs (x2APIC entries);
# 3 GiB with 4 NVDIMMs, the RTC, the VM generation ID and a UART.
ACPI_SEEDS = {
    'one-vcpu': bytes([0, 0, 0, 2, 0, 0, 0]),
    'nvdimms': bytes([3, 0, 4, 3, 2, 0x11, 0x24, 1, 3]),
    'x2apic': bytes([0x17, 0x81, 7, 2, 0, 0, 0]),
    'big': bytes([1, 0, 1, 7, 4, 0x13, 5, 6, 0x27, 2, 7]),
}

# generic-fuzz on pc-lite: the machine with no optional device, and the
# memory regions of pc-lite's own devices (names as "info mtree" shows
# them): CMOS RTC, boot-marker port, ACPI PM timer, GED (event and
# sleep/reset registers), the PCIe host's ECAM, and the IOAPIC.  PCI
# devices are left out: generic-fuzz enumerates them through the PC's
# 0xcf8 ports, which pc-lite does not have (ECAM is fuzzed directly).
GENERIC_ENV = {
    'QEMU_FUZZ_ARGS': '-M pc-lite -m 128M -nodefaults',
    'QEMU_FUZZ_OBJECTS': 'rtc* pc-lite-marker* acpi-tmr* acpi-ged* '
                         'pcie-mmcfg-mmio* ioapic*',
    # pc-lite may have no timer armed (patch 0013).
    'QEMU_FUZZ_CLOCK_STEP': '1000000',
    'ASAN_OPTIONS': 'detect_leaks=0',
}

# Real kernels for the seeds, and a static user-space program (Debian's
# busybox-static), which the loader must refuse.
KERNELS = (('vmlinux', 'elf'), ('vmlinux-nopvh', 'elf'),
           ('bzImage', 'bzimage'))
USER_ELF = '/bin/busybox'


def make_seeds(out):
    kernels = {}
    for name, kind in KERNELS:
        with open(paths.guest_file(name), 'rb') as f:
            kernels[name] = (kind, f.read())
    with open(USER_ELF, 'rb') as f:
        kernels['busybox-static'] = ('elf', f.read())
    for target, files in seeds.loader_seeds(kernels).items():
        d = os.path.join(out, 'corpus', target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, 'seed-' + name), 'wb') as f:
                f.write(data)
    d = os.path.join(out, 'corpus', ACPI)
    os.makedirs(d, exist_ok=True)
    for name, data in ACPI_SEEDS.items():
        with open(os.path.join(d, 'seed-' + name), 'wb') as f:
            f.write(data)
    os.makedirs(os.path.join(out, 'corpus', GENERIC), exist_ok=True)
    for target, files in (('guest-frames', GUEST_SEEDS),
                          ('oci-config', {'config': json.dumps(
                              OCI_CONFIG_SEED).encode()})):
        d = os.path.join(out, 'corpus', target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, 'seed-' + name), 'wb') as f:
                f.write(data)


def parse(output):
    """libFuzzer's final figures from its output."""
    stats = dict(re.findall(r'^stat::(\w+):\s+(\d+)', output, re.M))
    last = re.findall(r'^#\d+\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/',
                      output, re.M)
    cov, ft, corp = last[-1] if last else (0, 0, 0)
    return {
        'execs': int(stats.get('number_of_executed_units', 0)),
        'execs_per_s': int(stats.get('average_exec_per_sec', 0)),
        'cov': int(cov),
        'features': int(ft),
        'corpus': int(corp),
        'peak_rss_mb': int(stats.get('peak_rss_mb', 0)),
    }


def run_target(target, seconds, out):
    corpus = os.path.join(out, 'corpus', target)
    regress = os.path.join(HERE, 'corpus', target)
    crashes = os.path.join(out, 'crashes')
    os.makedirs(crashes, exist_ok=True)
    env = dict(os.environ)
    if target == GENERIC:
        cmd = [QEMU_FUZZ, '--fuzz-target=generic-fuzz']
        env.update(GENERIC_ENV)
    else:
        cmd = [os.path.join(BIN, 'fuzz-' + target)]
    timeout = 20
    if target == ACPI:
        # Each input starts a sanitized QEMU (about 0.3 s); a hang is an
        # input still running after 180 s.
        env['PC_LITE_FUZZ_QEMU'] = QEMU_SANITIZED
        cmd.append('-max_len=32')
        timeout = 180
    cmd += [f'-max_total_time={seconds}', '-print_final_stats=1',
            f'-timeout={timeout}', '-rss_limit_mb=4096',
            f'-artifact_prefix={crashes}/{target}-', corpus]
    if os.path.isdir(regress):
        cmd.append(regress)
    log = os.path.join(out, f'{target}.log')
    start = time.monotonic()
    with open(log, 'w') as f:
        p = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT,
                           cwd=out, timeout=seconds + 600)
    with open(log, errors='replace') as f:
        output = f.read()
    res = parse(output)
    res['seconds'] = round(time.monotonic() - start, 1)
    res['regression_inputs'] = len(os.listdir(regress)) \
        if os.path.isdir(regress) else 0
    found = re.findall(r'^(SUMMARY: .*|==\d+==ERROR: .*|.*runtime error: .*'
                       r'|fuzz_loader: .*|fuzz_guest_frames: .*'
                       r'|fuzz_oci_config: .*)$', output, re.M)
    res['crashes'] = 1 if p.returncode or found else 0
    res['finding'] = found[0] if found else (
        f'exit status {p.returncode}' if p.returncode else None)
    res['log'] = os.path.relpath(log, paths.TOP)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--time', type=int, default=60,
                    help='seconds per target (default 60)')
    ap.add_argument('--oci-time', type=int,
                    help='seconds for each OCI target (default: --time)')
    ap.add_argument('--targets', default=','.join(TARGETS),
                    help='comma-separated (default: all)')
    ap.add_argument('--out', default=BIN,
                    help='corpora, findings, logs (default build/fuzz)')
    ap.add_argument('--json', help='where to write the figures '
                    '(default OUT/fuzz.json)')
    args = ap.parse_args()
    args.out = os.path.abspath(args.out)
    targets = args.targets.split(',')
    for t in targets:
        if t not in TARGETS:
            ap.error(f'unknown target {t}')

    make_seeds(args.out)
    results = {}
    for t in targets:
        seconds = args.oci_time if t in OCI_TARGETS and args.oci_time \
            else args.time
        print(f'fuzz: {t} for {seconds} s', flush=True)
        results[t] = run_target(t, seconds, args.out)
    report = {
        'seconds_per_target': args.time,
        'sanitizers': 'address,undefined',
        'engine': 'libFuzzer (clang %s)' % clang_version(),
        'targets': results,
    }
    path = args.json or os.path.join(args.out, 'fuzz.json')
    with open(path, 'w') as f:
        json.dump(report, f, indent=2)
        f.write('\n')

    print(f'{"target":14} {"execs":>12} {"execs/s":>9} {"cov":>6} '
          f'{"corpus":>7} {"crashes":>8}')
    for t, r in results.items():
        print(f'{t:14} {r["execs"]:>12} {r["execs_per_s"]:>9} {r["cov"]:>6} '
              f'{r["corpus"]:>7} {r["crashes"]:>8}')
    print(f'fuzz: figures in {os.path.relpath(path)}')
    bad = {t: r for t, r in results.items() if r['crashes']}
    for t, r in bad.items():
        print(f'fuzz: {t}: {r["finding"]} (see {r["log"]}; inputs in '
              f'{os.path.relpath(os.path.join(args.out, "crashes"))})',
              file=sys.stderr)
    return 1 if bad else 0


def clang_version():
    try:
        out = subprocess.run(['clang', '--version'], capture_output=True,
                             text=True).stdout
    except OSError:
        return 'unknown'
    m = re.search(r'version (\S+)', out)
    return m.group(1) if m else 'unknown'


if __name__ == '__main__':
    sys.exit(main())
