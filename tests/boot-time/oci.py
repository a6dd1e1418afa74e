#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""pc-lite-oci under podman and Docker beside runc: "podman run --rm IMAGE
true" and "docker run --rm IMAGE true" wall time, the runtime's own CPU
time per container, and containers back to back.  The engines run in a
network namespace and /run of their own (pclite.engines.Sandbox: their
bridges and firewall rules never reach the host's), entered with
nsenter for every run, runc's as pc-lite-oci's.

  time     --runs times, interleaved, exec of podman to its exit:
           runc (Debian's, with --ulimit nofile/nproc=1024: the host
           refuses podman's default rlimits), pc-lite-oci booting a VM
           (annotation org.pclite.template=off), pc-lite-oci from a
           template, and beside them "pc-lite-run --clone -- true", the
           same VM size without an engine; with Debian's docker.io, a
           private dockerd's "docker run --rm" (default network) with
           runc and with pc-lite-oci
  cpu      pc-lite-oci's own CPU time for one container from a template
           (with tc's, which it runs for the network),
           all its processes (create, start, the monitor, delete, ...),
           QEMU excluded: each process logs its CPU time (--cpu-log) and
           how much of it went before main() (exec and loading, and the
           sh that passes --cpu-log: also podman's cleanup, which drops
           runtime flags, gets it); the figure is the time from main() on
           plus, per process, the exec cost of pc-lite-oci measured
           directly (a process spawned from this script)
  rate     --back-to-back containers one after the other: failures, and
           any runtime process, QEMU or state directory of this benchmark
           left behind (its own --root; processes that name its new
           temporary directory: pc-lite VMs of others beside it are not
           counted)
  network  podman's default network: a busybox httpd in the container on
           a published port (127.0.0.1), beside the same under runc:
           latency (median of --requests small GETs from this process)
           and throughput (a --download-mib file fetched 3 times); and
           what the network adds to a container's start (wall time) and
           to pc-lite-oci's CPU time (default network vs --network none)

Writes build/bench/oci.{json,md,png} (part of make bench); checks the
targets of the OCI runtime issue, printing met / not met.  Exits non-zero
for errors of its own (a failed run, a leftover of its own), not for a
target that is not met: the rows and the JSON say that.
"""

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from pclite import launch
from pclite import paths
from pclite.engines import (OCI, Docker, Podman, Sandbox, make_rootfs,
                            missing, oci_processes)

import bench_report

IMAGE = 'localhost/pclite-bench:1'
RUNNER = paths.RUNNER
RUNC_LIMITS = ('--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024')


def timed(argv, env=None):
    """Wall time of argv in ms, and its CompletedProcess."""
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, check=False, env=env,
                       timeout=300)
    return (time.monotonic() - t0) * 1000, p


def cpu_log(path):
    """[(what, id, cpu_us, before_main_us)] of a --cpu-log file."""
    out = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            what, cid, cpu, start = line.split()
            out.append((what, cid, int(cpu), int(start)))
    return out


def exec_cost(tmp, runs=20):
    """CPU time of pc-lite-oci before main(), spawned directly (us)."""
    log = os.path.join(tmp, 'exec-cost.log')
    for _ in range(runs):
        subprocess.run([OCI, '--cpu-log', log, '--root', tmp, 'state', 'x'],
                       capture_output=True, check=False)
    return statistics.median(start for _, _, _, start in cpu_log(log))


def own_cpu(entries, exec_us):
    """Per container: {'ms': own CPU, 'processes': n, 'by_command': ...}."""
    per = {}
    for what, cid, cpu, start in entries:
        c = per.setdefault(cid, {'us': 0, 'processes': 0, 'by_command': {}})
        # A forked monitor's CPU clock starts at its fork: all of it is
        # its own, as is all of tc's (run for the network); a command's
        # own is from main() on, plus its exec.
        whole = what in ('monitor', 'exec-relay', 'tc')
        own = cpu if whole else cpu - start + exec_us
        c['us'] += own
        c['processes'] += not whole
        c['by_command'][what] = round(
            c['by_command'].get(what, 0) + own / 1000, 2)
    return {cid: {'ms': round(c['us'] / 1000, 2),
                  'processes': c['processes'],
                  'by_command': c['by_command']} for cid, c in per.items()}


HTTPD = ('sh', '-c', 'mkdir -p /www; echo hi > /www/index.html; '
         'head -c {size} /dev/zero > /www/big; '
         'exec busybox httpd -f -p 80 -h /www')


# Latency and throughput of the server at a port, measured inside the
# sandbox (its loopback is the engine's): JSON on stdout.
LOAD = r"""
import json, sys, time, urllib.request
port, requests, size = (int(a) for a in sys.argv[1:4])
def get(path, timeout=5):
    with urllib.request.urlopen(f'http://127.0.0.1:{port}{path}',
                                timeout=timeout) as r:
        return r.read()
deadline = time.monotonic() + 120
while True:
    try:
        get('/big', timeout=60)
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.2)
lat = []
for _ in range(requests):
    t0 = time.monotonic()
    get('/')
    lat.append((time.monotonic() - t0) * 1000)
t0 = time.monotonic()
for _ in range(3):
    if len(get('/big', timeout=300)) != size:
        raise RuntimeError('short download')
print(json.dumps({'lat': lat, 'seconds': time.monotonic() - t0}))
"""


def serve_and_load(pod, name, runc, port, opts):
    """httpd in a container on a published port: latency and throughput
    (runc: under runc, else pc-lite-oci)."""
    size = opts.download_mib << 20
    cmd = list(HTTPD)
    cmd[2] = cmd[2].format(size=size)
    runtime = 'runc' if runc else None
    pod.ok('run', '-d', '--name', name, '-p', f'127.0.0.1:{port}:80',
           *(RUNC_LIMITS if runc else ()), IMAGE, *cmd, runtime=runtime)
    try:
        p = pod.sandbox.run([sys.executable, '-c', LOAD, str(port),
                             str(opts.requests), str(size)], timeout=900)
        if p.returncode:
            raise RuntimeError(p.stderr.decode(errors='replace'))
        load = json.loads(p.stdout)
    finally:
        pod.run('rm', '-f', '-t', '0', name, runtime=runtime)
    return {'latency_ms': median(load['lat']),
            'throughput_mib_s': round(3 * opts.download_mib /
                                      load['seconds'], 1)}


def median(values):
    values = list(values)
    return round(statistics.median(values), 1) if values else None


def targets(res):
    """The issue's targets: (text, figure, limit, met)."""
    t = res['time']
    out = [('pc-lite-oci CPU per container (ms)', res['cpu']['median_ms'],
            10),
           ('podman run from a template / pc-lite-run --clone',
            round(t['pc-lite-oci template'] / t['pc-lite-run --clone'], 2),
            1.5)]
    rate = res['rate']
    out.append(('back-to-back failures + leftovers',
                len(rate['failures']) + len(rate['left_processes']) +
                len(rate['left_state']), 0))
    net = res['network']
    out.append(('network set-up, pc-lite-oci CPU per container (ms)',
                net['setup_cpu_ms'], 10))
    return [{'target': name, 'figure': fig, 'limit': limit,
             'met': fig <= limit} for name, fig, limit in out]


def markdown(res):
    lines = [f'`podman run --rm IMAGE true` (`--network none`) and '
             f'`docker run --rm IMAGE true` (Docker\'s default network), '
             f'exec of the client to its exit, '
             f'median of {res["runs"]} runs (guest under {res["accel"]}; '
             f'podman {res["podman"]}, dockerd {res["docker"]}; both in a '
             f'network namespace of their own, entered by nsenter):', '',
             '| runtime | ms |', '|---|---:|']
    for name, ms in res['time'].items():
        lines.append(f'| {name} | {ms} |')
    cpu = res['cpu']
    lines += ['', f'pc-lite-oci\'s own CPU time per container (from a '
              f'template, QEMU excluded): median {cpu["median_ms"]} ms over '
              f'{len(cpu["containers"])} containers, of which '
              f'{cpu["exec_us"] / 1000:.2f} ms per process is exec and '
              f'loading; by process (median container): '
              + ', '.join(f'{k} {v}' for k, v in
                          cpu['median_by_command'].items()) + '.', '',
              f'{res["rate"]["containers"]} containers back to back: '
              f'{len(res["rate"]["failures"])} failures, '
              f'{res["rate"]["seconds"]} s; left behind: '
              f'{len(res["rate"]["left_processes"])} processes, '
              f'{len(res["rate"]["left_state"])} state directories.', '',
              'Network (podman\'s default bridge, published port on '
              '127.0.0.1, busybox httpd in the container):', '',
              '| runtime | GET latency ms | download MiB/s |',
              '|---|---:|---:|']
    for name in ('runc', 'pc-lite-oci'):
        row = res['network'][name]
        lines.append(f'| {name} | {row["latency_ms"]} | '
                     f'{row["throughput_mib_s"]} |')
    net = res['network']
    lines += ['', f'pc-lite-oci/runc throughput: {net["throughput_ratio"]} '
              f'(target 0.5x under KVM; this run: {res["accel"]}). What the '
              f'network adds to a container (default network vs --network '
              f'none): {net["setup_cpu_ms"]} ms of pc-lite-oci\'s CPU time, '
              f'{net["setup_wall_ms"]} ms of podman run\'s wall time.', '',
              '| target | figure | limit | |', '|---|---:|---:|---|']
    for t in res['targets']:
        lines.append(f'| {t["target"]} | {t["figure"]} | {t["limit"]} | '
                     f'{"met" if t["met"] else "not met"} |')
    return '\n'.join(lines) + '\n'


def chart(res, path):
    # pylint: disable=import-outside-toplevel
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3))
    names = list(res['time'])
    ax.barh(names, [res['time'][n] for n in names],
            color=['C7', 'C0', 'C1', 'C2', 'C7', 'C1'][:len(names)])
    ax.invert_yaxis()
    ax.set_xlabel('ms, exec to exit (median)')
    ax.set_title(f'podman run, docker run --rm IMAGE true ({res["accel"]})',
                 fontsize=9)
    bench_report.save_figure(fig, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--runs', type=int, default=10)
    ap.add_argument('--back-to-back', type=int, default=50)
    ap.add_argument('--requests', type=int, default=50)
    ap.add_argument('--download-mib', type=int, default=8)
    ap.add_argument('--out', default=os.path.join(paths.BUILD, 'bench'))
    opts = ap.parse_args()
    accel = launch.boot_accel()
    # The engines go whatever happens: a dockerd left running would hold
    # the caller's pipes (and the sandbox) open.
    with tempfile.TemporaryDirectory(prefix='pc-lite-bench-oci-') as tmp, \
            contextlib.ExitStack() as cleanup:
        log = os.path.join(tmp, 'cpu.log')
        root = os.path.join(tmp, 'state')
        wrapper = os.path.join(tmp, 'pc-lite-oci')
        with open(wrapper, 'w', encoding='utf-8') as f:
            f.write(f'#!/bin/sh\nexec {OCI} --root {root} --accel {accel} '
                    f'--cpu-log {log} "$@"\n')
        os.chmod(wrapper, 0o755)
        sandbox = Sandbox()
        cleanup.callback(sandbox.close)
        pod = Podman(tmp, runtime=wrapper, sandbox=sandbox)
        cleanup.callback(pod.reset)
        pod.import_image(make_rootfs(os.path.join(tmp, 'rootfs')), IMAGE)
        env = dict(os.environ, PC_LITE_ACCEL=accel)
        dock = None
        if not missing('dockerd') and os.path.exists(Docker.CLI):
            dock = Docker(os.path.join(tmp, 'docker'), sandbox,
                          runtime_args=[f'--accel={accel}'])
            cleanup.callback(dock.close)
            dock.import_image(os.path.join(tmp, 'rootfs'), IMAGE)
        argv = {
            'runc': pod.cmd('run', '--rm', '--network', 'none', *RUNC_LIMITS,
                            IMAGE, 'true', runtime='runc'),
            'pc-lite-oci boot': pod.cmd(
                'run', '--rm', '--network', 'none', '--annotation',
                'org.pclite.template=off', IMAGE, 'true'),
            'pc-lite-oci template': pod.cmd('run', '--rm', '--network',
                                            'none', IMAGE, 'true'),
            'pc-lite-run --clone': [RUNNER, '--clone', '-n', '--', 'true'],
        }
        if dock:
            for runtime in ('runc', 'pc-lite'):
                argv[f'docker {runtime}'] = [
                    Docker.CLI, '-H', f'unix://{dock.sock}', 'run', '--rm',
                    '--runtime', runtime, IMAGE, 'true']
        for name in ('pc-lite-oci template', 'pc-lite-run --clone'):
            subprocess.run(argv[name], env=dict(env, CONTAINERS_CONF=pod.conf),
                           capture_output=True, check=True)   # templates
        os.unlink(log)
        runs = {name: [] for name in argv}
        for _ in range(opts.runs):
            for name, cmd in argv.items():
                ms, p = timed(cmd, dict(env, CONTAINERS_CONF=pod.conf))
                if p.returncode:
                    sys.exit(f'{name}: {p.stderr.decode(errors="replace")}')
                runs[name].append(round(ms, 1))
        # CPU: containers from the template only, logged on their own.
        exec_us = exec_cost(tmp)
        os.unlink(log)
        for _ in range(opts.runs):
            timed(argv['pc-lite-oci template'],
                  dict(env, CONTAINERS_CONF=pod.conf))
        containers = own_cpu(cpu_log(log), exec_us)
        # The same with podman's default network.
        os.unlink(log)
        net_walls = []
        for _ in range(opts.runs):
            ms, _p = timed(pod.cmd('run', '--rm', IMAGE, 'true'),
                           dict(env, CONTAINERS_CONF=pod.conf))
            net_walls.append(ms)
        net_cpu = own_cpu(cpu_log(log), exec_us)
        network = {
            'runc': serve_and_load(pod, 'bench-runc', True, 18491, opts),
            'pc-lite-oci': serve_and_load(pod, 'bench-pclite', False, 18492,
                                          opts)}
        network['throughput_ratio'] = round(
            network['pc-lite-oci']['throughput_mib_s'] /
            network['runc']['throughput_mib_s'], 3)
        network['setup_cpu_ms'] = round(
            median(c['ms'] for c in net_cpu.values()) -
            median(c['ms'] for c in containers.values()), 2)
        network['setup_wall_ms'] = round(
            median(net_walls) - median(runs['pc-lite-oci template']), 1)
        network['cpu_with_network'] = net_cpu
        failures = []
        t0 = time.monotonic()
        for i in range(opts.back_to_back):
            p = pod.run('run', '--rm', '--network', 'none', IMAGE, 'echo',
                        str(i))
            if p.returncode or p.stdout != f'{i}\n'.encode():
                failures.append({'run': i, 'status': p.returncode,
                                 'stderr': p.stderr.decode(errors='replace')})
        seconds = time.monotonic() - t0
        left = oci_processes(mentioning=tmp)
        state = os.listdir(root) if os.path.isdir(root) else []
        podman_version = pod.ok('--version').split()[-1]
        docker_version = dock.ok('version', '-f', '{{.Server.Version}}') \
            .strip() if dock else None
    ms = sorted(containers.values(), key=lambda c: c['ms'])
    mid = ms[len(ms) // 2]
    res = {'accel': accel, 'runs': opts.runs, 'podman': podman_version,
           'docker': docker_version,
           'time': {n: median(v) for n, v in runs.items()},
           'time_runs': runs,
           'cpu': {'median_ms': mid['ms'], 'exec_us': exec_us,
                   'median_by_command': mid['by_command'],
                   'containers': containers},
           'network': network,
           'rate': {'containers': opts.back_to_back, 'failures': failures,
                    'seconds': round(seconds, 1),
                    'left_processes': left, 'left_state': state}}
    res['targets'] = targets(res)
    bench_report.save(opts.out, 'oci', res, markdown(res), chart)
    return 1 if failures or left or state else 0


if __name__ == '__main__':
    sys.exit(main())
