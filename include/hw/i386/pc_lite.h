/*
 * pc-lite: a minimal, firmware-less x86 machine
 *
 * Copyright (c) 2026 The pc-lite authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Guest physical address map:
 *
 *   0x00000000 - 0x0009fbff  RAM; QEMU writes the boot data here:
 *     0x00000500               GDT of the 64-bit boot protocol
 *     0x00006000               PVH hvm_start_info, module list, memory map
 *     0x00007000               boot_params ("zero page")
 *     0x00009000 - 0x0000efff  identity page tables (PML4, PDPT, 4 PDs)
 *     0x00020000 - 0x00020fff  kernel command line
 *   0x0009fc00 - 0x0009ffff  reserved:
 *     0x0009fc00               VM generation ID (16 bytes, ACPI VGEN device)
 *   0x000e0000 - 0x000fffff  reserved: ACPI tables written by QEMU
 *   0x00100000 - lowmem      RAM: kernel at its own address, initrd at the top
 *   0xc0000000 - 0xdfffffff  PCIe MMIO window (32-bit BARs)
 *   0xe0000000 - 0xefffffff  PCIe ECAM, buses 0-255
 *   0xfea00000 - 0xfea002ff  ACPI GED: events (+0x0), sleep/reset (+0x200)
 *   0xfec00000               IOAPIC
 *   0xfee00000               LAPIC
 *   4 GiB - ...              RAM above 3 GiB, then device memory (NVDIMM),
 *                            then the 64-bit PCIe MMIO window
 *
 * lowmem is the RAM size, at most 3 GiB; the rest is mapped at 4 GiB.
 *
 * I/O ports: 0x70-0x71   CMOS RTC (rtc=on, the default: the guest's wall
 *                  clock at boot when it has no kvmclock),
 *            0x3f8-0x3ff 16550 UART (only with -serial or serial=on;
 *                  -device isa-serial adds more on the machine's ISA bus),
 *            0x600-0x60b ACPI PM timer block (timer at 0x608; pm-timer=on,
 *                  the default unless the guest has kvmclock),
 *            0x510 boot-phase marker: 16-bit writes traced with the host
 *                  clock (trace event pc_lite_marker).
 *
 * IOAPIC GSIs: 4 UART, 8 RTC, 9 GED (power button, ACPI events),
 *              10 VM generation ID changed (a GED of its own, ACPI0013),
 *              16-19 PCIe INTA-INTD.  MSI/MSI-X go straight to the LAPICs.
 */

#ifndef HW_I386_PC_LITE_H
#define HW_I386_PC_LITE_H

#include "hw/i386/x86.h"
#include "hw/pci-host/gpex.h"
#include "hw/acpi/acpi.h"
#include "qemu/notify.h"
#include "qemu/units.h"
#include "qemu/uuid.h"
#include "qom/object.h"
#include "system/runstate.h"

#define PC_LITE_GDT_ADDR          0x500
#define PC_LITE_START_INFO_ADDR   0x6000
#define PC_LITE_ZERO_PAGE_ADDR    0x7000
#define PC_LITE_PGTABLE_ADDR      0x9000
#define PC_LITE_CMDLINE_ADDR      0x20000
#define PC_LITE_CMDLINE_MAX       0x1000
#define PC_LITE_LOW_RAM_END       0x9fc00
#define PC_LITE_ACPI_ADDR         0xe0000
#define PC_LITE_ACPI_SIZE         0x20000
#define PC_LITE_HIGH_RAM_START    0x100000
#define PC_LITE_VMGENID_ADDR      0x9fc00

#define PC_LITE_LOWMEM_MAX        0xc0000000ULL
#define PC_LITE_PCIE_MMIO_BASE    0xc0000000ULL
#define PC_LITE_PCIE_MMIO_SIZE    0x20000000ULL
#define PC_LITE_PCIE_ECAM_BASE    0xe0000000ULL
#define PC_LITE_PCIE_ECAM_SIZE    0x10000000ULL
#define PC_LITE_GED_BASE          0xfea00000ULL
#define PC_LITE_GED_REGS_BASE     (PC_LITE_GED_BASE + 0x200)

#define PC_LITE_RTC_IOPORT        0x70
#define PC_LITE_UART_IOPORT       0x3f8
#define PC_LITE_PM_IOPORT         0x600
#define PC_LITE_PM_TMR_IOPORT     (PC_LITE_PM_IOPORT + 8)
#define PC_LITE_MARKER_IOPORT     0x510
#define PC_LITE_NVDIMM_ALIGN      (2 * MiB)

#define PC_LITE_UART_GSI          4
#define PC_LITE_RTC_GSI           8
#define PC_LITE_GED_GSI           9
#define PC_LITE_VMGENID_GSI       10
#define PC_LITE_PCIE_GSI_BASE     16

#define PC_LITE_MACHINE_SERIAL    "serial"
#define PC_LITE_MACHINE_RTC       "rtc"
#define PC_LITE_MACHINE_PM_TIMER  "pm-timer"
#define PC_LITE_MACHINE_VMGENID   "vmgenid"
#define PC_LITE_MACHINE_SHARE_KERNEL "share-kernel"

typedef struct DirectBoot DirectBoot;

struct PcLiteMachineState {
    X86MachineState parent;

    /* Properties */
    OnOffAuto serial;
    OnOffAuto rtc;
    OnOffAuto pm_timer;         /* ACPI PM timer; auto: none with kvmclock */
    char *vmgenid;              /* "auto", "off" or a UUID */
    OnOffAuto share_kernel;     /* map the kernel from its file (COW) */

    /* State */
    struct GPEXConfig gpex;
    ISABus *isa_bus;            /* RTC, UART and -device isa-serial */
    ISADevice *uart;            /* the machine's own UART (COM0) or NULL */
    ACPIREGS pm;
    MemoryRegion pm_io;
    MemoryRegion marker_io;
    Notifier powerdown_req;
    DirectBoot *boot;
    hwaddr rsdp_addr;
    bool vmgenid_enabled;
    QemuUUID generation;        /* the guest's VM generation ID */
    bool restored;              /* state came from -incoming, not a boot */
    int64_t booted_at;          /* QEMU_CLOCK_VIRTUAL ms of the last boot */
    int quick_resets;           /* resets in a row right after a boot */
    VMChangeStateEntry *vm_change;
};

#define TYPE_PC_LITE_MACHINE MACHINE_TYPE_NAME("pc-lite")
OBJECT_DECLARE_SIMPLE_TYPE(PcLiteMachineState, PC_LITE_MACHINE)

/* pc_lite_acpi.c: build the tables and write them at PC_LITE_ACPI_ADDR. */
hwaddr pc_lite_acpi_write(PcLiteMachineState *pms, Error **errp);

#endif
