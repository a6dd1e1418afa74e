# SPDX-License-Identifier: GPL-2.0-or-later
"""pc-lite-pool through build/pc-lite-run --pool: warm clones handed out
one run each, with a new generation ID, random numbers and the host's
clock; nothing of one run in another; a clone when the pool has nothing;
dead, killed and orphaned VMs dropped and replaced; no QEMU left behind
when the pool is killed."""

import json
import os
import signal
import subprocess
import tempfile
import time
import unittest
from concurrent import futures

from pclite import launch
from pclite import paths
from pclite import procfs

import benchrun

POOL = os.path.join(paths.BUILD, 'pc-lite-pool')
RANDOM = ('read u < /proc/sys/kernel/random/uuid; echo $u; '
          'od -An -tx1 -N16 /dev/urandom')


def alive(pid):
    try:
        return procfs.state(pid) != 'Z'
    except OSError:
        return False


def qemus_mentioning(text):
    """Live QEMUs whose command line mentions text."""
    out = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open(f'/proc/{name}/cmdline', 'rb') as f:
                argv = f.read()
        except OSError:
            continue
        if b'qemu-system' in argv and text.encode() in argv and \
                alive(int(name)):
            out.append(int(name))
    return out


class PoolTestCase(unittest.TestCase):

    size = 2

    def setUp(self):
        self.tmp = self.enterContext(
            tempfile.TemporaryDirectory(prefix='pc-lite-pool-test-'))
        self.sock = os.path.join(self.tmp, 'run', 'pool.sock')
        self.env = dict(os.environ, PC_LITE_ACCEL=launch.boot_accel(),
                        PC_LITE_CACHE=os.path.join(self.tmp, 'cache'),
                        PC_LITE_POOL=self.sock)
        self.pool = self.start_pool(self.size)

    def start_pool(self, size, *args):
        log = open(os.path.join(self.tmp, 'pool.log'), 'ab')
        self.addCleanup(log.close)
        pool = subprocess.Popen([POOL, '--socket', self.sock, '--size',
                                 str(size), *args], env=self.env,
                                stdout=log, stderr=log)
        self.addCleanup(self.stop, pool)
        self.wait_ready(size, pool)
        return pool

    def stop(self, pool):
        if pool.poll() is None:
            pool.terminate()
            pool.wait(timeout=60)
        deadline = time.monotonic() + 10
        while qemus_mentioning(os.path.join(self.tmp, 'cache')) and \
                time.monotonic() < deadline:
            time.sleep(0.1)

    def status(self):
        p = subprocess.run([POOL, 'status', '--socket', self.sock],
                           capture_output=True, env=self.env, check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def wait_ready(self, count, pool=None, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pool is not None:
                self.assertIsNone(pool.poll(), 'the pool exited')
            if os.path.exists(self.sock) and \
                    self.status()['ready'] >= count:
                return
            time.sleep(0.1)
        self.fail(f'the pool has not {count} VMs ready: {self.status()}')

    def run_pool(self, *args, stdin=b'', env=None):
        timings = os.path.join(self.tmp, f'timings-{time.monotonic_ns()}')
        p = subprocess.run([paths.RUNNER, '--pool', '--timings-file',
                            timings, *args], capture_output=True, input=stdin,
                           env=env or self.env, timeout=300, check=False)
        with open(timings, encoding='utf-8') as f:
            p.timings = json.load(f)
        return p


class PoolTest(PoolTestCase):

    def test_runs_in_a_warm_vm(self):
        p = self.run_pool('--', 'echo out; echo err >&2; cat; exit 5',
                          stdin=b'in\n')
        self.assertEqual((p.returncode, p.stdout, p.stderr),
                         (5, b'out\nin\n', b'err\n'))
        self.assertEqual(p.timings['source'], 'pool')
        self.assertGreater(p.timings['exit'], 0)
        p = self.run_pool('-e', 'A=b', '-w', '/proc', '--', 'echo $A; pwd')
        self.assertEqual((p.returncode, p.stdout), (0, b'b\n/proc\n'),
                         p.stderr)
        self.assertEqual(p.timings['source'], 'pool')
        self.assertEqual(self.status()['runs'], 2)

    def test_nothing_of_one_run_in_another(self):
        outs = []
        for _ in range(2):
            self.wait_ready(1)
            p = self.run_pool('--', 'cat /tmp/left 2>/dev/null; '
                              'echo from-a-run > /tmp/left; date +%s; '
                              + RANDOM)
            self.assertEqual((p.returncode, p.timings['source']),
                             (0, 'pool'), p.stderr)
            lines = p.stdout.decode().splitlines()
            # no file of the other run; the host's clock
            self.assertLess(abs(int(lines[0]) - time.time()), 3, lines)
            outs.append(lines[1:])
        # a new generation ID each: their own random numbers
        self.assertNotEqual(outs[0][0], outs[1][0])
        self.assertNotEqual(outs[0][1], outs[1][1])

    def test_a_clone_when_the_pool_has_nothing(self):
        # Both VMs taken by runs that wait: the third run is a clone.
        waiting = [subprocess.Popen([paths.RUNNER, '--pool', '--',
                                     'echo started; read x'],
                                    stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, env=self.env)
                   for _ in range(2)]
        try:
            for w in waiting:
                self.assertEqual(w.stdout.readline(), b'started\n')
            p = self.run_pool('--', 'echo ok')
            self.assertEqual((p.returncode, p.stdout), (0, b'ok\n'),
                             p.stderr)
            self.assertEqual(p.timings['source'], 'clone')
            self.assertIn('warming up', p.timings['pool'])
        finally:
            for w in waiting:
                w.communicate(b'\n', timeout=60)
        self.assertEqual([w.returncode for w in waiting], [0, 0])

    def test_a_killed_runner_takes_its_vm_along(self):
        runner = subprocess.Popen([paths.RUNNER, '--pool', '-n', '--',
                                   'echo started; sleep 600'],
                                  stdout=subprocess.PIPE, env=self.env)
        self.assertEqual(runner.stdout.readline(), b'started\n')
        lent = set(procfs.qemu_children(self.pool.pid))
        runner.kill()
        runner.wait()
        runner.stdout.close()
        deadline = time.monotonic() + 20
        while self.status()['lent'] and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.status()['lent'], 0)
        self.wait_ready(self.size)
        # the lent VM is gone, the pool full again with new ones
        self.assertTrue(lent - set(procfs.qemu_children(self.pool.pid)))

    def test_dead_vms_are_replaced(self):
        victim = procfs.qemu_children(self.pool.pid)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while self.status()['dropped'] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.status()['dropped'], 1)
        self.wait_ready(self.size)
        self.assertNotIn(victim, procfs.qemu_children(self.pool.pid))
        p = self.run_pool('--', 'echo ok')
        self.assertEqual((p.returncode, p.stdout, p.timings['source']),
                         (0, b'ok\n', 'pool'), p.stderr)

    def test_killed_pool_leaves_no_qemu_and_runs_go_on(self):
        vms = procfs.qemu_children(self.pool.pid)
        self.assertEqual(len(vms), self.size)
        self.pool.kill()
        self.pool.wait()
        deadline = time.monotonic() + 10
        while any(alive(v) for v in vms) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertFalse([v for v in vms if alive(v)])
        p = self.run_pool('--', 'echo ok')
        self.assertEqual((p.returncode, p.stdout), (0, b'ok\n'), p.stderr)
        self.assertEqual(p.timings['source'], 'clone')
        self.assertIn('pool.sock', p.timings['pool'])


