# SPDX-License-Identifier: GPL-2.0-or-later
"""Run one command in a pc-lite VM booted from an NVDIMM/DAX root disk.

  pc-lite-run [--rootfs IMG] [--cpus N] [--mem M] [options] -- COMMAND...

boots build/guest/vmlinux on -M pc-lite with IMG (an fsdax image made by
scripts/pc-lite-image.py, default build/guest/rootfs.img) as /dev/pmem0,
mounted as the root filesystem with DAX, runs "/bin/sh -c COMMAND" in the
guest with its stdout and stderr forwarded to this process's stdout and
stderr, powers the VM off and exits with the command's exit status.  With
no COMMAND it gives an interactive shell on the virtio console instead.

The image is mapped copy-on-write by default (share=off): the guest may
write, and its writes are dropped at power-off.  --persist maps it shared
(writes reach the image file), --readonly maps it read-only.

Exit status: the command's; 125 when the VM could not run it (bad
arguments, bad image, QEMU failed, the guest did not report).

scripts/pc-lite-run runs this module (python3 -m pclite.runner).
"""

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

from pclite import accel
from pclite import image
from pclite import launch
from pclite import paths
from pclite import qemucmd
from pclite import report
from pclite import trace

CMDLINE_MAX = 2047                 # include/hw/i386/elf_direct_boot.h


class RunError(Exception):
    """The VM could not run the command: exit status 125."""


def parse_size_mib(text):
    """"256M", "1G" or "512" (MiB) as MiB."""
    m = re.fullmatch(r'(\d+)([MmGg]?)', text)
    if not m or int(m.group(1)) == 0:
        raise RunError(f'--mem {text}: use a size such as 256M or 1G')
    return int(m.group(1)) * (1024 if m.group(2) in ('G', 'g') else 1)


class CommandIO:
    """How the command gets into the guest and its results come out.

    The command travels hex-encoded on the kernel command line
    (pclite.cmd=HEX, see guest/init.c); its stdout and stderr come back on
    the virtio console ports hvc1 and hvc2, written to files in tmp and
    copied to our stdout and stderr as they grow; its exit status is the
    "PCLITE-EXIT status=N" line on the console (hvc0).
    """

    def __init__(self, command, tmp):
        self.command = command
        self._streams = [[os.path.join(tmp, 'stdout'), sys.stdout, 0],
                         [os.path.join(tmp, 'stderr'), sys.stderr, 0]]

    def configure(self, cmd):
        """Add the command and its output ports to the QEMU command line."""
        for name, (path, _, _) in zip(('out', 'err'), self._streams):
            cmd.virtio_port(name, f'file,path={path}')
        cmd.append('pclite.cmd=' + self.command.encode().hex())

    def pump(self):
        """Copy what the guest has written since the last call."""
        for stream in self._streams:
            path, out, pos = stream
            try:
                with open(path, 'rb') as f:
                    f.seek(pos)
                    data = f.read()
            except OSError:
                continue
            if data:
                stream[2] += len(data)
                out.buffer.write(data)
                out.flush()

    @staticmethod
    def status(console):
        """The command's exit status, or None if the guest did not say."""
        return report.exit_status(console)


def vm_cmdline(opts, size, tmp):
    """The QEMU command line, without the command's way in and out."""
    mem = parse_size_mib(opts.mem)
    cmd = qemucmd.Cmdline('pc-lite', opts.accel, opts.cpus,
                          f'{mem}M,slots=1,maxmem={mem + size // image.MiB}M',
                          no_reboot=True)
    cmd.kernel(opts.kernel).append('quiet', 'panic=-1')
    cmd.nvdimm_root(opts.rootfs, size, share=opts.mode == 'persist',
                    readonly=opts.mode == 'readonly', dev_id='nv0')
    if opts.timings:
        cmd.trace(os.path.join(tmp, 'trace'))
    return cmd


def _check_length(cmd):
    n = len(cmd.kernel_cmdline)
    if n > CMDLINE_MAX:
        raise RunError(f'the command is too long for the kernel command '
                       f'line ({n} > {CMDLINE_MAX} bytes)')


def run(opts, command):
    """Boot, run command (None: a shell), return (status, phases, console).

    Raises RunError when the VM could not run the command.
    """
    try:
        size = image.check(opts.rootfs)
    except image.ImageError as e:
        raise RunError(str(e)) from e
    if not os.path.exists(opts.kernel):
        raise RunError(f'kernel {opts.kernel}: not found (run "make guest")')
    tmp = tempfile.mkdtemp(prefix='pc-lite-run-')
    try:
        cmd = vm_cmdline(opts, size, tmp)
        if command is None:
            cmd.virtio_console().append('pclite.shell', *opts.append)
            _check_length(cmd)
            with launch.popen(cmd.argv()) as qemu:
                return qemu.wait(), None, ''
        io = CommandIO(command, tmp)
        cmd.virtio_console(os.path.join(tmp, 'console'))
        io.configure(cmd)
        cmd.append(*opts.append)
        _check_length(cmd)
        status, console, times = _run_command(cmd, io, opts.timeout)
        phases = trace.phases(trace.parse(launch.read_text(cmd.trace_path)),
                              *times) if opts.timings else None
        return status, phases, console
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run_command(cmd, io, timeout):
    """Run the VM to its exit, forwarding the command's output:
    (exit status, console text, (t_exec, t_exit))."""
    t_exec = time.time()
    with launch.popen(cmd.argv(), stdin=subprocess.DEVNULL,
                      stderr=subprocess.PIPE, text=True) as qemu:
        deadline = time.monotonic() + timeout if timeout else None
        while qemu.poll() is None:
            io.pump()
            if deadline and time.monotonic() > deadline:
                qemu.kill()
                qemu.wait()
                raise RunError(f'the VM did not finish within {timeout} s')
            time.sleep(0.02)
        t_exit = time.time()
        qemu_err = qemu.stderr.read()
    io.pump()
    console = launch.read_text(cmd.console_path)
    if qemu.returncode != 0:
        raise RunError(qemu_err.strip() or
                       f'QEMU exited with status {qemu.returncode}')
    status = io.status(console)
    if status is None:
        raise RunError('the guest did not report an exit status; its '
                       'console said:\n' + console[-2000:])
    return status, console, (t_exec, t_exit)


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
    p.add_argument('--timings', action='store_true',
                   help='print the boot-time breakdown on stderr')
    p.add_argument('--timeout', type=float, default=0,
                   help='kill the VM after this many seconds (default: no)')
    p.add_argument('command', nargs=argparse.REMAINDER,
                   help='the command and its arguments, after --')
    return p


def main(argv=None):
    """pc-lite-run's entry point: returns the exit status."""
    opts = parser().parse_args(argv)
    words = opts.command[1:] if opts.command[:1] == ['--'] else opts.command
    # One word is a shell command line ("uname -r; nproc"), several are
    # a command and its arguments, quoted for the guest's shell.
    command = (words[0] if len(words) == 1 else shlex.join(words)) \
        if words else None
    try:
        if opts.accel is None:
            opts.accel = accel.for_boot(opts.kernel, launch.kvm_boots)
        status, phases, _ = run(opts, command)
    except RunError as e:
        print(f'pc-lite-run: {e}', file=sys.stderr)
        return 125
    except KeyboardInterrupt:
        return 130
    if opts.timings and phases:
        print(f'pc-lite-run: boot-time breakdown (host clock, ms, '
              f'accelerator {opts.accel}):\n{trace.format_phases(phases)}',
              file=sys.stderr)
    return status


if __name__ == '__main__':
    sys.exit(main())
