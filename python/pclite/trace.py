# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU's trace log: host-clock stamps, and the boot phases made of them.

This is the one definition of the phases, used by "make demo",
"pc-lite-run --timings", "make bench" and the tests ("Measuring boot time"
in docs/pc-lite.rst).  Every stamp is the host's wall clock
(gettimeofday: the clock of QEMU's "-msg timestamp=on" trace lines and of
Python's time.time()):

  exec     just before the QEMU process is spawned
  start    trace vm_state_notify "running 1": the machine is built and the
           vCPUs are released; the first guest instruction follows
  entry    the kernel's entry.  pc-lite: the start itself (QEMU puts the
           boot CPU on the entry before the start, trace pc_lite_cpu_entry);
           q35/microvm: the firmware's write of 0xb000 to port 0x510 just
           before it jumps to the kernel (tests/boot-time/firmware/)
  init, ready, done
           the guest init's writes of 0xb001 (init started), 0xb002 (report
           printed) and 0xb003 (command finished) to port 0x510: pc-lite's
           marker device (trace pc_lite_marker), fw_cfg's selector (trace
           fw_cfg_select) on q35/microvm
  exit     the QEMU process has exited

The phases are PHASES: their names, labels and definitions.
"""

import re

MARKERS = {0xb000: 'entry', 0xb001: 'init', 0xb002: 'ready', 0xb003: 'done'}

# The trace events to enable, by the device that stamps the markers.
EVENTS = {
    'pc-lite': ('vm_state_notify', 'pc_lite_cpu_entry', 'pc_lite_marker'),
    'fw_cfg': ('vm_state_notify', 'fw_cfg_select'),
}

# (key, label, definition) of each phase, in ms, in order.
PHASES = (
    ('vmm_init', 'VMM init',
     "exec of QEMU to vm_state_notify running 1 (the vCPUs start)"),
    ('firmware', 'firmware',
     'start to the kernel entry (pc-lite: none, 0; q35/microvm: marker '
     '0xb000 written by our qboot/option ROM)'),
    ('kernel', 'kernel', "kernel entry to init's first marker"),
    ('userspace', 'userspace', 'init\'s first marker to its "ready" marker'),
    ('total', 'total', 'exec to ready'),
    ('command', 'command', "ready to the command's end (pc-lite-run)"),
    ('shutdown', 'shutdown',
     "ready (or the command's end) to QEMU's exit"),
    # A clone of a template (pc-lite-run --clone), from clone_phases():
    ('restore', 'restore', "exec to vm_state_notify running 1: QEMU set "
     "up and the template's device state loaded"),
    ('first_output', 'output',
     "exec to the command's first output byte at the runner"),
    ('exit', 'exit', "exec to QEMU's exit"),
)
LABELS = {key: label for key, label, _ in PHASES}
# The phases every boot has (command only when a command ran).
BOOT_PHASES = ('vmm_init', 'firmware', 'kernel', 'userspace', 'total',
               'shutdown')
CLONE_PHASES = ('restore', 'first_output', 'exit')

_TRACE_RE = re.compile(
    r'^\d+@(?P<sec>\d+)\.(?P<usec>\d+):(?:'
    r'vm_state_notify running (?P<running>\d)|'
    r'(?P<cpu_entry>pc_lite_cpu_entry)|'
    r'pc_lite_marker boot marker 0x(?P<marker>[0-9a-fA-F]+)|'
    r'fw_cfg_select \S+ key 0x(?P<key>[0-9a-fA-F]+))', re.M)


def markers(machine):
    """Which device stamps the markers on -M machine: a key of EVENTS."""
    return 'pc-lite' if machine.startswith('pc-lite') else 'fw_cfg'


def parse(text):
    """The first host-clock stamp (s) of each event in a trace log.

    Keys: start, cpu_entry (pc-lite's, recorded only), and the names of
    MARKERS that were written.
    """
    stamps = {}
    for m in _TRACE_RE.finditer(text):
        t = int(m.group('sec')) + int(m.group('usec')) / 1e6
        if m.group('running') is not None:
            name = 'start' if m.group('running') == '1' else None
        elif m.group('cpu_entry'):
            name = 'cpu_entry'
        else:
            name = MARKERS.get(int(m.group('marker') or m.group('key'), 16))
        if name:
            stamps.setdefault(name, t)
    return stamps


def phases(stamps, t_exec, t_exit, firmware=False):
    """The phases in ms, or None when a stamp is missing.

    firmware: whether a firmware runs before the kernel and stamps its
    entry (q35, microvm); without one the entry is the start.  t_exit may
    be None (QEMU did not exit): shutdown is None then.
    """
    entry = stamps.get('entry') if firmware else stamps.get('start')
    points = (t_exec, stamps.get('start'), entry, stamps.get('init'),
              stamps.get('ready'))
    if any(p is None for p in points):
        return None
    exe, start, entry, init, ready = points

    def ms(a, b):
        return round((b - a) * 1000, 3)

    out = {'vmm_init': ms(exe, start), 'firmware': ms(start, entry),
           'kernel': ms(entry, init), 'userspace': ms(init, ready),
           'total': ms(exe, ready)}
    last = ready
    if 'done' in stamps:
        out['command'] = ms(ready, stamps['done'])
        last = stamps['done']
    out['shutdown'] = ms(last, t_exit) if t_exit is not None else None
    return out


def clone_phases(stamps, t_exec, t_first_output, t_exit):
    """A clone's phases in ms: restore (exec to vCPUs running: QEMU
    set up and the template's state loaded), first_output (exec to the
    command's first output byte received, None without output) and
    exit (exec to QEMU's exit); None without the start stamp."""
    if 'start' not in stamps:
        return None

    def ms(b):
        return round((b - t_exec) * 1000, 3) if b is not None else None

    return {'restore': ms(stamps['start']),
            'first_output': ms(t_first_output), 'exit': ms(t_exit)}


def format_phases(values):
    """The phases as an aligned text table, one line each."""
    return '\n'.join(f'  {label:10s} {values[key]:9.1f}'
                     for key, label, _ in PHASES
                     if values.get(key) is not None)


def legend(keys=BOOT_PHASES):
    """What the phases are, as one line of text."""
    return 'Phases: ' + '; '.join(f'{label} = {definition}'
                                  for key, label, definition in PHASES
                                  if key in keys) + '.'
