/*
 * pc-lite ACPI: hardware-reduced tables written into guest RAM by QEMU
 *
 * The tables are built with QEMU's ACPI helpers (RSDP, XSDT, FADT, MADT,
 * DSDT, MCFG, SRAT and SLIT with -numa, and NFIT when there are NVDIMMs).
 * Those helpers describe the pointers and checksums to patch as
 * "linker/loader" commands meant for firmware; with no firmware, QEMU
 * carries the commands out itself (bios_linker_loader_execute()) and
 * writes the result to PC_LITE_ACPI_ADDR.  An MP table that matches the
 * MADT follows them (write_mptable()).
 *
 * Copyright (c) 2026 The pc-lite authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "exec/address-spaces.h"
#include "hw/acpi/acpi.h"
#include "hw/acpi/acpi_aml_interface.h"
#include "hw/acpi/aml-build.h"
#include "hw/acpi/bios-linker-loader.h"
#include "hw/acpi/generic_event_device.h"
#include "hw/acpi/pci.h"
#include "hw/pci/pcie_host.h"
#include "hw/char/serial-isa.h"
#include "hw/i386/pc_lite.h"
#include "hw/mem/nvdimm.h"
#include "hw/mem/pc-dimm.h"
#include "hw/intc/ioapic.h"
#include "system/numa.h"
#include "target/i386/cpu.h"
#include "acpi-common.h"
#include "trace.h"

typedef struct {
    const char *name;
    GArray *blob;
    hwaddr addr;
} LinkedFile;

typedef struct {
    LinkedFile *files;
    int n;
    hwaddr next;
} LinkerLayout;

/*
 * bios_linker_loader_execute() callback: place the files one after the
 * other from PC_LITE_ACPI_ADDR on, in the order the linker allocates them.
 */
static bool place_file(void *opaque, const char *name, GArray *blob,
                       uint32_t align, bool fseg, uint64_t *addr,
                       Error **errp)
{
    LinkerLayout *l = opaque;
    LinkedFile *f = NULL;
    int i;

    for (i = 0; i < l->n; i++) {
        if (l->files[i].blob == blob) {
            f = &l->files[i];
        }
    }
    if (!f) {
        error_setg(errp, "pc-lite ACPI: unknown linker file '%s'", name);
        return false;
    }
    *addr = f->addr = ROUND_UP(l->next, MAX(align, 16));
    l->next = *addr + blob->len;
    if (l->next > PC_LITE_ACPI_ADDR + PC_LITE_ACPI_SIZE) {
        error_setg(errp, "pc-lite ACPI tables need more than %d KiB",
                   PC_LITE_ACPI_SIZE / 1024);
        return false;
    }
    return true;
}

static int collect_nvdimms(Object *obj, void *opaque)
{
    GSList **list = opaque;

    if (object_dynamic_cast(obj, TYPE_NVDIMM) && DEVICE(obj)->realized) {
        *list = g_slist_append(*list, obj);
    }
    return 0;
}

static GSList *nvdimm_list(void)
{
    GSList *list = NULL;

    object_child_foreach_recursive(qdev_get_machine(), collect_nvdimms, &list);
    return list;
}

/* NFIT handle of the NVDIMM in @slot, as QEMU's q35/virt machines do it. */
static uint32_t nvdimm_handle(int slot)
{
    return slot + 1;
}

