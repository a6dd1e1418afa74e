# SPDX-License-Identifier: GPL-2.0-or-later
"""Docker with pc-lite-oci as a runtime, as a user runs it: Debian's
dockerd (20.10), started by the test with its own config, data, socket
and cgroup parent, in a network and mount namespace of its own
(pclite.engines.Sandbox), so that its bridge, firewall rules and
veths never reach the host's.  What is checked is what the container
saw and did, and what Docker reports of it; and that the host's network
and files are as they were.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from pclite import launch
from pclite.engines import (Docker, Sandbox, host_state, make_rootfs,
                            missing, oci_processes)

IMAGE = 'localhost/pclite-test:1'
HTTPD = ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && '
         'exec busybox httpd -f -p 80 -h /www']


@unittest.skipIf(missing('dockerd', 'unshare', 'nsenter') or
                 not os.path.exists(Docker.CLI),
                 'skipped: docker.io not installed (make check installs it)')
class DockerTest(unittest.TestCase):
    """docker run --runtime pc-lite ..."""

    @classmethod
    def setUpClass(cls):
        cls.host_before = host_state()
        cls.tmp = tempfile.mkdtemp(prefix='pc-lite-docker-')
        cls.sandbox = Sandbox()
        cls.uplink = cls.sandbox.uplink()
        try:
            cls.docker = Docker(os.path.join(cls.tmp, 'docker'), cls.sandbox,
                                runtime_args=[
                                    f'--accel={launch.boot_accel()}'])
        except RuntimeError:
            cls.sandbox.close()
            raise
        cls.docker.import_image(make_rootfs(os.path.join(cls.tmp, 'rootfs')),
                                IMAGE)

    @classmethod
    def tearDownClass(cls):
        cls.docker.close()
        cls.sandbox.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_ctr(self, *args, timeout=300):
        return self.docker.run('run', '--runtime', 'pc-lite', *args,
                               timeout=timeout)

    def test_run_on_the_default_network(self):
        """A first docker run: output, exit status, the VM's kernel and
        the address Docker's bridge gave the container, on eth0."""
        p = self.run_ctr('--rm', IMAGE, 'sh', '-c',
                         'cat /proc/version; busybox ip -o -4 addr show eth0;'
                         ' echo err >&2; exit 3')
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn(b'-pc-lite', p.stdout)
        self.assertRegex(p.stdout.decode(), r'eth0\s+inet 172\.17\.')
        self.assertEqual(p.stderr, b'err\n')

    def test_published_port_and_exec(self):
        """-p reaches the VM's server through Docker's proxy; exec runs
        in the same VM, with a terminal when asked."""
        self.docker.ok('run', '-d', '--runtime', 'pc-lite', '--name', 'web',
                       '--hostname', 'webhost', '-p', '127.0.0.1:18481:80',
                       IMAGE, *HTTPD)
        try:
            for _ in range(100):
                p = self.sandbox.run(['busybox', 'wget', '-q', '-O', '-',
                                      'http://127.0.0.1:18481/'])
                if p.returncode == 0:
                    break
                time.sleep(0.1)
            self.assertEqual(p.stdout, b'webhost\n', p.stderr)
            p = self.docker.run('exec', 'web', 'hostname')
            self.assertEqual((p.returncode, p.stdout), (0, b'webhost\n'),
                             p.stderr)
            p = self.docker.run('exec', '-t', 'web', 'tty')
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout.decode(), r'^/dev/pts/\d+\r?\n$')
        finally:
            self.docker.run('rm', '-f', 'web')

    def test_terminal(self):
        """-t: create returns (the console socket gets the terminal) and
        the process has a terminal it can name; -it through a real one."""
        p = self.run_ctr('--rm', '-t', IMAGE, 'tty', timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.decode(), r'^/dev/pts/\d+\r?\n$')
        if shutil.which('script'):
            cmd = ' '.join([Docker.CLI, '-H', f'unix://{self.docker.sock}',
                            'run', '--rm', '-it', '--runtime', 'pc-lite',
                            IMAGE, 'sh', '-c', '"tty; echo done"'])
            p = subprocess.run(['script', '-qec', cmd, '/dev/null'],
                               stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=120, check=False)
            self.assertEqual(p.returncode, 0, p.stdout)
            self.assertRegex(p.stdout.decode(errors='replace'),
                             r'/dev/pts/\d+\r?\n(.*\n)?done')

    def test_lifecycle_and_management(self):
        """pause and unpause, stats of the VM (not of the host), top
        (the container's processes on the host only), update of the CPU
        and a refused memory change, stop, kill with its status."""
        self.docker.ok('run', '-d', '--runtime', 'pc-lite', '--name', 'life',
                       IMAGE, 'sleep', '1000')
        try:
            pid = int(self.docker.ok('inspect', '-f', '{{.State.Pid}}',
                                     'life'))
            self.docker.ok('pause', 'life')
            self.assertEqual(self.docker.ok(
                'inspect', '-f', '{{.State.Status}}', 'life').strip(),
                'paused')
            self.docker.ok('unpause', 'life')
            p = self.docker.run('exec', 'life', 'echo', 'after-unpause')
            self.assertEqual(p.stdout, b'after-unpause\n', p.stderr)
            stats = self.docker.ok('stats', '--no-stream', '--format',
                                   '{{.MemUsage}}|{{.CPUPerc}}', 'life')
            mem, cpu = stats.strip().split('|')
            used = re.match(r'([\d.]+)(KiB|MiB|GiB)', mem)
            mib = float(used.group(1)) * {'KiB': 1 / 1024, 'MiB': 1,
                                          'GiB': 1024}[used.group(2)]
            # The VM's QEMU: more than a shell's, less than the host's.
            self.assertGreater(mib, 5, stats)
            self.assertLess(mib, 1024, stats)
            self.assertLessEqual(float(cpu.rstrip('%')),
                                 100 * os.cpu_count(), stats)
            top = self.docker.ok('top', 'life').splitlines()[1:]
            pids = {int(line.split()[1]) for line in top}
            self.assertIn(pid, pids)
            # The monitor and its QEMU: no process of anyone else.
            self.assertLessEqual(pids - {pid}, set(oci_processes()), top)
            self.assertLessEqual(len(pids), 2, top)
            self.docker.ok('update', '--cpus', '0.5', 'life')
            p = self.docker.run('update', '--memory', '300m',
                                '--memory-swap', '300m', 'life')
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(b'fixed when it starts', p.stderr)
            start = time.monotonic()
            self.docker.ok('stop', '-t', '20', 'life')
            # sleep takes SIGTERM as a VM's process: no 20 s wait for KILL.
            self.assertLess(time.monotonic() - start, 15)
            self.docker.ok('start', 'life')
            self.docker.ok('kill', 'life')
            self.assertEqual(self.docker.ok('wait', 'life').strip(), '137')
        finally:
            self.docker.run('rm', '-f', 'life')

    def test_host_network_refused(self):
        """--network host: one clear error, and the namespace's eth0 (the
        sandbox's stand-in for the host's uplink) untouched."""
        p = self.run_ctr('--rm', '--network', 'host', IMAGE, 'true')
        self.assertEqual(p.returncode, 125)
        self.assertIn(b'host networking', p.stderr)
        self.assertEqual(self.sandbox.uplink(), self.uplink)

    def test_zz_host_untouched(self):
        """Last: nothing of the host's network or files changed, no VM
        left running."""
        self.assertEqual(host_state(), self.host_before)
        self.assertEqual(self.docker.ok('ps', '-q'), '')


if __name__ == '__main__':
    unittest.main()
