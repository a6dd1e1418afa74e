# SPDX-License-Identifier: GPL-2.0-or-later
"""Container engines driving pc-lite-oci (build/pc-lite-oci), for its
tests and benchmark: a test image built from Debian's static busybox,
podman with storage of its own, and the runtime's leftovers.

  image = make_rootfs(dir)                 # busybox with a shell
  pod = Podman(tmpdir, accel='tcg')
  pod.import_image(rootfs_dir, 'localhost/pclite-test:1')
  pod.run('run', '--rm', IMAGE, 'true')    # CompletedProcess
"""

import os
import shutil
import subprocess

from pclite import paths

OCI = os.path.join(paths.BUILD, 'pc-lite-oci')
OCI_ROOT = '/run/pc-lite-oci'       # the runtime's default --root
APPLETS = ('sh', 'echo', 'cat', 'id', 'pwd', 'env', 'hostname', 'sleep',
           'ls', 'true', 'false', 'tty', 'wc', 'grep', 'test', 'mount',
           'head')


def missing(*tools):
    """The tools of tools that are not on PATH."""
    return [t for t in tools if not shutil.which(t)]


def make_rootfs(path, shell=True):
    """A busybox rootfs in path; without a shell, only /busybox."""
    os.makedirs(path)
    if not shell:
        shutil.copy('/bin/busybox', os.path.join(path, 'busybox'))
        return path
    for d in ('bin', 'proc', 'sys', 'dev', 'etc', 'tmp', 'root'):
        os.makedirs(os.path.join(path, d))
    shutil.copy('/bin/busybox', os.path.join(path, 'bin', 'busybox'))
    for applet in APPLETS:
        os.symlink('busybox', os.path.join(path, 'bin', applet))
    with open(os.path.join(path, 'etc', 'passwd'), 'w',
              encoding='utf-8') as f:
        f.write('root:x:0:0:root:/root:/bin/sh\n'
                'user:x:1000:1000:user:/tmp:/bin/sh\n')
    return path


def oci_processes(mentioning=None):
    """pids of pc-lite-oci processes (monitors) and of their QEMUs; with
    mentioning, only those whose command line names that path (a test's
    or benchmark's own --root, bundle or storage directory), so that VMs
    of others running beside it are not counted."""
    out = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmd = f.read()
        except OSError:
            continue
        if not (cmd.startswith(OCI.encode()) or
                b'mount_tag=pclite-root' in cmd):
            continue
        if mentioning is None or os.fsencode(mentioning) in cmd:
            out.append(int(pid))
    return out


class Podman:
    """podman with its storage, run directory and containers.conf in tmp
    (netavark: podman's own network stack; Debian 12's podman does not
    bring CNI's plugins), the runtime given by path."""

    def __init__(self, tmp, runtime=OCI, runtime_flags=()):
        self.tmp = tmp
        os.makedirs(tmp, exist_ok=True)
        self.runtime = runtime
        self.runtime_flags = list(runtime_flags)
        self.conf = os.path.join(tmp, 'containers.conf')
        with open(self.conf, 'w', encoding='utf-8') as f:
            f.write('[network]\nnetwork_backend = "netavark"\n')

    def cmd(self, *args, runtime=None):
        """The podman command line for args."""
        flags = [] if runtime else [f'--runtime-flag={f}'
                                    for f in self.runtime_flags]
        return ['podman', '--root', os.path.join(self.tmp, 'storage'),
                '--runroot', os.path.join(self.tmp, 'run'),
                '--runtime', runtime or self.runtime, *flags,
                '--cgroup-manager', 'cgroupfs', '--events-backend', 'file',
                *args]

    def run(self, *args, stdin=b'', timeout=300, runtime=None):
        """podman args: the CompletedProcess (output as bytes)."""
        return subprocess.run(self.cmd(*args, runtime=runtime), input=stdin,
                              capture_output=True, check=False,
                              timeout=timeout,
                              env=dict(os.environ, CONTAINERS_CONF=self.conf))

    def ok(self, *args, **kwargs):
        """podman args, which must succeed: its stdout as text."""
        p = self.run(*args, **kwargs)
        if p.returncode:
            raise RuntimeError(f'podman {" ".join(args)}: '
                               f'{p.stderr.decode(errors="replace")}')
        return p.stdout.decode()

    def import_image(self, rootfs, name):
        """The directory rootfs as image name."""
        tar = os.path.join(self.tmp, name.replace('/', '_').replace(':', '_')
                           + '.tar')
        subprocess.run(['tar', '-C', rootfs, '-cf', tar, '.'], check=True)
        self.ok('import', tar, name)

    def reset(self):
        """Every container and image gone, podman's storage removed."""
        for args in (('rm', '-a', '-f', '-t', '0'), ('system', 'reset', '-f')):
            self.run(*args, timeout=120)
