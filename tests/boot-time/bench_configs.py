# SPDX-License-Identifier: GPL-2.0-or-later
"""The benchmark's configurations: which QEMU, machine, firmware and guest.

Every configuration boots the same guest (build/guest) with the same
kernel command line and serial console; they differ only in the QEMU
binary, the machine type, its firmware, the kernel format, the size and
the root disk.
"""

import dataclasses
import os

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, '..', '..'))
BUILD = os.path.join(TOP, 'build')
FIRMWARE_DIR = os.path.join(BUILD, 'firmware', 'current')
ROOTFS_DATA_OFFSET = 2 << 20        # scripts/pc-lite-image.py

# The QEMU binaries compared.  "lite" and "full" are two builds of the same
# source (build/qemu-src); "debian" is the host's stock package, if any.
QEMUS = {
    'lite': os.environ.get('PC_LITE_QEMU',
                           os.path.join(BUILD, 'qemu-system-x86_64')),
    'full': os.environ.get('PC_LITE_QEMU_FULL',
                           os.path.join(BUILD, 'qemu-full',
                                        'qemu-system-x86_64')),
    'debian': '/usr/bin/qemu-system-x86_64',
}

SIZES = ((1, '128M'), (6, '1G'))

# Trace events that stamp the phases, per marker mechanism.
EVENTS_COMMON = ('vm_state_notify',)
EVENTS = {
    'pc-lite': EVENTS_COMMON + ('pc_lite_cpu_entry', 'pc_lite_marker'),
    'fw_cfg': EVENTS_COMMON + ('fw_cfg_select',),
}


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
    root: str = 'initramfs'
    append: str = ''
    extra: tuple = ()
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

    @property
    def markers(self):
        """Which port-0x510 device stamps the markers."""
        return 'pc-lite' if self.machine.startswith('pc-lite') else 'fw_cfg'

    @property
    def binary(self):
        """The QEMU executable."""
        return QEMUS[self.qemu]

    @property
    def size(self):
        """vCPUs x RAM, e.g. 1x128M."""
        return f'{self.smp}x{self.mem}'


def guest_file(name):
    """A file of build/guest."""
    return os.path.join(BUILD, 'guest', name)


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
               'microvm,pic=off', 'seabios-microvm', 'vmlinux', **common),
        Config(f'q35-seabios/{tag}', f'q35 SeaBIOS bzImage {tag}', 'full',
               'q35', 'seabios', 'bzImage', **common),
        Config(f'debian-q35-seabios/{tag}',
               f'Debian QEMU q35 SeaBIOS bzImage {tag}', 'debian', 'q35',
               'seabios', 'bzImage', **common),
    ]


def _root_disks():
    image = guest_file('rootfs.img')
    size = os.path.getsize(image) if os.path.exists(image) else 64 << 20
    return [
        Config('pc-lite-root-nvdimm/1x128M', 'pc-lite NVDIMM/DAX root 1x128M',
               'lite', 'pc-lite,nvdimm=on', 'none', 'vmlinux', initrd=None,
               mem='128M,slots=2,maxmem=1G', root='nvdimm-dax',
               append='root=/dev/pmem0 rootflags=dax rw',
               extra=('-object', f'memory-backend-file,id=root,'
                      f'mem-path={image},size={size},share=off',
                      '-device', 'nvdimm,memdev=root'),
               expect={'cpus': 1, 'pmem': 1, 'rootdax': 1}, group='root'),
        Config('pc-lite-root-virtio-blk/1x128M',
               'pc-lite virtio-blk root 1x128M', 'lite', 'pc-lite', 'none',
               'vmlinux', initrd=None, root='virtio-blk',
               append='root=/dev/vda ro',
               extra=('-blockdev', f'driver=raw,node-name=root,'
                      f'offset={ROOTFS_DATA_OFFSET},file.driver=file,'
                      f'file.filename={image},read-only=on',
                      '-device', 'virtio-blk-pci,drive=root'),
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
            not os.path.isdir(os.path.realpath(FIRMWARE_DIR)):
        return f'{FIRMWARE_DIR} is missing (make firmware)'
    for f in (config.kernel, config.initrd):
        if f and not os.path.exists(guest_file(f)):
            return f'{guest_file(f)} is missing (make guest)'
    return None


def qemu_args(config, accel, console_path, trace_path, append_extra=''):
    """QEMU's command line (without the binary, -M and QMP options)."""
    args = ['-accel', accel, '-smp', str(config.smp), '-m', config.mem,
            '-nodefaults', '-no-reboot', '-display', 'none',
            '-kernel', guest_file(config.kernel)]
    if config.initrd:
        args += ['-initrd', guest_file(config.initrd)]
    if config.firmware != 'none':
        # Our instrumented option ROMs and qboot, Debian's SeaBIOS.
        args += ['-L', os.path.realpath(FIRMWARE_DIR)]
    if config.firmware == 'qboot':
        args += ['-bios', 'qboot.rom']
    elif config.firmware == 'seabios-microvm':
        args += ['-bios', 'bios-microvm.bin']
    elif config.firmware == 'seabios':
        args += ['-bios', 'bios-256k.bin']
    args += ['-chardev', f'file,id=con,path={console_path}',
             '-serial', 'chardev:con']
    # panic=-1: a guest that panics resets, and -no-reboot ends QEMU.
    append = ['console=ttyS0', 'panic=-1', config.append]
    if config.action != 'poweroff':
        append.append(f'pclite.action={config.action}')
    append.append(append_extra)
    args += ['-append', ' '.join(a for a in append if a)]
    args += ['-msg', 'timestamp=on', '-D', trace_path,
             '-d', ','.join(f'trace:{e}' for e in EVENTS[config.markers])]
    return args + list(config.extra)
