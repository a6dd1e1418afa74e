# SPDX-License-Identifier: GPL-2.0-or-later
"""Where a QEMU process's memory goes: each mapping of /proc/PID/smaps
(read by pclite.procfs) put in one category, with its private pages (its
share of the USS) and its PSS in KiB.

  python3 -m pclite.memory PID [--json]

Categories, tried in this order for each mapping:

  guest_ram    the memory backends' mappings: anonymous of a backend's
               size (with the kernel's pages mapped from its file in it,
               share-kernel), or a memory-backend-file's file (NVDIMM
               image, read-only too; a clone's RAM file)
  tcg_buffer   TCG's code buffer.  QEMU's only executable anonymous memory
               is the buffer tcg/region.c maps read-write-execute (1 GiB by
               default, -accel tcg,tb-size=N MiB), split into regions by
               PROT_NONE guard pages; with split-wx it is a memfd named
               "tcg-jit" mapped twice, r-x and rw-.  So: an anonymous
               mapping with execute permission, or the tcg-jit memfd.
  binary       the QEMU executable's mappings (/proc/PID/exe) and its .bss,
               the anonymous mapping right after them
  heap         [heap] (glibc's main arena) and glibc's other malloc arenas:
               anonymous mappings at a 64 MiB boundary (HEAP_MAX_SIZE) that
               span 64 MiB, or end in a PROT_NONE tail up to the next
               boundary, with that tail
  stacks       [stack] and thread and coroutine stacks: an anonymous
               read-write mapping right above a one-page PROT_NONE guard
               (glibc's thread stacks, 8 MiB by default, and QEMU's 1 MiB
               coroutine stacks both have one)
  libraries    mappings of shared objects (a file name with ".so")
  other_files  any other file
  other_anon   the rest: malloc's large blocks (mmap'd, not in an arena),
               QEMU's other anonymous allocations, [vdso] and friends

own_kib is the USS without guest RAM and without TCG's code buffer: what
QEMU itself costs, whatever the guest does.  binary_cow_kib is the part
of the binary's pages that are this process's copies (smaps' Anonymous):
the data that relocation at start and later writes made private, its
.bss included; the rest of the binary's pages are the file's, shared
with any other process of the same binary.
"""

import argparse
import json
import os
import re
import sys

from pclite import procfs

CATEGORIES = {
    'guest_ram': 'guest RAM',
    'tcg_buffer': "TCG's code buffer",
    'binary': 'QEMU binary',
    'heap': 'heap',
    'stacks': 'thread stacks',
    'other_anon': 'other anonymous',
    'libraries': 'shared libraries',
    'other_files': 'other files',
}

_ARENA = 64 << 20           # glibc's HEAP_MAX_SIZE on 64-bit hosts
_PAGE = os.sysconf('SC_PAGE_SIZE')
_SIZE_RE = re.compile(r'(\d+)([KMGT]?)B?$', re.IGNORECASE)


def _span(header):
    """(start, end) address of a smaps mapping header."""
    start, end = header[0].split('-')
    return int(start, 16), int(end, 16)


def _anonymous(header):
    return len(header) == 5


def _follows(maps, i, perms=None):
    """Does mapping i start where mapping i-1 ends (with perms, if given)?"""
    if i == 0:
        return False
    prev = maps[i - 1][0]
    return _span(prev)[1] == _span(maps[i][0])[0] and \
        (perms is None or prev[1] == perms)


def _is_arena(maps, i):
    """Is mapping i a glibc arena's read-write start (see the docstring)?"""
    header = maps[i][0]
    start, end = _span(header)
    if not _anonymous(header) or start % _ARENA or header[1] != 'rw-p':
        return False
    if end - start == _ARENA:
        return True
    if i + 1 == len(maps):
        return False
    tail = maps[i + 1][0]
    return _anonymous(tail) and tail[1] == '---p' and \
        _span(tail)[0] == end and _span(tail)[1] % _ARENA == 0


