# SPDX-License-Identifier: GPL-2.0-or-later
"""The guest's report: the lines its init prints on the console.

Their format is described once, in the header comment of guest/init.c:
a "PCLITE-REPORT key=value ..." line once the guest is up, and
"PCLITE-EXIT status=N" after a command (pclite.cmd=).
"""

import re

REPORT = 'PCLITE-REPORT'
_REPORT_RE = re.compile(REPORT + r' (.*)')
_EXIT_RE = re.compile(r'PCLITE-EXIT status=(\d+)')
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


def exit_status(console):
    """The status of the guest's command, or None if it did not say."""
    m = _EXIT_RE.search(console)
    return int(m.group(1)) if m else None


def bad_log_lines(console):
    """The console lines a clean boot must not have (init's log_errors)."""
    return [line for line in console.splitlines() if _BAD_LOG_RE.search(line)]
