# SPDX-License-Identifier: GPL-2.0-or-later
"""libvirt: the domain XML of docs/pc-lite.rst ("libvirt"), with its
paths replaced, in a private libvirtd: define, boot to the guest's
report on the serial console, virsh shutdown (the ACPI power button) to
"shut off", undefine.

The daemon is Debian's libvirtd as root in a mount namespace of its own:
/etc/libvirt, /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt
are directories of a temporary directory (where one does not exist on the
host, a tmpfs over its parent holds it), /run is a tmpfs, its socket and
pid file are in the temporary directory, and only the QEMU driver is
loaded (LIBVIRT_DRIVER_DIR): no network, firewall or host service of
libvirt is started or touched.  Its qemu.conf turns off what belongs to
the host's configuration rather than to pc-lite (docs/pc-lite.rst says
why)."""

import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import textwrap
import unittest
import xml.etree.ElementTree as ET

from pclite import launch
from pclite import paths
from pclite import process
from pclite import report

LIBVIRTD = '/usr/sbin/libvirtd'
VIRSH = shutil.which('virsh') or '/usr/bin/virsh'
DRIVER = glob.glob('/usr/lib/*/libvirt/connection-driver/'
                   'libvirt_driver_qemu.so')
DOCS = os.path.join(paths.TOP, 'docs', 'pc-lite.rst')
# The host directories the daemon would use, each over a directory of ours.
BIND = {'etc': '/etc/libvirt', 'lib': '/var/lib/libvirt',
        'cache': '/var/cache/libvirt', 'log': '/var/log/libvirt'}
LIBVIRT_NETDEVS = ('virbr', 'vnet', 'macvtap', 'macvlan')

QEMU_CONF = '''\
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
'''


def documented_domain():
    """The domain XML of docs/pc-lite.rst's "libvirt" section."""
    with open(DOCS, encoding='utf-8') as f:
        text = f.read()
    section = text[text.index('\nlibvirt\n-------\n'):]
    block = re.search(r'\.\. code-block:: xml\n\n((?:  .*\n|\n)+)', section)
    return textwrap.dedent(block.group(1))


def interfaces():
    return set(os.listdir('/sys/class/net'))


@unittest.skipUnless(os.path.exists(LIBVIRTD) and DRIVER and
                     shutil.which('unshare'),
                     'needs libvirt-daemon, its QEMU driver and '
                     'libvirt-clients (make deps-libvirt)')
