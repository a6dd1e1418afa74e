# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU command lines: one builder for pc-lite and the machines it is
compared with (microvm and q35 from the same source, Debian's QEMU).

  cmd = Cmdline(accel='tcg', smp=2, mem='256M')
  cmd.kernel('vmlinux', 'initramfs.cpio.gz')
  cmd.serial_console(path)
  cmd.trace(path)
  cmd.argv()          # [QEMU, '-M', 'pc-lite', '-accel', 'tcg', ...]

Every guest's kernel command line is collected with append() and passed
once, last but the extra options added with add().
"""

from pclite import paths
from pclite.channel import PORT_NAME as CHANNEL_PORT
from pclite import trace as tracing

# virtio-serial with the 2 ports the test guests use (the console and
# the command channel) instead of QEMU's 31: each port is two virtqueues,
# and QEMU 10.0.x allocates every queue's element array for 1024 entries
# (56 KiB) at realize (docs/pc-lite.rst, "Memory of an idle VM").  The
# tools' VMs are host/vm.c's; "pc-lite-run --qemu-argv" prints them.
VIRTIO_SERIAL = 'virtio-serial-pci,max_ports=2'

# The firmware images of "make firmware" (build/firmware), by name.
FIRMWARE = {'qboot': 'qboot.rom', 'seabios': 'bios-256k.bin',
            'seabios-microvm': 'bios-microvm.bin'}


def escape(value):
    """value for QEMU's KEY=VALUE,... option syntax (a comma doubled)."""
    return str(value).replace(',', ',,')


class Cmdline:
    """A QEMU command line under construction.

    binary and machine (-M) are kept apart from the other options, which
    args() returns for QEMUMachine (it adds -M and QMP itself); argv() is
    the whole command.  console_path and trace_path are the files the
    console and the trace log are written to, when set.  accel is the
    accelerator's name, possibly with properties (kvm,x-query-cache=off).
    """

    def __init__(self, machine='pc-lite', accel='tcg', smp=1, mem='128M',
                 binary=None, no_reboot=False, stopped=False):
        self.binary = binary or paths.QEMU
        self.machine = machine
        self.accel = accel
        self._args = ['-accel', accel, '-smp', str(smp), '-m', mem,
                      '-nodefaults', '-display', 'none']
        if no_reboot:
            self._args.append('-no-reboot')
        if stopped:
            self._args.append('-S')
        self._append = []
        self._extra = []
        self._virtio_serial = False
        self.console_path = None
        self.trace_path = None

    def kernel(self, kernel, initrd=None):
        """-kernel and -initrd: names in build/guest or absolute paths."""
        self._args += ['-kernel', paths.guest_file(kernel)]
        if initrd:
            self._args += ['-initrd', paths.guest_file(initrd)]
        return self

    def firmware(self, name):
        """A firmware of FIRMWARE from build/firmware (with -L, so that
        QEMU also finds our option ROMs there)."""
        return self.bios(FIRMWARE[name], search_dir=paths.FIRMWARE)

    def bios(self, path, search_dir=None):
        """-bios path (looked up in search_dir, -L, when given)."""
        if search_dir:
            self._args += ['-L', search_dir]
        self._args += ['-bios', path]
        return self

    def serial_console(self, path):
        """The guest console on the 16550 UART, written to a file."""
        self.console_path = path
        self._args += ['-chardev', f'file,id=con,path={escape(path)}',
                       '-serial', 'chardev:con']
        return self.append('console=ttyS0')

    def virtio_console(self, path=None):
        """The guest console on virtio-serial (hvc0), written to a file,
        or on this process's stdin and stdout without one."""
        if path is None:
            self.virtio_port('con', 'stdio,signal=off')
        else:
            self.console_path = path
            self.virtio_port('con', f'file,path={escape(path)}')
        return self.append('console=hvc0')

    def _add_virtio_serial(self):
        if not self._virtio_serial:
            self._args += ['-device', VIRTIO_SERIAL]
            self._virtio_serial = True

    def virtio_port(self, name, chardev):
        """One more virtio console port (hvc0, hvc1, ... in order) on the
        chardev "KIND[,OPTIONS]", which gets the id name."""
        self._add_virtio_serial()
        kind, _, opts = chardev.partition(',')
        self._args += ['-chardev', f'{kind},id={name}' +
                       (f',{opts}' if opts else ''),
                       '-device', f'virtconsole,chardev={name}']
        return self

    def nvdimm_root(self, image, size, share=False, readonly=False,
                    mount=None, dev_id=None):
        """The root filesystem on an NVDIMM mapping image, mounted with DAX.

        The machine gets nvdimm=on; the caller's -m must leave a slot and
        room for it (slots=, maxmem=).  readonly maps it read-only, on an
        unarmed NVDIMM; mount is "rw" or "ro" (default: as the mapping).
        """
        if 'nvdimm=on' not in self.machine.split(','):
            self.machine += ',nvdimm=on'
        backend = f'share={"on" if share else "off"}' + \
            (',readonly=on' if readonly else '')
        device = 'nvdimm,memdev=root' + (f',id={dev_id}' if dev_id else '') \
            + (',unarmed=on' if readonly else '')
        self._args += ['-object', f'memory-backend-file,id=root,'
                       f'mem-path={escape(image)},size={size},{backend}',
                       '-device', device]
        return self.append('root=/dev/pmem0', 'rootflags=dax',
                           mount or ('ro' if readonly else 'rw'))

    def virtio_blk_root(self, image, offset=0):
        """The root filesystem read-only on virtio-blk: image from offset."""
        self._args += ['-blockdev', f'driver=raw,node-name=root,'
                       f'offset={offset},file.driver=file,'
                       f'file.filename={image},read-only=on',
                       '-device', 'virtio-blk-pci,drive=root']
        return self.append('root=/dev/vda', 'ro')

    def channel(self, fd):
        """The command channel (pclite.channel) on the connected socket
        fd, which the caller passes to QEMU."""
        self._add_virtio_serial()
        self._args += ['-chardev', f'socket,id=channel,fd={fd}',
                       '-device', f'virtserialport,chardev=channel,'
                       f'name={CHANNEL_PORT}']
        return self.append('pclite.channel')

    def rng(self):
        """A virtio RNG: the guest's random number generator is seeded
        within its boot, from the host's."""
        self._args += ['-device', 'virtio-rng-pci']
        return self

    def trace(self, path, events=None):
        """QEMU's trace log, host-clock stamped, into path.  events
        default to those trace.phases() needs on this machine."""
        self.trace_path = path
        if events is None:
            events = tracing.EVENTS[tracing.markers(self.machine)]
        self._args += ['-msg', 'timestamp=on', '-D', path,
                       '-d', ','.join(f'trace:{e}' for e in events)]
        return self

    def append(self, *words):
        """Words for the kernel command line (empty ones are dropped)."""
        self._append += [w for w in words if w]
        return self

    def add(self, *args):
        """Any other options, passed last."""
        self._extra += args
        return self

    @property
    def kernel_cmdline(self):
        """The kernel command line as it will be passed."""
        return ' '.join(self._append)

    def args(self):
        """The options without the binary and -M."""
        append = ['-append', self.kernel_cmdline] if self._append else []
        return self._args + append + self._extra

    def argv(self):
        """The whole command."""
        return [self.binary, '-M', self.machine] + self.args()
