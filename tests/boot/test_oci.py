# SPDX-License-Identifier: GPL-2.0-or-later
"""pc-lite-oci, the OCI runtime, driven by the engines users run: podman
(through conmon) and containerd's ctr (through its runc shim), with an
image this test builds from Debian's static busybox and imports (nothing
is pulled).  Each container is a pc-lite VM; what is checked is what the
container's process saw and did.  Bad bundles go to the runtime itself.
"""

import calendar
import glob
import hashlib
import json
import re
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from pclite import launch
from pclite import paths
from pclite import procfs
from pclite.engines import (OCI, Podman, Sandbox, host_state, make_rootfs,
                            missing, oci_processes, stop_daemon)

import benchrun

# The capabilities QEMU keeps under a root pc-lite-oci (host/spawn.c): CHOWN,
# DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID, MKNOD, SETFCAP.
QEMU_CAPS = sum(1 << c for c in (0, 1, 2, 3, 4, 27, 31))
IMAGE = 'localhost/pclite-test:1'
NOSHELL = 'localhost/pclite-noshell:1'


def host_network():
    """The host's interfaces, addresses and routes, as ip prints them."""
    return [subprocess.run(['ip', '-o', *args], capture_output=True,
                           check=True).stdout
            for args in (('link',), ('addr',), ('route',),
                         ('-6', 'route'))]


class PodmanBase(unittest.TestCase):
    """podman with its own storage, the test images imported."""

    @classmethod
    def setUpClass(cls):
        cls.host_before = host_state()
        cls.tmp = tempfile.mkdtemp(prefix='pc-lite-oci-')
        cls.sandbox = Sandbox()
        cls.pod = Podman(cls.tmp, runtime_flags=[
            f'accel={launch.boot_accel()}'], sandbox=cls.sandbox)
        for name, shell in ((IMAGE, True), (NOSHELL, False)):
            cls.pod.import_image(make_rootfs(os.path.join(
                cls.tmp, name.split('/')[1].replace(':', '-')), shell), name)

    @classmethod
    def tearDownClass(cls):
        cls.pod.reset()
        cls.sandbox.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_zz_host_untouched(self):
        """Last: podman ran in a network namespace and /run of its own;
        the host's interfaces, routes and files are as they were."""
        self.assertEqual(host_state(), self.host_before)
        self.assertEqual(oci_processes(mentioning=self.tmp), [])

    def podman(self, *args, stdin=b'', timeout=300):
        return self.pod.run(*args, stdin=stdin, timeout=timeout)

    def podman_ok(self, *args):
        return self.pod.ok(*args)

    def status(self, name):
        return self.podman_ok('inspect', '--format', '{{.State.Status}}',
                              name).strip()

    def ps_status(self, name):
        return self.podman_ok('ps', '-a', '--filter', f'name=^{name}$',
                              '--format', '{{.Status}}').strip()


@unittest.skipIf(missing('podman', 'conmon'),
                 'skipped: podman/conmon not installed (make check '
                 'installs them)')
