# SPDX-License-Identifier: GPL-2.0-or-later
"""Run one command in a pc-lite VM booted from an NVDIMM/DAX root disk.

  pc-lite-run [--rootfs IMG] [--cpus N] [--mem M] [options] -- COMMAND...
  pc-lite-run --clone [options] -- COMMAND...
  pc-lite-run --template-create | --template-list | --template-rm [KEY...]

boots build/guest/vmlinux on -M pc-lite with IMG (an fsdax image made by
scripts/pc-lite-image.py, default build/guest/rootfs.img) as /dev/pmem0,
mounted as the root filesystem with DAX, runs COMMAND in the guest through
the command channel (a virtio-serial port; docs/pc-lite.rst), with this
process's stdin, stdout and stderr as its own and SIGINT, SIGTERM and
SIGHUP forwarded to it, powers the VM off and exits with the command's
exit status.  One word is a shell command line ("uname -r; nproc"),
several are a program and its arguments.  With no COMMAND it gives an
interactive shell on the virtio console instead.

--clone runs the command in a clone of a template instead: a VM booted
once with the same QEMU, kernel, root image, vCPUs, memory and kernel
arguments, saved when its init waits for a command, and started again
from that state with its RAM mapped copy-on-write (pclite.template).  The
template is made first when there is none; a clone's root image is
read-only (/tmp is a tmpfs).

The image is mapped copy-on-write by default (share=off): the guest may
write, and its writes are dropped at power-off.  --persist maps it shared
(writes reach the image file), --readonly maps it read-only.

QEMU runs under its seccomp filter (-sandbox on, with its deny options);
when we are root, it changes to an unprivileged user (nobody, or
--qemu-user) once it has opened its files and before the guest runs.
--no-sandbox and --keep-root turn these off.

Exit status: the command's (128 + N when signal N ended it); 125 when
the VM could not run it (bad arguments, bad image, QEMU failed, the guest
did not answer).

scripts/pc-lite-run runs this module (python3 -m pclite.runner).
"""

import argparse
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from pclite import accel
from pclite import channel
from pclite import image
from pclite import paths
from pclite import process
from pclite import qemucmd
from pclite import template
from pclite import trace

# How long a VM may take to start the command: a cold boot (TCG, large
# -smp) and a clone, which resumes where its init waits for it.
BOOT_TIMEOUT = 120
CLONE_TIMEOUT = 20


class RunError(Exception):
    """The VM could not run the command: exit status 125.

    started says whether the command had started in the guest (then it
    must not be run again).
    """

    def __init__(self, message, started=False):
        super().__init__(message)
        self.started = started


def parse_size_mib(text):
    """"256M", "1G" or "512" (MiB) as MiB."""
    m = re.fullmatch(r'(\d+)([MmGg]?)', text)
    if not m or int(m.group(1)) == 0:
        raise RunError(f'--mem {text}: use a size such as 256M or 1G')
    return int(m.group(1)) * (1024 if m.group(2) in ('G', 'g') else 1)


def vm_cmdline(opts, size, tmp):
    """The QEMU command line, without the command's way in and out."""
    mem = parse_size_mib(opts.mem)
    cmd = qemucmd.Cmdline('pc-lite', opts.accel, opts.cpus,
                          f'{mem}M,slots=1,maxmem={mem + size // image.MiB}M',
                          no_reboot=True)
    cmd.kernel(opts.kernel).append('quiet', 'panic=-1')
    cmd.nvdimm_root(opts.rootfs, size, share=opts.mode == 'persist',
                    readonly=opts.mode == 'readonly', dev_id='nv0')
    if not opts.no_sandbox:
        cmd.sandbox()
    user = qemu_user(opts)
    if user:
        cmd.run_as(user)
    if _timed(opts):
        cmd.trace(os.path.join(tmp, 'trace'))
    return cmd


def _timed(opts):
    return opts.timings or opts.timings_file


def qemu_user(opts):
    """The "UID:GID" that QEMU changes to, or None (it keeps ours): when
    we are root, --qemu-user's (default nobody) unless --keep-root."""
    if os.geteuid() != 0 or opts.keep_root:
        return None
    name = opts.qemu_user
    if re.fullmatch(r'\d+:\d+', name):
        uid, gid = map(int, name.split(':'))
    else:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise RunError(f'--qemu-user {name}: no such user') from None
        uid, gid = entry.pw_uid, entry.pw_gid
    if uid == 0 or gid == 0:
        raise RunError(f'--qemu-user {name}: not an unprivileged user '
                       f'(--keep-root keeps QEMU root)')
    return f'{uid}:{gid}'


