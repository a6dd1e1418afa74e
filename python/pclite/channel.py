# SPDX-License-Identifier: GPL-2.0-or-later
"""The command channel, for tests and benchmarks that drive a VM
themselves: one command into the guest, its streams out.  The tools'
end is C (host/guest.c, host/session.c); this one speaks the same
protocol from proto/channel.h's constants.

A virtio-serial port named PORT_NAME joins the host to the guest's init
(guest/init.c).  Both directions carry frames: an 8-byte header (a type
byte, three zero bytes, the payload's length as a 32-bit little-endian
number) and the payload.  docs/pc-lite.rst ("The command channel") is
the specification; in short:

  host -> guest     T time, G a clone's VM generation ID, A argument,
                    V environment entry, D working directory, S start
                    (flags), I stdin (empty: EOF), K signal, Q done
  guest -> host     h hello (version), p started (pid), o stdout,
                    e stderr, x exit (status, signal)

init frames the command's output itself, from pipes, so nothing the
command writes can pass for an exit frame.

Session runs one command over a connected socket: it sends the command
when the guest says hello (a booting VM) or at once (a clone, whose init
is already waiting for it), streams this process's stdin in and the
command's stdout and stderr out while the command runs, forwards SIGINT,
SIGTERM and SIGHUP to the command, and returns its exit status.
"""

import io
import os
import selectors
import signal
import socket
import struct
import time

# proto/channel.h's constants (tests/unit/test_channel_proto.py checks
# that they are the same).
PORT_NAME = 'org.pclite.channel.0'
VERSION = 2
MAX_PAYLOAD = 1 << 20
SESSIONS = 256
FLAG_STDIN = 1
FLAG_TTY = 2
FLAG_KILL_ALL = 1
FLAG_ROOT_RO = 1
FRAME_TIME = 'T'
FRAME_GENID = 'G'
FRAME_CONTAINER = 'C'
FRAME_MOUNT = 'M'
FRAME_NIC = 'N'
FRAME_ADDR = 'L'
FRAME_ROUTE = 'O'
FRAME_HOSTNAME = 'H'
FRAME_SETUP = 'P'
FRAME_LIST = 'Y'
FRAME_QUIT = 'Q'
FRAME_ARG = 'A'
FRAME_ENV = 'V'
FRAME_CWD = 'D'
FRAME_USER = 'U'
FRAME_RLIMIT = 'R'
FRAME_WINSIZE = 'W'
FRAME_START = 'S'
FRAME_INPUT = 'I'
FRAME_SIGNAL = 'K'
FRAME_HELLO = 'h'
FRAME_READY = 'r'
FRAME_STARTED = 'p'
FRAME_OUTPUT = 'o'
FRAME_ERROR = 'e'
FRAME_EXIT = 'x'
FRAME_PROCESSES = 'y'
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_HEADER = struct.Struct('<B3xI')


class ProtocolError(Exception):
    """The peer sent something that is not a frame."""


class ChannelError(Exception):
    """The command could not be run or its end not seen."""