class PodmanTest(PodmanBase):
    """podman --runtime build/pc-lite-oci run ..."""

    def run_rm(self, *args, **kwargs):
        return self.podman('run', '--rm', '--network', 'none', *args,
                           **kwargs)

    def test_output_and_exit_status(self):
        p = self.run_rm(IMAGE, 'sh', '-c',
                        'echo out; echo err >&2; exit 3')
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(p.stdout, b'out\n')
        self.assertIn(b'err\n', p.stderr)

    def test_env_workdir_user(self):
        p = self.run_rm('-e', 'FOO=bar baz', '-w', '/tmp', '-u', '1000:1000',
                        IMAGE, 'sh', '-c', 'echo "$FOO"; pwd; id -u; id -g')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.decode().split('\n'),
                         ['bar baz', '/tmp', '1000', '1000', ''])

    def test_root_file_operations(self):
        # The container's root changes files on its 9p root: owners,
        # modes with set-ID bits, times, device nodes, a root-only file.
        p = self.run_rm(IMAGE, 'sh', '-c',
                        'mkdir /data && echo x > /data/f && '
                        'chown 12:34 /data/f && chmod 4755 /data/f && '
                        'touch -d "2001-02-03 04:05:00" /data/f && '
                        'mknod /data/n c 1 3 && chmod 600 /data/n && '
                        'echo secret > /data/s && chmod 0 /data/s && '
                        'stat -c "%u %g %a %Y" /data/f && '
                        'stat -c "%F %t %T" /data/n && cat /data/s')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.decode().splitlines(), [
            f'12 34 4755 {calendar.timegm((2001, 2, 3, 4, 5, 0))}',
            'character special file 1 3', 'secret'])

    def test_stdin(self):
        data = b''.join(b'line %d\n' % i for i in range(20000))
        p = self.run_rm('-i', IMAGE, 'sh', '-c', 'wc -l; echo done',
                        stdin=data)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split(), [b'20000', b'done'])

    def test_terminal(self):
        p = self.run_rm('-t', IMAGE, 'sh', '-c',
                        'test -t 0 && test -t 1 && echo tty-yes; tty')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.decode(), r'tty-yes\r?\n/dev/pts/\d+')
        if shutil.which('script'):
            # -it from a real terminal, as a user types it.
            cmd = ' '.join(self.pod.cmd('run', '--rm', '-it', '--network',
                                        'none', IMAGE, 'sh', '-c',
                                        '"tty; echo done"'))
            p = subprocess.run(['script', '-qec', cmd, '/dev/null'],
                               stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=120, check=False,
                               env=dict(os.environ,
                                        CONTAINERS_CONF=self.pod.conf))
            self.assertEqual(p.returncode, 0, p.stdout)
            self.assertRegex(p.stdout.decode(errors='replace'),
                             r'/dev/pts/\d+\r?\n(.*\n)?done')

    def test_no_shell_image(self):
        p = self.run_rm(NOSHELL, '/busybox', 'echo', 'no shell here')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b'no shell here\n')

    def test_missing_program(self):
        p = self.run_rm(IMAGE, 'no-such-program')
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b'no-such-program', p.stderr)
        self.assertIn(b'not found', p.stderr)

    def test_guest_view(self):
        """A kernel of its own, the config's mounts, its own hostname."""
        p = self.run_rm('--hostname', 'box1', IMAGE, 'sh', '-c',
                        'hostname; cat /proc/version; cat /proc/mounts; '
                        'cat /etc/hostname; ls /dev')
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode()
        self.assertTrue(out.startswith('box1\n'), out)
        self.assertIn('-pc-lite', out)              # the guest's kernel
        self.assertIn(' / 9p ', out)
        for mount in (' /proc proc ', ' /dev/pts devpts ', ' /sys sysfs ',
                      ' /dev/shm tmpfs ', ' /etc/hostname 9p '):
            self.assertIn(mount, out)
        for dev in ('null', 'zero', 'urandom', 'tty', 'pts', 'shm'):
            self.assertIn(f'\n{dev}\n', out)

    def test_vm_size_from_resources(self):
        """--cpus and --memory (the config's CPU quota and memory limit)
        are the VM's vCPUs and RAM."""
        p = self.run_rm('--cpus', '2', '--memory', '256m', IMAGE, 'sh', '-c',
                        'grep -c ^processor /proc/cpuinfo; '
                        'grep MemTotal /proc/meminfo')
        self.assertEqual(p.returncode, 0, p.stderr)
        cpus, mem = p.stdout.decode().splitlines()
        self.assertEqual(cpus, '2')
        kib = int(mem.split()[1])
        self.assertTrue(200 * 1024 < kib <= 256 * 1024, mem)

    def test_stop_kill_and_states(self):
        name = 'pclite-states'
        self.podman_ok('create', '--name', name, '--network', 'none', IMAGE,
                       'sleep', '1000')
        self.assertEqual(self.status(name), 'created')
        self.assertEqual(self.ps_status(name), 'Created')
        self.podman_ok('start', name)
        self.assertEqual(self.status(name), 'running')
        self.assertTrue(self.ps_status(name).startswith('Up'))
        p = self.podman('stop', '-t', '20', name)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.status(name), 'exited')
        self.assertTrue(self.ps_status(name).startswith('Exited (143)'),
                        self.ps_status(name))
        # sleep ends on SIGTERM: 128 + 15, not a kill after the timeout.
        self.assertEqual(self.podman_ok('inspect', '--format',
                                        '{{.State.ExitCode}}', name).strip(),
                         '143')
        self.podman_ok('rm', name)

        self.podman_ok('run', '-d', '--name', name, '--network', 'none',
                       IMAGE, 'sleep', '1000')
        self.podman_ok('kill', '-s', 'KILL', name)
        self.podman_ok('wait', name)
        self.assertEqual(self.podman_ok('inspect', '--format',
                                        '{{.State.ExitCode}}', name).strip(),
                         '137')
        self.podman_ok('rm', name)

    def test_pause_and_unpause(self):
        """podman pause stops the whole VM (its QEMU), unpause continues
        it where it was; a paused container is removed with -f."""
        name = 'pclite-pause'
        self.podman_ok('run', '-d', '--name', name, '--network', 'none',
                       IMAGE, 'sh', '-c', 'echo up > /tmp/up; sleep 1000')
        try:
            cid = self.podman_ok('inspect', '--format', '{{.Id}}',
                                 name).strip()
            with open(self.sandbox.path(f'/run/pc-lite-oci/{cid}/qemu.pid'),
                      encoding='utf-8') as f:
                qemu = int(f.read())
            self.podman_ok('pause', name)
            self.assertEqual(self.status(name), 'paused')
            self.assertEqual(procfs.state(qemu), 'T')
            self.assertNotEqual(self.podman('exec', name, 'true').returncode,
                                0)
            self.podman_ok('unpause', name)
            self.assertEqual(self.status(name), 'running')
            self.assertNotEqual(procfs.state(qemu), 'T')
            self.assertEqual(self.podman_ok('exec', name, 'cat', '/tmp/up'),
                             'up\n')
            self.podman_ok('pause', name)
        finally:
            p = self.podman('rm', '-f', '-t', '0', name)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(f'/proc/{qemu}'))

    def test_cp_top_stats(self):
        """What podman does through the container's PID acts on the
        container: cp writes and reads the container's files (the VM sees
        them), top lists the monitor and its QEMU and nothing of the
        host, stats are the VM's figures."""
        self.podman_ok('run', '-d', '--name', 'pclite-cp', '--network', 'none',
                       IMAGE, 'sleep', '1000')
        try:
            src = os.path.join(self.tmp, 'to-container')
            with open(src, 'w', encoding='utf-8') as f:
                f.write('copied in\n')
            self.podman_ok('cp', src, 'pclite-cp:/copied')
            self.assertFalse(os.path.exists('/copied'))
            p = self.podman('exec', 'pclite-cp', 'cat', '/copied')
            self.assertEqual((p.returncode, p.stdout), (0, b'copied in\n'),
                             p.stderr)
            self.podman_ok('exec', 'pclite-cp', 'sh', '-c',
                           'echo written in the VM > /from-vm')
            dst = os.path.join(self.tmp, 'from-container')
            self.podman_ok('cp', 'pclite-cp:/from-vm', dst)
            with open(dst, encoding='utf-8') as f:
                self.assertEqual(f.read(), 'written in the VM\n')
            top = self.podman_ok('top', 'pclite-cp', 'pid', 'comm')
            rows = [line.split() for line in top.splitlines()[1:]]
            self.assertTrue(rows, top)
            for pid, comm in rows:
                self.assertIn(comm, ('pc-lite-oci', 'qemu-system-x86'),
                              top)
            stats = self.podman_ok('stats', '--no-stream', '--format',
                                   '{{.MemUsage}}|{{.CPUPerc}}', 'pclite-cp')
            mem, cpu = stats.strip().split('|')
            value, unit = re.match(r'([\d.]+)\s*([kKMG]i?B)', mem).groups()
            mib = float(value) * {'kB': 1e3, 'KiB': 2 ** 10, 'MB': 1e6,
                                  'MiB': 2 ** 20, 'GB': 1e9,
                                  'GiB': 2 ** 30}[unit] / 2 ** 20
            self.assertGreater(mib, 5, stats)
            self.assertLess(mib, 1024, stats)
            self.assertLessEqual(float(cpu.rstrip('%')),
                                 100 * os.cpu_count(), stats)
        finally:
            self.podman('rm', '-f', '-t', '0', 'pclite-cp')

    def test_exec_and_two_at_once(self):
        names = ['pclite-a', 'pclite-b']
        for name in names:
            self.podman_ok('run', '-d', '--name', name, '--hostname', name,
                           '--network', 'none', IMAGE, 'sleep', '1000')
        try:
            # Each VM's QEMU under its seccomp filter (-sandbox on).
            qemus = [pid for pid in oci_processes(mentioning=self.tmp)
                     if procfs.comm(pid).startswith('qemu-system')]
            self.assertEqual(len(qemus), 2)
            for pid in qemus:
                self.assertEqual(procfs.seccomp(pid)[0], 2)
                # As root, QEMU keeps only the capabilities 9p needs.
                if os.geteuid() == 0:
                    caps = procfs.capabilities(pid)
                    self.assertEqual(caps['CapBnd'], QEMU_CAPS)
                    self.assertEqual(caps['CapEff'], QEMU_CAPS)
                    self.assertEqual(caps['CapAmb'], 0)
                with open(f'/proc/{pid}/environ', 'rb') as f:
                    self.assertIn(b'MALLOC_ARENA_MAX=1',
                                  f.read().split(b'\0'))
            for name in names:
                self.assertEqual(self.status(name), 'running')
                p = self.podman('exec', name, 'sh', '-c',
                                'hostname; echo err >&2; exit 4')
                self.assertEqual(p.returncode, 4, p.stderr)
                self.assertEqual(p.stdout, name.encode() + b'\n')
                self.assertIn(b'err', p.stderr)
            p = self.podman('exec', '-i', names[0], 'cat', stdin=b'piped\n')
            self.assertEqual((p.returncode, p.stdout), (0, b'piped\n'),
                             p.stderr)
            p = self.podman('exec', '-t', names[1], 'sh', '-c',
                            'test -t 1 && echo exec-tty')
            self.assertIn(b'exec-tty', p.stdout, p.stderr)
        finally:
            for name in names:
                self.podman('rm', '-f', '-t', '0', name)
        self.assertEqual(self.podman_ok('ps', '-a', '-q'), '')


