# SPDX-License-Identifier: GPL-2.0-or-later
"""The benchmark's configurations: which QEMU, machine, firmware and guest.

Every configuration boots the same guest (build/guest) with the same
kernel command line and serial console; they differ only in the QEMU
binary, the machine type, its firmware, the kernel format, the size and
the root disk.
"""

import dataclasses
import os

from pclite import image
from pclite import paths
from pclite import qemucmd
from pclite import trace

# The QEMU binaries compared.  "lite" and "full" are two builds of the same
# source (build/qemu-src); "debian" is the host's stock package, if any.
QEMUS = {'lite': paths.QEMU, 'full': paths.QEMU_FULL,
         'debian': paths.QEMU_DEBIAN}

SIZES = ((1, '128M'), (6, '1G'))


@dataclasses.dataclass
class Config:
    """One benchmark configuration."""

    name: str               # unique, e.g. "pc-lite-pvh/1x128M"
    label: str              # for the table and the chart
    qemu: str               # key of QEMUS
    machine: str            # -M
    firmware: str           # "none", "qboot", "seabios", "seabios-microvm"
    kernel: str             # file in build/guest
    initrd: str = 'initramfs.cpio.gz'
    smp: int = 1
    mem: str = '128M'
    root: str = 'initramfs'         # or nvdimm-dax, virtio-blk
    append: str = ''
    # Guest report fields that a good boot must show.
    expect: dict = dataclasses.field(default_factory=dict)
    # Console text that a good boot must show.
    expect_console: tuple = ()
    group: str = 'machines'
    # Init's way out: poweroff where the machine can power off, else a
    # reboot that -no-reboot turns into QEMU's exit (microvm without ACPI
    # has neither a power-off device nor a keyboard controller: the guest
    # resets with a triple fault, reboot=t).
    action: str = 'poweroff'
    # A peer's own fault that can stop this guest from booting on it: the
    # bench reports such a failure with this text, and make check's smoke
    # test then only requires the firmware to have reached the kernel.
    known_issue: str = ''

    @property
    def markers(self):
        """Which port-0x510 device stamps the markers."""
        return trace.markers(self.machine)

    @property
    def binary(self):
        """The QEMU executable."""
        return QEMUS[self.qemu]

    @property
    def size(self):
        """vCPUs x RAM, e.g. 1x128M."""
        return f'{self.smp}x{self.mem}'


def _machines(size):
    smp, mem = size
    tag = f'{smp}x{mem}'
    common = {'smp': smp, 'mem': mem, 'expect': {'cpus': smp}}
    return [
        Config(f'pc-lite-pvh/{tag}', f'pc-lite PVH vmlinux {tag}', 'lite',
               'pc-lite', 'none', 'vmlinux', **common),
        Config(f'pc-lite-bzimage/{tag}', f'pc-lite bzImage {tag}', 'lite',
               'pc-lite', 'none', 'bzImage', **common),
        Config(f'microvm-qboot/{tag}', f'microvm qboot (acpi=off) {tag}',
               'full', 'microvm,acpi=off', 'qboot', 'vmlinux',
               append='acpi=off reboot=t', action='reboot', **common),
        # pic=off: with ACPI, Linux leaves microvm's 8259 unprogrammed, and
        # under TCG its timer interrupt then often arrives as vector 0 just
        # as the kernel enables interrupts ("divide error", no boot).
        Config(f'microvm-seabios/{tag}',
               f'microvm SeaBIOS-microvm (ACPI, pic=off) {tag}', 'full',
               'microvm,pic=off', 'seabios-microvm', 'vmlinux',
               known_issue='with some initramfs contents the guest loops in '
               'acpi_tb_verify_checksum on a corrupt ACPI table (the same '
               'kernel boots with another initramfs): apparently the initrd '
               'QEMU loads at the top of RAM overlaps the tables '
               'SeaBIOS-microvm put there', **common),
        Config(f'q35-seabios/{tag}', f'q35 SeaBIOS bzImage {tag}', 'full',
               'q35', 'seabios', 'bzImage', **common),
        Config(f'debian-q35-seabios/{tag}',
               f'Debian QEMU q35 SeaBIOS bzImage {tag}', 'debian', 'q35',
               'seabios', 'bzImage', **common),
    ]


def _root_disks():
    return [
        Config('pc-lite-root-nvdimm/1x128M', 'pc-lite NVDIMM/DAX root 1x128M',
               'lite', 'pc-lite,nvdimm=on', 'none', 'vmlinux', initrd=None,
               mem='128M,slots=2,maxmem=1G', root='nvdimm-dax',
               expect={'cpus': 1, 'pmem': 1, 'rootdax': 1}, group='root'),
        Config('pc-lite-root-virtio-blk/1x128M',
               'pc-lite virtio-blk root 1x128M', 'lite', 'pc-lite', 'none',
               'vmlinux', initrd=None, root='virtio-blk',
               expect={'cpus': 1, 'rootdax': 0},
               expect_console=('EXT4-fs (vda): mounted filesystem',),
               group='root'),
    ]


def all_configs():
    """Every configuration, machines first (both sizes), then root disks."""
    configs = []
    for size in SIZES:
        configs += _machines(size)
    return configs + _root_disks()


def missing(config):
    """Why a configuration cannot run here, or None."""
    if not os.access(config.binary, os.X_OK):
        if config.qemu == 'full':
            return f'{config.binary} is not built (make qemu-full)'
        return f'{config.binary} is not installed'
    if config.firmware != 'none' and \
            not os.path.isdir(os.path.realpath(paths.FIRMWARE)):
        return f'{paths.FIRMWARE} is missing (make firmware)'
    needs = [config.kernel, config.initrd]
    if config.root != 'initramfs':
        needs.append('rootfs.img')
    for f in needs:
        if f and not os.path.exists(paths.guest_file(f)):
            return f'{paths.guest_file(f)} is missing (make guest)'
    return None


def cmdline(config, accel, console_path, trace_path, append=''):
    """QEMU's command line (a qemucmd.Cmdline) for one boot of config."""
    cmd = qemucmd.Cmdline(config.machine, accel, config.smp, config.mem,
                          binary=config.binary, no_reboot=True)
    cmd.kernel(config.kernel, config.initrd)
    if config.firmware != 'none':
        # Our instrumented option ROMs and qboot, Debian's SeaBIOS.
        cmd.firmware(config.firmware)
    cmd.serial_console(console_path)
    rootfs = paths.guest_file('rootfs.img')
    if config.root == 'nvdimm-dax':
        cmd.nvdimm_root(rootfs, os.path.getsize(rootfs))
    elif config.root == 'virtio-blk':
        cmd.virtio_blk_root(rootfs, offset=image.DATA_OFFSET)
    # panic=-1: a guest that panics resets, and -no-reboot ends QEMU.
    cmd.append('panic=-1', config.append)
    # init takes the first pclite.action: an explicit one in append (idle,
    # for the memory measurement) replaces the configuration's way out.
    if config.action != 'poweroff' and 'pclite.action=' not in append:
        cmd.append(f'pclite.action={config.action}')
    return cmd.append(append).trace(trace_path)
