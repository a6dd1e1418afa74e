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


def state(pid):
    """The process's state letter (R, S, T for stopped, ...)."""
    return _status_fields(pid)['State'][:1]


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


def capabilities(pid):
    """{'CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'} of
    /proc/PID/status as bit masks."""
    fields = _status_fields(pid)
    return {key: int(fields[key], 16) for key in
            ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb')}


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


def _adjacent(a, b):
    return a[0].split('-')[1] == b[0].split('-')[0]


def _rw_private(header):
    return header[1] == 'rw-p'


def backend_mappings(maps, size_kb, path=None):
    """The indices of one memory backend's mappings in maps, [] if not
    found.  A file backend: its mappings of path (exactly one).  An
    anonymous one: the read-write, non-executable anonymous mapping of
    size_kb, or, where pc-lite mapped the kernel from its file over parts
    of it (share-kernel), the run of adjacent private read-write mappings,
    anonymous or of a file, at least one of each, that spans size_kb."""
    if path is not None:
        found = [i for i, (header, fields) in enumerate(maps)
                 if is_backend_mapping(header, fields, size_kb, path)]
        return found if len(found) == 1 else []
    found = [i for i, (header, fields) in enumerate(maps)
             if is_backend_mapping(header, fields, size_kb)]
    if found:
        return found[:1] if len(found) == 1 else []
    for i, (header, _) in enumerate(maps):
        if len(header) != 5 or not _rw_private(header):
            continue
        total, j = 0, i
        while j < len(maps) and _rw_private(maps[j][0]) and \
                (j == i or _adjacent(maps[j - 1][0], maps[j][0])):
            total += maps[j][1].get('Size', 0)
            if total >= size_kb:
                break
            j += 1
        run = range(i, j + 1)
        if total == size_kb and any(len(maps[k][0]) > 5 for k in run):
            return list(run)
    return []


def find_mapping(maps, size_kb, path=None):
    """The fields of one memory backend's mappings (backend_mappings()),
    added up; None if not found."""
    found = backend_mappings(maps, size_kb, path)
    if not found:
        return None
    total = {}
    for i in found:
        for key, value in maps[i][1].items():
            if isinstance(value, int):
                total[key] = total.get(key, 0) + value
    return total


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
