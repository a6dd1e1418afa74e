# SPDX-License-Identifier: GPL-2.0-or-later
"""VM templates through build/pc-lite-run: clones run commands, each
with its own VM generation ID, random numbers and the host's time; the
template is remade when its inputs change or it is damaged; creation is
atomic and safe when runners race."""

import concurrent.futures
import glob
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from pclite import accel as accels
from pclite import channel
from pclite import launch
from pclite import paths
from pclite import process

import benchrun

RUNNER = paths.RUNNER
# A UUID and 16 bytes of /dev/urandom, read quickly (one exec): a reseed
# by time falls due only a second after the template's.
RANDOM_NUMBERS = ('read u < /proc/sys/kernel/random/uuid; echo $u; '
                  'od -An -tx1 -N16 /dev/urandom')


class TemplateTestCase(unittest.TestCase):
    """Each test class has its own template cache (PC_LITE_CACHE)."""

    @classmethod
    def setUpClass(cls):
        cls.cache = tempfile.mkdtemp(prefix='pc-lite-templates-')

    @classmethod
    def tearDownClass(cls):
        for d in glob.glob(os.path.join(cls.cache, 'templates', '*')):
            os.chmod(d, 0o755)
        shutil.rmtree(cls.cache, ignore_errors=True)

    def run_runner(self, *args, stdin=b'', cache=None, timeout=300, env=()):
        env = dict(os.environ, PC_LITE_ACCEL=launch.boot_accel(),
                   PC_LITE_CACHE=cache or self.cache, **dict(env))
        return subprocess.run([RUNNER] + list(args), capture_output=True,
                              input=stdin, timeout=timeout, env=env,
                              check=False)

    def clone(self, *args, **kwargs):
        return self.run_runner('--clone', *args, **kwargs)

    def keys(self, cache=None):
        p = self.run_runner('--template-list', cache=cache)
        self.assertEqual(p.returncode, 0, p.stderr)
        return [line.split()[0] for line in p.stdout.decode().splitlines()]

    def template_dir(self, key, cache=None):
        return os.path.join(cache or self.cache, 'templates', key)


