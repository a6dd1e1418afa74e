# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU as a plain child process, and waiting for things.

* popen(): QEMU as a child that dies with this process (PR_SET_PDEATHSIG).
* run(): QEMU as a plain command (bad-input checks): status and stderr.
* read_text(), poll(): a file that may not be there yet, a condition.

"""

import ctypes
import os
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
# docs/pc-lite.rst, "Memory of an idle VM"), as host/spawn.c gives the
# tools' QEMUs.
QEMU_ENV = {'MALLOC_ARENA_MAX': '1'}


def qemu_env(env=None):
    """env (default ours) with QEMU_ENV's entries unless they are set."""
    return dict(QEMU_ENV, **(os.environ if env is None else env))


class Child(subprocess.Popen):
    """A child process that dies with us (popen())."""

    def __exit__(self, exc_type, value, traceback):
        # Left with an exception: the child goes too (it might run on,
        # and Popen would wait for it).
        if exc_type is not None and self.poll() is None:
            self.kill()
        super().__exit__(exc_type, value, traceback)


def popen(argv, env=None, **kwargs):
    """subprocess.Popen(argv) for a QEMU that must not outlive us: it
    gets PR_SET_PDEATHSIG, which it keeps when -run-with user= changes
    its user (patch 0014; the kernel clears it at the change)."""
    return Child(argv, preexec_fn=_die_with_parent, env=qemu_env(env),
                 **kwargs)


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
