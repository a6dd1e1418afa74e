# SPDX-License-Identifier: GPL-2.0-or-later
"""Bad input: one clear error line and a non-zero exit, never a crash."""

import os
import shutil
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import pclite  # noqa: E402  pylint: disable=wrong-import-position


def elf64(segments, entry=0x1000000, pvh_entry=None):
    """A minimal x86_64 ELF: PT_LOAD segments of (paddr, filesz, memsz)."""
    phnum = len(segments) + (1 if pvh_entry is not None else 0)
    data_off = 64 + 56 * phnum
    body = b''
    phdrs = b''
    for paddr, filesz, memsz in segments:
        phdrs += struct.pack('<IIQQQQQQ', 1, 7, data_off + len(body),
                             paddr, paddr, filesz, memsz, 0x1000)
        body += b'\x90' * filesz
    if pvh_entry is not None:
        note = struct.pack('<III', 4, 8, 18) + b'Xen\0' + \
            struct.pack('<Q', pvh_entry)
        phdrs += struct.pack('<IIQQQQQQ', 4, 4, data_off + len(body),
                             0, 0, len(note), len(note), 4)
        body += note
    ehdr = b'\x7fELF' + bytes([2, 1, 1]) + bytes(9)
    ehdr += struct.pack('<HHIQQQIHHHHHH', 2, 62, 1, entry, 64, 0, 0, 64,
                        56, phnum, 64, 0, 0)
    return ehdr + phdrs + body


class BadInputTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='pc-lite-bad-')

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, 'wb') as f:
            f.write(data)
        return path

    def expect_error(self, args, pattern, kernel=None):
        base = ['-M', 'pc-lite', '-accel', 'tcg', '-display', 'none',
                '-nodefaults', '-m', '128M']
        if kernel is not None:
            base += ['-kernel', kernel]
        code, err = pclite.run_qemu(base + args)
        self.assertNotEqual(code, 0, 'QEMU accepted bad input')
        self.assertGreater(code, 0, f'QEMU crashed (signal {-code}): {err}')
        self.assertRegex(err, pattern)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        self.assertEqual(len(lines), 1, f'expected one error line: {err}')

    def test_missing_kernel(self):
        self.expect_error([], r'kernel: .*No such file',
                          kernel=os.path.join(self.tmp, 'missing'))

    def test_no_kernel(self):
        self.expect_error([], r'no firmware: give the kernel with -kernel')

    def test_empty_kernel(self):
        self.expect_error([], r"kernel '.*' is empty",
                          kernel=self.write('empty', b''))

    def test_not_a_kernel(self):
        self.expect_error([], r'neither an ELF vmlinux nor a bzImage',
                          kernel=self.write('text', b'hello world\n' * 100))

    def test_truncated_elf_header(self):
        data = elf64([(0x1000000, 4096, 4096)])
        self.expect_error([], r'truncated: no complete ELF header',
                          kernel=self.write('trunc-hdr', data[:40]))

    def test_truncated_elf_segment(self):
        data = elf64([(0x1000000, 4096, 4096)])
        self.expect_error([], r'truncated: segment 0',
                          kernel=self.write('trunc-seg', data[:-100]))

    def test_truncated_real_vmlinux(self):
        with open(pclite.guest_file('vmlinux'), 'rb') as f:
            data = f.read(4 << 20)
        self.expect_error([], r'truncated',
                          kernel=self.write('vmlinux-trunc', data))

    def test_truncated_bzimage(self):
        with open(pclite.guest_file('bzImage'), 'rb') as f:
            data = f.read(0x400)
        self.expect_error([], r'truncated|outside',
                          kernel=self.write('bz-trunc', data))

    def test_segment_outside_ram(self):
        data = elf64([(0x7000000, 4096, 0x2000000)], entry=0x7000000)
        self.expect_error([], r'outside guest RAM',
                          kernel=self.write('big', data))

    def test_segment_over_boot_data(self):
        data = elf64([(0x8000, 4096, 4096)], entry=0x8000)
        self.expect_error([], r'overlaps the boot data',
                          kernel=self.write('low', data))

    def test_overlapping_segments(self):
        data = elf64([(0x1000000, 8192, 8192), (0x1001000, 4096, 4096)])
        self.expect_error([], r'segments overlap',
                          kernel=self.write('overlap', data))

    def test_entry_outside_image(self):
        data = elf64([(0x1000000, 4096, 4096)], entry=0x2000000)
        self.expect_error([], r'entry point 0x2000000 is not in a loaded',
                          kernel=self.write('entry', data))

    def test_32bit_elf(self):
        data = bytearray(elf64([(0x1000000, 4096, 4096)]))
        data[4] = 1
        self.expect_error([], r'32-bit ELF',
                          kernel=self.write('elf32', bytes(data)))

    def test_initrd_does_not_fit(self):
        big = os.path.join(self.tmp, 'big-initrd')
        with open(big, 'wb') as f:
            f.truncate(200 << 20)
        self.expect_error(['-initrd', big], r'initrd .* does not fit',
                          kernel=pclite.guest_file('vmlinux'))

    def test_missing_initrd(self):
        self.expect_error(['-initrd', os.path.join(self.tmp, 'nope')],
                          r'initrd: .*No such file',
                          kernel=pclite.guest_file('vmlinux'))

    def test_command_line_too_long(self):
        for kernel in ('vmlinux', 'bzImage'):
            with self.subTest(kernel=kernel):
                self.expect_error(['-append', 'x' * 5000],
                                  r'command line is 5000 bytes, over the '
                                  r"kernel's limit of 2047",
                                  kernel=pclite.guest_file(kernel))

    def test_absurd_memory_and_cpus(self):
        kernel = pclite.guest_file('vmlinux')
        self.expect_error(['-m', '8M'], r'at least 16 MiB', kernel=kernel)
        self.expect_error(['-smp', '5000'], r'exceeds|maximum|max',
                          kernel=kernel)

    def test_legacy_devices_refused(self):
        code, err = pclite.run_qemu(['-M', 'pc-lite,pit=on', '-display',
                                     'none', '-kernel',
                                     pclite.guest_file('vmlinux')])
        self.assertEqual(code, 1)
        self.assertIn('no legacy PIT or PIC', err)

    def test_nvdimm_without_nvdimm_on(self):
        img = self.write('nv.img', b'')
        os.truncate(img, 64 << 20)
        self.expect_error(['-m', '128M,slots=2,maxmem=1G', '-object',
                           f'memory-backend-file,id=m0,mem-path={img},'
                           'size=64M', '-device', 'nvdimm,memdev=m0'],
                          r"nvdimm is not enabled: add 'nvdimm=on'",
                          kernel=pclite.guest_file('vmlinux'))


if __name__ == '__main__':
    unittest.main()
