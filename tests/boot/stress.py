#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Stress and faults through build/pc-lite-run (make stress; make check
runs a short version):

  boots    --boots VMs back to back, then the same number --parallel at a
           time, each echoing its number: failures (a wrong status or
           output), and any QEMU left behind
  kills    --kills runs of a guest writing files on its image with
           --persist, each file fsynced (dd conv=fsync) and then announced
           on stdout, QEMU killed (SIGKILL) at a random moment; then the
           image's ext4 must be clean after its journal replays (e2fsck)
           and every announced file must hold what was written (debugfs)
  runners  --runner-kills runners SIGKILLed at a random moment of their
           VM's boot or run: their QEMU must be gone within 10 s
  disk     the host's disk full (a small tmpfs, as root): a --persist run
           on a sparse image and a template made there must each end with
           status 125 and one error line
  pool     --pool-runs runs through pc-lite-pool (--pool-size VMs) back to
           back, then as many --parallel at a time, each echoing its
           number: failures, and how many the pool served (the others
           fell back to clones while it refilled)

Writes build/stress/stress.json; exits 1 on any failure.
"""

import argparse
import concurrent.futures
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from pclite import image
from pclite import launch
from pclite import paths
from pclite import procfs

RUNNER = paths.RUNNER
WRITER = ('mkdir -p /root/d; i=0; while true; do i=$((i+1)); '
          'echo "file $i $(cat /proc/sys/kernel/random/uuid)" | '
          'dd of=/root/d/f$i conv=fsync 2>/dev/null && '
          'echo "synced $i $(cat /root/d/f$i)"; done')


def boot(i, env, args=()):
    """One VM echoing i: None, or what went wrong."""
    p = subprocess.run([RUNNER, '-n', *args, '--', f'echo {i}'],
                       capture_output=True, env=env, timeout=300, check=False)
    if p.returncode or p.stdout != f'{i}\n'.encode():
        return {'boot': i, 'status': p.returncode,
                'stdout': p.stdout.decode(errors='replace')[-200:],
                'stderr': p.stderr.decode(errors='replace')[-500:]}
    return None


def boots(count, parallel, env, args=()):
    """count boots, parallel at a time: (failures, seconds)."""
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        results = list(pool.map(lambda i: boot(i, env, args), range(count)))
    return [r for r in results if r], round(time.monotonic() - t0, 1)


def pool_runs(count, parallel, size, env, tmp):
    """count runs through a pc-lite-pool of size VMs, back to back and
    parallel at a time; the pool killed (SIGKILL) at the end must leave
    no QEMU."""
    sock = os.path.join(tmp, 'pool.sock')
    env = dict(env, PC_LITE_POOL=sock,
               PC_LITE_CACHE=os.path.join(tmp, 'pool-cache'))
    pool_bin = os.path.join(paths.BUILD, 'pc-lite-pool')
    res = {'size': size}
    with open(os.path.join(tmp, 'pool.log'), 'wb') as log, \
            subprocess.Popen([pool_bin, '--socket', sock, '--size',
                              str(size)], env=env, stdout=log,
                             stderr=log) as pool:
        try:
            deadline = time.monotonic() + 300
            while not os.path.exists(sock) and time.monotonic() < deadline:
                time.sleep(0.1)
            for name, at_once in (('back_to_back', 1),
                                  ('parallel', parallel)):
                failures, seconds = boots(count, at_once, env, ['--pool'])
                res[name] = {'runs': count, 'at_a_time': at_once,
                             'failures': failures, 'seconds': seconds}
            status = subprocess.run([pool_bin, 'status', '--socket', sock],
                                    capture_output=True, env=env, check=True)
            res['status'] = json.loads(status.stdout)
            vms = procfs.qemu_children(pool.pid)
        finally:
            pool.kill()
    deadline = time.monotonic() + 10
    while [v for v in vms if procfs.comm(v).startswith('qemu')] and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    res['left_after_kill'] = [v for v in vms
                              if procfs.comm(v).startswith('qemu')]
    res['ok'] = not res['back_to_back']['failures'] and \
        not res['parallel']['failures'] and not res['left_after_kill']
    return res


def ext4_of(img, tmp):
    """The ext4 filesystem inside the fsdax image, copied out."""
    fs = os.path.join(tmp, 'fs.ext4')
    with open(img, 'rb') as src, open(fs, 'wb') as dst:
        src.seek(image.DATA_OFFSET)
        shutil.copyfileobj(src, dst)
    return fs


def kill_run(tmp, env, rng):
    """A writer on its own image killed at a random moment: the check."""
    img = shutil.copy(paths.guest_file('rootfs.img'),
                      os.path.join(tmp, 'kill.img'))
    synced = {}
    with subprocess.Popen([RUNNER, '--persist', '--rootfs', img, '-n', '--',
                           WRITER], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, env=env) as p:
        want = rng.randint(1, 40)       # files announced before the kill
        for line in p.stdout:
            words = line.decode().split()
            if words[:1] == ['synced']:
                synced[words[1]] = ' '.join(words[2:])
            if len(synced) >= want:
                break
        for qemu in procfs.qemu_children(p.pid):
            os.kill(qemu, signal.SIGKILL)
        p.stdout.read()
        p.wait(timeout=60)
    fs = ext4_of(img, tmp)
    # The journal replays (exit 1: fixed), then the filesystem is clean.
    replay = subprocess.run(['e2fsck', '-fy', fs], capture_output=True,
                            check=False)
    check = subprocess.run(['e2fsck', '-fn', fs], capture_output=True,
                           check=False)
    lost = []
    for n, text in synced.items():
        p = subprocess.run(['debugfs', '-R', f'cat /root/d/f{n}', fs],
                           capture_output=True, check=False)
        if p.stdout.decode().strip() != f'file {n} {text.split()[-1]}':
            lost.append(n)
    return {'synced': len(synced), 'replay_status': replay.returncode,
            'fsck_status': check.returncode, 'lost': lost,
            'ok': replay.returncode <= 1 and check.returncode == 0 and
            not lost}


def runner_kill(env, rng):
    """A runner SIGKILLed at a random moment of its VM's boot or run:
    its QEMU must be gone within 10 s."""
    with subprocess.Popen([RUNNER, '-n', '--', 'echo started; sleep 600'],
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, env=env) as p:
        deadline = time.monotonic() + 60
        while not procfs.qemu_children(p.pid) and \
                time.monotonic() < deadline:
            time.sleep(0.01)
        children = procfs.qemu_children(p.pid)
        time.sleep(rng.uniform(0, 2))
        p.send_signal(signal.SIGKILL)
        p.wait()
    deadline = time.monotonic() + 10
    left = children
    while left and time.monotonic() < deadline:
        left = [q for q in left
                if procfs.comm(q).startswith('qemu-system')]
        time.sleep(0.05)
    return {'qemu': children, 'left': left, 'ok': bool(children) and
            not left}


def disk_full(tmp, env):
    """The host's disk full: a --persist image on a full file system
    (sparse, its holes cannot be given blocks), and a template made in a
    cache on a full file system.  Each must end with status 125 and one
    error line (qemu_left, at the end, covers the QEMUs)."""
    if os.geteuid() != 0:
        return {'skipped': 'needs root to mount a small tmpfs'}
    small = os.path.join(tmp, 'small')
    os.mkdir(small)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=80m', 'tmpfs',
                    small], check=True)
    try:
        img = os.path.join(small, 'root.img')
        subprocess.run(['cp', '--sparse=always',
                        paths.guest_file('rootfs.img'), img], check=True)
        subprocess.run(['dd', 'if=/dev/zero', f'of={small}/fill', 'bs=1M'],
                       capture_output=True, check=False)
        runs = {
            'persist_image': [RUNNER, '--persist', '--rootfs', img, '-n',
                              '--', 'true'],
            'template': [RUNNER, '--template-create'],
        }
        res = {}
        for name, argv in runs.items():
            p = subprocess.run(argv, capture_output=True, text=True,
                               timeout=300, check=False,
                               env=dict(env, PC_LITE_CACHE=small))
            lines = p.stderr.splitlines()
            res[name] = {'status': p.returncode, 'stderr': p.stderr[-500:],
                         'ok': p.returncode == 125 and len(lines) == 1}
        return res
    finally:
        subprocess.run(['umount', small], check=True)


def qemus():
    """pids of every QEMU of this tree's binary (paths.QEMU) running."""
    binary = os.path.realpath(paths.QEMU)
    found = set()
    for pid in os.listdir('/proc'):
        if pid.isdigit() and \
                procfs.comm(int(pid)).startswith('qemu-system'):
            try:
                if os.readlink(f'/proc/{pid}/exe') == binary:
                    found.add(int(pid))
            except OSError:
                pass
    return found