class CloneTest(TemplateTestCase):

    def test_clone_runs_the_command(self):
        p = self.clone('--', 'echo out; echo err >&2; cat; exit 5',
                       stdin=b'in\n')
        self.assertEqual((p.returncode, p.stdout, p.stderr),
                         (5, b'out\nin\n', b'err\n'))

    def test_clone_root_is_read_only_with_a_tmpfs(self):
        p = self.clone('--', 'echo x > /tmp/f && cat /tmp/f; touch /f')
        self.assertEqual(p.stdout, b'x\n')
        self.assertIn(b'Read-only file system', p.stderr)
        self.assertEqual(p.returncode, 1)

    def test_clones_get_new_ids_and_random_bytes(self):
        cmd = RANDOM_NUMBERS
        outs = [self.clone('--', cmd) for _ in range(3)]
        for p in outs:
            self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len({p.stdout for p in outs}), 3,
                         [p.stdout for p in outs])

    def test_without_a_new_generation_id_clones_repeat(self):
        # The same fixed ID for the template and its clones (as a VM
        # without VMGENID would have): the guest's RNG is not reseeded and
        # every clone prints the same "random" numbers.  This is what the
        # new ID of each clone prevents (test above).
        cmd = RANDOM_NUMBERS
        fixed = '--vmgenid=12345678-9abc-def0-1234-56789abcdef0'
        outs = [self.clone(fixed, '--', cmd) for _ in range(2)]
        for p in outs:
            self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(outs[0].stdout, outs[1].stdout)

    def library_clone(self, vmgenid='auto', reboot=False):
        """A clone started from the runner's command line (--qemu-argv),
        not by the runner: (QEMU's Popen, our end of its channel); the
        caller kills QEMU.  reboot: without -no-reboot, a guest reset
        boots again."""
        p = self.run_runner('--clone', f'--vmgenid={vmgenid}', '--qemu-argv',
                            '--', 'true')
        self.assertEqual(p.returncode, 0, p.stderr)
        argv = p.stdout.decode().splitlines()
        if reboot:
            argv.remove('-no-reboot')
        ours, theirs = channel.socketpair()
        fd = theirs.fileno()

        def channel_on_3():
            os.dup2(fd, 3)      # --qemu-argv's channel descriptor

        qemu = subprocess.Popen(argv, preexec_fn=channel_on_3, pass_fds=[3],
                                env=process.qemu_env())
        theirs.close()
        self.addCleanup(ours.close)
        self.addCleanup(qemu.wait)
        self.addCleanup(qemu.kill)
        return qemu, ours

    def test_guest_kernel_reseeds_on_the_acpi_notification(self):
        # Without init's reseed (no G frame): the kernel's vmgenid driver,
        # bound to pc-lite's VGEN device, reseeds when QEMU notifies the
        # new ID (GED on GSI 10), a moment after the clone starts (and
        # before a reseed falls due by time, a second after the template's).
        # Then init powers the clone off through the GED sleep registers.
        def uuid(vmgenid):
            qemu, sock = self.library_clone(vmgenid)
            status, out, _ = channel.run_command(
                sock, ['/bin/sh', '-c', 'ls /sys/bus/acpi/drivers/vmgenid; '
                       'sleep 0.3; cat /proc/sys/kernel/random/uuid'],
                time.monotonic() + 120, lambda: qemu.poll() is None,
                at_once=True)
            self.assertEqual(status, 0)
            self.assertEqual(qemu.wait(timeout=60), 0)    # powered off
            *listing, value = out.decode().split()
            self.assertIn('QEMUVGID:00', listing)   # the driver is bound
            return value

        self.assertNotEqual(uuid('auto'), uuid('auto'))
        fixed = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0'
        self.assertEqual(uuid(fixed), uuid(fixed))

    def test_clone_reboots(self):
        # A clone's reset is a real one: pc-lite reads the kernel (which a
        # clone skips at start) and writes it, the tables and boot data
        # again, and the guest boots to its init, which says hello.
        qemu, sock = self.library_clone(reboot=True)
        sock.sendall(channel.command_frames(['/bin/sh', '-c',
                                             'reboot -f'], stdin=False))
        decoder = channel.Decoder()
        kinds = []
        sock.settimeout(120)
        while 'h' not in kinds:
            data = sock.recv(4096)
            self.assertTrue(data, f'the channel closed after {kinds}')
            kinds += [kind for kind, _ in decoder.feed(data)]
        self.assertEqual(kinds[0], 'p')
        self.assertIsNone(qemu.poll())

    def test_clone_knows_the_time(self):
        self.assertEqual(self.run_runner('--template-create').returncode, 0)
        time.sleep(3)       # the template's clock stopped when it was made
        p = self.clone('--', 'date +%s')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertLess(abs(int(p.stdout) - time.time()), 2)

    def test_concurrent_clones(self):
        self.assertEqual(self.run_runner('--template-create').returncode, 0)
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            runs = list(pool.map(
                lambda i: self.clone('--', f'echo $(({i} * {i}))'),
                range(20)))
        for i, p in enumerate(runs):
            self.assertEqual((p.returncode, p.stdout),
                             (0, f'{i * i}\n'.encode()), p.stderr)

    def test_template_files_are_read_only(self):
        p = self.run_runner('--template-create')
        self.assertEqual(p.returncode, 0, p.stderr)
        tdir = self.template_dir(p.stdout.decode().strip())
        for name in os.listdir(tdir) + ['.']:
            mode = os.stat(os.path.join(tdir, name)).st_mode
            self.assertEqual(mode & 0o222, 0, name)

    def test_removing_the_template_spares_running_clones(self):
        p = self.run_runner('--template-create')
        key = p.stdout.decode().strip()
        env = dict(os.environ, PC_LITE_ACCEL=launch.boot_accel(),
                   PC_LITE_CACHE=self.cache)
        with subprocess.Popen([RUNNER, '--clone', '-n', '--',
                               'echo started; sleep 2; echo still here'],
                              stdout=subprocess.PIPE, env=env) as clone:
            self.assertEqual(clone.stdout.readline(), b'started\n')
            rm = self.run_runner('--template-rm', key)
            self.assertEqual(rm.returncode, 0, rm.stderr)
            self.assertFalse(os.path.exists(self.template_dir(key)))
            self.assertEqual(clone.stdout.read(), b'still here\n')
            self.assertEqual(clone.wait(timeout=60), 0)


