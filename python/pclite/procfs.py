# SPDX-License-Identifier: GPL-2.0-or-later
"""Figures from /proc: a process's memory, CPU time, seccomp filter and
user, the host's CPU model and KVM modules."""

import os
import re

_MAPPING_RE = re.compile(r'^[0-9a-f]+-[0-9a-f]+ ')


def _kb_field(line):
    """(key, kB) of a "Key:   123 kB" line, or None."""
    parts = line.split()
    if len(parts) >= 2 and parts[0].endswith(':') and parts[1].isdigit():
        return parts[0][:-1], int(parts[1])
    return None


def kb_fields(path):
    """The "Key: N kB" lines of a /proc file as {key: N}."""
    with open(path, encoding='utf-8') as f:
        return dict(filter(None, map(_kb_field, f)))


def smaps_rollup(pid):
    """/proc/PID/smaps_rollup as {key: kB} (Rss, Pss, Pss_File, ...)."""
    return kb_fields(f'/proc/{pid}/smaps_rollup')


def status(pid):
    """The kB figures of /proc/PID/status (VmHWM, VmRSS, ...)."""
    return kb_fields(f'/proc/{pid}/status')


def _status_fields(pid):
    """/proc/PID/status as {key: value text}."""
    fields = {}
    with open(f'/proc/{pid}/status', encoding='utf-8') as f:
        for line in f:
            key, _, value = line.partition(':')
            fields[key] = value.strip()
    return fields


def seccomp(pid):
    """(mode, number of filters) of /proc/PID/status: mode 2 is a filter
    (QEMU's -sandbox on)."""
    fields = _status_fields(pid)
    return (int(fields.get('Seccomp', 0)),
            int(fields.get('Seccomp_filters', 0)))


def credentials(pid):
    """(uids, gids, groups) of /proc/PID/status: the real, effective,
    saved and filesystem user and group IDs, and the supplementary
    groups."""
    fields = _status_fields(pid)
    return tuple([int(n) for n in fields.get(key, '').split()]
                 for key in ('Uid', 'Gid', 'Groups'))


def comm(pid):
    """The command name of pid ('' when it is gone)."""
    try:
        with open(f'/proc/{pid}/comm', encoding='utf-8') as f:
            return f.read().strip()
    except OSError:
        return ''


def qemu_children(pid):
    """pids of the QEMUs whose parent is pid."""
    out = []
    for entry in os.listdir('/proc'):
        try:
            with open(f'/proc/{entry}/stat', encoding='utf-8') as f:
                stat = f.read()
        except (OSError, ValueError):
            continue
        comm_end = stat.rfind(')')
        if 'qemu-system' in stat[:comm_end] and \
                int(stat[comm_end + 2:].split()[1]) == pid:
            out.append(int(entry))
    return out


def uss_kb(fields):
    """Unique set size: the private pages of smaps or smaps_rollup fields."""
    return fields.get('Private_Clean', 0) + fields.get('Private_Dirty', 0)


def smaps(pid):
    """Each mapping of /proc/PID/smaps: (header words, {key: kB})."""
    maps = []
    with open(f'/proc/{pid}/smaps', encoding='utf-8') as f:
        for line in f:
            if _MAPPING_RE.match(line):
                maps.append((line.split(), {}))
            elif (field := _kb_field(line)) is not None:
                maps[-1][1][field[0]] = field[1]
    return maps


def mapping_path(header):
    """The file a smaps mapping header names ('' for anonymous memory;
    "[heap]", "[stack]", "/memfd:NAME (deleted)" as the kernel writes)."""
    return ' '.join(header[5:])


def is_backend_mapping(header, fields, size_kb, path=None):
    """Is this mapping a memory backend's: of the file path (read-only
    too, as a readonly=on backend maps it), or without one a read-write,
    non-executable anonymous mapping of size_kb?"""
    if path is not None:
        return len(header) > 5 and \
            os.path.realpath(mapping_path(header)) == os.path.realpath(path)
    perms = header[1]
    return perms.startswith('rw') and 'x' not in perms and \
        fields.get('Size') == size_kb and len(header) == 5


def find_mapping(maps, size_kb, path=None):
    """The one mapping of size_kb for which is_backend_mapping() holds.
    None unless exactly one matches."""
    found = [fields for header, fields in maps
             if fields.get('Size') == size_kb and
             is_backend_mapping(header, fields, size_kb, path)]
    return found[0] if len(found) == 1 else None


def cpu_time_ms(pid):
    """On-CPU time of all the process's threads so far (schedstat)."""
    total = 0
    for tid in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{tid}/schedstat',
                      encoding='ascii') as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass                # the thread has gone
    return total / 1e6


def cpu_model():
    """The host CPU's model name (/proc/cpuinfo), or ''."""
    with open('/proc/cpuinfo', encoding='utf-8') as f:
        for line in f:
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    return ''


def kvm_modules():
    """The loaded kernel modules whose name starts with kvm."""
    try:
        with open('/proc/modules', encoding='utf-8') as f:
            return [ln.split()[0] for ln in f if ln.startswith('kvm')]
    except OSError:
        return []
