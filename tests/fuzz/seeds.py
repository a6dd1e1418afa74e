# SPDX-License-Identifier: GPL-2.0-or-later
"""Seed inputs for the loader's fuzz targets, made from real kernels.

A real vmlinux is 30 MB and a bzImage 10 MB: too large for a fuzzer to
mutate usefully.  A seed keeps a kernel's structure and shrinks its bulk:

* ELF: the ELF header, every program header and every note as they are;
  each loadable segment keeps its first bytes only (p_filesz shrunk, p_memsz
  and the addresses kept), so that the loader's placement checks see the
  kernel's real layout.  If the entry (e_entry, or the PVH note's) is not in
  the bytes kept, it is moved to the start of its segment.
* bzImage: the setup sectors as they are, then the first 4 KiB of the
  protected-mode code, with syssize made to match (init_size kept).

The placement target's inputs are a 16-byte machine shape followed by a
kernel seed (tests/fuzz/fuzz_loader.c describes the shape).
"""

import struct

KEEP = 256              # bytes kept of each loadable segment
BZ_CODE = 4096          # bytes kept of a bzImage's protected-mode code

PT_LOAD, PT_NOTE = 1, 4
XEN_ELFNOTE_PHYS32_ENTRY = 18


def _notes(data):
    """(offset, namesz, descsz, type, name) of each note in data."""
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from('<III', data, pos)
        name = data[pos + 12:pos + 12 + namesz]
        desc = pos + 12 + (namesz + 3) // 4 * 4
        yield pos, desc, descsz, ntype, name
        pos = desc + (descsz + 3) // 4 * 4


def shrink_elf(image, keep=KEEP):
    ehdr = bytearray(image[:64])
    entry, phoff = struct.unpack_from('<QQ', ehdr, 24)
    phentsize, phnum = struct.unpack_from('<HH', ehdr, 54)
    phdrs = [bytearray(image[phoff + i * phentsize:
                             phoff + (i + 1) * phentsize])
             for i in range(phnum)]
    fields = [struct.unpack_from('<IIQQQQQ', ph, 0) for ph in phdrs]
    # (paddr, bytes kept) of each loadable segment
    loads = [(paddr, min(filesz, keep))
             for ptype, _, _, _, paddr, filesz, _ in fields
             if ptype == PT_LOAD]

    def moved(addr):
        """addr if its bytes are kept, else the start of its segment."""
        if any(p <= addr < p + n for p, n in loads):
            return addr
        return max([p for p, _ in loads if p <= addr] or [loads[0][0]])

    out = bytearray(64 + phnum * phentsize)
    for ph, (ptype, _, off, _, _, filesz, _) in zip(phdrs, fields):
        if ptype == PT_NOTE:
            content = bytearray(image[off:off + filesz])
            for _, desc, descsz, ntype, name in _notes(content):
                if ntype == XEN_ELFNOTE_PHYS32_ENTRY and name == b'Xen\0' \
                        and descsz in (4, 8):
                    fmt = '<I' if descsz == 4 else '<Q'
                    (pvh,) = struct.unpack_from(fmt, content, desc)
                    struct.pack_into(fmt, content, desc, moved(pvh))
        elif ptype == PT_LOAD:
            content = image[off:off + min(filesz, keep)]
        else:
            content = b''
        struct.pack_into('<Q', ph, 8, len(out))        # p_offset
        struct.pack_into('<Q', ph, 32, len(content))   # p_filesz
        out += content
    struct.pack_into('<QQ', ehdr, 24, moved(entry), 64)
    out[:64] = ehdr
    for i, ph in enumerate(phdrs):
        out[64 + i * phentsize:64 + (i + 1) * phentsize] = ph
    return bytes(out)


def shrink_bzimage(image, code=BZ_CODE):
    setup_sects = image[0x1f1] or 4
    setup = (setup_sects + 1) * 512
    out = bytearray(image[:setup + code])
    struct.pack_into('<I', out, 0x1f4, (len(out) - setup + 15) // 16)
    return bytes(out)


def shape(ram_mib=128, initrd=1 << 20, cmdline=100, e820=5,
          rsdp=0xe0000):
    return struct.pack('<IIHBBI', ram_mib * 1024, initrd, cmdline, e820, 0,
                       rsdp)


def loader_seeds(kernels):
    """{target: {name: bytes}} from {name: (kind, bytes)} of real files."""
    seeds = {'elf': {}, 'bzimage': {}, 'placement': {}}
    for name, (kind, image) in kernels.items():
        small = shrink_elf(image) if kind == 'elf' else shrink_bzimage(image)
        seeds[kind][name] = small
        for label, sh in (('128m', shape()),
                          ('512m-big-initrd', shape(512, 300 << 20, 2000)),
                          ('32m', shape(32, 1 << 20, 10, 128))):
            seeds['placement'][f'{name}-{label}'] = sh + small
    return seeds
