# SPDX-License-Identifier: GPL-2.0-or-later
"""Rootless podman with pc-lite-oci: podman run by a user who is not
root (uid 1500, with subordinate IDs), which runs the runtime as root of
its user namespace.  The user exists only for the test: its passwd,
group, subuid and subgid entries are copies bind-mounted over the host's
in a mount namespace of the test's own (the host's files are not
changed), its home and XDG_RUNTIME_DIR are temporary directories.
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

from pclite.engines import OCI, host_state, make_rootfs, missing

UID = 1500
IMAGE = 'localhost/pclite-rootless:1'

SETUP = r'''
set -e
for f in passwd group subuid subgid; do
    cp /etc/$f "$T/etc/$f"
done
echo "pclu:x:{uid}:{uid}::$T/home:/bin/sh" >> "$T/etc/passwd"
echo "pclu:x:{uid}:" >> "$T/etc/group"
echo "pclu:200000:65536" >> "$T/etc/subuid"
echo "pclu:200000:65536" >> "$T/etc/subgid"
for f in passwd group subuid subgid; do
    mount --bind "$T/etc/$f" /etc/$f
done
exec setpriv --reuid {uid} --regid {uid} --clear-groups \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$T/home" \
    XDG_RUNTIME_DIR="$T/xdg" USER=pclu LOGNAME=pclu "$@"
'''.replace('{uid}', str(UID))


@unittest.skipIf(missing('podman', 'conmon', 'newuidmap', 'setpriv',
                         'unshare') or os.geteuid() != 0,
                 'skipped: podman/uidmap not installed or not root (make '
                 'check installs them, as root)')
class RootlessPodmanTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.host_before = host_state()
        cls.tmp = tempfile.mkdtemp(prefix='pc-lite-rootless-')
        os.chmod(cls.tmp, 0o755)
        for d, mode in (('etc', 0o755), ('home', 0o700), ('xdg', 0o700)):
            os.makedirs(os.path.join(cls.tmp, d))
            os.chmod(os.path.join(cls.tmp, d), mode)
            if d != 'etc':
                os.chown(os.path.join(cls.tmp, d), UID, UID)
        rootfs = make_rootfs(os.path.join(cls.tmp, 'rootfs'))
        cls.tar = os.path.join(cls.tmp, 'image.tar')
        subprocess.run(['tar', '-C', rootfs, '-cf', cls.tar, '.'],
                       check=True)
        os.chmod(cls.tar, 0o644)
        cls.bundle = os.path.join(cls.tmp, 'bundle')
        os.makedirs(cls.bundle)
        with open(os.path.join(cls.bundle, 'config.json'), 'w',
                  encoding='utf-8') as f:
            json.dump({'ociVersion': '1.0.2', 'root': {'path': rootfs},
                       'process': {'args': ['true'], 'cwd': '/'},
                       'linux': {'namespaces': [{'type': 'network'}]}}, f)
        p = cls.as_user('podman', 'import', cls.tar, IMAGE)
        if p.returncode:
            raise RuntimeError(p.stderr.decode())

    @classmethod
    def tearDownClass(cls):
        cls.as_user('podman', 'rm', '-a', '-f', '-t', '0')
        cls.as_user('podman', 'system', 'reset', '-f')
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def as_user(cls, *argv, timeout=300):
        """argv as the test's user, in the test's mount namespace."""
        return subprocess.run(
            ['unshare', '--mount', '--propagation', 'private', '--',
             'sh', '-c', SETUP, 'setup', *argv],
            env=dict(os.environ, T=cls.tmp), capture_output=True,
            check=False, timeout=timeout)

    def podman(self, *args):
        return self.as_user('podman', '--runtime', OCI, *args)

    def test_run_without_network(self):
        p = self.podman('run', '--rm', '--network', 'none', IMAGE, 'sh', '-c',
                        'echo hello; cat /proc/version; ls /sys/class/net; '
                        'exit 3')
        self.assertEqual(p.returncode, 3, p.stderr)
        lines = p.stdout.decode().splitlines()
        self.assertEqual(lines[0], 'hello')
        self.assertIn('-pc-lite', lines[1])
        self.assertEqual(lines[2:], ['lo'])
        # The runtime's state is the user's, under XDG_RUNTIME_DIR.
        self.assertTrue(os.path.isdir(os.path.join(self.tmp, 'xdg',
                                                   'pc-lite-oci')))

    def test_slirp4netns(self):
        """podman's rootless network: the VM takes slirp4netns's tap
        interface, its address and default route."""
        if missing('slirp4netns'):
            self.skipTest('skipped: slirp4netns not installed')
        p = self.podman('run', '--rm', '--network', 'slirp4netns', IMAGE,
                        'sh', '-c', 'busybox ip addr show eth0; '
                        'busybox route -n')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b'inet 10.0.2.100/24', p.stdout)
        self.assertRegex(p.stdout.decode(),
                         r'0\.0\.0\.0\s+10\.0\.2\.2\s+0\.0\.0\.0\s+UG')

    def test_detached_exec_cp(self):
        p = self.podman('run', '-d', '--name', 'rl', '--network', 'none',
                        IMAGE, 'sleep', '1000')
        self.assertEqual(p.returncode, 0, p.stderr)
        try:
            p = self.podman('exec', 'rl', 'id', '-u')
            self.assertEqual((p.returncode, p.stdout), (0, b'0\n'), p.stderr)
            src = os.path.join(self.tmp, 'home', 'f')
            p = self.as_user('sh', '-c', f'echo from-user > {src}')
            p = self.podman('cp', src, 'rl:/f')
            self.assertEqual(p.returncode, 0, p.stderr)
            p = self.podman('exec', 'rl', 'cat', '/f')
            self.assertEqual(p.stdout, b'from-user\n', p.stderr)
        finally:
            self.podman('rm', '-f', '-t', '0', 'rl')

    def test_unwritable_state_is_named(self):
        """A state directory the user may not write: one error that names
        the path and the permission."""
        p = self.as_user(OCI, '--root', '/run/pc-lite-oci-root-only',
                         'create', '--bundle', self.bundle, 'x')
        self.assertEqual(p.returncode, 1)
        err = p.stderr.decode()
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn('/run/pc-lite-oci-root-only', err)
        self.assertIn('Permission denied', err)

    def test_zz_host_untouched(self):
        self.assertEqual(host_state(), self.host_before)


if __name__ == '__main__':
    unittest.main()