/* ACPI 6.4, 5.2.26 NVDIMM Firmware Interface Table */
static void build_nfit(GArray *table_data, BIOSLinker *linker, GSList *dimms,
                       const char *oem_id, const char *oem_table_id)
{
    static const uint8_t pmem_guid[16] = {   /* 66F0D379-B4F3-4074-... */
        0x79, 0xd3, 0xf0, 0x66, 0xf3, 0xb4, 0x74, 0x40,
        0xac, 0x43, 0x0d, 0x33, 0x18, 0xb7, 0x8c, 0xdb,
    };
    AcpiTable table = { .sig = "NFIT", .rev = 1, .oem_id = oem_id,
                        .oem_table_id = oem_table_id };
    GSList *l;
    int index = 1;

    acpi_table_begin(&table, table_data);
    build_append_int_noprefix(table_data, 0, 4);            /* Reserved */
    for (l = dimms; l; l = l->next, index++) {
        Object *obj = l->data;
        int slot = object_property_get_int(obj, PC_DIMM_SLOT_PROP, NULL);
        uint64_t addr = object_property_get_uint(obj, PC_DIMM_ADDR_PROP, NULL);
        uint64_t size = object_property_get_uint(obj, PC_DIMM_SIZE_PROP, NULL);
        uint32_t handle = nvdimm_handle(slot);

        /* System Physical Address Range */
        build_append_int_noprefix(table_data, 0, 2);        /* Type */
        build_append_int_noprefix(table_data, 56, 2);       /* Length */
        build_append_int_noprefix(table_data, index, 2);    /* SPA index */
        build_append_int_noprefix(table_data, 0, 2);        /* Flags */
        build_append_int_noprefix(table_data, 0, 4);        /* Reserved */
        build_append_int_noprefix(table_data, 0, 4);        /* Proximity */
        g_array_append_vals(table_data, pmem_guid, 16);     /* Range type */
        build_append_int_noprefix(table_data, addr, 8);
        build_append_int_noprefix(table_data, size, 8);
        build_append_int_noprefix(table_data, 0x8008, 8);   /* WB | NV */

        /* NVDIMM Region Mapping */
        build_append_int_noprefix(table_data, 1, 2);        /* Type */
        build_append_int_noprefix(table_data, 48, 2);       /* Length */
        build_append_int_noprefix(table_data, handle, 4);   /* NFIT handle */
        build_append_int_noprefix(table_data, slot, 2);     /* Physical ID */
        build_append_int_noprefix(table_data, 0, 2);        /* Region ID */
        build_append_int_noprefix(table_data, index, 2);    /* SPA index */
        build_append_int_noprefix(table_data, index, 2);    /* Control index */
        build_append_int_noprefix(table_data, size, 8);     /* Region size */
        build_append_int_noprefix(table_data, 0, 8);        /* Region offset */
        build_append_int_noprefix(table_data, 0, 8);        /* Region DPA */
        build_append_int_noprefix(table_data, 0, 2);        /* Interleave */
        build_append_int_noprefix(table_data, 1, 2);        /* Ways */
        build_append_int_noprefix(table_data,               /* Not armed */
                                  NVDIMM(obj)->unarmed ? 1 << 3 : 0, 2);
        build_append_int_noprefix(table_data, 0, 2);        /* Reserved */

        /* NVDIMM Control Region */
        build_append_int_noprefix(table_data, 4, 2);        /* Type */
        build_append_int_noprefix(table_data, 80, 2);       /* Length */
        build_append_int_noprefix(table_data, index, 2);    /* Control index */
        build_append_int_noprefix(table_data, 0x8086, 2);   /* Vendor */
        build_append_int_noprefix(table_data, 0x0001, 2);   /* Device */
        build_append_int_noprefix(table_data, 0x0001, 2);   /* Revision */
        build_append_int_noprefix(table_data, 0, 6);        /* Subsystem */
        build_append_int_noprefix(table_data, 1, 1);        /* Valid fields */
        build_append_int_noprefix(table_data, 0, 5);        /* Mfg, reserved */
        build_append_int_noprefix(table_data, 0x123456 + slot, 4); /* Serial */
        build_append_int_noprefix(table_data, 0x0301, 2);   /* Format code */
        build_append_int_noprefix(table_data, 0, 2);        /* Windows */
        build_append_int_noprefix(table_data, 0, 48);       /* No windows */
    }
    acpi_table_end(linker, &table);
}

/*
 * ACPI 6.4, 5.2.16 System Resource Affinity Table, for -numa: each
 * possible vCPU's node, then each node's RAM where pc_lite_memory_init()
 * maps it (the nodes one after the other in ms->ram, below 4 GiB up to
 * below_4g_mem_size and the rest from 4 GiB on), the NVDIMMs and device
 * memory, as hw/i386/acpi-build.c does.
 */
