# SPDX-License-Identifier: GPL-2.0-or-later
"""Container engines driving pc-lite-oci (build/pc-lite-oci), for its
tests and benchmark: a test image built from Debian's static busybox,
podman with storage of its own, a private dockerd, the namespaces they
run in (never the host's network), and the runtime's leftovers.

  image = make_rootfs(dir)                 # busybox with a shell
  box = Sandbox()                          # network and /run of its own
  pod = Podman(tmpdir, sandbox=box)
  pod.import_image(rootfs_dir, 'localhost/pclite-test:1')
  pod.run('run', '--rm', IMAGE, 'true')    # CompletedProcess
  dock = Docker(tmpdir, box)               # dockerd in the sandbox
"""

import json
import os
import shutil
import signal
import subprocess
import time

from pclite import paths

OCI = paths.OCI
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


def host_state():
    """What a test of an engine must leave as it found it on the host:
    interfaces, addresses, routes, firewall rules' tables, and the
    entries of /run, /var/lib, /etc and /etc/cni."""
    state = [subprocess.run(['ip', '-o', *args], capture_output=True,
                            check=True).stdout
             for args in (('link',), ('addr',), ('route',), ('-6', 'route'))]
    for d in ('/run', '/var/lib', '/etc', '/etc/cni', '/run/netns'):
        state.append(sorted(os.listdir(d)) if os.path.isdir(d) else None)
    return state