class KvmCloneTest(TemplateTestCase):
    """Templates and clones under KVM, where KVM boots the guest (every
    test above runs under the accelerator the boot tests use; this one
    says so when that is not KVM)."""

    def test_clone_under_kvm(self):
        if launch.boot_accel() != 'kvm':
            self.skipTest(accels.needs_kvm(
                'KVM does not boot the guest on this host '
                '(build/accel-probe.json): clones run under TCG'))
        p = self.clone('--', 'echo $(nproc) ok; date +%s')
        self.assertEqual(p.returncode, 0, p.stderr)
        first, clock = p.stdout.decode().splitlines()
        self.assertEqual(first, '1 ok')
        self.assertLess(abs(int(clock) - time.time()), 2)


class TemplateLifeTest(TemplateTestCase):
    """Tests that make, break and remake templates: a cache each."""

    def setUp(self):
        self.cache = self.enterContext(tempfile.TemporaryDirectory(
            prefix='pc-lite-templates-'))
        self.addCleanup(self._unlock)

    def _unlock(self):
        for d in glob.glob(os.path.join(self.cache, 'templates', '*')):
            os.chmod(d, 0o755)

    def test_made_when_missing_and_listed(self):
        self.assertEqual(self.keys(), [])
        p = self.clone('--', 'true')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.keys()), 1)

    def test_remade_when_the_kernel_changes(self):
        kernel = shutil.copy(paths.guest_file('vmlinux'), self.cache)
        p = self.clone('--kernel', kernel, '--', 'true')
        self.assertEqual(p.returncode, 0, p.stderr)
        first = self.keys()
        # A rebuilt kernel: the same name, a new file.
        os.unlink(kernel)
        shutil.copy(paths.guest_file('vmlinux'), kernel)
        p = self.clone('--kernel', kernel, '--', 'true')
        self.assertEqual(p.returncode, 0, p.stderr)
        keys = self.keys()
        self.assertEqual(len(keys), 2)
        self.assertIn(first[0], keys)

    def test_other_inputs_make_other_templates(self):
        for args in ((), ('--cpus', '2'), ('--mem', '160M'),
                     ('--append', 'loglevel=4')):
            p = self.run_runner('--template-create', *args)
            self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(set(self.keys())), 4)

    def _damage(self, damage, message):
        """Make the template, let damage(dir) break it: the next clone
        must say message (a regex after the key) in one line, make the
        template again and run."""
        key = self.run_runner('--template-create').stdout.decode().strip()
        tdir = self.template_dir(key)
        os.chmod(tdir, 0o755)
        for name in os.listdir(tdir):
            os.chmod(os.path.join(tdir, name), 0o644)
        damage(tdir)
        p = self.clone('--', 'echo ok')
        self.assertEqual((p.returncode, p.stdout), (0, b'ok\n'), p.stderr)
        lines = p.stderr.decode().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], rf'^pc-lite-run: template {key}{message}'
                         r': making it again$')
        self.assertIn(key, self.keys())

    def test_truncated_ram_is_remade(self):
        self._damage(lambda d: os.truncate(os.path.join(d, 'ram'), 4096),
                     r': ram is 4096 bytes, not \d+')

    def test_corrupt_state_is_remade(self):
        def corrupt(tdir):
            with open(os.path.join(tdir, 'state'), 'r+b') as f:
                f.seek(100)
                f.write(b'\xff' * 64)
        self._damage(corrupt, ': its saved state is corrupt')

    def test_state_of_another_machine_is_remade(self):
        # A stream that passes the checksum (made consistent by hand) but
        # that QEMU cannot load: another vCPU count's state.
        p = self.run_runner('--template-create', '--cpus', '2')
        other = self.template_dir(p.stdout.decode().strip())

        def swap(tdir):
            shutil.copy(os.path.join(other, 'state'),
                        os.path.join(tdir, 'state'))
            with open(os.path.join(tdir, 'manifest.json')) as f:
                manifest = json.load(f)
            with open(os.path.join(other, 'manifest.json')) as f:
                theirs = json.load(f)
            manifest['sizes']['state'] = theirs['sizes']['state']
            manifest['state_sha256'] = theirs['state_sha256']
            with open(os.path.join(tdir, 'manifest.json'), 'w') as f:
                json.dump(manifest, f)

        self._damage(swap, r' is unusable \(.*\)')

    def test_another_qemu_binary_makes_its_own(self):
        p = self.run_runner('--template-create')
        self.assertEqual(p.returncode, 0, p.stderr)
        qemu = shutil.copy(os.path.realpath(paths.QEMU), self.cache)
        p = self.clone('--', 'echo ok', env={'PC_LITE_QEMU': qemu})
        self.assertEqual((p.returncode, p.stdout), (0, b'ok\n'), p.stderr)
        self.assertEqual(len(self.keys()), 2)

    def test_packed_rings_in_a_clone(self):
        # Patch 0019: a VM restored from a template allocates its queues'
        # used-element arrays when the incoming state's features include
        # packed rings.  A QEMU that makes every virtio device's rings
        # packed: the clone runs the command through its channel and
        # prints each virtio device's packed bit (bit 34 of the features
        # the guest negotiated).
        qemu = os.path.join(self.cache, 'qemu-packed')
        with open(qemu, 'w', encoding='ascii') as f:
            f.write('#!/bin/sh\nexec ' + os.path.realpath(paths.QEMU) +
                    ' -global virtio-device.packed=on "$@"\n')
        os.chmod(qemu, 0o755)
        for _ in range(2):          # makes the template, then reuses it
            p = self.clone('--', 'cut -c35 /sys/bus/virtio/devices/*/features',
                           env={'PC_LITE_QEMU': qemu})
            self.assertEqual(p.returncode, 0, p.stderr)
            # virtio-serial (console and channel) and virtio-rng
            self.assertEqual(p.stdout, b'1\n1\n')
        self.assertEqual(len(self.keys()), 1)

    def test_concurrent_creation(self):
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            runs = list(pool.map(
                lambda _: self.run_runner('--template-create'), range(3)))
        for p in runs:
            self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len({p.stdout for p in runs}), 1)
        self.assertEqual(len(self.keys()), 1)
        leftovers = [n for n in os.listdir(os.path.join(self.cache,
                                                        'templates'))
                     if '.tmp-' in n]
        self.assertEqual(leftovers, [])

    def test_disk_full(self):
        if os.geteuid() != 0:
            self.skipTest('needs root to mount a small tmpfs')
        small = os.path.join(self.cache, 'small')
        os.mkdir(small)
        for size, message in (
                # no room for the RAM file
                ('64m', r'cannot reserve 128 MiB for the template\'s RAM in '
                 r'.*: No space left on device'),
                # room for the RAM file, not for the saved state
                ('131076k', r'saving the template failed: .*')):
            subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}',
                            'tmpfs', small], check=True)
            try:
                p = self.run_runner('--template-create', cache=small)
                self.assertEqual(p.returncode, 125, p.stderr)
                lines = p.stderr.decode().splitlines()
                self.assertEqual(len(lines), 1, lines)
                self.assertRegex(lines[0], r'^pc-lite-run: cannot make the '
                                 rf'template: {message}$')
                # nothing but the lock file is left
                self.assertEqual([n for n in os.listdir(os.path.join(
                    small, 'templates')) if not n.startswith('.')], [])
            finally:
                subprocess.run(['umount', small], check=True)


class CloneBenchmarkTest(unittest.TestCase):
    """make bench's clone rows (tests/boot-time/clones.py), short."""

    def test_quick_run(self):
        p, res, chart = benchrun.quick_run(
            self, 'boot-time/clones.py',
            ['--runs', '2', '--vms', '2', '--back-to-back', '10'], 'clones',
            env=dict(os.environ, PC_LITE_ACCEL=launch.boot_accel()))
        self.assertTrue(chart)
        self.assertEqual(res['rate']['failures'], [])
        for kind in ('cold', 'clone'):
            self.assertGreater(res['time'][kind]['exit'],
                               res['time'][kind]['output'])
            mem = res['memory']['2'][kind]
            self.assertGreater(mem['pss'], 0)
            # QEMU's own: a part of the USS, without guest RAM
            self.assertGreater(mem['own'], 0)
            self.assertLess(mem['own'], mem['uss'])
        self.assertIn('| target | figure | limit | |', p.stdout)


if __name__ == '__main__':
    unittest.main()
