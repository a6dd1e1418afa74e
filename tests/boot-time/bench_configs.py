# SPDX-License-Identifier: GPL-2.0-or-later
"""The benchmark's configurations: which QEMU, machine, firmware and guest.

Every configuration boots the same guest userspace (build/guest's
initramfs and its init) with the same kernel command line and serial
console; they differ in the QEMU binary, the machine type, its firmware,
the kernel format, the size and the root disk.  The kernel is the
project's own (build/guest) but in the 'distro' group: Debian's cloud and
generic kernels (pclite.distro downloads them), which nobody here
configured.
"""

import dataclasses
import os
import re

from pclite import distro
from pclite import image
from pclite import paths
from pclite import qemucmd
from pclite import trace

# The QEMU binaries compared.  "lite" and "full" are two builds of the same
# source (build/qemu-src); "debian" is the host's stock package, if any.
QEMUS = {'lite': paths.QEMU, 'full': paths.QEMU_FULL,
         'debian': paths.QEMU_DEBIAN}

SIZES = ((1, '128M'), (6, '1G'))

# The kernels, by Config.package: the project's own, and Debian's.
KERNELS = {
    '': "the project's guest kernel (build/guest)",
    'linux-image-cloud-amd64': "Debian's cloud kernel "
                               "(linux-image-cloud-amd64)",
    'linux-image-amd64': "Debian's generic kernel (linux-image-amd64)",
}
# The kernel command line words of the one extra boot that shows where
# the kernel's time goes (initcall_debug's messages are KERN_DEBUG: shown
# only with ignore_loglevel); never part of a timed boot.
BREAKDOWN_APPEND = 'initcall_debug ignore_loglevel'
# The target for exec to init, pc-lite / microvm-qboot of the same source,
# per kernel (printed, not asserted).
INIT_RATIO_TARGET = 0.8


@dataclasses.dataclass
class Config:
    """One benchmark configuration."""

    name: str               # unique, e.g. "pc-lite-pvh/1x128M"
    label: str              # for the table and the chart
    qemu: str               # key of QEMUS
    machine: str            # -M
    firmware: str           # "none", "qboot", "seabios", "seabios-microvm"
    kernel: str             # file in build/guest, an absolute path, or
                            # with package: "bzImage" or "vmlinux"
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
    # Debian's kernel metapackage whose kernel this boots ('': our own).
    package: str = ''
    # A regular expression the guest's kernel release must match.
    expect_kernel: str = ''
    # The machine, firmware and kernel format, short: a column of the
    # kernel breakdown (default: the label).
    setup: str = ''
    # One more boot with BREAKDOWN_APPEND: the initcalls' times.
    breakdown: bool = False
    # The idle guest's memory is measured (one more boot).
    memory: bool = True
    # Seconds a boot may take.
    timeout: int = 30

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

    @property
    def kernel_label(self):
        """Whose kernel it boots, in words."""
        return KERNELS[self.package]