class _Stderr:
    """QEMU's stderr, read as it comes (a pipe that fills up would stop
    QEMU), the last 64 KiB kept."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.data = b''
        os.set_blocking(pipe.fileno(), False)

    def read(self, _fileobj=None):
        try:
            chunk = os.read(self.pipe.fileno(), 1 << 16)
        except BlockingIOError:
            return
        self.data = (self.data + chunk)[-(1 << 16):]

    def text(self):
        self.read()
        return self.data.decode(errors='replace').strip()


def _stdin_fd(opts):
    """Our stdin for the command, or None (-n, or no stdin at all)."""
    if opts.no_stdin:
        return None
    try:
        os.fstat(0)
    except OSError:
        return None
    return 0


def make_template(opts, size):
    """(spec, key) of opts' template, made first when there is none."""
    spec = template.Spec(opts.kernel, opts.rootfs, size, opts.cpus,
                         parse_size_mib(opts.mem), opts.accel, opts.append,
                         vmgenid=opts.vmgenid, user=qemu_user(opts))
    key = spec.key()
    try:
        template.check(key)
        return spec, key
    except FileNotFoundError:
        pass
    except template.TemplateError as e:
        print(f'pc-lite-run: {e}: making it again', file=sys.stderr)
    try:
        return spec, template.create(spec, timeout=BOOT_TIMEOUT)
    except template.TemplateError as e:
        raise RunError(f'cannot make the template: {e}') from e


def _launch_session(opts, cmd, fd, ours, argv, clone, start_timeout,
                    generation=None):
    """Run QEMU with the channel's other end fd and the command on it:
    (status, t_exec, t_first_output, t_exit).  clone: the VM starts from a
    template; generation is its new VM generation ID, if it has one."""
    t_exec = time.time()
    with process.popen(cmd.argv(), stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       pass_fds=[fd]) as qemu:
        os.close(fd)
        err = _Stderr(qemu.stderr)
        session = channel.Session(
            ours, argv, env=dict(opts.env) if opts.env else None,
            cwd=opts.workdir, stdin=_stdin_fd(opts),
            stdout=sys.stdout.buffer, stderr=sys.stderr.buffer,
            at_once=clone, generation=generation)

        interrupted = []

        def forward(signo, _frame):
            # Before the command runs there is nothing to forward to: the
            # VM goes, as a process that had not started yet would.
            if session.pid is None:
                interrupted.append(signo)
                qemu.kill()
            session.signal(signo)

        old = {s: signal.signal(s, forward) for s in channel.FORWARDED_SIGNALS}
        try:
            status = session.run(
                alive=lambda: qemu.poll() is None,
                deadline=time.monotonic() + opts.timeout if opts.timeout
                else None, start_timeout=start_timeout,
                extra=[(qemu.stderr, err.read)])
        except channel.ChannelError as e:
            qemu.kill()
            qemu.wait()
            if interrupted:
                return 128 + interrupted[0], t_exec, None, time.time()
            raise RunError(_failure(str(e), qemu, err, cmd),
                           started=session.pid is not None) from e
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
            ours.close()
        if clone:
            # Nothing of a clone outlives it (read-only root, private
            # RAM): no need to wait for its init to power it off.
            qemu.kill()
        try:
            qemu.wait(timeout=30)
        except subprocess.TimeoutExpired:
            qemu.kill()
            qemu.wait()
        t_exit = time.time()
        if qemu.returncode not in (0, -signal.SIGKILL if clone else 0):
            raise RunError(_failure('QEMU failed', qemu, err, cmd),
                           started=True)
    return status, t_exec, session.t_first_output, t_exit


def _failure(what, qemu, err, cmd):
    """Why the VM did not run the command, in one message."""
    qemu.poll()
    if qemu.returncode not in (None, 0, -signal.SIGKILL) and err.text():
        return err.text().splitlines()[-1]
    console = process.read_text(cmd.console_path).strip()
    tail = '\n'.join(console.splitlines()[-5:])
    return f'{what}' + (f'; the console said:\n{tail}' if tail else '')


def _open_root(opts, mode):
    """image.open_root() of opts' root image, its errors as RunError."""
    try:
        return image.open_root(opts.rootfs, mode)
    except image.ImageError as e:
        raise RunError(str(e)) from e


