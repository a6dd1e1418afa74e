# SPDX-License-Identifier: GPL-2.0-or-later
"""VM templates: a booted, idle VM saved once and started many times.

A template is a pc-lite VM booted to the point where its init waits for a
command on the channel (pclite.channel), stopped and migrated to a file
with QEMU's x-ignore-shared capability.  Its guest RAM lives in a file
of its own (memory-backend-file, share=on), so the migration stream holds
only the device state (about 100 KiB); the NVDIMM root image is mapped
shared and read-only, so it is not in the stream either.

A clone is a QEMU started with the same command line, guest RAM mapped
from the template's file copy-on-write (share=off, readonly=on, rom=off:
the file is opened read-only and each clone's writes stay private) and
-incoming file:STATE.  pc-lite leaves RAM alone at the reset that comes
before the state is loaded, gives the clone a new VM generation ID when
it starts (the guest reseeds its RNG) and the runner sends the wall-clock
time with the command.

Templates live in $PC_LITE_CACHE/templates/KEY, KEY a hash of everything
that makes the VM: the QEMU binary, kernel and root image (path, inode,
size, modification time), vCPUs, memory, accelerator and kernel
arguments.  A template directory is made under a temporary name and
renamed into place when complete, under a lock, with its files read-only;
removing it does not disturb clones that run (they keep their mappings).
"""

import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
import uuid

from pclite import channel
from pclite import paths
from pclite import qemucmd

FORMAT = 3
DIR = os.path.join(paths.CACHE, 'templates')
MANIFEST = 'manifest.json'
RAM = 'ram'
STATE = 'state'
_STATE_FDSET = 1
_MiB = 1 << 20


class TemplateError(Exception):
    """A template could not be made or used; the message says why."""