static void build_srat(GArray *table_data, BIOSLinker *linker,
                       MachineState *ms)
{
    X86MachineState *x86ms = X86_MACHINE(ms);
    const CPUArchIdList *cpus = ms->possible_cpus;
    NumaState *numa = ms->numa_state;
    AcpiTable table = { .sig = "SRAT", .rev = 1, .oem_id = x86ms->oem_id,
                        .oem_table_id = x86ms->oem_table_id };
    uint64_t base = 0, low = x86ms->below_4g_mem_size;
    int i;

    acpi_table_begin(&table, table_data);
    build_append_int_noprefix(table_data, 1, 4);            /* Reserved */
    build_append_int_noprefix(table_data, 0, 8);            /* Reserved */

    for (i = 0; i < cpus->len; i++) {
        uint32_t node = cpus->cpus[i].props.node_id;
        uint32_t apic_id = cpus->cpus[i].arch_id;

        if (apic_id < 255) {
            /* 5.2.16.1 Processor Local APIC/SAPIC Affinity Structure */
            build_append_int_noprefix(table_data, 0, 1);    /* Type */
            build_append_int_noprefix(table_data, 16, 1);   /* Length */
            build_append_int_noprefix(table_data, node, 1); /* Domain 7:0 */
            build_append_int_noprefix(table_data, apic_id, 1);
            build_append_int_noprefix(table_data, 1, 4);    /* Enabled */
            build_append_int_noprefix(table_data, 0, 1);    /* SAPIC EID */
            build_append_int_noprefix(table_data, node >> 8, 3);
            build_append_int_noprefix(table_data, 0, 4);    /* Clock domain */
        } else {
            /* 5.2.16.3 Processor Local x2APIC Affinity Structure */
            build_append_int_noprefix(table_data, 2, 1);    /* Type */
            build_append_int_noprefix(table_data, 24, 1);   /* Length */
            build_append_int_noprefix(table_data, 0, 2);    /* Reserved */
            build_append_int_noprefix(table_data, node, 4); /* Domain */
            build_append_int_noprefix(table_data, apic_id, 4);
            build_append_int_noprefix(table_data, 1, 4);    /* Enabled */
            build_append_int_noprefix(table_data, 0, 4);    /* Clock domain */
            build_append_int_noprefix(table_data, 0, 4);    /* Reserved */
        }
    }

    for (i = 0; i < numa->num_nodes; i++) {
        uint64_t end = base + numa->nodes[i].node_mem;

        if (base < MIN(end, low)) {
            build_srat_memory(table_data, base, MIN(end, low) - base, i,
                              MEM_AFFINITY_ENABLED);
        }
        if (end > MAX(base, low)) {
            uint64_t above = MAX(base, low);

            build_srat_memory(table_data,
                              x86ms->above_4g_mem_start + above - low,
                              end - above, i, MEM_AFFINITY_ENABLED);
        }
        base = end;
    }

    if (ms->nvdimms_state->is_enabled) {
        nvdimm_build_srat(table_data);
    }
    if (ms->device_memory) {
        build_srat_memory(table_data, ms->device_memory->base,
                          memory_region_size(&ms->device_memory->mr),
                          numa->num_nodes - 1,
                          MEM_AFFINITY_HOTPLUGGABLE | MEM_AFFINITY_ENABLED);
    }
    acpi_table_end(linker, &table);
}

/* A device at fixed I/O ports with an ISA IRQ; uid < 0: no _UID. */
static void build_io_device(Aml *scope, const char *name, const char *eisaid,
                            int uid, uint16_t port, uint8_t align,
                            uint8_t len, uint32_t irq)
{
    Aml *dev = aml_device("%s", name);
    Aml *crs = aml_resource_template();

    aml_append(dev, aml_name_decl("_HID", aml_eisaid(eisaid)));
    if (uid >= 0) {
        aml_append(dev, aml_name_decl("_UID", aml_int(uid)));
    }
    aml_append(crs, aml_io(AML_DECODE16, port, port, align, len));
    aml_append(crs, aml_irq_no_flags(irq));
    aml_append(dev, aml_name_decl("_CRS", crs));
    aml_append(scope, dev);
}

/*
 * The VM generation ID device (as QEMU's vmgenid: _CID "VM_Gen_Counter",
 * ADDR = the GUID's address) and a generic event device of its own whose
 * interrupt makes the guest re-read it (Notify 0x80).
 */
static void build_vmgenid(Aml *scope)
{
    Aml *dev, *pkg, *crs, *method;
    uint32_t irq = PC_LITE_VMGENID_GSI;

    dev = aml_device("VGEN");
    aml_append(dev, aml_name_decl("_HID", aml_string("QEMUVGID")));
    aml_append(dev, aml_name_decl("_CID", aml_string("VM_Gen_Counter")));
    aml_append(dev, aml_name_decl("_DDN", aml_string("VM_Gen_Counter")));
    pkg = aml_package(2);
    aml_append(pkg, aml_int(PC_LITE_VMGENID_ADDR));
    aml_append(pkg, aml_int(0));
    aml_append(dev, aml_name_decl("ADDR", pkg));
    aml_append(scope, dev);

    dev = aml_device("VGED");
    aml_append(dev, aml_name_decl("_HID", aml_string("ACPI0013")));
    aml_append(dev, aml_name_decl("_UID", aml_int(1)));
    crs = aml_resource_template();
    aml_append(crs, aml_interrupt(AML_CONSUMER, AML_EDGE, AML_ACTIVE_HIGH,
                                  AML_EXCLUSIVE, &irq, 1));
    aml_append(dev, aml_name_decl("_CRS", crs));
    method = aml_method("_EVT", 1, AML_SERIALIZED);
    aml_append(method, aml_notify(aml_name("\\_SB.VGEN"), aml_int(0x80)));
    aml_append(dev, method);
    aml_append(scope, dev);
}