def run(opts, argv):
    """Boot (or clone), run argv (None: a shell): (status, phases).

    Raises RunError when the VM could not run the command.
    """
    # Templates and their clones map the root read-only.
    size, root = _open_root(opts, 'readonly' if opts.clone else opts.mode)
    if not os.path.exists(opts.kernel):
        os.close(root)
        raise RunError(f'kernel {opts.kernel}: not found (run "make guest")')
    tmp = tempfile.mkdtemp(prefix='pc-lite-run-')
    try:
        if argv is None:
            cmd = vm_cmdline(opts, size, tmp)
            cmd.virtio_console().append('pclite.shell', *opts.append)
            with process.popen(cmd.argv()) as qemu:
                return qemu.wait(), None
        if opts.clone:
            return _run_clone(opts, size, tmp, argv)
        ours, theirs = channel.socketpair()
        cmd = vm_cmdline(opts, size, tmp)
        cmd.virtio_console(os.path.join(tmp, 'console'))
        cmd.channel(theirs.fileno()).rng().append(*opts.append)
        status, t_exec, _, t_exit = _launch_session(
            opts, cmd, theirs.detach(), ours, argv, False, BOOT_TIMEOUT)
        phases = trace.phases(trace.parse(process.read_text(cmd.trace_path)),
                              t_exec, t_exit) if _timed(opts) else None
        return status, phases
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        os.close(root)


def _run_clone(opts, size, tmp, argv):
    """argv in a clone of opts' template; a template that QEMU cannot
    load, or whose clone does not answer, is made again once."""
    for attempt in (1, 2):
        spec, key = make_template(opts, size)
        ours, theirs = channel.socketpair()
        vmgenid, generation = template.generation(spec)
        cmd = template.clone_cmdline(spec, key, os.path.join(tmp, 'console'),
                                     theirs.fileno(), vmgenid)
        if _timed(opts):
            cmd.trace(os.path.join(tmp, 'trace'))
        try:
            status, t_exec, t_out, t_exit = _launch_session(
                opts, cmd, theirs.detach(), ours, argv, True,
                CLONE_TIMEOUT, generation)
        except RunError as e:
            if attempt == 2 or e.started:
                raise
            print(f'pc-lite-run: template {key} is unusable ({e}): making '
                  f'it again', file=sys.stderr)
            template.remove(key)
            continue
        phases = trace.clone_phases(
            trace.parse(process.read_text(cmd.trace_path)), t_exec, t_out,
            t_exit) if _timed(opts) else None
        return status, phases
    raise AssertionError('not reached')


def template_command(opts):
    """--template-create, --template-list, --template-rm: exit status."""
    if opts.template_list:
        for key, manifest in template.templates():
            if isinstance(manifest, Exception):
                print(f'{key}  unusable: {manifest}')
                continue
            made = time.strftime('%Y-%m-%d %H:%M:%S',
                                 time.localtime(manifest['created']))
            print(f'{key}  {manifest["cpus"]} vCPU, {manifest["mem_mib"]} '
                  f'MiB, {manifest["accel"]}, kernel '
                  f'{manifest["kernel"][0]}, root {manifest["rootfs"][0]}, '
                  f'state {manifest["sizes"]["state"]} bytes, made {made}')
        return 0
    if opts.template_rm is not None:
        keys = opts.template_rm or [k for k, _ in template.templates()]
        status = 0
        for key in keys:
            if not re.fullmatch(r'[0-9a-f]{16}', key) or \
                    not template.remove(key):
                print(f'pc-lite-run: no template {key}', file=sys.stderr)
                status = 125
        return status
    size, root = _open_root(opts, 'readonly')
    try:
        _, key = make_template(opts, size)
    finally:
        os.close(root)
    print(key)
    return 0


def _kvm_boots(kernel):
    """launch.kvm_boots(), imported only when the probe must run: the
    runner does not otherwise pay for python/qemu's import (some 70 ms)."""
    from pclite import launch  # pylint: disable=import-outside-toplevel
    return launch.kvm_boots(kernel)


def _env_entry(text):
    name, eq, _ = text.partition('=')
    if not eq or not name:
        raise argparse.ArgumentTypeError(f'{text}: use NAME=VALUE')
    return name, text[len(name) + 1:]