def _machines(size):
    smp, mem = size
    tag = f'{smp}x{mem}'
    common = {'smp': smp, 'mem': mem, 'expect': {'cpus': smp}}
    # The kernel breakdown, for comparison with Debian's kernels.
    breakdown = size == SIZES[0]
    return [
        Config(f'pc-lite-pvh/{tag}', f'pc-lite PVH vmlinux {tag}', 'lite',
               'pc-lite', 'none', 'vmlinux', setup='pc-lite PVH vmlinux',
               breakdown=breakdown, **common),
        Config(f'pc-lite-bzimage/{tag}', f'pc-lite bzImage {tag}', 'lite',
               'pc-lite', 'none', 'bzImage', **common),
        Config(f'microvm-qboot/{tag}', f'microvm qboot (acpi=off) {tag}',
               'full', 'microvm,acpi=off', 'qboot', 'vmlinux',
               append='acpi=off reboot=t', action='reboot',
               setup='microvm qboot PVH vmlinux', breakdown=breakdown,
               **common),
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


def _distro():
    """Debian's kernels on pc-lite and, from the same source, q35
    (SeaBIOS): 1x128M, our initramfs.  No modules: the guest must only
    boot to init, on 1 vCPU, with the right kernel.

    Not microvm: with qboot it has neither ACPI nor an MP table, and a
    kernel configured for real machines then runs without its local APIC
    ("APIC disabled via kernel command line", "tsc: Unable to calibrate
    against PIT") and stalls after "Run /init" under TCG (Debian's cloud
    kernel, PVH and bzImage, tried here); microvm's ACPI needs
    SeaBIOS-microvm, which has its own known issue above.  Our kernel is
    configured for microvm too, so its microvm rows stay."""
    kernels = (('cloud', 'linux-image-cloud-amd64', r'.*-cloud-amd64',
                ('pvh', 'bzimage')),
               ('generic', 'linux-image-amd64', r'\d[^-]*-\d+-amd64',
                ('bzimage',)))
    out = []
    for short, package, release, formats in kernels:
        common = {'package': package, 'expect': {'cpus': 1},
                  'expect_kernel': release, 'group': 'distro',
                  'breakdown': True, 'memory': False, 'timeout': 120}
        machines = []
        for fmt in formats:
            kernel = 'vmlinux' if fmt == 'pvh' else 'bzImage'
            what = 'PVH vmlinux' if fmt == 'pvh' else 'bzImage'
            machines.append(
                (f'pc-lite-{fmt}', f'pc-lite {what}', 'lite', 'pc-lite',
                 'none', kernel, {}))
        machines.append(('q35-seabios', 'q35 SeaBIOS bzImage', 'full', 'q35',
                         'seabios', 'bzImage', {}))
        for name, setup, qemu, machine, fw, kernel, extra in machines:
            out.append(Config(
                f'distro-{short}-{name}/1x128M',
                f'Debian {short} kernel, {setup} 1x128M', qemu, machine, fw,
                kernel, setup=setup, **common, **extra))
    return out


def all_configs():
    """Every configuration: machines (both sizes), root disks, then
    Debian's kernels."""
    configs = []
    for size in SIZES:
        configs += _machines(size)
    return configs + _root_disks() + _distro()


_KERNEL_FILES = {}


def kernel_file(config, fetch=True):
    """The kernel file config boots: for a Debian kernel, downloaded (with
    fetch) and unpacked once, its vmlinux extracted.  Raises one of
    distro.UNAVAILABLE when it cannot be had."""
    if not config.package:
        return paths.guest_file(config.kernel)
    key = (config.package, config.kernel)
    if key not in _KERNEL_FILES:
        root = distro.kernel_package(config.package, download=fetch)
        _KERNEL_FILES[key] = distro.vmlinux(root) \
            if config.kernel == 'vmlinux' else distro.vmlinuz(root)
    return _KERNEL_FILES[key]


def kernel_ok(config, release):
    """Whether the guest's kernel release is the one config boots."""
    return not config.expect_kernel or \
        re.fullmatch(config.expect_kernel, str(release or '')) is not None


def missing(config, fetch=True):
    """Why a configuration cannot run here, or None.  A Debian kernel is
    downloaded here (with fetch; without, one not yet downloaded is a
    reason)."""
    if not os.access(config.binary, os.X_OK):
        if config.qemu == 'full':
            return f'{config.binary} is not built (make qemu-full)'
        return f'{config.binary} is not installed'
    if config.firmware != 'none' and \
            not os.path.isdir(os.path.realpath(paths.FIRMWARE)):
        return f'{paths.FIRMWARE} is missing (make firmware)'
    needs = [config.initrd] + ([] if config.package else [config.kernel])
    if config.root != 'initramfs':
        needs.append('rootfs.img')
    for f in needs:
        if f and not os.path.exists(paths.guest_file(f)):
            return f'{paths.guest_file(f)} is missing (make guest)'
    if config.package:
        try:
            kernel_file(config, fetch)
        except distro.UNAVAILABLE as e:
            return f'{config.package} unavailable: {e}'
    return None


def cmdline(config, accel, console_path, trace_path, append=''):
    """QEMU's command line (a qemucmd.Cmdline) for one boot of config."""
    cmd = qemucmd.Cmdline(config.machine, accel, config.smp, config.mem,
                          binary=config.binary, no_reboot=True)
    cmd.kernel(kernel_file(config), config.initrd)
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
