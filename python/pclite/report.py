# SPDX-License-Identifier: GPL-2.0-or-later
"""The guest's report: the lines its init prints on the console.

Their format is described once, in the header comment of guest/init.c:
a "PCLITE-REPORT key=value ..." line once the guest is up.  (A command's
output and exit status travel on the command channel, pclite.channel.)
"""

import re

REPORT = 'PCLITE-REPORT'
_REPORT_RE = re.compile(REPORT + r' (.*)')
# The kernel log lines init counts as log_errors.
_BAD_LOG_RE = re.compile(r'ACPI Error|ACPI BIOS Error|\[Firmware Bug\]')


def parse(console):
    """The first report in the console text as a dict, or None.

    Values that are integers become ints; the rest stay strings.
    """
    m = _REPORT_RE.search(console)
    if not m:
        return None
    report = {}
    for item in m.group(1).split():
        key, _, val = item.partition('=')
        report[key] = int(val) if re.fullmatch(r'-?\d+', val) else val
    return report


def count(console):
    """How many times the guest has reported (it reports at every boot)."""
    return console.count(REPORT)


def bad_log_lines(console):
    """The console lines a clean boot must not have (init's log_errors)."""
    return [line for line in console.splitlines() if _BAD_LOG_RE.search(line)]


# initcall_debug's line after each initcall (init/main.c), e.g.
# "initcall acpi_init+0x0/0x4bd returned 0 after 128000 usecs"; a module's
# name may follow the symbol in brackets.
_INITCALL_RE = re.compile(
    r'initcall (?P<fn>[^\s+]+)(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?(?: \[[^\]]+\])?'
    r' returned (?P<ret>-?\d+) after (?P<usecs>\d+) usecs')
# The kernel's last message before it runs init, with its printk time.
_RUN_INIT_RE = re.compile(r'^\[\s*(\d+\.\d+)\] Run \S+ as init process',
                          re.M)


def initcalls(console):
    """The initcalls that initcall_debug reported on the console, in
    order: a list of (function, usecs, return value)."""
    return [(m.group('fn'), int(m.group('usecs')), int(m.group('ret')))
            for m in _INITCALL_RE.finditer(console)]


def kernel_clock_at_init(console):
    """The kernel's printk time (s) of "Run /init as init process", or
    None (no such line, or no printk times)."""
    m = _RUN_INIT_RE.search(console)
    return float(m.group(1)) if m else None
