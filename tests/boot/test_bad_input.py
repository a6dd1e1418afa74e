# SPDX-License-Identifier: GPL-2.0-or-later
"""Bad input: one clear error line and a non-zero exit, never a crash."""

import os
import shutil
import struct
import tempfile
import unittest

from pclite import launch
from pclite import paths
from pclite import process
from pclite import qemucmd


def elf64(segments, entry=0x1000000, pvh_entry=None, vaddr=0, fill=b'\x90'):
    """A minimal x86_64 ELF: PT_LOAD segments of (paddr, filesz, memsz),
    linked at paddr + vaddr (a vmlinux: 0xffffffff80000000), full of
    fill (nop)."""
    phnum = len(segments) + (1 if pvh_entry is not None else 0)
    data_off = 64 + 56 * phnum
    body = b''
    phdrs = b''
    for paddr, filesz, memsz in segments:
        phdrs += struct.pack('<IIQQQQQQ', 1, 7, data_off + len(body),
                             paddr + vaddr, paddr, filesz, memsz, 0x1000)
        body += (fill * filesz)[:filesz]
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


# ELF kernels whose PT_LOAD segments, (paddr, filesz, memsz), or entry
# point do not fit pc-lite's memory map: (name, segments, entry, error).
BAD_ELF_LAYOUTS = (
    ('outside-ram', [(0x7000000, 4096, 0x2000000)], 0x7000000,
     r'outside guest RAM'),
    ('over-boot-data', [(0x8000, 4096, 4096)], 0x8000,
     r'overlaps the boot data'),
    ('overlapping', [(0x1000000, 8192, 8192), (0x1001000, 4096, 4096)],
     0x1000000, r'segments overlap'),
    ('entry-outside', [(0x1000000, 4096, 4096)], 0x2000000,
     r'entry point 0x2000000 is not in a loaded'),
)


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

    def truncated(self, name, size):
        """The first size bytes of a guest kernel, as a file."""
        with open(paths.guest_file(name), 'rb') as f:
            return self.write(name + '-trunc', f.read(size))

    def expect_error(self, args, pattern, kernel=None):
        cmd = qemucmd.Cmdline('pc-lite', 'tcg', mem='128M')
        if kernel is not None:
            cmd.kernel(kernel)
        code, err = process.run(cmd.add(*args).argv())
        self.assertNotEqual(code, 0, 'QEMU accepted bad input')
        self.assertGreater(code, 0, f'QEMU crashed (signal {-code}): {err}')
        self.assertRegex(err, pattern)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        self.assertEqual(len(lines), 1, f'expected one error line: {err}')

    def test_missing_kernel(self):
        self.expect_error([], r"kernel: Could not open '.*missing': No such "
                          r'file or directory',
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
        self.expect_error([], r"kernel '.*' is truncated: segment 0 needs",
                          kernel=self.truncated('vmlinux', 4 << 20))

    def test_truncated_bzimage(self):
        self.expect_error([], r"kernel '.*' is truncated: no protected-mode "
                          r'code after the \d+-byte setup',
                          kernel=self.truncated('bzImage', 0x400))

    def test_bad_elf_layouts(self):
        for name, segments, entry, pattern in BAD_ELF_LAYOUTS:
            with self.subTest(name):
                self.expect_error([], pattern, kernel=self.write(
                    name, elf64(segments, entry=entry)))

    def test_user_space_executable(self):
        # A static program (the guest's init): loadable at its addresses,
        # but not a kernel; it used to triple-fault at its entry.
        self.expect_error([], r"kernel '.*init' is not a Linux kernel: no "
                          r"PVH or Linux ELF note, and it is not linked at "
                          r"kernel addresses$",
                          kernel=paths.guest_file('init'))

    def test_kernel_that_resets_at_its_entry(self):
        # Linked and loaded like a vmlinux, its entry a ud2: without an IDT
        # the CPU triple-faults, pc-lite resets and enters it again.  That
        # must end with an error, not loop forever.
        kernel = self.write('ud2', elf64([(0x1000000, 4096, 4096)],
                                         vaddr=0xffffffff80000000,
                                         fill=b'\x0f\x0b'))
        cmd = qemucmd.Cmdline('pc-lite', 'tcg', mem='128M').kernel(kernel)
        code, err = process.run(cmd.argv(), timeout=60)
        self.assertEqual(code, 1, err)
        self.assertEqual(err, 'qemu-system-x86_64: pc-lite: the guest reset '
                         '3 times within 50 ms of its kernel\'s entry: the '
                         'kernel does not start (a triple fault at its '
                         'entry?)\n')

    def _bzimage(self, name, setup_sects=None, size=None, init_size=None):
        with open(paths.guest_file('bzImage'), 'rb') as f:
            data = bytearray(f.read())
        if setup_sects is not None:
            data[0x1f1] = setup_sects
        if init_size is not None:
            data[0x260:0x264] = struct.pack('<I', init_size)
        return self.write(name, bytes(data[:size]))

    def test_bzimage_with_wrong_setup_sects(self):
        with open(paths.guest_file('bzImage'), 'rb') as f:
            sects = f.read(0x1f2)[0x1f1]
        self.expect_error([], r"kernel '.*' is truncated or its setup_sects "
                          r"\(255\) is wrong: syssize says \d+ bytes of code "
                          r"after the setup, the file has \d+$",
                          kernel=self._bzimage('sects', setup_sects=0xff))
        self.assertLess(sects, 0xff)

    def test_bzimage_cut_after_its_setup(self):
        with open(paths.guest_file('bzImage'), 'rb') as f:
            setup = ((f.read(0x1f2)[0x1f1] or 4) + 1) * 512
        self.expect_error([], r"kernel '.*' is truncated or its setup_sects "
                          r"\(\d+\) is wrong: syssize says \d+ bytes of code "
                          r"after the setup, the file has 4096$",
                          kernel=self._bzimage('cut', size=setup + 4096))

    def test_bzimage_init_size_does_not_wrap(self):
        self.expect_error([], r"kernel image \[0x1000000, 0x100ffffff\) is "
                          r"outside guest RAM below 0x8000000",
                          kernel=self._bzimage('init', init_size=0xffffffff))

    def test_bzimage_initrd_addr_max_above_2g(self):
        # A 32-bit field read as a signed int once put the initrd's limit
        # at 0: "does not fit" for any initrd.
        kernel = self._bzimage('addr-max')
        with open(kernel, 'r+b') as f:
            f.seek(0x22c)
            f.write(struct.pack('<I', 0xffffffff))
        res = launch.boot(kernel=kernel)
        self.assertIsNotNone(res.report, res.console[-2000:])

    def test_32bit_elf(self):
        data = bytearray(elf64([(0x1000000, 4096, 4096)]))
        data[4] = 1
        self.expect_error([], r'32-bit ELF',
                          kernel=self.write('elf32', bytes(data)))

    def test_initrd_does_not_fit(self):
        big = os.path.join(self.tmp, 'big-initrd')
        with open(big, 'wb') as f:
            f.truncate(200 << 20)
        self.expect_error(['-initrd', big], r"initrd '.*big-initrd' "
                          r'\(209715200 bytes\) does not fit in the \d+ bytes '
                          r'of RAM between the kernel and 0x8000000 '
                          r'\(increase -m\)',
                          kernel=paths.guest_file('vmlinux'))

    def test_missing_initrd(self):
        self.expect_error(['-initrd', os.path.join(self.tmp, 'nope')],
                          r"initrd: Could not open '.*nope': No such file "
                          r'or directory',
                          kernel=paths.guest_file('vmlinux'))

    def test_command_line_too_long(self):
        for kernel in ('vmlinux', 'bzImage'):
            with self.subTest(kernel=kernel):
                self.expect_error(['-append', 'x' * 5000],
                                  r'command line is 5000 bytes, over the '
                                  r"kernel's limit of 2047",
                                  kernel=paths.guest_file(kernel))

    def test_absurd_memory_and_cpus(self):
        kernel = paths.guest_file('vmlinux')
        self.expect_error(['-m', '8M'], r'pc-lite needs at least 16 MiB of '
                          r'RAM \(-m\)', kernel=kernel)
        self.expect_error(['-smp', '5000'], r'Invalid SMP CPUs 5000\. The '
                          r"max CPUs supported by machine 'pc-lite' is \d+",
                          kernel=kernel)

    def test_legacy_devices_refused(self):
        code, err = process.run(qemucmd.Cmdline('pc-lite,pit=on')
                                .kernel('vmlinux').argv())
        self.assertEqual(code, 1)
        self.assertEqual(err, 'qemu-system-x86_64: pc-lite has no legacy PIT '
                         'or PIC: remove pit=on/pic=on\n')

    def test_nvdimm_without_nvdimm_on(self):
        img = self.write('nv.img', b'')
        os.truncate(img, 64 << 20)
        self.expect_error(['-m', '128M,slots=2,maxmem=1G', '-object',
                           f'memory-backend-file,id=m0,mem-path={img},'
                           'size=64M', '-device', 'nvdimm,memdev=m0'],
                          r"nvdimm is not enabled: add 'nvdimm=on'",
                          kernel=paths.guest_file('vmlinux'))


if __name__ == '__main__':
    unittest.main()