/*
 * PCI Firmware Specification 3.3, 4.5.1 _OSC for PCI host bridges:
 * grant the OS the native control it asks for among PCIe hot-plug, SHPC
 * hot-plug, PME, AER and the PCIe capability structure (as on q35; Linux
 * then runs pciehp and PME on -device pcie-root-port), and report the
 * bits it did not get.  Nothing else (no _DSM: it would only say that
 * there are no functions).
 */
#define PC_LITE_OSC_CTRL    0x1f

static Aml *build_pci_osc(void)
{
    Aml *method, *ifctx, *elsectx, *masked;

    method = aml_method("_OSC", 4, AML_NOTSERIALIZED);
    aml_append(method, aml_create_dword_field(aml_arg(3), aml_int(0),
                                              "CDW1"));
    ifctx = aml_if(aml_equal(aml_arg(0),
                   aml_touuid("33DB4D5B-1FF7-401C-9657-7441C03DD766")));
    aml_append(ifctx, aml_create_dword_field(aml_arg(3), aml_int(8),
                                             "CDW3"));
    aml_append(ifctx, aml_and(aml_name("CDW3"), aml_int(PC_LITE_OSC_CTRL),
                              aml_local(0)));
    masked = aml_if(aml_lnot(aml_equal(aml_local(0), aml_name("CDW3"))));
    aml_append(masked, aml_or(aml_name("CDW1"), aml_int(0x10),
                              aml_name("CDW1")));     /* Capabilities masked */
    aml_append(ifctx, masked);
    aml_append(ifctx, aml_store(aml_local(0), aml_name("CDW3")));
    aml_append(method, ifctx);
    elsectx = aml_else();
    aml_append(elsectx, aml_or(aml_name("CDW1"), aml_int(0x04),
                               aml_name("CDW1")));    /* Unrecognized UUID */
    aml_append(method, elsectx);
    aml_append(method, aml_return(aml_arg(3)));
    return method;
}

/*
 * The PCIe host bridge.  Its _PRT has the four pins of each slot of the
 * root bus that holds a device at this reset (the DSDT is built again at
 * every reset, and the root bus takes no hot-plug; a device behind a
 * root port or bridge uses its slot's entries), with the GSI itself as
 * the source, as the GPEX wires them: pin P of slot S on GSI
 * PC_LITE_PCIE_GSI_BASE + (S + P) % 4.  No interrupt link devices, no
 * _DSM, _CBA (the MCFG has the ECAM), _STR, _CCA, _SEG or _BBN (their
 * defaults).  RES0 claims the ECAM as a motherboard resource: Linux uses
 * MMCONFIG only once it finds it reserved there.
 */
static void mark_slot(PCIBus *bus, PCIDevice *dev, void *opaque)
{
    bool *used = opaque;

    /* Not the host bridge's own function: it raises no interrupt. */
    if (pci_get_word(dev->config + PCI_CLASS_DEVICE) !=
        PCI_CLASS_BRIDGE_HOST) {
        used[PCI_SLOT(dev->devfn)] = true;
    }
}