HTTPD = ('sh', '-c', 'mkdir -p /www; echo "served by $(hostname)" > '
         '/www/index.html; exec busybox httpd -f -p 80 -h /www')


@unittest.skipIf(missing('podman', 'conmon', 'iptables'),
                 'skipped: podman/iptables not installed (make check '
                 'installs them)')
class NetworkTest(PodmanBase):
    """podman's default network (netavark bridge) reaches the VM."""

    def test_published_port(self):
        self.podman_ok('run', '-d', '--name', 'pclite-web', '--hostname',
                       'web', '-p', '127.0.0.1:18480:80', IMAGE, *HTTPD)
        try:
            self.assertEqual(self.fetch('http://127.0.0.1:18480/'),
                             b'served by web\n')
            # A second container reaches it by its address.
            ip = self.podman_ok('inspect', '--format',
                                '{{.NetworkSettings.IPAddress}}',
                                'pclite-web').strip()
            p = self.podman('run', '--rm', IMAGE, 'busybox', 'wget', '-q',
                            '-O', '-', f'http://{ip}/')
            self.assertEqual((p.returncode, p.stdout),
                             (0, b'served by web\n'), p.stderr)
        finally:
            self.podman('rm', '-f', '-t', '0', 'pclite-web')

    def fetch(self, url, timeout=60):
        """The body at url, fetched inside the sandbox, retried until the
        server answers."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.sandbox.run(['busybox', 'wget', '-q', '-O', '-', url])
            if p.returncode == 0 or time.monotonic() > deadline:
                return p.stdout
            time.sleep(0.2)

    def test_reaches_host(self):
        """A server on the host side of the engine's bridge (in the
        sandbox: the engine's host)."""
        www = os.path.join(self.tmp, 'www')
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, 'index.html'), 'w',
                  encoding='utf-8') as f:
            f.write('from the host\n')
        server = subprocess.Popen(self.sandbox.cmd(
            ['busybox', 'httpd', '-f', '-p', '0.0.0.0:18482', '-h', www]))
        try:
            p = self.podman('run', '--rm', IMAGE, 'sh', '-c',
                            'gw=$(busybox route -n | '
                            'busybox awk \'$1 == "0.0.0.0" {print $2}\'); '
                            'cat /proc/net/dev | grep -c eth0; '
                            'busybox wget -q -O - http://$gw:18482/')
            self.assertEqual((p.returncode, p.stdout),
                             (0, b'1\nfrom the host\n'), p.stderr)
        finally:
            server.kill()
            server.wait()

    def test_host_network_refused(self):
        """--network host is refused with one clear error; the host's
        interfaces, addresses and routes stay as they were."""
        before = host_network(), self.sandbox.uplink()
        p = self.podman('run', '--rm', '--network', 'host', IMAGE, 'true')
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b'host networking', p.stderr)
        self.assertEqual((host_network(), self.sandbox.uplink()), before)

    def test_network_none_has_only_loopback(self):
        p = self.podman('run', '--rm', '--network', 'none', IMAGE, 'ls',
                        '/sys/class/net')
        self.assertEqual((p.returncode, p.stdout), (0, b'lo\n'), p.stderr)

    def test_many_leave_nothing_behind(self):
        """Containers started and removed: no tap, tc rule or namespace
        left, on the host or in a namespace."""
        def netns():
            return set(self.sandbox.run(['ls', '/run/netns']).stdout.split())

        before = netns()
        for i in range(50):
            p = self.podman('run', '--rm', IMAGE, 'echo', str(i))
            self.assertEqual((p.returncode, p.stdout),
                             (0, f'{i}\n'.encode()), p.stderr)
        self.assertEqual(netns() - before, set())
        links = self.sandbox.run(['ip', '-o', 'link']).stdout
        self.assertNotIn(b'pclite', links)
        self.assertEqual(oci_processes(mentioning=self.tmp), [])


