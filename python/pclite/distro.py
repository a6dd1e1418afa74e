# SPDX-License-Identifier: GPL-2.0-or-later
"""Debian's kernel packages, for tests with kernels nobody here configured:
downloaded with apt-get download and unpacked once under PC_LITE_CACHE.

  root = distro.kernel_package('linux-image-amd64')
  distro.vmlinuz(root), distro.module(root, 'kvm-amd')
"""

import glob
import os
import subprocess

from pclite import paths

CACHE = os.path.join(paths.CACHE, 'distro-kernel')


def kernel_package(meta):
    """The unpacked tree of the kernel package that the metapackage meta
    (linux-image-amd64, linux-image-cloud-amd64) depends on.  Raises
    subprocess.CalledProcessError, IndexError or OSError when it cannot
    be had."""
    dep = subprocess.run(['apt-cache', 'depends', meta], capture_output=True,
                         text=True, check=True).stdout
    pkg = [ln.split()[-1] for ln in dep.splitlines() if 'Depends:' in ln
           and 'linux-image-' in ln][0]
    root = os.path.join(CACHE, pkg)
    if glob.glob(os.path.join(root, 'boot', 'vmlinuz-*')):
        return root
    os.makedirs(CACHE, exist_ok=True)
    subprocess.run(['apt-get', 'download', '-q', pkg], cwd=CACHE, check=True,
                   capture_output=True)
    deb = glob.glob(os.path.join(CACHE, pkg + '_*.deb'))[0]
    subprocess.run(['dpkg-deb', '-x', deb, root + '.tmp'], check=True)
    os.rename(root + '.tmp', root)
    os.unlink(deb)
    return root


def vmlinuz(root):
    """The package's bzImage."""
    return glob.glob(os.path.join(root, 'boot', 'vmlinuz-*'))[0]


def module(root, name):
    """The path of module name (kvm-amd, ...) in the package."""
    found = glob.glob(os.path.join(root, 'lib', 'modules', '*', 'kernel',
                                   '**', name + '.ko'), recursive=True)
    if not found:
        raise OSError(f'{name}.ko is not in {root}')
    return found[0]