static void build_pci_host(Aml *scope, PcLiteMachineState *pms)
{
    struct GPEXConfig *cfg = &pms->gpex;
    Aml *dev, *prt, *crs, *res0;
    bool used[PCI_SLOT_MAX] = { false };
    int slot, pin, slots = 0;

    pci_for_each_device(cfg->bus, 0, mark_slot, used);
    for (slot = 0; slot < PCI_SLOT_MAX; slot++) {
        slots += used[slot];
    }

    dev = aml_device("PCI0");
    aml_append(dev, aml_name_decl("_HID", aml_eisaid("PNP0A08")));
    aml_append(dev, aml_name_decl("_CID", aml_eisaid("PNP0A03")));
    aml_append(dev, aml_name_decl("_UID", aml_int(0)));

    prt = aml_package(slots * PCI_NUM_PINS);
    for (slot = 0; slot < PCI_SLOT_MAX; slot++) {
        if (!used[slot]) {
            continue;
        }
        for (pin = 0; pin < PCI_NUM_PINS; pin++) {
            Aml *entry = aml_package(4);

            aml_append(entry, aml_int((slot << 16) | 0xffff));
            aml_append(entry, aml_int(pin));
            aml_append(entry, aml_int(0));
            aml_append(entry, aml_int(cfg->irq +
                                      (slot + pin) % PCI_NUM_PINS));
            aml_append(prt, entry);
        }
    }
    aml_append(dev, aml_name_decl("_PRT", prt));

    crs = aml_resource_template();
    aml_append(crs, aml_word_bus_number(AML_MIN_FIXED, AML_MAX_FIXED,
                                        AML_POS_DECODE, 0, 0,
                                        cfg->ecam.size / PCIE_MMCFG_SIZE_MIN
                                        - 1, 0,
                                        cfg->ecam.size /
                                        PCIE_MMCFG_SIZE_MIN));
    aml_append(crs, aml_dword_memory(AML_POS_DECODE, AML_MIN_FIXED,
                                     AML_MAX_FIXED, AML_NON_CACHEABLE,
                                     AML_READ_WRITE, 0, cfg->mmio32.base,
                                     cfg->mmio32.base + cfg->mmio32.size - 1,
                                     0, cfg->mmio32.size));
    aml_append(crs, aml_qword_memory(AML_POS_DECODE, AML_MIN_FIXED,
                                     AML_MAX_FIXED, AML_NON_CACHEABLE,
                                     AML_READ_WRITE, 0, cfg->mmio64.base,
                                     cfg->mmio64.base + cfg->mmio64.size - 1,
                                     0, cfg->mmio64.size));
    aml_append(dev, aml_name_decl("_CRS", crs));
    aml_append(dev, build_pci_osc());

    res0 = aml_device("RES0");
    aml_append(res0, aml_name_decl("_HID", aml_eisaid("PNP0C02")));
    crs = aml_resource_template();
    aml_append(crs, aml_qword_memory(AML_POS_DECODE, AML_MIN_FIXED,
                                     AML_MAX_FIXED, AML_NON_CACHEABLE,
                                     AML_READ_WRITE, 0, cfg->ecam.base,
                                     cfg->ecam.base + cfg->ecam.size - 1,
                                     0, cfg->ecam.size));
    aml_append(res0, aml_name_decl("_CRS", crs));
    aml_append(dev, res0);
    aml_append(scope, dev);
}

static void build_dsdt(GArray *table_data, BIOSLinker *linker,
                       PcLiteMachineState *pms, GSList *dimms)
{
    X86MachineState *x86ms = X86_MACHINE(pms);
    AcpiTable table = { .sig = "DSDT", .rev = 2, .oem_id = x86ms->oem_id,
                        .oem_table_id = x86ms->oem_table_id };
    Aml *dsdt, *sb, *dev, *pkg, *scope;
    BusChild *kid;
    GSList *l;

    acpi_table_begin(&table, table_data);
    dsdt = init_aml_allocator();
    sb = aml_scope("_SB");

    build_ged_aml(sb, GED_DEVICE, x86ms->acpi_dev, PC_LITE_GED_GSI,
                  AML_SYSTEM_MEMORY, PC_LITE_GED_BASE);
    acpi_dsdt_add_power_button(sb);
    build_pci_host(sb, pms);

    if (pms->serial == ON_OFF_AUTO_ON) {
        build_io_device(sb, "COM0", "PNP0501", 0, PC_LITE_UART_IOPORT, 0x00,
                        0x08, PC_LITE_UART_GSI);
    }
    /* -device isa-serial (libvirt's <serial>): COM1-COM4, as on pc. */
    QTAILQ_FOREACH(kid, &BUS(pms->isa_bus)->children, sibling) {
        DeviceState *isadev = kid->child;

        if (object_dynamic_cast(OBJECT(isadev), TYPE_ISA_SERIAL) &&
            isadev != DEVICE(pms->uart)) {
            call_dev_aml_func(isadev, sb);
        }
    }
    if (pms->rtc == ON_OFF_AUTO_ON) {
        build_io_device(sb, "RTC", "PNP0B00", -1, PC_LITE_RTC_IOPORT, 0x01,
                        0x02, PC_LITE_RTC_GSI);
    }

    if (pms->vmgenid_enabled) {
        build_vmgenid(sb);
    }

    if (dimms) {
        dev = aml_device("NVDR");
        aml_append(dev, aml_name_decl("_HID", aml_string("ACPI0012")));
        for (l = dimms; l; l = l->next) {
            int slot = object_property_get_int(l->data, PC_DIMM_SLOT_PROP,
                                               NULL);
            Aml *nv = aml_device("NV%02X", slot);

            aml_append(nv, aml_name_decl("_ADR", aml_int(nvdimm_handle(slot))));
            aml_append(dev, nv);
        }
        aml_append(sb, dev);
    }
    aml_append(dsdt, sb);

    /* ACPI 6.4, 7.4.2 System \_S5 state: SLP_TYP of the sleep register */
    scope = aml_scope("\\");
    pkg = aml_package(4);
    aml_append(pkg, aml_int(ACPI_GED_SLP_TYP_S5));
    aml_append(pkg, aml_int(0));
    aml_append(pkg, aml_int(0));
    aml_append(pkg, aml_int(0));
    aml_append(scope, aml_name_decl("_S5", pkg));
    aml_append(dsdt, scope);

    g_array_append_vals(table_data, dsdt->buf->data, dsdt->buf->len);
    acpi_table_end(linker, &table);
    free_aml_allocator();
}

