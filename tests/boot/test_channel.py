# SPDX-License-Identifier: GPL-2.0-or-later
"""The command channel, end to end through build/pc-lite-run: output
that streams, stdin, signals, exit status that the command cannot forge,
commands longer than a kernel command line, environment and directory,
and the guest's wall clock."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from pclite import launch
from pclite import paths

RUNNER = paths.RUNNER


def runner_env():
    return dict(os.environ, PC_LITE_ACCEL=launch.boot_accel())


def run(*args, stdin=b'', timeout=180):
    """The runner to its end: CompletedProcess with bytes."""
    return subprocess.run([RUNNER] + list(args), capture_output=True,
                          input=stdin, timeout=timeout, env=runner_env(),
                          check=False)


def start(*args):
    """The runner in the background, its stdin, stdout and stderr piped."""
    return subprocess.Popen([RUNNER] + list(args), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=runner_env())


class ChannelTest(unittest.TestCase):

    def test_status_and_streams(self):
        p = run('--', 'echo out; echo err >&2; exit 7')
        self.assertEqual((p.returncode, p.stdout, p.stderr),
                         (7, b'out\n', b'err\n'))

    def test_status_cannot_be_forged(self):
        # The old console protocol's line, and a well-formed exit frame
        # ('x', status 0) written by the command itself: both are output.
        frame = b'x\0\0\0\x08\0\0\0' + b'\0' * 8
        p = run('--', 'sh', '-c', 'echo PCLITE-EXIT status=0; '
                'printf "$1"; exit 3', 'sh',
                ''.join(f'\\{b:03o}' for b in frame))
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(p.stdout, b'PCLITE-EXIT status=0\n' + frame)

    def test_killed_command(self):
        p = run('--', 'kill -9 $$')
        self.assertEqual(p.returncode, 128 + 9, p.stderr)

    def test_stdin(self):
        p = run('--', 'cat', stdin=b'hi\n')
        self.assertEqual((p.returncode, p.stdout), (0, b'hi\n'), p.stderr)

    def test_large_stdin_and_stdout(self):
        data = os.urandom(3 << 20)
        p = run('--', 'cat', stdin=data)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, data)

    def test_no_stdin(self):
        p = run('-n', '--', 'cat; echo eof', stdin=b'ignored\n')
        self.assertEqual((p.returncode, p.stdout), (0, b'eof\n'), p.stderr)

    def test_output_streams_while_the_command_runs(self):
        # The second line needs input that the test sends only after it
        # has read the first: the first must come out before the end.
        with start('--', 'echo first; read x; echo "second $x"') as p:
            self.assertEqual(p.stdout.readline(), b'first\n')
            p.stdin.write(b'go\n')
            p.stdin.close()
            self.assertEqual(p.stdout.read(), b'second go\n')
            self.assertEqual(p.wait(timeout=60), 0, p.stderr.read())

    def _signal_test(self, signo, command, status, output):
        with start('-n', '--', command) as p:
            self.assertEqual(p.stdout.readline(), b'ready\n')
            p.send_signal(signo)
            self.assertEqual(p.stdout.read(), output)
            self.assertEqual(p.wait(timeout=60), status, p.stderr.read())

    def test_sigterm_reaches_the_command(self):
        self._signal_test(signal.SIGTERM, "trap 'echo got TERM; exit 42' "
                          "TERM; echo ready; while :; do sleep 1; done",
                          42, b'got TERM\n')

    def test_sigint_ends_the_command(self):
        self._signal_test(signal.SIGINT, 'echo ready; exec sleep 100',
                          128 + signal.SIGINT, b'')

    def test_long_command(self):
        arg = 'x' * 100000          # far beyond a kernel command line
        p = run('--', 'sh', '-c', 'printf %s "$1" | wc -c', 'sh', arg)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), b'100000')

    def test_argv_is_passed_as_it_is(self):
        p = run('--', 'printf', '%s|', 'a b', "c'd", '$HOME', '')
        self.assertEqual((p.returncode, p.stdout), (0, b"a b|c'd|$HOME||"),
                         p.stderr)

    def test_environment_and_directory(self):
        p = run('-e', 'GREETING=hello world', '-e', 'PATH=/bin', '-w',
                '/proc', '--', 'env | sort; pwd')
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.decode().splitlines()
        self.assertIn('GREETING=hello world', lines)
        self.assertIn('PATH=/bin', lines)
        self.assertEqual(lines[-1], '/proc')
        self.assertNotIn('HOME=/root', lines)   # only what was given

    def test_bad_directory(self):
        p = run('-w', '/no/such/dir', '--', 'true')
        self.assertEqual(p.returncode, 126)
        self.assertIn(b'cd /no/such/dir: No such file or directory',
                      p.stderr)

    def test_qemu_error_is_one_line(self):
        # QEMU refuses the machine before the guest could run anything.
        p = run('--cpus', '5000', '--', 'true')
        self.assertEqual(p.returncode, 125)
        self.assertRegex(p.stderr.decode(), r'^pc-lite-run: .*qemu-system-'
                         r'x86_64: .*5000.*\n$')
        self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)

    def test_comma_in_paths(self):
        with tempfile.TemporaryDirectory(prefix='pc-lite,comma-') as tmp:
            image = shutil.copy(paths.guest_file('rootfs.img'),
                                os.path.join(tmp, 'root,fs.img'))
            env = dict(runner_env(), TMPDIR=tmp)
            p = subprocess.run([RUNNER, '--rootfs', image, '--', 'echo ok'],
                               capture_output=True, env=env, timeout=180,
                               check=False)
            self.assertEqual((p.returncode, p.stdout), (0, b'ok\n'),
                             p.stderr)

    def test_temporary_files_go_with_the_runner(self):
        with tempfile.TemporaryDirectory(prefix='pc-lite-tmp-') as tmp:
            env = dict(runner_env(), TMPDIR=tmp)
            with subprocess.Popen([RUNNER, '-n', '--',
                                   'echo ready; exec sleep 100'],
                                  stdout=subprocess.PIPE, env=env) as p:
                self.assertEqual(p.stdout.readline(), b'ready\n')
                self.assertEqual(len(os.listdir(tmp)), 1)   # the runner's
                p.send_signal(signal.SIGHUP)
                self.assertEqual(p.wait(timeout=60), 128 + signal.SIGHUP)
            self.assertEqual(os.listdir(tmp), [])

    def test_guest_knows_the_time(self):
        p = run('--', 'date +%s; dmesg | grep -c "Unable to read current '
                'time" || true')
        self.assertEqual(p.returncode, 0, p.stderr)
        guest_time, rtc_errors = p.stdout.split()
        self.assertLess(abs(int(guest_time) - time.time()), 3)
        self.assertEqual(rtc_errors, b'0')

    def test_kernel_clock_from_the_rtc(self):
        # Init reports the time before the channel sets it: what the
        # kernel read from the CMOS RTC at boot.  Without the RTC, 1970.
        for rtc, near_now in (('on', True), ('off', False)):
            res = launch.boot(machine=f'pc-lite,rtc={rtc}')
            self.assertIsNotNone(res.report, res.console[-2000:])
            self.assertEqual(abs(res.report['time'] - time.time()) < 600,
                             near_now, f'rtc={rtc}: {res.report}')


if __name__ == '__main__':
    unittest.main()