def _identity(path):
    """What changes when a file is replaced or rebuilt."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError as e:
        raise TemplateError(f'{path}: {e.strerror}') from e
    return [real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


class Spec:
    """Everything that makes a VM, and so a template.

    mem_mib is guest RAM (without the root image); append are extra
    kernel command-line words; vmgenid is the machine's vmgenid option
    (auto: a new VM generation ID for every clone); user is the "UID:GID"
    QEMU changes to once it has opened its files (None: it keeps ours),
    not part of the template's key: the machine is the same.
    """

    def __init__(self, kernel, rootfs, rootfs_size, cpus, mem_mib, accel,
                 append=(), qemu=None, vmgenid='auto', user=None):
        self.qemu = qemu or paths.QEMU
        self.kernel = kernel
        self.rootfs = rootfs
        self.rootfs_size = rootfs_size
        self.cpus = cpus
        self.mem_mib = mem_mib
        self.accel = accel
        self.append = list(append)
        self.vmgenid = vmgenid
        self.user = user

    def inputs(self):
        """The template's inputs, as recorded in its manifest."""
        return {'format': FORMAT, 'qemu': _identity(self.qemu),
                'kernel': _identity(self.kernel),
                'rootfs': _identity(self.rootfs), 'cpus': self.cpus,
                'mem_mib': self.mem_mib, 'accel': self.accel,
                'append': self.append, 'vmgenid': self.vmgenid}

    def key(self):
        """The template's name: a hash of its inputs."""
        text = json.dumps(self.inputs(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def cmdline(self, ram_path, clone, console_path, channel_fd,
                generation=None):
        """The QEMU command line of the template (clone=False) or of a
        clone; both must describe the same machine.  generation is the
        clone's VM generation ID (a UUID string; default: the spec's)."""
        maxmem = self.mem_mib + self.rootfs_size // _MiB
        generation = generation or self.vmgenid
        machine = 'pc-lite' if generation == 'auto' else \
            f'pc-lite,vmgenid={generation}'
        cmd = qemucmd.Cmdline(machine, self.accel, self.cpus,
                              f'{self.mem_mib}M,slots=1,maxmem={maxmem}M',
                              binary=self.qemu, no_reboot=True)
        cmd.kernel(self.kernel).append('quiet', 'panic=-1')
        cmd.ram_file(ram_path, self.mem_mib, clone=clone)
        # Shared and read-only: the same pages for the template and every
        # clone, and outside the migration stream (x-ignore-shared).
        cmd.nvdimm_root(self.rootfs, self.rootfs_size, share=True,
                        readonly=True, dev_id='nv0')
        cmd.virtio_console(console_path)
        cmd.channel(channel_fd).rng().sandbox()
        if self.user:
            cmd.run_as(self.user)
        return cmd.append(*self.append)


def path(key):
    """The directory of template key."""
    return os.path.join(DIR, key)


def _sha256(file_path):
    with open(file_path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def check(key):
    """The manifest of a complete, intact template key, or TemplateError
    saying what is wrong with it (FileNotFoundError when there is none)."""
    tdir = path(key)
    try:
        with open(os.path.join(tdir, MANIFEST), encoding='utf-8') as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as e:
        raise TemplateError(f'template {key}: unreadable manifest') from e
    if manifest.get('format') != FORMAT:
        raise TemplateError(f'template {key}: format '
                            f'{manifest.get("format")}, not {FORMAT}')
    for name in (RAM, STATE):
        try:
            size = os.stat(os.path.join(tdir, name)).st_size
        except OSError as e:
            raise TemplateError(f'template {key}: {name}: '
                                f'{e.strerror}') from e
        if size != manifest['sizes'].get(name):
            raise TemplateError(f'template {key}: {name} is {size} bytes, '
                                f'not {manifest["sizes"].get(name)}')
    if _sha256(os.path.join(tdir, STATE)) != manifest['state_sha256']:
        raise TemplateError(f'template {key}: its saved state is corrupt')
    return manifest


def remove(key):
    """Remove template key (clones that run keep their mappings)."""
    tdir = path(key)
    if not os.path.isdir(tdir):
        return False
    # Make it writable again first: its files are read-only.
    os.chmod(tdir, 0o755)
    shutil.rmtree(tdir)
    return True


def templates():
    """[(key, manifest or the error)] of every template directory."""
    out = []
    try:
        names = sorted(os.listdir(DIR))
    except FileNotFoundError:
        return out
    for name in names:
        if '.' in name or not os.path.isdir(path(name)):
            continue
        try:
            out.append((name, check(name)))
        except (TemplateError, FileNotFoundError) as e:
            out.append((name, e))
    return out


class _Lock:
    """An exclusive lock on one template key, held across processes."""

    def __init__(self, key):
        os.makedirs(DIR, exist_ok=True)
        self._fd = os.open(os.path.join(DIR, f'.{key}.lock'),
                           os.O_RDWR | os.O_CREAT, 0o644)

    def __enter__(self):
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def _preallocate(file_path, size):
    """The RAM file, its blocks reserved: no SIGBUS in QEMU when the disk
    fills while the guest boots, but a clear error now."""
    fd = os.open(file_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as e:
        raise TemplateError(f'cannot reserve {size // _MiB} MiB for the '
                            f'template\'s RAM in {DIR}: '
                            f'{e.strerror}') from e
    finally:
        os.close(fd)


def _qmp(vm, command, **args):
    """A QMP command's return value; TemplateError when it fails."""
    reply = vm.qmp(command, **args)
    if 'error' in reply:
        raise TemplateError(f'{command}: {reply["error"]["desc"]}')
    return reply['return']


def _boot_and_save(spec, tmp, timeout):
    """Boot spec's VM in tmp until init waits for its command, then save
    it there: the RAM file and the migration stream."""
    # Only here: a clone does not pay for python/qemu's import.
    from pclite import launch  # pylint: disable=import-outside-toplevel
    ram = os.path.join(tmp, RAM)
    _preallocate(ram, spec.mem_mib * _MiB)
    ours, theirs = channel.socketpair()
    cmd = spec.cmdline(ram, False, os.path.join(tmp, 'console.log'),
                       theirs.fileno())
    vm = launch.Machine(cmd, tmp)
    # The migration stream's file, opened here and passed in an fd set:
    # a QEMU that has changed its user (Spec.user) could not create it in
    # tmp when the migration starts.
    state = os.open(os.path.join(tmp, STATE), os.O_WRONLY | os.O_CREAT |
                    os.O_EXCL | os.O_CLOEXEC, 0o600)
    vm.add_fd(state, _STATE_FDSET, STATE)
    try:
        try:
            vm.launch()
        finally:
            os.close(state)
        theirs.close()
        ours.settimeout(timeout)
        hello = channel.Decoder()
        frames = []
        deadline = time.monotonic() + timeout
        while not any(kind == channel.FRAME_HELLO for kind, _ in frames):
            if time.monotonic() > deadline:
                raise TemplateError('the guest did not reach its init '
                                    f'within {timeout} s')
            data = ours.recv(4096)
            if not data:
                raise TemplateError('the guest closed the channel')
            frames += hello.feed(data)
        # Migrated while it runs (it is stopped for the last stage), so
        # that the saved run state is "running" and clones start at once.
        _qmp(vm, 'migrate-set-capabilities', capabilities=[
            {'capability': 'x-ignore-shared', 'state': True}])
        _qmp(vm, 'migrate', uri=f'file:/dev/fdset/{_STATE_FDSET}')
        while True:
            info = _qmp(vm, 'query-migrate')
            status = info.get('status')
            if status == 'completed':
                break
            if status in ('failed', 'cancelled'):
                raise TemplateError('saving the template failed: ' +
                                    info.get('error-desc', status))
            if time.monotonic() > deadline:
                raise TemplateError('saving the template timed out')
            time.sleep(0.005)
    except OSError as e:
        raise TemplateError(f'the template VM: {e}') from e
    finally:
        ours.close()
        vm.stop()
        if vm.exitcode() not in (None, 0, -9):
            log = vm.get_log() or ''
            if log.strip():
                raise TemplateError(f'QEMU: {log.strip().splitlines()[-1]}')


def create(spec, timeout=120):
    """Make spec's template unless an intact one exists: its key.

    Two runners that race make it once: the second waits for the first
    and takes its template.
    """
    key = spec.key()
    with _Lock(key):
        try:
            check(key)
            return key
        except FileNotFoundError:
            pass
        except TemplateError:
            remove(key)
        tmp = tempfile.mkdtemp(prefix=f'{key}.tmp-', dir=DIR)
        try:
            _boot_and_save(spec, tmp, timeout)
            sizes = {n: os.stat(os.path.join(tmp, n)).st_size
                     for n in (RAM, STATE)}
            manifest = dict(spec.inputs(), created=time.time(), sizes=sizes,
                            state_sha256=_sha256(os.path.join(tmp, STATE)))
            with open(os.path.join(tmp, MANIFEST), 'w',
                      encoding='utf-8') as f:
                json.dump(manifest, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            for name in os.listdir(tmp):
                os.chmod(os.path.join(tmp, name), stat.S_IRUSR |
                         stat.S_IRGRP | stat.S_IROTH)
            os.chmod(tmp, 0o555)
            os.rename(tmp, path(key))
        except BaseException:
            if os.path.isdir(tmp):
                os.chmod(tmp, 0o755)
                shutil.rmtree(tmp, ignore_errors=True)
            raise
    return key


def generation(spec):
    """A clone's VM generation ID: (UUID string for QEMU's vmgenid, its 16
    bytes as the guest reads them).  New for every clone unless the spec
    fixes it: then the bytes are None, as the ID does not change (and the
    guest does not reseed, like Linux's vmgenid driver when it sees the
    same ID again)."""
    if spec.vmgenid != 'auto':
        return str(uuid.UUID(spec.vmgenid)), None
    gen = uuid.uuid4()
    return str(gen), gen.bytes_le


def clone_cmdline(spec, key, console_path, channel_fd, vmgenid):
    """The command line of a clone of template key with generation ID
    vmgenid (from generation())."""
    tdir = path(key)
    cmd = spec.cmdline(os.path.join(tdir, RAM), True, console_path,
                       channel_fd, vmgenid)
    return cmd.incoming(os.path.join(tdir, STATE))
