# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU as a plain child process, and waiting for things.

* popen(): QEMU as a child that dies with this process (PR_SET_PDEATHSIG,
  and a watcher process for a QEMU that changes its user).
* run(): QEMU as a plain command (bad-input checks): status and stderr.
* read_text(), poll(): a file that may not be there yet, a condition.

Light on purpose (no python/qemu import): pc-lite-run starts here.
"""

import ctypes
import os
import select
import signal
import subprocess
import time

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """In the child: SIGKILL it when its parent dies."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG,
                                            signal.SIGKILL)


# glibc's malloc with one arena: QEMU's threads allocate little once the
# VM runs, and each further arena keeps its own free pages (an idle
# runner VM's heap: 11.1 MiB with glibc's default, 9.4 MiB with one;
# docs/pc-lite.rst, "Memory of an idle VM").  oci/vm.c does the same.
QEMU_ENV = {'MALLOC_ARENA_MAX': '1'}


def qemu_env(env=None):
    """env (default ours) with QEMU_ENV's entries unless they are set."""
    return dict(QEMU_ENV, **(os.environ if env is None else env))


# What a terminal or a shell sends to a whole process group: the watcher
# stays for the runner, which handles (or dies of) them.
_GROUP_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP,
                  signal.SIGTERM)


def _watch(runner_end, pidfd):
    """The watcher (a fork of ours, never returns): SIGKILL the child of
    pidfd when we die (EOF on runner_end), exit when the child does."""
    try:
        for s in _GROUP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _GROUP_SIGNALS)
        # Nothing of ours held open: our stdout's reader, the channel's
        # other end and the root image's lock see us go.
        for fd in map(int, os.listdir('/proc/self/fd')):
            if fd not in (runner_end, pidfd):
                try:
                    os.close(fd)
                except OSError:
                    pass
        ready, _, _ = select.select([runner_end, pidfd], [], [])
        if runner_end in ready:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    finally:
        os._exit(0)


class Child(subprocess.Popen):
    """A child process that dies with us (popen())."""

    _watcher = None

    def kill_with_us(self):
        """Start a watcher that SIGKILLs the child when we die.

        The kernel forgets PR_SET_PDEATHSIG when a process changes its
        user (QEMU's -run-with user=); our death closes a pipe to the
        watcher, which outlives us for this one signal.
        """
        pidfd = os.pidfd_open(self.pid)
        ours, theirs = os.pipe()
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _GROUP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                _watch(ours, pidfd)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
            os.close(ours)
            os.close(pidfd)
        self._watcher = (pid, theirs)

    def _reap_watcher(self):
        # Once the child is reaped: the watcher exits at once, if it has
        # not already.
        if self._watcher and self.returncode is not None:
            pid, fd = self._watcher
            self._watcher = None
            os.close(fd)
            os.waitpid(pid, 0)

    def poll(self):
        status = super().poll()
        self._reap_watcher()
        return status

    def wait(self, timeout=None):
        status = super().wait(timeout)
        self._reap_watcher()
        return status

    def __exit__(self, exc_type, value, traceback):
        # Left with an exception: the child goes too (it might run on,
        # and Popen would wait for it).
        if exc_type is not None and self.poll() is None:
            self.kill()
        super().__exit__(exc_type, value, traceback)


def popen(argv, env=None, changes_user=False, **kwargs):
    """subprocess.Popen(argv) for a QEMU that must not outlive us.

    changes_user: QEMU changes its user once started (-run-with user=),
    so it gets a watcher (Child.kill_with_us()).
    """
    child = Child(argv, preexec_fn=_die_with_parent, env=qemu_env(env),
                  **kwargs)
    if changes_user:
        try:
            child.kill_with_us()
        except BaseException:
            child.kill()
            child.wait()
            raise
    return child


def run(argv, timeout=30):
    """Run QEMU to its exit: (exit status, stderr)."""
    p = subprocess.run(argv, capture_output=True, text=True,
                       timeout=timeout, check=False,
                       preexec_fn=_die_with_parent)
    return p.returncode, p.stderr


def read_text(path):
    """A file's text, or '' when it is not there (yet)."""
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()
    except OSError:
        return ''


def poll(predicate, timeout, alive=lambda: True, interval=0.01):
    """Wait until predicate() is true: True, or False after timeout s or
    once alive() is false (then predicate() has the last word)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if not alive():
            return predicate()
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True
