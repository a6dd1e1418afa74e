# SPDX-License-Identifier: GPL-2.0-or-later
"""A short run of one of make bench's scripts (tests/boot-time) or of
make stress (tests/boot/stress.py), as the boot tests do it: the script
writes into a temporary folder, with tests/boot-time on PYTHONPATH."""

import json
import os
import subprocess
import sys
import tempfile

from pclite import paths

BENCH_DIR = os.path.join(paths.TOP, 'tests', 'boot-time')


def quick_run(test, script, args, name, timeout=900, env=None):
    """Run script (a path under tests/) with args and --out DIR; the test
    fails unless it exits 0.  Returns (process, DIR/NAME.json's contents,
    whether DIR/NAME.png was written)."""
    env = dict(os.environ if env is None else env)
    env['PYTHONPATH'] = os.pathsep.join([BENCH_DIR,
                                         env.get('PYTHONPATH', '')])
    with tempfile.TemporaryDirectory(prefix='pc-lite-bench-') as out:
        p = subprocess.run(
            [sys.executable, os.path.join(paths.TOP, 'tests', script)] +
            list(args) + ['--out', out], capture_output=True, text=True,
            timeout=timeout, check=False, env=env)
        test.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(os.path.join(out, f'{name}.json'), encoding='utf-8') as f:
            res = json.load(f)
        png = os.path.join(out, f'{name}.png')
        chart = os.path.exists(png) and os.path.getsize(png) > 0
    return p, res, chart
