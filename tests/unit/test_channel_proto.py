# SPDX-License-Identifier: GPL-2.0-or-later
"""The command channel's constants: python/pclite/channel.py has the same
frame types, flags, sizes and version as proto/channel.h, the header the
guest's init and the host tools include; and its framing round-trips."""

import os
import re
import unittest

from pclite import channel

HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                      'proto', 'channel.h')


def header():
    with open(HEADER, encoding='utf-8') as f:
        text = f.read()
    frames = dict(re.findall(r"^\s+(FRAME_\w+)\s*=\s*'(.)',", text, re.M))
    defines = {name: value.strip() for name, value in re.findall(
        r'^#define\s+(CHANNEL_\w+)\s+(\S+(?: << \d+\))?)', text, re.M)}
    return frames, defines


class ProtoTest(unittest.TestCase):

    def test_frame_types(self):
        frames, _ = header()
        self.assertGreaterEqual(len(frames), 27)
        mine = {name: getattr(channel, name) for name in dir(channel)
                if name.startswith('FRAME_')}
        self.assertEqual(mine, frames)
        self.assertEqual(len(set(frames.values())), len(frames))

    def test_numbers(self):
        _, d = header()
        self.assertEqual(d['CHANNEL_NAME'].strip('"'), channel.PORT_NAME)
        self.assertEqual(int(d['CHANNEL_VERSION']), channel.VERSION)
        self.assertEqual(eval(d['CHANNEL_MAX']), channel.MAX_PAYLOAD)
        self.assertEqual(int(d['CHANNEL_SESSIONS']), channel.SESSIONS)
        for name, mine in (('CHANNEL_STDIN', channel.FLAG_STDIN),
                           ('CHANNEL_TTY', channel.FLAG_TTY),
                           ('CHANNEL_KILL_ALL', channel.FLAG_KILL_ALL),
                           ('CHANNEL_ROOT_RO', channel.FLAG_ROOT_RO)):
            self.assertEqual(int(d[name].rstrip('u')), mine, name)

    def test_framing(self):
        data = (channel.frame(channel.FRAME_OUTPUT, b'abc') +
                channel.frame(channel.FRAME_EXIT, b'\0' * 8))
        dec = channel.Decoder()
        got = []
        for i in range(len(data)):
            got += dec.feed(data[i:i + 1])
        self.assertEqual(got, [('o', b'abc'), ('x', b'\0' * 8)])
        with self.assertRaises(channel.ProtocolError):
            channel.Decoder().feed(b'o\0\1\0\0\0\0\0')
        with self.assertRaises(ValueError):
            channel.frame(channel.FRAME_INPUT, b'x' * (channel.MAX_PAYLOAD + 1))


if __name__ == '__main__':
    unittest.main()
