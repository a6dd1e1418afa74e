#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Stress and faults through scripts/pc-lite-run (make stress; make check
runs a short version):

  boots    --boots VMs back to back, then the same number --parallel at a
           time, each echoing its number: failures (a wrong status or
           output), and any QEMU left behind
  kills    --kills runs of a guest writing files on its image with
           --persist, each file fsynced (dd conv=fsync) and then announced
           on stdout, QEMU killed (SIGKILL) at a random moment; then the
           image's ext4 must be clean after its journal replays (e2fsck)
           and every announced file must hold what was written (debugfs)

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

RUNNER = os.path.join(paths.TOP, 'scripts', 'pc-lite-run')
WRITER = ('mkdir -p /root/d; i=0; while true; do i=$((i+1)); '
          'echo "file $i $(cat /proc/sys/kernel/random/uuid)" | '
          'dd of=/root/d/f$i conv=fsync 2>/dev/null && '
          'echo "synced $i $(cat /root/d/f$i)"; done')


def boot(i, env):
    """One VM echoing i: None, or what went wrong."""
    p = subprocess.run([RUNNER, '-n', '--', f'echo {i}'], capture_output=True,
                       env=env, timeout=300, check=False)
    if p.returncode or p.stdout != f'{i}\n'.encode():
        return {'boot': i, 'status': p.returncode,
                'stdout': p.stdout.decode(errors='replace')[-200:],
                'stderr': p.stderr.decode(errors='replace')[-500:]}
    return None


def boots(count, parallel, env):
    """count boots, parallel at a time: (failures, seconds)."""
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        results = list(pool.map(lambda i: boot(i, env), range(count)))
    return [r for r in results if r], round(time.monotonic() - t0, 1)


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--boots', type=int, default=1000)
    ap.add_argument('--parallel', type=int, default=8)
    ap.add_argument('--kills', type=int, default=20)
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
    res['qemu_left'] = sorted(qemus() - before)
    ok = not res['back_to_back']['failures'] and \
        not res['parallel']['failures'] and \
        all(k['ok'] for k in res['kills']) and not res['qemu_left']
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
          f'of {sum(k["synced"] for k in res["kills"])} (seed {seed})')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