def frame(kind, payload=b''):
    """One frame of type kind (a one-letter str) with payload bytes."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f'frame {kind}: {len(payload)} bytes is more than '
                         f'{MAX_PAYLOAD}')
    return _HEADER.pack(ord(kind), len(payload)) + payload


class Decoder:
    """Frames out of a byte stream, fed in pieces."""

    def __init__(self):
        self._buf = bytearray()

    def feed(self, data):
        """Add data; return the frames now complete as (kind, payload)."""
        self._buf += data
        frames = []
        while len(self._buf) >= _HEADER.size:
            if any(self._buf[1:4]):
                raise ProtocolError('bad frame header')
            kind, size = _HEADER.unpack_from(self._buf)
            if size > MAX_PAYLOAD:
                raise ProtocolError(f'frame of {size} bytes')
            end = _HEADER.size + size
            if len(self._buf) < end:
                break
            frames.append((chr(kind), bytes(self._buf[_HEADER.size:end])))
            del self._buf[:end]
        return frames


def _cstring(kind, text):
    data = os.fsencode(text)
    if b'\0' in data:
        raise ChannelError(f'{text!r}: NUL bytes cannot be passed')
    return frame(kind, data)


def command_frames(argv, env=None, cwd=None, stdin=True, now=None,
                   generation=None):
    """The frames that give the guest a command: the host's wall clock
    (now, default time.time_ns()), a clone's VM generation ID (16 bytes),
    argv, env (a dict; the guest's default environment when None), cwd,
    then start."""
    if not argv:
        raise ChannelError('no command')
    ns = time.time_ns() if now is None else now
    out = [frame(FRAME_TIME, struct.pack('<qI', ns // 10**9, ns % 10**9))]
    if generation is not None:
        out.append(frame(FRAME_GENID, generation))
    out += [_cstring(FRAME_ARG, a) for a in argv]
    out += [_cstring(FRAME_ENV, f'{k}={v}') for k, v in (env or {}).items()]
    if cwd:
        out.append(_cstring(FRAME_CWD, cwd))
    out.append(frame(FRAME_START, struct.pack('<I', FLAG_STDIN if stdin else 0)))
    return b''.join(out)


def exit_code(status, signo):
    """An exit frame's status as a shell reports it (128 + signal)."""
    return 128 + signo if signo else status


class Session:
    """One command over a connected channel socket.

    stdin is a file descriptor to stream in (None: the command's stdin is
    /dev/null); stdout and stderr take the command's output (binary
    files).  at_once sends the command without waiting for the guest's
    hello (a clone: its init already waits in read()); generation is a
    clone's new VM generation ID (16 bytes), with which init reseeds the
    guest's RNG before it runs the command.
    """

    def __init__(self, sock, argv, env=None, cwd=None, stdin=None,
                 stdout=None, stderr=None, at_once=False, generation=None):
        self.sock = sock
        self.stdin = stdin
        self.outputs = {FRAME_OUTPUT: stdout, FRAME_ERROR: stderr}
        self.command = command_frames(argv, env, cwd, stdin is not None,
                                      generation=generation)
        self.at_once = at_once
        self.pid = None                 # the command's pid in the guest
        self.t_first_output = None      # time.time() of the first byte
        self._sent = False
        self._out = bytearray()
        self._signals = []
        self._exit = None

    def _queue(self, data):
        self._out += data

    def _send_command(self):
        if not self._sent:
            self._queue(self.command)
            self._sent = True

    def _on_frame(self, kind, payload):
        if kind == FRAME_HELLO:
            self._send_command()
        elif kind == FRAME_STARTED and len(payload) >= 4:
            self.pid = struct.unpack_from('<I', payload)[0]
            for signo in self._signals:
                self._queue(frame(FRAME_SIGNAL, struct.pack('<I', signo)))
        elif kind in self.outputs:
            if self.t_first_output is None and payload:
                self.t_first_output = time.time()
            out = self.outputs[kind]
            if out is not None:
                out.write(payload)
                out.flush()
        elif kind == FRAME_EXIT and len(payload) >= 8:
            self._exit = exit_code(*struct.unpack_from('<II', payload))
            self._queue(frame(FRAME_QUIT))

    def signal(self, signo):
        """Send signo to the command (once it runs)."""
        self._signals.append(signo)
        if self.pid is not None:
            self._queue(frame(FRAME_SIGNAL, struct.pack('<I', signo)))

    def run(self, alive=lambda: True, deadline=None, start_timeout=None,
            extra=()):
        """Run the command to its end; its exit status (128 + signal).

        alive() is false once QEMU has exited; deadline is a
        time.monotonic() limit, start_timeout the seconds the guest may
        take to start the command; extra is a list of (fileobj, callback) to
        watch as well (callback(fileobj) when readable).  Raises
        ChannelError when QEMU goes or time runs out first.
        """
        decoder = Decoder()
        sel = selectors.DefaultSelector()
        self.sock.setblocking(False)
        sel.register(self.sock, selectors.EVENT_READ)
        if self.stdin is not None:
            os.set_blocking(self.stdin, False)
        for fileobj, callback in extra:
            sel.register(fileobj, selectors.EVENT_READ, callback)
        if self.at_once:
            self._send_command()
        stdin_state = 'waiting' if self.stdin is not None else 'closed'
        start_by = None if start_timeout is None else \
            time.monotonic() + start_timeout
        try:
            while True:
                # Input is read once the command has gone out, and only
                # while the guest keeps up with it.
                if stdin_state == 'waiting' and self._sent:
                    try:
                        sel.register(self.stdin, selectors.EVENT_READ)
                        stdin_state = 'open'
                    except PermissionError:
                        # A regular file (or /dev/null): always readable,
                        # so read as the guest keeps up, without select.
                        stdin_state = 'file'
                if stdin_state == 'file' and len(self._out) < MAX_PAYLOAD:
                    if not self._read_stdin():
                        stdin_state = 'closed'
                events = selectors.EVENT_READ | \
                    (selectors.EVENT_WRITE if self._out else 0)
                sel.modify(self.sock, events)
                timeout = 0.1 if deadline is None else \
                    max(0.0, min(0.1, deadline - time.monotonic()))
                if stdin_state == 'file' and len(self._out) < MAX_PAYLOAD:
                    timeout = 0
                for key, mask in sel.select(timeout):
                    if key.data is not None:
                        key.data(key.fileobj)
                    elif key.fileobj is self.sock:
                        if mask & selectors.EVENT_WRITE:
                            self._write()
                        if mask & selectors.EVENT_READ:
                            data = self._read()
                            if data is None:
                                raise ChannelError('the guest closed the '
                                                   'channel')
                            for kind, payload in decoder.feed(data):
                                self._on_frame(kind, payload)
                    elif len(self._out) < MAX_PAYLOAD:
                        if not self._read_stdin():
                            sel.unregister(self.stdin)
                            stdin_state = 'closed'
                # Done once the exit frame is in and 'Q' has gone out (QEMU
                # may then power off at any moment).
                if self._exit is not None and not self._out:
                    break
                if not alive():
                    raise ChannelError('QEMU exited before the command '
                                       'finished')
                if deadline is not None and time.monotonic() >= deadline:
                    raise ChannelError('the command did not finish in time')
                if self.pid is None and start_by is not None and \
                        time.monotonic() >= start_by:
                    raise ChannelError(f'the guest did not start the command '
                                       f'within {start_timeout:g} s')
        except ProtocolError as e:
            raise ChannelError(f'the guest sent a bad frame: {e}') from e
        finally:
            sel.close()
            if self.stdin is not None:
                os.set_blocking(self.stdin, True)
        return self._exit

    def _read(self):
        try:
            data = self.sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return b''
        except ConnectionError:
            return None
        return data or None

    def _write(self):
        try:
            n = self.sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionError as e:
            raise ChannelError('the guest closed the channel') from e
        del self._out[:n]

    def _read_stdin(self):
        """Forward what stdin has; False once it is at its end."""
        try:
            data = os.read(self.stdin, 1 << 16)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            data = b''
        self._queue(frame(FRAME_INPUT, data))
        return bool(data)


def socketpair():
    """A connected pair (ours, QEMU's); QEMU's end is inheritable."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    os.set_inheritable(theirs.fileno(), True)
    return ours, theirs


def run_command(sock, argv, deadline=None, alive=lambda: True,
                at_once=False):
    """Run argv on a VM's channel socket, its output collected: (exit
    status, stdout bytes, stderr bytes).  For benchmarks and tests that
    drive VMs themselves (pc-lite-run uses Session directly); at_once as
    for Session."""
    out, err = io.BytesIO(), io.BytesIO()
    status = Session(sock, argv, stdout=out, stderr=err,
                     at_once=at_once).run(alive=alive, deadline=deadline)
    return status, out.getvalue(), err.getvalue()