class PoolLoadTest(PoolTestCase):

    size = 4

    def test_eight_at_a_time(self):
        def one(i):
            return subprocess.run([paths.RUNNER, '--pool', '-n', '--',
                                   f'echo {i}'], capture_output=True,
                                  env=self.env, timeout=300, check=False)

        with futures.ThreadPoolExecutor(8) as ex:
            runs = list(ex.map(one, range(24)))
        failures = [(i, p.returncode, p.stderr) for i, p in enumerate(runs)
                    if (p.returncode, p.stdout) != (0, f'{i}\n'.encode())]
        self.assertEqual(failures, [])
        self.assertGreater(self.status()['runs'], 0)


class PoolBenchmarkTest(unittest.TestCase):
    """make bench's pool rows (tests/boot-time/pool.py), short."""

    def test_quick_run(self):
        p, res, chart = benchrun.quick_run(
            self, 'boot-time/pool.py',
            ['--runs', '2', '--size', '2', '--rate-runs', '10'], 'pool',
            env=dict(os.environ, PC_LITE_ACCEL=launch.boot_accel()))
        self.assertTrue(chart)
        for key in ('pool_run_ms', 'clone_run_ms', 'cold_run_ms'):
            self.assertGreater(res[key], 0)
        self.assertLess(res['pool_run_ms'], res['clone_run_ms'])
        for n in ('1', '8'):
            self.assertEqual(res['rate'][n]['failures'], 0)
            self.assertGreater(res['rate'][n]['runs_per_s'], 0)
        self.assertEqual(res['host_cores'], os.cpu_count())
        self.assertEqual(len(res['memory']), 2)
        self.assertIn('| target | figure | limit | |', p.stdout)


class PoolOptionsTest(unittest.TestCase):

    def test_bad_options(self):
        for args, message in (
                (['--size', '0'], '--size 0: use 1 to 64 VMs'),
                (['--size', 'many'], '--size many: use 1 to 64 VMs'),
                (['--mem', '0'], '--mem 0: use a size such as 256M or 1G'),
                (['--bogus'], '--bogus: unknown option'),
                (['extra'], 'extra: not an option')):
            p = subprocess.run([POOL, *args], capture_output=True, text=True,
                               check=False, timeout=30)
            self.assertEqual(p.returncode, 2, args)
            self.assertTrue(p.stderr.startswith(f'pc-lite-pool: {message}'),
                            p.stderr)

    def test_status_without_a_pool(self):
        with tempfile.TemporaryDirectory() as tmp:
            p = subprocess.run([POOL, 'status', '--socket',
                                os.path.join(tmp, 'none.sock')],
                               capture_output=True, text=True, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn('none.sock: No such file or directory', p.stderr)


if __name__ == '__main__':
    unittest.main()