def disk_summary(res):
    if 'skipped' in res:
        return 'skipped (' + res['skipped'] + ')'
    return ', '.join(f'{name} {"ok" if r["ok"] else "FAILED"}'
                     for name, r in res.items())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--boots', type=int, default=1000)
    ap.add_argument('--parallel', type=int, default=8)
    ap.add_argument('--kills', type=int, default=20)
    ap.add_argument('--runner-kills', type=int, default=20)
    ap.add_argument('--pool-runs', type=int, default=1000)
    ap.add_argument('--pool-size', type=int, default=8)
    ap.add_argument('--seed', type=int, default=None)
    ap.add_argument('--out', default=os.path.join(paths.BUILD, 'stress'))
    opts = ap.parse_args()
    seed = opts.seed if opts.seed is not None else int(time.time())
    rng = random.Random(seed)
    env = dict(os.environ, PC_LITE_ACCEL=launch.boot_accel())
    res = {'accel': env['PC_LITE_ACCEL'], 'seed': seed}
    before = qemus()
    failures, seconds = boots(opts.boots, 1, env)
    res['back_to_back'] = {'boots': opts.boots, 'failures': failures,
                           'seconds': seconds}
    failures, seconds = boots(opts.boots, opts.parallel, env)
    res['parallel'] = {'boots': opts.boots, 'at_a_time': opts.parallel,
                       'failures': failures, 'seconds': seconds}
    with tempfile.TemporaryDirectory(prefix='pc-lite-stress-') as tmp:
        res['kills'] = [kill_run(tmp, env, rng) for _ in range(opts.kills)]
        res['runner_kills'] = [runner_kill(env, rng)
                               for _ in range(opts.runner_kills)]
        res['disk_full'] = disk_full(tmp, env)
        res['pool'] = pool_runs(opts.pool_runs, opts.parallel,
                                opts.pool_size, env, tmp)
    res['qemu_left'] = sorted(qemus() - before)
    ok = not res['back_to_back']['failures'] and \
        not res['parallel']['failures'] and \
        all(k['ok'] for k in res['kills']) and \
        all(k['ok'] for k in res['runner_kills']) and \
        all(d['ok'] for d in res['disk_full'].values()
            if isinstance(d, dict)) and res['pool']['ok'] and \
        not res['qemu_left']
    res['ok'] = ok
    os.makedirs(opts.out, exist_ok=True)
    with open(os.path.join(opts.out, 'stress.json'), 'w',
              encoding='utf-8') as f:
        json.dump(res, f, indent=1)
    print(f'stress: {opts.boots} boots back to back, '
          f'{len(res["back_to_back"]["failures"])} failures '
          f'({res["back_to_back"]["seconds"]} s); {opts.boots} boots '
          f'{opts.parallel} at a time, {len(res["parallel"]["failures"])} '
          f'failures ({res["parallel"]["seconds"]} s); {opts.kills} kills '
          f'during fsynced writes: '
          f'{sum(not k["ok"] for k in res["kills"])} bad images, '
          f'{sum(len(k["lost"]) for k in res["kills"])} fsynced files lost '
          f'of {sum(k["synced"] for k in res["kills"])}; '
          f'{opts.runner_kills} runners killed: '
          f'{sum(not k["ok"] for k in res["runner_kills"])} QEMUs left; '
          f'disk full: {disk_summary(res["disk_full"])}; '
          f'{opts.pool_runs} pooled runs back to back and '
          f'{opts.parallel} at a time: '
          f'{len(res["pool"]["back_to_back"]["failures"])} + '
          f'{len(res["pool"]["parallel"]["failures"])} failures, '
          f'{res["pool"]["status"]["runs"]} served by the pool, '
          f'{len(res["pool"]["left_after_kill"])} QEMUs left after it was '
          f'killed (seed {seed})')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