@unittest.skipUnless(os.geteuid() == 0, 'needs root (a private libvirtd)')
class LibvirtTest(unittest.TestCase):

    def setUp(self):
        self.tmp = self.enterContext(
            tempfile.TemporaryDirectory(prefix='pc-lite-libvirt-'))
        self.addCleanup(self.check_host, os.path.exists('/run/libvirt'),
                        interfaces())
        self.daemon = self.start_daemon()

    def start_daemon(self):
        t = self.tmp
        for d in list(BIND) + ['sock', 'drivers']:
            os.mkdir(os.path.join(t, d))
        os.symlink(DRIVER[0], os.path.join(t, 'drivers',
                                           os.path.basename(DRIVER[0])))
        with open(os.path.join(t, 'etc', 'qemu.conf'), 'w') as f:
            f.write(QEMU_CONF)
        with open(os.path.join(t, 'libvirtd.conf'), 'w') as f:
            f.write(f'unix_sock_dir = "{t}/sock"\n'
                    'auth_unix_ro = "none"\nauth_unix_rw = "none"\n'
                    f'log_outputs = "3:file:{t}/libvirtd.log"\n')
        # libvirtd looks up its default QEMU user before it reads
        # qemu.conf; libvirt-daemon-system would add it to the host: a copy
        # of passwd and group with it, over the host's in this namespace.
        script = ''
        for name, line in (('passwd', 'libvirt-qemu:x:64055:64055::/:'
                            '/usr/sbin/nologin'),
                           ('group', 'libvirt-qemu:x:64055:')):
            with open(f'/etc/{name}', encoding='utf-8') as f:
                text = f.read()
            if not re.search(r'^libvirt-qemu:', text, re.M):
                with open(os.path.join(t, name), 'w', encoding='utf-8') as f:
                    f.write(text + line + '\n')
                script += f'mount --bind {t}/{name} /etc/{name}\n'
        for d, host in BIND.items():
            if not os.path.isdir(host):
                # Without libvirt-daemon-system the directory is not there:
                # an empty tmpfs over its parent, in this namespace only.
                script += (f'mount -t tmpfs tmpfs {os.path.dirname(host)}\n'
                           f'mkdir {host}\n')
            script += f'mount --bind {t}/{d} {host}\n'
        script += (f'mount -t tmpfs tmpfs /run\n'
                   f'exec {LIBVIRTD} --config {t}/libvirtd.conf '
                   f'--pid-file {t}/libvirtd.pid\n')
        env = dict(os.environ, LIBVIRT_DRIVER_DIR=os.path.join(t, 'drivers'))
        with open(os.path.join(t, 'libvirtd.err'), 'w') as err:
            daemon = subprocess.Popen(
                ['unshare', '--mount', '--propagation', 'private',
                 'sh', '-ec', script], env=env, stdout=subprocess.DEVNULL,
                stderr=err)
        self.addCleanup(self.stop_daemon, daemon)
        self.uri = f'qemu:///system?socket={t}/sock/libvirt-sock'
        if not process.poll(lambda: self.virsh('uri', check=False)
                            .returncode == 0, 30,
                            lambda: daemon.poll() is None, interval=0.2):
            self.fail('the private libvirtd did not start:\n' +
                      self.daemon_log())
        return daemon

    def stop_daemon(self, daemon):
        if daemon.poll() is None:
            self.virsh('destroy', 'pc-lite', check=False)
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()

    def daemon_log(self):
        return ''.join(process.read_text(os.path.join(self.tmp, f))[-3000:]
                       for f in ('libvirtd.err', 'libvirtd.log'))

    def virsh(self, *args, check=True, timeout=120):
        p = subprocess.run([VIRSH, '-q', '-c', self.uri, *args],
                           capture_output=True, text=True, timeout=timeout,
                           check=False)
        if check and p.returncode:
            self.fail(f'virsh {" ".join(args)}: {p.stderr.strip()}\n' +
                      self.qemu_log())
        return p

    def qemu_log(self):
        return process.read_text(
            os.path.join(self.tmp, 'log', 'qemu', 'pc-lite.log'))[-3000:]

    def domain_xml(self, image, console):
        """The documented XML: our paths, KVM where it boots the guest
        (else type='qemu', TCG), the console also logged to a file."""
        dom = ET.fromstring(documented_domain())
        dom.set('type', 'kvm' if launch.boot_accel().startswith('kvm')
                else 'qemu')
        dom.find('os/kernel').text = paths.guest_file('vmlinux')
        dom.find('os/cmdline').text += ' pclite.action=idle'
        dom.find('devices/emulator').text = paths.QEMU
        nvdimm = dom.find("devices/memory[@model='nvdimm']")
        nvdimm.find('source/path').text = image
        self.assertEqual(int(nvdimm.find('target/size').text) << 20,
                         os.path.getsize(image))
        ET.SubElement(dom.find('devices/serial'), 'log',
                      {'file': console, 'append': 'off'})
        return ET.tostring(dom, encoding='unicode')

    def test_documented_domain(self):
        image = shutil.copy(paths.guest_file('rootfs.img'), self.tmp)
        console = os.path.join(self.tmp, 'console.log')
        xml = os.path.join(self.tmp, 'pc-lite.xml')
        with open(xml, 'w') as f:
            f.write(self.domain_xml(image, console))

        self.virsh('define', xml)
        self.virsh('start', 'pc-lite')
        self.assertTrue(process.poll(
            lambda: report.count(process.read_text(console)), 180,
            interval=0.2), f'no report:\n{process.read_text(console)}\n'
            f'{self.qemu_log()}')
        rep = report.parse(process.read_text(console))
        self.assertEqual(rep['pmem'], 1)
        self.assertEqual(rep['rootdax'], 1)
        self.assertEqual(rep['log_errors'], 0)
        # Nothing on the command line behind libvirt's back (the domain is
        # tainted "high-privileges" alone: QEMU runs as root here).
        args = self.qemu_log()
        self.assertNotIn('custom-argv', args)
        self.assertIn('isa-serial', args)
        self.assertIn('nvdimm', args)

        self.virsh('shutdown', 'pc-lite')
        self.assertTrue(process.poll(
            lambda: self.virsh('domstate', 'pc-lite').stdout.strip() ==
            'shut off', 120, interval=0.5),
            f'not shut off:\n{process.read_text(console)[-2000:]}')
        self.assertIn('power button: powering off',
                      process.read_text(console))
        self.virsh('undefine', 'pc-lite')
        self.assertEqual(self.virsh('list', '--all', '--name').stdout.strip(),
                         '')

    def check_host(self, run_libvirt, netdevs):
        """The host's libvirt untouched once the daemon is gone: no
        /run/libvirt made, no bridge or tap of libvirt's (other tests may
        add interfaces of their own meanwhile)."""
        self.assertEqual(os.path.exists('/run/libvirt'), run_libvirt)
        new = [n for n in interfaces() - netdevs
               if n.startswith(LIBVIRT_NETDEVS)]
        self.assertEqual(new, [])


if __name__ == '__main__':
    unittest.main()
