# SPDX-License-Identifier: GPL-2.0-or-later
# pc-lite: the device set of the pc-lite machine (x86_64-softmmu).
# Used with --without-default-devices by scripts/qemu-lite-config.sh;
# everything else is left out of the binary at compile time.

CONFIG_PC_LITE=y

# Devices users plug into the PCIe host with -device
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_SERIAL=y
CONFIG_VIRTIO_BLK=y
CONFIG_VIRTIO_NET=y
CONFIG_VIRTIO_RNG=y
CONFIG_VHOST_VSOCK=y
CONFIG_PCIE_PORT=y

# A container's root filesystem and bind mounts (pc-lite-oci)
CONFIG_VIRTIO_9P=y

# DAX root disk
CONFIG_NVDIMM=y
CONFIG_DIMM=y

# 16550s for -device isa-serial (libvirt's <serial>) on the ISA bus
CONFIG_SERIAL_ISA=y
