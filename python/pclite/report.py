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