static void build_tables(AcpiBuildTables *tables, PcLiteMachineState *pms)
{
    MachineState *ms = MACHINE(pms);
    X86MachineState *x86ms = X86_MACHINE(pms);
    GArray *blob = tables->table_data;
    g_autoptr(GArray) offsets = g_array_new(false, true, sizeof(uint32_t));
    GSList *dimms = nvdimm_list();
    unsigned dsdt, xsdt;
    AcpiFadtData fadt = {
        .rev = 6,
        .minor_ver = 3,
        .flags = (1 << ACPI_FADT_F_HW_REDUCED_ACPI) |
                 (1 << ACPI_FADT_F_RESET_REG_SUP),
        .sleep_ctl = {
            .space_id = AML_AS_SYSTEM_MEMORY, .bit_width = 8,
            .address = PC_LITE_GED_REGS_BASE + ACPI_GED_REG_SLEEP_CTL,
        },
        .sleep_sts = {
            .space_id = AML_AS_SYSTEM_MEMORY, .bit_width = 8,
            .address = PC_LITE_GED_REGS_BASE + ACPI_GED_REG_SLEEP_STS,
        },
        .reset_reg = {
            .space_id = AML_AS_SYSTEM_MEMORY, .bit_width = 8,
            .address = PC_LITE_GED_REGS_BASE + ACPI_GED_REG_RESET,
        },
        .reset_val = ACPI_GED_RESET_VALUE,
        /* No i8042, no VGA, no MSI quirks; a CMOS RTC only with rtc=on. */
        .iapc_boot_arch = (1 << 2) |
                          (pms->rtc == ON_OFF_AUTO_ON ? 0 : 1 << 5),
    };
    AcpiMcfgInfo mcfg = {
        .base = pms->gpex.ecam.base,
        .size = pms->gpex.ecam.size,
    };

    if (pms->pm_timer == ON_OFF_AUTO_ON) {
        fadt.flags |= 1 << ACPI_FADT_F_TMR_VAL_EXT;
        fadt.pm_tmr = (struct AcpiGenericAddress) {
            .space_id = AML_AS_SYSTEM_IO, .bit_width = 32,
            .address = PC_LITE_PM_TMR_IOPORT,
        };
    }

    bios_linker_loader_alloc(tables->linker, ACPI_BUILD_TABLE_FILE, blob,
                             64, false);

    dsdt = blob->len;
    build_dsdt(blob, tables->linker, pms, dimms);

    fadt.dsdt_tbl_offset = &dsdt;
    fadt.xdsdt_tbl_offset = &dsdt;
    acpi_add_table(offsets, blob);
    build_fadt(blob, tables->linker, &fadt, x86ms->oem_id,
               x86ms->oem_table_id);

    acpi_add_table(offsets, blob);
    acpi_build_madt(blob, tables->linker, x86ms, x86ms->oem_id,
                    x86ms->oem_table_id);

    acpi_add_table(offsets, blob);
    build_mcfg(blob, tables->linker, &mcfg, x86ms->oem_id,
               x86ms->oem_table_id);

    if (ms->numa_state->num_nodes > 0) {
        acpi_add_table(offsets, blob);
        build_srat(blob, tables->linker, ms);
        if (ms->numa_state->have_numa_distance) {
            acpi_add_table(offsets, blob);
            build_slit(blob, tables->linker, ms, x86ms->oem_id,
                       x86ms->oem_table_id);
        }
    }

    if (dimms) {
        acpi_add_table(offsets, blob);
        build_nfit(blob, tables->linker, dimms, x86ms->oem_id,
                   x86ms->oem_table_id);
    }

    xsdt = blob->len;
    build_xsdt(blob, tables->linker, offsets, x86ms->oem_id,
               x86ms->oem_table_id);

    build_rsdp(tables->rsdp, tables->linker, &(AcpiRsdpData) {
        .revision = 2,
        .oem_id = x86ms->oem_id,
        .xsdt_tbl_offset = &xsdt,
    });
    g_slist_free(dimms);
}