@unittest.skipIf(missing('containerd', 'ctr', 'podman'),
                 'skipped: containerd/podman not installed (make check '
                 'installs them)')
class ContainerdTest(unittest.TestCase):
    """ctr run --runc-binary build/pc-lite-oci, through containerd's runc
    shim (as a Kubernetes RuntimeClass would reach it)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='pc-lite-ctr-')
        cls.sock = os.path.join(cls.tmp, 'containerd.sock')
        config = os.path.join(cls.tmp, 'config.toml')
        with open(config, 'w', encoding='utf-8') as f:
            f.write('version = 2\n'
                    f'root = "{cls.tmp}/root"\nstate = "{cls.tmp}/state"\n'
                    f'[grpc]\n  address = "{cls.sock}"\n'
                    '[plugins."io.containerd.grpc.v1.cri"]\n'
                    '  disable_apparmor = true\n')
        cls.log = open(os.path.join(cls.tmp, 'containerd.log'), 'wb')
        # The runc shim runs the runtime with containerd's environment.
        # In a sandbox: its state and ctr's FIFOs under a /run of their
        # own, a network namespace of its own.
        cls.sandbox = Sandbox()
        cls.daemon = subprocess.Popen(
            cls.sandbox.cmd(['containerd', '--config', config]),
            stdout=cls.log, stderr=cls.log,
            env=dict(os.environ, PC_LITE_ACCEL=launch.boot_accel()))
        for _ in range(200):
            if os.path.exists(cls.sock):
                break
            time.sleep(0.05)
        # The image podman runs, saved by podman and imported.
        cls.pod = Podman(os.path.join(cls.tmp, 'podman'))
        cls.pod.import_image(make_rootfs(os.path.join(cls.tmp, 'rootfs')),
                             IMAGE)
        archive = os.path.join(cls.tmp, 'image.tar')
        cls.pod.ok('save', '--format', 'oci-archive', '-o', archive, IMAGE)
        cls.sandbox.run(['ctr', '--address', cls.sock, 'images', 'import',
                         '--base-name', IMAGE.split(':')[0], archive],
                        check=True, timeout=300)

    @classmethod
    def tearDownClass(cls):
        cls.pod.reset()
        stop_daemon(cls.daemon, timeout=30)
        cls.log.close()
        cls.sandbox.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def ctr(self, *args, timeout=300):
        return self.sandbox.run(['ctr', '--address', self.sock, *args],
                                timeout=timeout)

    def test_ctr_run(self):
        p = self.ctr('run', '--rm', '--runc-binary', OCI,
                     '--runtime', 'io.containerd.runc.v2',
                     IMAGE, 'pclite-ctr', 'sh', '-c',
                     'echo from-ctr; cat /proc/version; exit 5')
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertIn(b'from-ctr\n', p.stdout)
        self.assertIn(b'-pc-lite', p.stdout)
        self.assertEqual(self.ctr('containers', 'ls', '-q').stdout, b'')


class BadBundleTest(unittest.TestCase):
    """The runtime itself given bad bundles and IDs: one error line, exit
    1, nothing left running or in its state directory."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='pc-lite-oci-bad-')
        self.root = os.path.join(self.tmp, 'state')
        self.bundle = os.path.join(self.tmp, 'bundle')
        make_rootfs(os.path.join(self.bundle, 'rootfs'))
        p = subprocess.run(['runc', 'spec', '--bundle', self.bundle],
                           capture_output=True, check=False) \
            if shutil.which('runc') else None
        if not p or p.returncode:
            self.write_config(self.minimal_config())
        with open(os.path.join(self.bundle, 'config.json'),
                  encoding='utf-8') as f:
            self.config = json.load(f)
        self.config['process']['terminal'] = False
        self.before = oci_processes(mentioning=self.tmp)

    def tearDown(self):
        for d in glob.glob(os.path.join(self.tmp, 'cache', '*', '*')):
            os.chmod(d, 0o755)
        shutil.rmtree(self.tmp, ignore_errors=True)

    @staticmethod
    def minimal_config():
        return {'ociVersion': '1.0.2', 'root': {'path': 'rootfs'},
                'process': {'args': ['true'], 'cwd': '/', 'env': [],
                            'user': {'uid': 0, 'gid': 0}},
                'linux': {'namespaces': [{'type': 'network'}]}}

    def write_config(self, config):
        with open(os.path.join(self.bundle, 'config.json'), 'w',
                  encoding='utf-8') as f:
            f.write(config if isinstance(config, str) else json.dumps(config))

    def oci(self, *args):
        return subprocess.run([OCI, '--root', self.root, *args],
                              capture_output=True, check=False, timeout=60)

    def assert_refused(self, p, *words):
        err = p.stderr.decode()
        self.assertEqual(p.returncode, 1, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertTrue(err.startswith('pc-lite-oci: '), err)
        for word in words:
            self.assertIn(word, err)
        self.assertEqual(os.listdir(self.root)
                         if os.path.isdir(self.root) else [], [])
        self.assertEqual(oci_processes(mentioning=self.tmp), self.before)

    def create(self):
        return self.oci('create', '--bundle', self.bundle, 'bad1')

    def test_missing_rootfs(self):
        shutil.rmtree(os.path.join(self.bundle, 'rootfs'))
        self.write_config(self.config)
        self.assert_refused(self.create(), 'root.path', 'No such file')

    def test_unparsable_config(self):
        self.write_config('{"ociVersion": "1.0.2", "process": ')
        self.assert_refused(self.create(), 'config.json')

    def test_missing_config(self):
        os.unlink(os.path.join(self.bundle, 'config.json'))
        self.assert_refused(self.create(), 'config.json')

    def test_unsupported_config(self):
        for change, words in (
                (lambda c: c.update(ociVersion='2.0.0'), ('ociVersion',)),
                (lambda c: c['process'].update(args=[]), ('process.args',)),
                (lambda c: c['process'].update(args='sh'), ('process.args',)),
                (lambda c: c.setdefault('linux', {}).update(
                    uidMappings=[{'containerID': 0, 'hostID': 1000,
                                  'size': 1}]), ('user namespaces',)),
                (lambda c: c.update(hooks={'prestart': [{'path': 'x'}]}),
                 ('hooks.prestart[0].path', 'absolute')),
                (lambda c: c.update(hooks={'poststop': [
                    {'path': '/bin/true', 'timeout': 0}]}),
                 ('hooks.poststop[0].timeout',)),
                (lambda c: c['linux'].update(namespaces=[
                    n for n in c['linux']['namespaces']
                    if n['type'] != 'network']),
                 ('no network namespace', 'host networking')),
                (lambda c: c.setdefault('linux', {}).update(
                    resources={'memory': {'limit': 1 << 20}}),
                 ('memory.limit',)),
                (lambda c: c['process'].update(terminal=True),
                 ('--console-socket',))):
            config = json.loads(json.dumps(self.config))
            change(config)
            self.write_config(config)
            with self.subTest(words=words):
                self.assert_refused(self.create(), *words)

    def test_host_network_refused(self):
        """The host's network namespace, by any path, is refused before
        anything is made: no interface of the host is redirected."""
        nsfile = os.path.join(self.tmp, 'netns-default')
        open(nsfile, 'w', encoding='utf-8').close()
        # As Docker's --network host hands it over: a bind mount of it.
        subprocess.run(['mount', '--bind', '/proc/self/ns/net', nsfile],
                       check=True)
        before = host_network()
        try:
            for path in ('/proc/self/ns/net', nsfile, '/proc/1/ns/net'):
                config = json.loads(json.dumps(self.config))
                config.setdefault('linux', {})['namespaces'] = [
                    {'type': 'network', 'path': path}]
                self.write_config(config)
                with self.subTest(path=path):
                    p = self.create()
                    # PID 1's namespace may not even be readable (a
                    # sandbox): refused all the same.
                    self.assert_refused(p, path, *(
                        () if path.startswith('/proc/1/') else
                        ('host networking',)))
        finally:
            subprocess.run(['umount', nsfile], check=False)
        self.assertEqual(host_network(), before)

    def test_unknown_container(self):
        for args in (('state', 'nope'), ('start', 'nope'),
                     ('kill', 'nope', 'KILL'), ('delete', 'nope'),
                     ('exec', '--process', '/dev/null', 'nope')):
            with self.subTest(args=args):
                self.assert_refused(self.oci(*args), 'nope',
                                    'does not exist')

    def test_bad_id_and_signal(self):
        self.assert_refused(self.oci('create', '--bundle', self.bundle,
                                     '../x'), 'not a container ID')
        self.assert_refused(self.oci('kill', 'nope', 'NOSUCHSIG'))

    def run_direct(self, args, env, stopped=None):
        """create and start a container of the bundle running args: its
        exit status and output (the monitor inherits create's stdout);
        stopped(runtime's argv) runs once it has exited, before delete."""
        self.config['process']['args'] = args
        self.write_config(self.config)
        oci = [OCI, '--root', self.root, '--accel', launch.boot_accel()]
        err = os.path.join(self.tmp, 'create.err')
        with open(err, 'wb') as errf, subprocess.Popen(
                oci + ['create', '--bundle', self.bundle, 'direct'],
                stdout=subprocess.PIPE, stderr=errf, env=env) as create:
            # (its stderr is the monitor's too: a file, not a pipe)
            if create.wait(timeout=300):
                with open(err, encoding='utf-8') as f:
                    self.fail(f.read())
            p = subprocess.run(oci + ['start', 'direct'], capture_output=True,
                               check=False, env=env)
            self.assertEqual(p.returncode, 0, p.stderr)
            out = create.stdout.read()
        with open(os.path.join(self.root, 'direct', 'exit'),
                  encoding='utf-8') as f:
            status = int(f.read())
        if stopped:
            stopped(oci)
        subprocess.run(oci + ['delete', 'direct'], check=True, env=env)
        return status, out

    def test_stopped_container_as_runc(self):
        """kill and state of a container whose process has exited answer
        as runc's do (containerd's shim takes "container not running" for
        an exit it already saw); delete removes it."""
        def stopped(oci):
            p = subprocess.run(oci + ['state', 'direct'], capture_output=True,
                               check=True)
            self.assertEqual(json.loads(p.stdout)['status'], 'stopped')
            p = subprocess.run(oci + ['kill', 'direct', 'KILL'],
                               capture_output=True, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn(b'container not running', p.stderr)
            p = subprocess.run(oci + ['kill', '--all', 'direct', 'KILL'],
                               capture_output=True, check=False)
            self.assertEqual((p.returncode, p.stderr), (0, b''))

        env = dict(os.environ, PC_LITE_CACHE=os.path.join(self.tmp, 'cache'))
        self.assertEqual(self.run_direct(['sh', '-c', 'exit 3'], env, stopped),
                         (3, b''))
        self.assertEqual(os.listdir(self.root), [])
        self.assertEqual(oci_processes(mentioning=self.tmp), self.before)

    def test_damaged_template_is_made_again(self):
        env = dict(os.environ, PC_LITE_CACHE=os.path.join(self.tmp, 'cache'))
        self.assertEqual(self.run_direct(['echo', 'one'], env), (0, b'one\n'))
        [tdir] = glob.glob(os.path.join(self.tmp, 'cache', 'templates',
                                        '*'))
        state = os.path.join(tdir, 'state')
        size = os.path.getsize(state)
        os.chmod(tdir, 0o755)
        os.chmod(state, 0o644)
        with open(state, 'r+b') as f:       # one byte changed in place
            f.seek(size // 2)
            byte = f.read(1)
            f.seek(size // 2)
            f.write(bytes([byte[0] ^ 0xff]))
        self.assertEqual(self.run_direct(['echo', 'two'], env), (0, b'two\n'))
        with open(os.path.join(tdir, 'manifest.json'), encoding='utf-8') as f:
            manifest = json.load(f)
        with open(state, 'rb') as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(),
                             manifest['state_sha256'])
        self.assertEqual(oci_processes(mentioning=self.tmp), self.before)

    def test_one_template_store_for_both_tools(self):
        """pc-lite-run and pc-lite-oci keep their templates in one store
        (host/template.c): each lists, uses and removes the other's when
        the machine is the same, here a container without a network and
        a runner's clone with the same two 9p shares."""
        cache = os.path.join(self.tmp, 'cache')
        env = dict(os.environ, PC_LITE_CACHE=cache,
                   PC_LITE_ACCEL=launch.boot_accel())
        binds = os.path.join(self.tmp, 'binds')
        os.mkdir(binds)
        rootfs = os.path.join(self.bundle, 'rootfs')
        with open(os.path.join(rootfs, 'made-here'), 'w',
                  encoding='ascii') as f:
            f.write('from the bundle\n')
        shares = ['--share', f'pclite-root={rootfs}',
                  '--share', f'pclite-binds={binds}']

        def runner(*args):
            return subprocess.run([paths.RUNNER, *args], capture_output=True,
                                  env=env, check=False, timeout=300)

        def templates():
            p = runner('--template-list')
            self.assertEqual(p.returncode, 0, p.stderr)
            return p.stdout.decode().splitlines()

        def made(key):
            return os.stat(os.path.join(cache, 'templates', key,
                                        'manifest.json')).st_ino

        # pc-lite-oci makes it; pc-lite-run lists it and clones it.
        self.assertEqual(self.run_direct(['echo', 'one'], env), (0, b'one\n'))
        [line] = templates()
        key = line.split()[0]
        self.assertIn('2 9p shares', line)
        inode = made(key)
        p = runner('--clone', *shares, '--', 'mkdir /tmp/r && mount -t 9p '
                   '-o trans=virtio pclite-root /tmp/r && cat /tmp/r/made-here')
        self.assertEqual((p.returncode, p.stdout, p.stderr),
                         (0, b'from the bundle\n', b''))
        self.assertEqual([t.split()[0] for t in templates()], [key])
        self.assertEqual(made(key), inode)
        # pc-lite-run removes it and makes it again; pc-lite-oci uses that.
        self.assertEqual(runner('--template-rm', key).returncode, 0)
        self.assertEqual(templates(), [])
        p = runner('--template-create', *shares)
        self.assertEqual((p.returncode, p.stdout.decode().strip()), (0, key),
                         p.stderr)
        inode = made(key)
        self.assertEqual(self.run_direct(['echo', 'two'], env), (0, b'two\n'))
        self.assertEqual([t.split()[0] for t in templates()], [key])
        self.assertEqual(made(key), inode)

    def test_features(self):
        """features says what create takes: every kind of hook, no user
        namespace (ID mappings are refused)."""
        p = self.oci('features')
        self.assertEqual(p.returncode, 0, p.stderr)
        features = json.loads(p.stdout)
        self.assertEqual(features['ociVersionMin'], '1.0.0')
        self.assertRegex(features['ociVersionMax'], r'^1\.\d+\.\d+$')
        self.assertEqual(sorted(features['hooks']), sorted([
            'prestart', 'createRuntime', 'createContainer', 'startContainer',
            'poststart', 'poststop']))
        self.assertIn('network', features['linux']['namespaces'])
        self.assertNotIn('user', features['linux']['namespaces'])

    def test_version(self):
        p = self.oci('--version')
        self.assertEqual(p.returncode, 0)
        self.assertIn(b'pc-lite-oci version', p.stdout)


@unittest.skipIf(missing('podman', 'conmon', 'runc'),
                 'skipped: podman/runc not installed (make check installs '
                 'them)')
class OciBenchmarkTest(unittest.TestCase):
    """make bench's OCI rows (tests/boot-time/oci.py), short."""

    def test_quick_run(self):
        p, res, chart = benchrun.quick_run(
            self, 'boot-time/oci.py',
            ['--runs', '2', '--back-to-back', '5', '--requests', '5',
             '--download-mib', '1'], 'oci')
        self.assertTrue(chart)
        self.assertEqual(res['rate']['failures'], [])
        self.assertEqual(res['rate']['left_processes'], [])
        self.assertEqual(len(res['cpu']['containers']), 2)
        for c in res['cpu']['containers'].values():
            # create, start, delete at least, and the monitor
            self.assertGreaterEqual(c['processes'], 3)
            self.assertIn('monitor', c['by_command'])
            self.assertGreater(c['ms'], 0)
        names = ['runc', 'pc-lite-oci boot', 'pc-lite-oci template',
                 'pc-lite-run --clone']
        if not missing('dockerd'):
            names += ['docker runc', 'docker pc-lite']
        for name in names:
            self.assertGreater(res['time'][name], 0)
        for name in ('runc', 'pc-lite-oci'):
            self.assertGreater(res['network'][name]['throughput_mib_s'], 0)
            self.assertGreater(res['network'][name]['latency_ms'], 0)
        self.assertEqual(len(res['network']['cpu_with_network']), 2)
        self.assertIn('| target | figure | limit | |', p.stdout)


if __name__ == '__main__':
    unittest.main()
