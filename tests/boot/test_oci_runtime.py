# SPDX-License-Identifier: GPL-2.0-or-later
"""pc-lite-oci driven directly, as an engine drives a runtime: the OCI
hooks (what each kind is given, where it runs, in which order, what a
failing one does) and where the container's host side lives (the
monitor's namespaces, root and cgroup), checked from the host through
/proc as engines look at a container.  The container's VM is real; its
output is what the container printed.
"""

import glob
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from pclite import launch
from pclite.engines import OCI, make_rootfs, missing, oci_processes

HOOK = '''#!/bin/sh
# $1: the hook's kind.  What it was given and where it ran, in OUT/$1.
{
  echo "$1"
  cat
  echo
  readlink /proc/self/ns/net /proc/self/ns/uts /proc/self/ns/mnt
} > "OUT/$1"
echo "$1" >> OUT/order
'''


@unittest.skipIf(missing('runc'), 'skipped: runc not installed (make check '
                 'installs it; its "spec" writes the base config)')
class RuntimeTest(unittest.TestCase):
    """create / start / state / delete of a bundle made here."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='pc-lite-oci-rt-')
        self.root = os.path.join(self.tmp, 'state')
        self.bundle = os.path.join(self.tmp, 'bundle')
        self.rootfs = make_rootfs(os.path.join(self.bundle, 'rootfs'))
        subprocess.run(['runc', 'spec', '--bundle', self.bundle], check=True)
        with open(os.path.join(self.bundle, 'config.json'),
                  encoding='utf-8') as f:
            self.config = json.load(f)
        self.config['process']['terminal'] = False
        self.config['root']['readonly'] = False
        self.config['hostname'] = 'ns-test'
        self.config['linux']['cgroupsPath'] = \
            f'/pc-lite-test/{os.path.basename(self.tmp)}'
        self.out = os.path.join(self.tmp, 'hooks')
        os.makedirs(self.out)
        self.hook = os.path.join(self.tmp, 'hook.sh')
        with open(self.hook, 'w', encoding='utf-8') as f:
            f.write(HOOK.replace('OUT', self.out))
        os.chmod(self.hook, 0o755)
        self.oci = [OCI, '--root', self.root, '--accel', launch.boot_accel()]
        self.before = oci_processes(mentioning=self.tmp)
        self.stdout = os.path.join(self.tmp, 'stdout')

    def tearDown(self):
        for cid in (os.listdir(self.root) if os.path.isdir(self.root)
                    else []):
            subprocess.run(self.oci + ['delete', '--force', cid],
                           capture_output=True, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)
        for d in glob.glob('/sys/fs/cgroup/*/pc-lite-test') + \
                glob.glob('/sys/fs/cgroup/pc-lite-test'):
            try:
                os.rmdir(d)
            except OSError:
                pass

    def hooks(self, *kinds, **extra):
        """config.hooks: the test's hook for each kind."""
        h = {k: [{'path': self.hook, 'args': ['hook.sh', k]}] for k in kinds}
        h.update(extra)
        self.config['hooks'] = h

    def create(self, args, cid='c1'):
        """create: its CompletedProcess (the monitor's streams are files,
        as a shim's are pipes that outlive create)."""
        self.config['process']['args'] = args
        with open(os.path.join(self.bundle, 'config.json'), 'w',
                  encoding='utf-8') as f:
            json.dump(self.config, f)
        with open(self.stdout, 'wb') as out, \
                open(os.path.join(self.tmp, 'stderr'), 'wb') as err:
            p = subprocess.run(self.oci + ['create', '--bundle', self.bundle,
                                           '--pid-file',
                                           os.path.join(self.tmp, 'pid'),
                                           cid],
                               stdin=subprocess.DEVNULL, stdout=out,
                               stderr=err, check=False, timeout=300)
        with open(os.path.join(self.tmp, 'stderr'), 'rb') as f:
            p.stderr = f.read()
        return p

    def run_oci(self, *args):
        return subprocess.run(self.oci + list(args), capture_output=True,
                              check=False, timeout=120)

    def state(self, cid='c1'):
        p = self.run_oci('state', cid)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def wait_stopped(self, cid='c1'):
        for _ in range(600):
            if self.state(cid)['status'] == 'stopped':
                return
            time.sleep(0.05)
        self.fail('the container did not stop')

    def read_hook(self, kind):
        with open(os.path.join(self.out, kind), encoding='utf-8') as f:
            lines = f.read().split('\n')
        return json.loads(lines[1]), lines[2:5]

    def assert_nothing_left(self):
        self.assertEqual(os.listdir(self.root)
                         if os.path.isdir(self.root) else [], [])
        self.assertEqual(oci_processes(mentioning=self.tmp), self.before)

    def test_hooks(self):
        """Each kind once, in the runtime spec's order, with the state;
        createRuntime in the runtime's namespaces, createContainer in the
        container's, startContainer inside the VM."""
        self.hooks('prestart', 'createContainer', 'poststart', 'poststop',
                   startContainer=[{
                       'path': '/bin/sh',
                       'args': ['sh', '-c', 'cat > /start-state']}])
        # Two createRuntime hooks, in order; the second asks for the state.
        self.config['hooks']['createRuntime'] = [
            {'path': self.hook, 'args': ['hook.sh', 'createRuntime']},
            {'path': '/bin/sh', 'args': [
                'sh', '-c', f'{OCI} --root {self.root} state c1 > '
                            f'{self.out}/state-during']}]
        p = self.create(['sh', '-c', 'cat /start-state'])
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(self.tmp, 'pid'), encoding='utf-8') as f:
            pid = int(f.read())
        mine = [os.readlink(f'/proc/self/ns/{n}') for n in
                ('net', 'uts', 'mnt')]
        monitor = [os.readlink(f'/proc/{pid}/ns/{n}') for n in
                   ('net', 'uts', 'mnt')]
        for kind in ('prestart', 'createRuntime', 'createContainer'):
            state, where = self.read_hook(kind)
            self.assertEqual((state['id'], state['pid'], state['status'],
                              state['bundle']),
                             ('c1', pid, 'creating', self.bundle), kind)
            self.assertEqual(where, monitor if kind == 'createContainer'
                             else mine, kind)
        with open(os.path.join(self.out, 'state-during'),
                  encoding='utf-8') as f:
            self.assertEqual(json.load(f)['status'], 'creating')
        self.assertEqual(self.state()['status'], 'created')
        self.assertEqual(self.run_oci('start', 'c1').returncode, 0)
        state, _ = self.read_hook('poststart')
        self.assertEqual((state['pid'], state['status']), (pid, 'running'))
        self.wait_stopped()
        # startContainer ran in the VM, on the container's root.
        with open(self.stdout, encoding='utf-8') as f:
            started = json.load(f)
        self.assertEqual((started['id'], started['pid'], started['status']),
                         ('c1', pid, 'created'))
        self.assertEqual(self.run_oci('delete', 'c1').returncode, 0)
        state, _ = self.read_hook('poststop')
        self.assertEqual(state['status'], 'stopped')
        with open(os.path.join(self.out, 'order'), encoding='utf-8') as f:
            self.assertEqual(f.read().split(), [
                'prestart', 'createRuntime', 'createContainer', 'poststart',
                'poststop'])
        self.assert_nothing_left()

    def test_failing_hooks(self):
        """A failing or hanging create-time hook fails create with one
        line that names it; nothing is left running or recorded."""
        for hooks, words in (
                ({'createRuntime': [{'path': '/bin/sh',
                                     'args': ['sh', '-c', 'exit 3']}]},
                 ('createRuntime[0]', 'status 3')),
                ({'prestart': [{'path': '/no/such/hook'}]},
                 ('prestart[0]', 'No such file')),
                ({'createContainer': [{'path': '/bin/sleep',
                                       'args': ['sleep', '60'],
                                       'timeout': 1}]},
                 ('createContainer[0]', 'timeout'))):
            with self.subTest(hooks=list(hooks)):
                self.config['hooks'] = hooks
                start = time.monotonic()
                p = self.create(['true'])
                self.assertLess(time.monotonic() - start, 50)
                err = p.stderr.decode()
                self.assertEqual(p.returncode, 1, err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                for word in words:
                    self.assertIn(word, err)
                self.assert_nothing_left()

    def test_failing_start_hook(self):
        """A startContainer hook that fails: start fails, naming it, and
        the container is stopped without running its process."""
        self.config['hooks'] = {'startContainer': [{
            'path': '/bin/sh', 'args': ['sh', '-c', 'echo why >&2; exit 4']}]}
        p = self.create(['sh', '-c', 'echo ran'])
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.run_oci('start', 'c1')
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'startContainer[0]', p.stderr)
        self.assertIn(b'status 4: why', p.stderr)
        self.wait_stopped()
        with open(self.stdout, 'rb') as f:
            self.assertEqual(f.read(), b'')
        self.assertEqual(self.run_oci('delete', 'c1').returncode, 0)
        self.assert_nothing_left()

    def test_monitor_lives_in_the_container(self):
        """The PID create reports is in namespaces of its own, with the
        container's hostname, the container's root filesystem as its
        root (a /proc there shows the monitor and its QEMU, nothing of
        the host), and in the container's cgroup with QEMU."""
        p = self.create(['sh', '-c', 'echo up; sleep 600'])
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(self.tmp, 'pid'), encoding='utf-8') as f:
            pid = int(f.read())
        for ns in ('net', 'pid', 'uts', 'ipc', 'mnt'):
            self.assertNotEqual(os.readlink(f'/proc/{pid}/ns/{ns}'),
                                os.readlink(f'/proc/self/ns/{ns}'), ns)
        with open(f'/proc/{pid}/status', encoding='utf-8') as f:
            nspid = [ln.split()[1:] for ln in f if ln.startswith('NSpid')][0]
        self.assertEqual(nspid, [str(pid), '1'])
        # Its root is the bundle's rootfs, the tree the VM shares.
        self.assertEqual(sorted(os.listdir(f'/proc/{pid}/root')),
                         sorted(os.listdir(self.rootfs)))
        with open(os.path.join(self.rootfs, 'marker'), 'w',
                  encoding='utf-8') as f:
            f.write('same tree')
        with open(f'/proc/{pid}/root/marker', encoding='utf-8') as f:
            self.assertEqual(f.read(), 'same tree')
        host = ['nsenter', '-t', str(pid), '-m', '-u', '--']
        p = subprocess.run(host + ['/bin/busybox', 'sh', '-c',
                                   'hostname; ls /proc'],
                           capture_output=True, check=True)
        lines = p.stdout.decode().split()
        self.assertEqual(lines[0], 'ns-test')
        # The monitor and its QEMU, numbered in their PID namespace.
        self.assertEqual(sorted(int(x) for x in lines[1:] if x.isdigit()),
                         [1, 2])
        # Monitor and QEMU in the container's cgroup.
        with open(os.path.join(self.root, 'c1', 'qemu.pid'),
                  encoding='utf-8') as f:
            qemu = int(f.read())
        cgroup = self.config['linux']['cgroupsPath']
        for who in (pid, qemu):
            with open(f'/proc/{who}/cgroup', encoding='utf-8') as f:
                lines = [ln for ln in f.read().splitlines()
                         if ':memory:' in ln or ln.startswith('0::')]
            self.assertTrue(lines)
            for ln in lines:
                self.assertTrue(ln.endswith(cgroup), ln)
        self.assertEqual(self.run_oci('delete', '--force', 'c1').returncode, 0)
        self.assert_nothing_left()
        self.assertEqual(glob.glob(f'/sys/fs/cgroup/*{cgroup}') +
                         glob.glob(f'/sys/fs/cgroup{cgroup}'), [])


if __name__ == '__main__':
    unittest.main()
