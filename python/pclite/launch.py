# SPDX-License-Identifier: GPL-2.0-or-later
"""Booting QEMU under python/qemu's QEMUMachine (with a QMP monitor).

(pclite.process starts QEMU as a plain child process, without the
cost of importing python/qemu.)

* Machine: python/qemu's QEMUMachine, made from a qemucmd.Cmdline, that
  stamps the exec, reaps QEMU itself (exit instant, peak RSS) and reads
  back its console and trace.
* boot(): one boot of the test guest to its report and power-off, the
  unit of the boot tests; kvm_boots() is the accelerator probe.
"""

import logging
import os
import select
import tempfile
import time

from qemu.machine import QEMUMachine

from pclite import accel as accels
from pclite import paths
from pclite import process
from pclite import qemucmd
from pclite import report
from pclite import trace


class Machine(QEMUMachine):
    """QEMUMachine for a qemucmd.Cmdline, started in the directory tmp.

    t_exec is the host clock just before QEMU is spawned.  Reaping with
    wait4() gives the exit instant and the peak RSS (ru_maxrss), which
    Popen.wait() would discard.
    """

    def __init__(self, cmd, tmp, **kwargs):
        super().__init__(cmd.binary, args=cmd.args(), base_temp_dir=tmp,
                         **kwargs)
        self.set_machine(cmd.machine)
        self.cmdline = cmd
        self.t_exec = None

    def _pre_launch(self):
        super()._pre_launch()
        # QEMU truncates these files only once it runs: what an earlier
        # run left there would be read as this run's.
        for path in (self.cmdline.console_path, self.cmdline.trace_path):
            if path and os.path.exists(path):
                os.unlink(path)
        self.t_exec = time.time()       # Popen follows immediately

    def console_text(self):
        """The guest console so far, then QEMU's own output."""
        text = process.read_text(self.cmdline.console_path) \
            if self.cmdline.console_path else ''
        return text + (self.get_log() or '')

    def stamps(self):
        """trace.parse() of the trace log so far."""
        return trace.parse(process.read_text(self.cmdline.trace_path))

    def wait_until(self, predicate, timeout):
        """poll() while QEMU runs."""
        return process.poll(predicate, timeout, self.is_running)

    def vmm_init_ms(self, timeout):
        """Wait for the vCPUs to start: exec to start in ms, or None."""
        if not self.wait_until(lambda: 'start' in self.stamps(), timeout):
            return None
        return round((self.stamps()['start'] - self.t_exec) * 1000, 3)

    def wait_exit(self, timeout):
        """Wait for QEMU to exit by itself: (t_exit, peak_rss_kb), or None
        when it is still running after timeout s."""
        pid = self.get_pid()
        fd = os.pidfd_open(pid)
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
        finally:
            os.close(fd)
        if not ready:
            return None
        t_exit = time.time()
        _, status, usage = os.wait4(pid, 0)
        self._popen.returncode = os.waitstatus_to_exitcode(status)
        self.wait()                     # Popen already knows: just cleanup
        return t_exit, usage.ru_maxrss

    def stop(self):
        """Kill QEMU if it still runs, else reap it."""
        if self.is_running():
            self.kill()
        else:
            self.wait()


class Result:
    """What one boot gave: exit status, console text, the guest's report,
    the boot phases (trace.phases()), wall time and accelerator."""

    def __init__(self, exitcode, console, wall_s, accel, phases):
        self.exitcode = exitcode
        self.console = console
        self.wall_s = wall_s
        self.accel = accel
        self.phases = phases
        self.report = report.parse(console)
        self.bad_log_lines = report.bad_log_lines(console)


def kvm_boots(kernel):
    """Does KVM boot kernel with the test initramfs to its report?"""
    # A failed probe is an answer, not an error: keep QEMUMachine quiet
    # about the guest it had to kill.
    log = logging.getLogger('qemu.machine')
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        res = boot(kernel=kernel, accel='kvm', timeout=20)
    finally:
        log.setLevel(level)
    return res.exitcode == 0 and res.report is not None


def boot_accel(kernel='vmlinux'):
    """accel.for_boot() for a kernel of build/guest, probed with boot()."""
    return accels.for_boot(paths.guest_file(kernel), kvm_boots)


def guest(kernel='vmlinux', initrd='initramfs.cpio.gz', smp=1, mem='128M',
          machine='pc-lite', accel=None, no_reboot=True):
    """The test guest's command line so far (no console, no trace):
    accel defaults to boot_accel(), the test guest's choice, whatever
    kernel boots."""
    cmd = qemucmd.Cmdline(machine, accel or boot_accel(), smp, mem,
                          no_reboot=no_reboot)
    return cmd.kernel(kernel, initrd)


def start(cmd, tmp, timeout=60):
    """Launch cmd, whose console is already set, in the directory tmp
    and wait for the guest's first report: (Machine, the report or None
    when none came within timeout s).  The caller stops the Machine."""
    vm = Machine(cmd, tmp)
    vm.launch()
    console = cmd.console_path
    if not vm.wait_until(
            lambda: report.count(process.read_text(console)), timeout):
        return vm, None
    return vm, report.parse(process.read_text(console))


def boot(cmd=None, console='serial', append='', args=(), timeout=120,
         wait_reports=None, **guest_args):
    """Boot once and wait for QEMU to exit; returns a Result.

    cmd is a guest() command line, or guest(**guest_args) by default; the
    console ("serial" or "virtio") and the trace log are added here,
    append words go to the kernel command line and args are extra
    options.  With wait_reports=N, stop QEMU as soon as the guest has
    reported N times (a guest that reboots in a loop).
    """
    if cmd is None:
        cmd = guest(**guest_args)
    with tempfile.TemporaryDirectory(prefix='pc-lite-') as tmp:
        log = os.path.join(tmp, 'console.log')
        if console == 'serial':
            cmd.serial_console(log)
        else:
            cmd.virtio_console(log)
        cmd.trace(os.path.join(tmp, 'trace.log')).append(append).add(*args)
        vm = Machine(cmd, tmp)
        start = time.monotonic()
        vm.launch()
        t_exit = None
        if wait_reports:
            vm.wait_until(lambda: report.count(process.read_text(log)) >=
                          wait_reports, timeout)
        else:
            t_exit = (vm.wait_exit(timeout) or (None,))[0]
        vm.stop()
        wall = time.monotonic() - start
        phases = trace.phases(vm.stamps(), vm.t_exec, t_exit)
        return Result(vm.exitcode(), vm.console_text(), wall, cmd.accel,
                      phases)