def _category(maps, i, exe, ram, before):
    """The category of mapping i; before holds those of mappings 0..i-1;
    ram is the set of the memory backends' mappings."""
    header, _ = maps[i]
    path = procfs.mapping_path(header)
    prev = before[-1] if before else None
    if i in ram:
        return 'guest_ram'
    if (_anonymous(header) and 'x' in header[1]) or \
            path.startswith('/memfd:tcg-jit'):
        return 'tcg_buffer'
    if path == exe or (prev == 'binary' and _anonymous(header) and
                       _follows(maps, i)):
        return 'binary'
    if path == '[heap]' or _is_arena(maps, i) or \
            (prev == 'heap' and header[1] == '---p' and
             _anonymous(header) and _follows(maps, i)):
        return 'heap'
    if path == '[stack]' or (_anonymous(header) and header[1] == 'rw-p' and
                             _follows(maps, i, '---p') and
                             _anonymous(maps[i - 1][0]) and
                             maps[i - 1][1].get('Size') == _PAGE // 1024):
        return 'stacks'
    if _anonymous(header) or path.startswith(('[', '/memfd:')):
        return 'other_anon'
    if '.so' in os.path.basename(path):
        return 'libraries'
    return 'other_files'


def classify(maps, exe, memdevs=()):
    """The category of each mapping of procfs.smaps(), in order.

    exe is the QEMU executable as /proc/PID/exe names it; memdevs are
    the memory backends as QMP's query-memdev gives them ('size' in
    bytes), with 'mem-path' added for file backends.
    """
    ram = set()
    for d in memdevs:
        ram.update(procfs.backend_mappings(maps, d['size'] // 1024,
                                           d.get('mem-path')))
    cats = []
    for i in range(len(maps)):
        cats.append(_category(maps, i, exe, ram, cats))
    return cats


def _bytes(text, unit):
    """A QEMU size ("128M", "1G", "4096"; a bare number in unit) in bytes."""
    m = _SIZE_RE.match(text)
    if not m:
        return None
    suffix = (m.group(2) or unit).upper()
    return int(m.group(1)) << (10 * ('KMGT'.index(suffix) + 1 if suffix
                                     else 0))


def _options(value):
    """A QEMU option string as {key: value} (",," is an escaped comma)."""
    parts = value.replace(',,', '\0').split(',')
    return dict(p.replace('\0', ',').partition('=')[::2] for p in parts)


def memdevs_from_cmdline(pid):
    """The memory backends of a running QEMU, from its command line, in
    query-memdev's shape: -m's RAM (anonymous unless the machine names a
    backend) and each memory-backend-file object with its mem-path."""
    with open(f'/proc/{pid}/cmdline', 'rb') as f:
        argv = f.read().decode(errors='replace').split('\0')
    devs = []
    for opt, value in zip(argv, argv[1:]):
        if opt == '-m':
            first = value.split(',')[0]
            size = _bytes(first.removeprefix('size='), 'M')
            if size:
                devs.append({'size': size})
        elif opt == '-object' and value.startswith('memory-backend-file'):
            props = _options(value)
            if props.get('mem-path'):
                devs.append({'size': _bytes(props.get('size', '0'), '') or 0,
                             'mem-path': props['mem-path']})
    return devs


def breakdown(pid, memdevs=None):
    """The memory of QEMU process pid by category, in KiB.

    {category: private KiB, ..., 'uss_kib', 'pss_kib', 'own_kib',
    'binary_cow_kib', 'pss': {category: PSS KiB}}; the categories'
    private KiB add up to uss_kib, their PSS to pss_kib (one read of
    smaps).  memdevs as for classify(); by default read from QEMU's
    command line.
    """
    maps = procfs.smaps(pid)
    if memdevs is None:
        memdevs = memdevs_from_cmdline(pid)
    exe = os.readlink(f'/proc/{pid}/exe')
    private = dict.fromkeys(CATEGORIES, 0)
    pss = dict.fromkeys(CATEGORIES, 0)
    cow = 0
    for (_, fields), cat in zip(maps, classify(maps, exe, memdevs)):
        private[cat] += procfs.uss_kb(fields)
        pss[cat] += fields.get('Pss', 0)
        if cat == 'binary':
            cow += fields.get('Anonymous', 0)
    uss = sum(private.values())
    return dict(private, uss_kib=uss, pss_kib=sum(pss.values()),
                own_kib=uss - private['guest_ram'] - private['tcg_buffer'],
                binary_cow_kib=cow, pss=pss)


def text(bd):
    """A breakdown() as a plain-text table, KiB and MiB."""
    lines = [f'{"":20s} {"private KiB":>12s} {"PSS KiB":>10s} '
             f'{"private MiB":>12s}']
    rows = [(label, bd[key], bd['pss'][key])
            for key, label in CATEGORIES.items()]
    rows.insert(list(CATEGORIES).index('binary') + 1,
                ('  of it its copies', bd['binary_cow_kib'], None))
    rows += [('USS / PSS', bd['uss_kib'], bd['pss_kib']),
             ('own (USS-RAM-TCG)', bd['own_kib'], None)]
    for label, priv, pss in rows:
        lines.append(f'{label:20s} {priv:>12} {"" if pss is None else pss:>10}'
                     f' {priv / 1024:12.1f}')
    return '\n'.join(lines)


def main(argv=None):
    """python3 -m pclite.memory PID: print a running QEMU's breakdown."""
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('pid', type=int, help='a running QEMU process')
    ap.add_argument('--json', action='store_true',
                    help='print the breakdown as JSON')
    args = ap.parse_args(argv)
    try:
        bd = breakdown(args.pid)
    except OSError as e:
        print(f'pclite.memory: {e}', file=sys.stderr)
        return 1
    print(json.dumps(bd, indent=1) if args.json else text(bd))
    return 0


if __name__ == '__main__':
    sys.exit(main())
