# SPDX-License-Identifier: GPL-2.0-or-later
"""pc-lite's Python side: one module per job.

  paths     where things are: the tree, build/, the cache, QEMU binaries,
            the guest's files
  accel     which accelerator to use (PC_LITE_ACCEL, the KVM probe)
  qemucmd   QEMU command lines, for pc-lite and the machines it is
            compared with
  launch    starting QEMU and waiting for it
  trace     QEMU's trace log: host-clock stamps and the boot phases
  report    the guest's PCLITE-REPORT line
  procfs    memory figures of a process from /proc
  memory    a QEMU's memory by category (smaps), python3 -m pclite.memory
  image     the NVDIMM root image's layout
  channel   the command channel's frames, for tests that drive a VM
  engines   container engines in a sandbox, for tests

Tests, benchmarks and charts: the tools (pc-lite-run, pc-lite-oci) are
C, over host/; the tests drive their binaries.  Nothing here alters
sys.path: the package is found through PYTHONPATH (the Makefile sets it),
as is QEMU's python/qemu.
"""
