# SPDX-License-Identifier: GPL-2.0-or-later
"""build/pc-lite-run: a command in a VM booted from the NVDIMM root."""

import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from pclite import launch
from pclite import paths
from pclite import procfs

import benchrun

RUNNER = paths.RUNNER


def run(*args, stdin='', timeout=120):
    env = dict(os.environ, PC_LITE_ACCEL=launch.boot_accel())
    return subprocess.run([RUNNER] + list(args), capture_output=True,
                          text=True, input=stdin, timeout=timeout, env=env,
                          check=False)


class RunnerTest(unittest.TestCase):

    def setUp(self):
        self.tmp = self.enterContext(
            tempfile.TemporaryDirectory(prefix='pc-lite-run-test-'))
        self.image = shutil.copy(paths.guest_file('rootfs.img'), self.tmp)

    def test_command_output_and_status(self):
        p = run('--rootfs', self.image, '--cpus', '2', '--mem', '192M', '--',
                'nproc; awk \'$2=="/"\' /proc/mounts; uname -r; '
                'echo to-stderr >&2; exit 7')
        self.assertEqual(p.returncode, 7, p.stderr)
        out = p.stdout.splitlines()
        self.assertEqual(out[0], '2')
        # the root filesystem is the NVDIMM, mounted with DAX
        self.assertRegex(out[1], r'^/dev/root / ext4 rw,.*dax')
        self.assertRegex(out[2], r'-pc-lite$')
        self.assertEqual(p.stderr.strip(), 'to-stderr')

    def test_qemu_runs_under_its_seccomp_filter(self):
        """-sandbox on: the VMM's system calls filtered while it runs."""
        env = {k: v for k, v in os.environ.items() if k != 'MALLOC_ARENA_MAX'}
        env['PC_LITE_ACCEL'] = launch.boot_accel()
        with subprocess.Popen([RUNNER, '--rootfs', self.image, '--',
                               'read line; echo "$line"'],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              env=env) as p:
            deadline = time.monotonic() + 60
            while not procfs.qemu_children(p.pid):
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            [qemu] = procfs.qemu_children(p.pid)
            deadline = time.monotonic() + 60
            # The filter is installed early in QEMU's start.
            while procfs.seccomp(qemu)[0] != 2:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            self.assertGreater(procfs.seccomp(qemu)[1], 0)
            # and with one malloc arena (pclite.process.QEMU_ENV)
            with open(f'/proc/{qemu}/environ', 'rb') as f:
                self.assertIn(b'MALLOC_ARENA_MAX=1', f.read().split(b'\0'))
            out, _ = p.communicate(b'still works\n', timeout=120)
        self.assertEqual((p.returncode, out), (0, b'still works\n'))

    def _qemu_of(self, runner):
        """The pid of runner's QEMU, once the guest has said "ready"
        (QEMU has changed its user, if it does, before the guest runs)."""
        self.assertEqual(runner.stdout.readline(), b'ready\n')
        [qemu] = procfs.qemu_children(runner.pid)
        return qemu

    def test_qemu_runs_unprivileged_as_root(self):
        """As root, QEMU changes to nobody once it has opened its files
        (-run-with user=); --keep-root keeps it root."""
        if os.geteuid() != 0:
            self.skipTest('the runner is not root: QEMU runs as its user, '
                          'with nothing to change')
        nobody = pwd.getpwnam('nobody')
        env = dict(os.environ, PC_LITE_ACCEL=launch.boot_accel())
        unprivileged = ([nobody.pw_uid] * 4, [nobody.pw_gid] * 4,
                        [nobody.pw_gid])
        for args, ids in (([], unprivileged),
                          (['--keep-root'], procfs.credentials(os.getpid()))):
            with self.subTest(args=args), subprocess.Popen(
                    [RUNNER, '--rootfs', self.image, '--persist', *args,
                     '--', 'echo ready; read line; echo "$line" > /root/f; '
                     'sync; cat /root/f'],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    env=env) as p:
                try:
                    qemu = self._qemu_of(p)
                    found = procfs.credentials(qemu), procfs.seccomp(qemu)
                except BaseException:
                    p.kill()
                    raise
                out, _ = p.communicate(b'written\n', timeout=120)
                self.assertEqual(found[0], ids)
                # still under the seccomp filter, and the image (root's,
                # mode 0644) still written through the open mapping
                self.assertEqual(found[1][0], 2)
                self.assertEqual((p.returncode, out), (0, b'written\n'))

    def test_unprivileged_qemu_dies_with_the_runner(self):
        """The kernel clears PR_SET_PDEATHSIG when QEMU changes its user;
        QEMU sets it again (patch 0014), so it still dies with the
        runner."""
        if os.geteuid() != 0:
            self.skipTest('the runner is not root: QEMU keeps its user and '
                          'PR_SET_PDEATHSIG')
        env = dict(os.environ, PC_LITE_ACCEL=launch.boot_accel())
        with subprocess.Popen([RUNNER, '--rootfs', self.image, '-n', '--',
                               'echo ready; sleep 100'],
                              stdout=subprocess.PIPE, env=env) as p:
            try:
                qemu = self._qemu_of(p)
                uid = procfs.credentials(qemu)[0][0]
            finally:
                p.send_signal(signal.SIGKILL)
        self.assertNotEqual(uid, 0)
        deadline = time.monotonic() + 10
        while procfs.comm(qemu).startswith('qemu-system'):
            self.assertLess(time.monotonic(), deadline, 'QEMU outlived '
                            'the runner')
            time.sleep(0.05)

    def test_argv_is_quoted(self):
        p = run('--rootfs', self.image, '--', 'printf', '%s|', 'a b', "c'd")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "a b|c'd|")

    def test_command_not_found(self):
        p = run('--rootfs', self.image, '--', 'no-such-command')
        self.assertEqual(p.returncode, 127, p.stderr)
        self.assertEqual(p.stderr, '/bin/sh: no-such-command: not found\n')

    def test_writes_are_private_by_default(self):
        before = pclite_digest(self.image)
        p = run('--rootfs', self.image, '--',
                'echo x > /root/f && sync && cat /root/f')
        self.assertEqual((p.returncode, p.stdout), (0, 'x\n'), p.stderr)
        self.assertEqual(pclite_digest(self.image), before)

    def test_persist_keeps_writes(self):
        p = run('--rootfs', self.image, '--persist', '--',
                'echo kept > /root/f && sync')
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run('--rootfs', self.image, '--readonly', '--', 'cat /root/f; '
                'touch /root/g')
        self.assertEqual(p.stdout, 'kept\n')
        self.assertEqual(p.stderr, 'touch: /root/g: Read-only file system\n')
        self.assertEqual(p.returncode, 1)

    def test_persist_on_a_full_disk(self):
        """QEMU maps a --persist image shared: a guest write into a hole of
        a sparse image on a full host disk killed QEMU with SIGBUS.  The
        runner allocates the image first, or says it cannot."""
        if os.geteuid() != 0:
            self.skipTest('needs root to mount a small tmpfs')
        small = os.path.join(self.tmp, 'small')
        os.mkdir(small)
        subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=80m', 'tmpfs',
                        small], check=True)
        try:
            img = os.path.join(small, 'root.img')
            subprocess.run(['cp', '--sparse=always', self.image, img],
                           check=True)
            size = os.path.getsize(img)
            self.assertLess(os.stat(img).st_blocks * 512, size)
            subprocess.run(['dd', 'if=/dev/zero', f'of={small}/fill',
                            'bs=1M'], capture_output=True, check=False)
            p = run('--rootfs', img, '--persist', '--', 'true')
            self.assertEqual(p.returncode, 125)
            self.assertEqual(p.stderr, f'pc-lite-run: root image {img}: '
                             f'cannot allocate its {size >> 20} MiB for '
                             f'--persist writes: No space left on device\n')
            os.unlink(f'{small}/fill')
            p = run('--rootfs', img, '--persist', '--',
                    'dd if=/dev/urandom of=/root/big bs=1M count=8 '
                    'conv=fsync 2>/dev/null && echo written')
            self.assertEqual((p.returncode, p.stdout), (0, 'written\n'),
                             p.stderr)
            self.assertGreaterEqual(os.stat(img).st_blocks * 512, size)
        finally:
            subprocess.run(['umount', small], check=True)

    def test_persist_needs_rootfs(self):
        p = run('--persist', '--', 'true')
        self.assertEqual(p.returncode, 125)
        self.assertEqual(p.stderr, 'pc-lite-run: --persist needs --rootfs: '
                         'the default image is shared by every run and '
                         'test\n')

    def test_persist_has_the_image_alone(self):
        # Two guests must never mount one ext4 read-write, nor one read
        # an image another writes.
        env = dict(os.environ, PC_LITE_ACCEL=launch.boot_accel())
        with subprocess.Popen([RUNNER, '--rootfs', self.image, '--persist',
                               '-n', '--', 'echo ready; sleep 100'],
                              stdout=subprocess.PIPE, env=env) as writer:
            self.assertEqual(writer.stdout.readline(), b'ready\n')
            p = run('--rootfs', self.image, '--persist', '--', 'true')
            self.assertEqual(p.returncode, 125)
            self.assertEqual(p.stderr, f'pc-lite-run: root image '
                             f'{self.image} is in use by another VM: '
                             f'--persist needs it alone\n')
            for mode in ([], ['--readonly']):
                p = run('--rootfs', self.image, *mode, '--', 'true')
                self.assertEqual(p.returncode, 125)
                self.assertEqual(p.stderr, f'pc-lite-run: root image '
                                 f'{self.image} is being written by a '
                                 f'--persist VM\n')
            writer.kill()

    def test_killed_persist_run_then_readonly(self):
        # A --persist VM killed while the guest has the image mounted
        # leaves its journal to replay: a read-only boot would panic
        # ("write access unavailable"); the runner says what to do, and a
        # --persist boot replays it, keeping what the guest had synced.
        env = dict(os.environ, PC_LITE_ACCEL=launch.boot_accel())
        with subprocess.Popen([RUNNER, '--rootfs', self.image, '--persist',
                               '-n', '--', 'echo synced > /root/f; sync; '
                               'echo ready; sleep 100'],
                              stdout=subprocess.PIPE, env=env) as writer:
            self.assertEqual(writer.stdout.readline(), b'ready\n')
            writer.kill()           # QEMU dies with it (PR_SET_PDEATHSIG)
        p = run('--rootfs', self.image, '--readonly', '--', 'true')
        self.assertEqual(p.returncode, 125)
        self.assertEqual(p.stderr, f'pc-lite-run: root image {self.image} '
                         f'was not cleanly unmounted (a --persist VM was '
                         f'killed?): boot it once with --persist to replay '
                         f'its journal\n')
        p = run('--rootfs', self.image, '--persist', '--', 'true')
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run('--rootfs', self.image, '--readonly', '--', 'cat /root/f')
        self.assertEqual((p.returncode, p.stdout), (0, 'synced\n'),
                         p.stderr)

    def test_interactive_shell(self):
        p = run('--rootfs', self.image,
                stdin='echo shell-says-$((6*7))\nexit\n')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('shell-says-42', p.stdout)

    def test_timings(self):
        p = run('--rootfs', self.image, '--timings', '--', 'true')
        self.assertEqual(p.returncode, 0, p.stderr)
        for phase in ('VMM init', 'firmware', 'kernel', 'userspace', 'total',
                      'command', 'shutdown'):
            self.assertRegex(p.stderr, rf'(?m)^  {phase} .* \d+\.\d$')

    def test_bad_images(self):
        odd = os.path.join(self.tmp, 'odd.img')
        with open(odd, 'wb') as f:
            f.truncate(3 << 20)
        plain = os.path.join(self.tmp, 'plain.img')
        with open(plain, 'wb') as f:
            f.truncate(64 << 20)
        for image, pattern in (
                (os.path.join(self.tmp, 'missing.img'), 'No such file'),
                (odd, 'not a multiple of 2 MiB'),
                (plain, 'no fsdax info block')):
            p = run('--rootfs', image, '--', 'true')
            self.assertEqual(p.returncode, 125, p.stderr)
            self.assertRegex(p.stderr, rf'^pc-lite-run: root image .*'
                             rf'{pattern}')
            self.assertEqual(p.stdout, '')

    def test_bad_memory_size(self):
        p = run('--rootfs', self.image, '--mem', 'lots', '--', 'true')
        self.assertEqual(p.returncode, 125)
        self.assertEqual(p.stderr, 'pc-lite-run: --mem lots: use a size such '
                         'as 256M or 1G\n')


class DemoTest(unittest.TestCase):
    """make demo, the README's first command, on the runner's path."""

    def test_demo(self):
        p = subprocess.run([sys.executable, os.path.join(
            paths.TOP, 'tests', 'boot-time', 'demo.py')], capture_output=True,
            text=True, timeout=300, check=False,
            env=dict(os.environ, PC_LITE_ACCEL=launch.boot_accel()))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn('cpus:   2\n', p.stdout)
        self.assertRegex(p.stdout, r'root:   /dev/pmem0 ext4 rw,.*dax')
        self.assertRegex(p.stdout, r'(?m)^  VMM init +\d+\.\d$')


def pclite_digest(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


class SandboxBenchmarkTest(unittest.TestCase):
    """make bench's sandbox rows (tests/boot-time/sandbox.py), short."""

    def test_quick_run(self):
        _, res, _ = benchrun.quick_run(self, 'boot-time/sandbox.py',
                                       ['--runs', '2'], 'sandbox', timeout=600)
        for kind in ('sandbox', 'no sandbox'):
            self.assertEqual(len(res['runs_ms'][kind]), 2)
            self.assertGreater(res['medians'][kind]['vmm_init'], 0)


if __name__ == '__main__':
    unittest.main()