def stop_daemon(proc, timeout=60):
    """A daemon of a test's own (dockerd, containerd) asked to stop, then
    killed if it has not within timeout seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Sandbox:
    """A network namespace and a mount namespace (with /run and /var/lib
    private tmpfs) of their own, held by a process, for the engines a test
    runs: the bridges, veths, firewall rules, namespaces' files, sockets
    and caches they make (podman's /var/lib/containers/cache whatever its
    --root) stay in them and go with them.  An interface named eth0
    (one end of a veth pair, 192.0.2.10/24, a documentation address)
    stands in for a host's uplink, so that a test can check that nothing
    took it."""

    SETUP = ('mount -t tmpfs -o mode=755 tmpfs /run && '
             'mount -t tmpfs -o mode=755 tmpfs /var/lib && '
             'ip link set lo up && '
             'ip link add eth0 type veth peer name eth0peer && '
             'ip addr add 192.0.2.10/24 dev eth0 && '
             'ip link set eth0 up && ip link set eth0peer up && '
             'echo ready && exec sleep infinity')

    def __init__(self):
        self.proc = subprocess.Popen(
            ['unshare', '--net', '--mount', '--propagation', 'private', '--',
             'sh', '-c', self.SETUP], stdout=subprocess.PIPE)
        if self.proc.stdout.readline() != b'ready\n':
            self.proc.kill()
            raise RuntimeError('could not make the engine sandbox')
        self.pid = self.proc.pid

    def cmd(self, argv):
        """argv run inside the sandbox."""
        return ['nsenter', '-t', str(self.pid), '-n', '-m', '--', *argv]

    def path(self, path):
        """An absolute path as the sandbox sees it (its /run is its own),
        from outside."""
        return f'/proc/{self.pid}/root{path}'

    def run(self, argv, **kwargs):
        kwargs.setdefault('capture_output', True)
        kwargs.setdefault('check', False)
        return subprocess.run(self.cmd(argv), **kwargs)

    def uplink(self):
        """The stand-in uplink eth0 as ip and tc print it: its link,
        addresses, routes and qdiscs."""
        return [self.run(argv).stdout for argv in (
            ['ip', '-o', 'link', 'show', 'dev', 'eth0'],
            # (IPv4: the link-local IPv6 address's DAD state changes by
            # itself in the first seconds)
            ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'],
            ['ip', 'route', 'show', 'dev', 'eth0'],
            ['tc', 'qdisc', 'show', 'dev', 'eth0'],
            ['tc', 'filter', 'show', 'dev', 'eth0', 'ingress'])]

    def close(self):
        self.proc.kill()
        self.proc.wait()


class Docker:
    """Debian's dockerd with everything of its own: config, data root,
    exec root, socket, pid file and a cgroup parent under tmp, inside a
    Sandbox; pc-lite-oci registered as the runtime "pc-lite"."""

    CLI = '/usr/bin/docker'         # Debian's client, not another on PATH

    def __init__(self, tmp, sandbox, runtime_args=()):
        self.tmp = tmp
        self.sandbox = sandbox
        os.makedirs(tmp, exist_ok=True)
        self.sock = os.path.join(tmp, 'docker.sock')
        self.cgroup_parent = f'/pc-lite-docker-{os.path.basename(tmp)}'
        conf = os.path.join(tmp, 'daemon.json')
        with open(conf, 'w', encoding='utf-8') as f:
            json.dump({'runtimes': {'pc-lite': {
                'path': OCI, 'runtimeArgs': list(runtime_args)}},
                'data-root': os.path.join(tmp, 'data'),
                'exec-root': os.path.join(tmp, 'exec'),
                'pidfile': os.path.join(tmp, 'docker.pid'),
                'hosts': [f'unix://{self.sock}'],
                'cgroup-parent': self.cgroup_parent,
                # its trust key too (by default /etc/docker/key.json)
                'deprecated-key-path': os.path.join(tmp, 'key.json')}, f)
        self.log = open(os.path.join(tmp, 'dockerd.log'), 'wb')
        self.daemon = subprocess.Popen(
            sandbox.cmd(['dockerd', '--config-file', conf]),
            stdout=self.log, stderr=self.log)
        for _ in range(600):
            if self.run('version').returncode == 0:
                return
            if self.daemon.poll() is not None:
                break
            time.sleep(0.1)
        self.close()
        raise RuntimeError('dockerd did not start: see '
                           + os.path.join(tmp, 'dockerd.log'))

    def run(self, *args, timeout=300, **kwargs):
        """docker args: the CompletedProcess (output as bytes)."""
        return subprocess.run([self.CLI, '-H', f'unix://{self.sock}', *args],
                              capture_output=True, check=False,
                              timeout=timeout, **kwargs)

    def ok(self, *args, **kwargs):
        p = self.run(*args, **kwargs)
        if p.returncode:
            raise RuntimeError(f'docker {" ".join(args)}: '
                               f'{p.stderr.decode(errors="replace")}')
        return p.stdout.decode()

    def import_image(self, rootfs, name):
        tar = os.path.join(self.tmp, 'image.tar')
        subprocess.run(['tar', '-C', rootfs, '-cf', tar, '.'], check=True)
        self.ok('import', tar, name)

    def close(self):
        """Every container gone, dockerd stopped, its cgroups removed."""
        if self.daemon.poll() is None:
            ids = self.run('ps', '-aq', timeout=60).stdout.split()
            if ids:
                self.run('rm', '-f', *[i.decode() for i in ids], timeout=120)
            stop_daemon(self.daemon)
        self.log.close()
        for base in ('/sys/fs/cgroup',
                     *[os.path.join('/sys/fs/cgroup', d)
                       for d in os.listdir('/sys/fs/cgroup')]):
            path = base + self.cgroup_parent
            if os.path.isdir(path):
                for d in sorted((os.path.join(path, e)
                                 for e in os.listdir(path)
                                 if os.path.isdir(os.path.join(path, e))),
                                reverse=True):
                    try:
                        os.rmdir(d)
                    except OSError:
                        pass
                try:
                    os.rmdir(path)
                except OSError:
                    pass


class Podman:
    """podman with its storage, run directory and containers.conf in tmp
    (netavark: podman's own network stack; Debian 12's podman does not
    bring CNI's plugins), the runtime given by path; in a Sandbox when
    given one (its bridge and firewall rules are made there)."""

    def __init__(self, tmp, runtime=OCI, runtime_flags=(), sandbox=None):
        self.tmp = tmp
        self.sandbox = sandbox
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
        argv = ['podman', '--root', os.path.join(self.tmp, 'storage'),
                '--runroot', os.path.join(self.tmp, 'run'),
                '--runtime', runtime or self.runtime, *flags,
                '--cgroup-manager', 'cgroupfs', '--events-backend', 'file',
                *args]
        return self.sandbox.cmd(argv) if self.sandbox else argv

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