def parser():
    """The command-line options (also used by make demo)."""
    p = argparse.ArgumentParser(
        prog='pc-lite-run', description=__doc__.split('\n\n')[0],
        usage='%(prog)s [options] [-- COMMAND...]')
    p.add_argument('--rootfs', default=paths.guest_file('rootfs.img'),
                   help='fsdax root image (default build/guest/rootfs.img)')
    p.add_argument('--kernel', default=paths.guest_file('vmlinux'),
                   help='guest kernel (default build/guest/vmlinux)')
    p.add_argument('--cpus', type=int, default=1, help='vCPUs (default 1)')
    p.add_argument('--mem', default='128M',
                   help='guest RAM besides the image (default 128M)')
    p.add_argument('--accel', default=None,
                   help='kvm or tcg (default: KVM when it boots Linux)')
    mode = p.add_mutually_exclusive_group()
    mode.add_argument('--persist', dest='mode', action='store_const',
                      const='persist', help='guest writes reach the image')
    mode.add_argument('--readonly', dest='mode', action='store_const',
                      const='readonly', help='map the image read-only')
    p.set_defaults(mode='cow')
    p.add_argument('--append', action='append', default=[],
                   help='more kernel command-line words')
    p.add_argument('-e', '--env', action='append', type=_env_entry,
                   default=[], metavar='NAME=VALUE',
                   help='the command\'s environment (default: PATH, HOME '
                   'and TERM of the guest)')
    p.add_argument('-w', '--workdir', metavar='DIR',
                   help='the command\'s working directory (default /root)')
    p.add_argument('-n', '--no-stdin', action='store_true',
                   help='the command\'s stdin is /dev/null')
    p.add_argument('--no-sandbox', action='store_true',
                   help='QEMU without its seccomp filter (-sandbox on, '
                   'the default; for debugging and the benchmark)')
    p.add_argument('--qemu-user', default='nobody', metavar='USER',
                   help='when run as root, QEMU changes to this user (a '
                   'name, or UID:GID) once it has opened its files '
                   '(default nobody)')
    p.add_argument('--keep-root', action='store_true',
                   help='when run as root, QEMU stays root (no user change)')
    p.add_argument('--timings', action='store_true',
                   help='print the boot-time breakdown on stderr')
    p.add_argument('--timings-file', metavar='FILE',
                   help='write the breakdown to FILE as JSON')
    p.add_argument('--timeout', type=float, default=0,
                   help='kill the VM after this many seconds (default: no)')
    tmpl = p.add_mutually_exclusive_group()
    tmpl.add_argument('--clone', action='store_true',
                      help='run the command in a clone of a template')
    tmpl.add_argument('--template-create', action='store_true',
                      help='make the template for these options; print '
                      'its key')
    tmpl.add_argument('--template-list', action='store_true',
                      help='list the templates')
    tmpl.add_argument('--template-rm', nargs='*', metavar='KEY',
                      help='remove these templates (all without a key)')
    p.add_argument('--vmgenid', default='auto', metavar='auto|UUID',
                   help='the VM generation ID of a template and its clones '
                   '(default auto: a new one for every clone; a fixed '
                   'UUID makes clones repeat the template\'s random '
                   'numbers, for tests)')
    p.add_argument('command', nargs=argparse.REMAINDER,
                   help='the command and its arguments, after --')
    return p


def main(argv=None):
    """pc-lite-run's entry point: returns the exit status."""
    opts = parser().parse_args(argv)
    words = opts.command[1:] if opts.command[:1] == ['--'] else opts.command
    # One word is a shell command line, several a program and arguments.
    command = (['/bin/sh', '-c', words[0]] if len(words) == 1 else words) \
        if words else None
    templates = opts.clone or opts.template_create
    try:
        if templates and opts.mode != 'cow':
            raise RunError('templates map the root image read-only: '
                           '--persist and --readonly do not apply')
        if opts.clone and command is None:
            raise RunError('--clone needs a command')
        if opts.mode == 'persist' and \
                opts.rootfs == parser().get_default('rootfs'):
            raise RunError('--persist needs --rootfs: the default image is '
                           'shared by every run and test')
        if opts.template_list or opts.template_rm is not None:
            return template_command(opts)
        qemu_user(opts)             # a bad --qemu-user before the probe
        if opts.accel is None:
            opts.accel = accel.for_boot(opts.kernel, _kvm_boots)
        if opts.template_create:
            return template_command(opts)
        status, phases = run(opts, command)
    except RunError as e:
        print(f'pc-lite-run: {e}', file=sys.stderr)
        return 125
    except KeyboardInterrupt:
        return 130
    if opts.timings_file and phases:
        with open(opts.timings_file, 'w', encoding='utf-8') as f:
            json.dump(phases, f)
    if opts.timings and phases:
        what = 'clone' if opts.clone else 'boot-time'
        print(f'pc-lite-run: {what} breakdown (host clock, ms, '
              f'accelerator {opts.accel}):\n{trace.format_phases(phases)}',
              file=sys.stderr)
    return status


if __name__ == '__main__':
    sys.exit(main())