/*
 * Intel MultiProcessor Specification 1.4 tables matching the MADT: the
 * vCPUs, the IOAPIC, ISA IRQs on its pins and the local interrupts.  A
 * kernel with CONFIG_X86_MPPARSE (distributions' and ours) looks for the
 * floating pointer before it reads ACPI, in base memory's first and last
 * KiB and then in 16-byte steps through the BIOS area (find_smp_config());
 * without one, that scan maps and unmaps a page per step, tens of ms
 * under TCG.  The floating pointer goes to the last KiB, after the VM
 * generation ID; the configuration table after the ACPI tables, in the
 * area the e820 map reserves for them.  A kernel with ACPI takes its SMP
 * configuration from the MADT all the same ("Using ACPI (MADT)").  None
 * when a vCPU's APIC ID does not fit in 8 bits (the scan then goes on).
 */
#define MP_FLOATING_ADDR    (PC_LITE_VMGENID_ADDR + 16)
#define MP_SPEC_REV         4
#define MP_APIC_VERSION     0x14
#define MP_IOAPIC_VERSION   0x20
#define MP_ISA_IRQS         16

static uint8_t mp_checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;

    while (len--) {
        sum += *p++;
    }
    return -sum;
}

/* The configuration table (header and entries), or NULL. */
static GArray *build_mpc(PcLiteMachineState *pms)
{
    MachineState *ms = MACHINE(pms);
    X86MachineClass *x86mc = X86_MACHINE_GET_CLASS(pms);
    const CPUArchIdList *cpus = ms->possible_cpus;
    CPUX86State *env = &X86_CPU(first_cpu)->env;
    GArray *t = g_array_new(false, true, 1);
    uint16_t count = 0;
    int i;

    g_array_append_vals(t, "PCMP", 4);
    build_append_int_noprefix(t, 0, 2);                 /* Length, below */
    build_append_int_noprefix(t, MP_SPEC_REV, 1);
    build_append_int_noprefix(t, 0, 1);                 /* Checksum */
    g_array_append_vals(t, "QEMU    PC-LITE     ", 20); /* OEM, product */
    build_append_int_noprefix(t, 0, 4);                 /* OEM table */
    build_append_int_noprefix(t, 0, 2);                 /* OEM table size */
    build_append_int_noprefix(t, 0, 2);                 /* Entries, below */
    build_append_int_noprefix(t, APIC_DEFAULT_ADDRESS, 4);
    build_append_int_noprefix(t, 0, 4);         /* Extended table, none */

    for (i = 0; i < cpus->len; i++) {
        if (cpus->cpus[i].arch_id > 254) {
            g_array_free(t, true);
            return NULL;
        }
        build_append_int_noprefix(t, 0, 1);             /* Processor */
        build_append_int_noprefix(t, cpus->cpus[i].arch_id, 1);
        build_append_int_noprefix(t, MP_APIC_VERSION, 1);
        build_append_int_noprefix(t, (cpus->cpus[i].cpu ? 1 : 0) |
                                  (i == 0 ? 2 : 0), 1); /* Enabled, BSP */
        build_append_int_noprefix(t, env->cpuid_version, 4);
        build_append_int_noprefix(t, env->features[FEAT_1_EDX], 4);
        build_append_int_noprefix(t, 0, 8);
        count++;
    }
    build_append_int_noprefix(t, 1, 1);                 /* Bus 0: ISA */
    build_append_int_noprefix(t, 0, 1);
    g_array_append_vals(t, "ISA   ", 6);
    build_append_int_noprefix(t, 2, 1);                 /* I/O APIC */
    build_append_int_noprefix(t, ACPI_BUILD_IOAPIC_ID, 1);
    build_append_int_noprefix(t, MP_IOAPIC_VERSION, 1);
    build_append_int_noprefix(t, 1, 1);                 /* Enabled */
    build_append_int_noprefix(t, IO_APIC_DEFAULT_ADDRESS, 4);
    count += 2;
    for (i = 0; i < MP_ISA_IRQS; i++) {
        /* I/O interrupt: ISA IRQ i on the pin the MADT gives it. */
        build_append_int_noprefix(t, 3, 1);
        build_append_int_noprefix(t, 0, 1);             /* INT */
        build_append_int_noprefix(t, 0, 2);             /* Bus's polarity */
        build_append_int_noprefix(t, 0, 1);             /* Bus 0 */
        build_append_int_noprefix(t, i, 1);
        build_append_int_noprefix(t, ACPI_BUILD_IOAPIC_ID, 1);
        build_append_int_noprefix(t, i == 0 && x86mc->apic_xrupt_override ?
                                  2 : i, 1);
        count++;
    }
    for (i = 0; i < 2; i++) {
        /* Local interrupts: ExtINT on LINT0, NMI on LINT1, every CPU. */
        build_append_int_noprefix(t, 4, 1);
        build_append_int_noprefix(t, i ? 1 : 3, 1);
        build_append_int_noprefix(t, 0, 2);
        build_append_int_noprefix(t, 0, 1);
        build_append_int_noprefix(t, 0, 1);
        build_append_int_noprefix(t, 0xff, 1);
        build_append_int_noprefix(t, i, 1);
        count++;
    }
    stw_le_p(t->data + 4, t->len);
    stw_le_p(t->data + 34, count);
    t->data[7] = mp_checksum((uint8_t *)t->data, t->len);
    return t;
}

