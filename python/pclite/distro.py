# SPDX-License-Identifier: GPL-2.0-or-later
"""Debian's kernel packages, for tests with kernels nobody here configured:
downloaded with apt-get download and unpacked once under PC_LITE_CACHE.

  root = distro.kernel_package('linux-image-amd64')
  distro.vmlinuz(root), distro.vmlinux(root), distro.module(root, 'kvm-amd')
  bzimage, vmlinux = distro.cloud_kernel()

A package that cannot be had (no apt, no network, no kernel source for
extract-vmlinux) raises one of UNAVAILABLE.
"""

import glob
import os
import shutil
import subprocess
import tempfile

from pclite import paths

CACHE = os.path.join(paths.CACHE, 'distro-kernel')
# What the functions here raise when a package cannot be had.
UNAVAILABLE = (subprocess.CalledProcessError, IndexError, OSError)


def package_name(meta):
    """The kernel package (linux-image-6.1.0-57-amd64) that the
    metapackage meta (linux-image-amd64, linux-image-cloud-amd64) depends
    on, as apt-cache says."""
    dep = subprocess.run(['apt-cache', 'depends', meta], capture_output=True,
                         text=True, check=True).stdout
    return [ln.split()[-1] for ln in dep.splitlines() if 'Depends:' in ln
            and 'linux-image-' in ln][0]


def kernel_package(meta, download=True):
    """The unpacked tree of the kernel package that the metapackage meta
    depends on.  Without download, only an already unpacked one (else
    OSError).  Raises one of UNAVAILABLE when it cannot be had."""
    pkg = package_name(meta)
    root = os.path.join(CACHE, pkg)
    if glob.glob(os.path.join(root, 'boot', 'vmlinuz-*')):
        return root
    if not download:
        raise OSError(f'{pkg} is not downloaded yet (the first run does)')
    os.makedirs(CACHE, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=pkg + '.', dir=CACHE)
    try:
        p = subprocess.run(['apt-get', 'download', '-q', pkg], cwd=tmp,
                           check=False, capture_output=True, text=True)
        if p.returncode:
            raise OSError(f'apt-get download {pkg} failed: ' +
                          (p.stderr.strip().splitlines() or ['?'])[-1])
        deb = glob.glob(os.path.join(tmp, pkg + '_*.deb'))[0]
        subprocess.run(['dpkg-deb', '-x', deb, os.path.join(tmp, 'root')],
                       check=True)
        try:
            os.rename(os.path.join(tmp, 'root'), root)
        except OSError:
            if not os.path.isdir(root):     # else unpacked meanwhile
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def vmlinuz(root):
    """The package's bzImage."""
    return glob.glob(os.path.join(root, 'boot', 'vmlinuz-*'))[0]


def extract_vmlinux_script():
    """The kernel source's scripts/extract-vmlinux: the source make guest
    unpacked into PC_LITE_CACHE/guest (or one beside the guest's
    vmlinux)."""
    cached = sorted(glob.glob(os.path.join(
        paths.CACHE, 'guest', 'linux-source-*', 'scripts',
        'extract-vmlinux')))
    beside = glob.glob(os.path.join(
        os.path.dirname(os.path.realpath(paths.guest_file('vmlinux'))),
        '..', 'linux-source-*', 'scripts', 'extract-vmlinux'))
    found = cached[-1:] + beside
    if not found:
        raise OSError('scripts/extract-vmlinux not found: no kernel source '
                      f'in {paths.CACHE}/guest (make guest unpacks it)')
    return found[0]


def vmlinux(root):
    """The ELF vmlinux inside the package's bzImage (it has the PVH note
    when the kernel has CONFIG_PVH), extracted once into root/vmlinux with
    the kernel source's scripts/extract-vmlinux."""
    out = os.path.join(root, 'vmlinux')
    if os.path.exists(out):
        return out
    fd, tmp = tempfile.mkstemp(prefix='vmlinux.', dir=root)
    try:
        with os.fdopen(fd, 'wb') as f:
            subprocess.run(['sh', extract_vmlinux_script(), vmlinuz(root)],
                           stdout=f, stderr=subprocess.PIPE, check=True)
        os.chmod(tmp, 0o644)
        os.rename(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def cloud_kernel(download=True):
    """(bzImage, vmlinux) of linux-image-cloud-amd64, downloaded and
    extracted once."""
    root = kernel_package('linux-image-cloud-amd64', download)
    return vmlinuz(root), vmlinux(root)


def module(root, name):
    """The path of module name (kvm-amd, ...) in the package."""
    found = glob.glob(os.path.join(root, 'lib', 'modules', '*', 'kernel',
                                   '**', name + '.ko'), recursive=True)
    if not found:
        raise OSError(f'{name}.ko is not in {root}')
    return found[0]