/* The MP table, its configuration table at @mpc (16-byte aligned). */
static void write_mptable(PcLiteMachineState *pms, hwaddr mpc)
{
    g_autoptr(GArray) t = build_mpc(pms);
    uint8_t mpf[16] = { '_', 'M', 'P', '_' };

    if (!t || mpc + t->len > PC_LITE_ACPI_ADDR + PC_LITE_ACPI_SIZE) {
        return;
    }
    address_space_write(&address_space_memory, mpc, MEMTXATTRS_UNSPECIFIED,
                        t->data, t->len);
    stl_le_p(mpf + 4, mpc);
    mpf[8] = 1;                                 /* Length, 16-byte units */
    mpf[9] = MP_SPEC_REV;
    mpf[10] = mp_checksum(mpf, sizeof(mpf));
    address_space_write(&address_space_memory, MP_FLOATING_ADDR,
                        MEMTXATTRS_UNSPECIFIED, mpf, sizeof(mpf));
}

hwaddr pc_lite_acpi_write(PcLiteMachineState *pms, Error **errp)
{
    AcpiBuildTables tables;
    LinkedFile files[2];
    LinkerLayout layout;
    hwaddr rsdp = 0;
    int i;

    acpi_build_tables_init(&tables);
    build_tables(&tables, pms);

    /* Tables, then the RSDP: 16-byte aligned in the BIOS area. */
    files[0] = (LinkedFile) { ACPI_BUILD_RSDP_FILE, tables.rsdp, 0 };
    files[1] = (LinkedFile) { ACPI_BUILD_TABLE_FILE, tables.table_data, 0 };
    layout = (LinkerLayout) { files, 2, PC_LITE_ACPI_ADDR };
    if (bios_linker_loader_execute(tables.linker, place_file, &layout, errp)) {
        for (i = 0; i < 2; i++) {
            address_space_write(&address_space_memory, files[i].addr,
                                MEMTXATTRS_UNSPECIFIED, files[i].blob->data,
                                files[i].blob->len);
        }
        rsdp = files[0].addr;
        trace_pc_lite_acpi(rsdp, files[1].addr + files[1].blob->len - rsdp);
        write_mptable(pms, QEMU_ALIGN_UP(MAX(files[0].addr +
                                             files[0].blob->len,
                                             files[1].addr +
                                             files[1].blob->len), 16));
    }
    acpi_build_tables_cleanup(&tables, true);
    return rsdp;
}
