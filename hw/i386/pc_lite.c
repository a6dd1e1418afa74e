/*
 * pc-lite: a minimal, firmware-less x86 machine
 *
 * KVM (or QEMU) LAPIC and IOAPIC, a PCIe host for -device, hardware-reduced
 * ACPI written into guest RAM by QEMU, NVDIMM, an ACPI PM timer to
 * calibrate against, and a 16550 UART only when asked for.  There is no
 * firmware: QEMU loads the kernel (direct_boot.c) and starts the boot
 * CPU at its entry.  The address map is in include/hw/i386/pc_lite.h.
 *
 * Copyright (c) 2026 The pc-lite authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/units.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qapi/qapi-visit-common.h"
#include "system/system.h"
#include "system/qtest.h"
#include "system/reset.h"
#include "system/runstate.h"
#include "system/kvm.h"
#include "system/tcg.h"
#include "exec/address-spaces.h"
#include "exec/cpu-common.h"
#include "exec/ramblock.h"
#include "hw/boards.h"
#include "hw/irq.h"
#include "hw/char/serial.h"
#include "hw/char/serial-isa.h"
#include "hw/isa/isa.h"
#include "hw/rtc/mc146818rtc.h"
#include "hw/i386/pc_lite.h"
#include "hw/i386/direct_boot.h"
#include "hw/i386/e820_memory_layout.h"
#include "hw/i386/kvm/clock.h"
#include "kvm/kvm_i386.h"
#include "hw/i386/x86.h"
#include "hw/i386/apic_internal.h"
#include "hw/acpi/generic_event_device.h"
#include "hw/mem/pc-dimm.h"
#include "system/hostmem.h"
#include "hw/mem/nvdimm.h"
#include "hw/mem/memory-device.h"
#include "hw/sysbus.h"
#include "hw/qdev-properties.h"
#include "hw/qdev-properties-system.h"
#include "target/i386/cpu.h"
#include "trace.h"

static void pc_lite_create_gpex(PcLiteMachineState *pms)
{
    X86MachineState *x86ms = X86_MACHINE(pms);
    SysBusDevice *sbd = SYS_BUS_DEVICE(qdev_new(TYPE_GPEX_HOST));
    MemoryRegion *sysmem = get_system_memory();
    MemoryRegion *alias;
    int i;

    sysbus_realize_and_unref(sbd, &error_fatal);
    pms->gpex.bus = PCI_HOST_BRIDGE(sbd)->bus;    /* the DSDT's _PRT */

    alias = g_new0(MemoryRegion, 1);
    memory_region_init_alias(alias, OBJECT(sbd), "pcie-ecam",
                             sysbus_mmio_get_region(sbd, 0), 0,
                             pms->gpex.ecam.size);
    memory_region_add_subregion(sysmem, pms->gpex.ecam.base, alias);

    alias = g_new0(MemoryRegion, 1);
    memory_region_init_alias(alias, OBJECT(sbd), "pcie-mmio32",
                             sysbus_mmio_get_region(sbd, 1),
                             pms->gpex.mmio32.base, pms->gpex.mmio32.size);
    memory_region_add_subregion(sysmem, pms->gpex.mmio32.base, alias);

    alias = g_new0(MemoryRegion, 1);
    memory_region_init_alias(alias, OBJECT(sbd), "pcie-mmio64",
                             sysbus_mmio_get_region(sbd, 1),
                             pms->gpex.mmio64.base, pms->gpex.mmio64.size);
    memory_region_add_subregion(sysmem, pms->gpex.mmio64.base, alias);

    for (i = 0; i < PCI_NUM_PINS; i++) {
        sysbus_connect_irq(sbd, i, x86ms->gsi[pms->gpex.irq + i]);
        gpex_set_irq_num(GPEX_HOST(sbd), i, pms->gpex.irq + i);
    }
}

static void pc_lite_memory_init(PcLiteMachineState *pms)
{
    MachineState *ms = MACHINE(pms);
    X86MachineState *x86ms = X86_MACHINE(pms);
    MemoryRegion *sysmem = get_system_memory();
    MemoryRegion *low, *high;
    hwaddr end;

    x86ms->below_4g_mem_size = MIN(ms->ram_size, PC_LITE_LOWMEM_MAX);
    x86ms->above_4g_mem_size = ms->ram_size - x86ms->below_4g_mem_size;
    x86ms->above_4g_mem_start = 4 * GiB;

    low = g_new(MemoryRegion, 1);
    memory_region_init_alias(low, NULL, "ram-below-4g", ms->ram, 0,
                             x86ms->below_4g_mem_size);
    memory_region_add_subregion(sysmem, 0, low);

    e820_add_entry(0, PC_LITE_LOW_RAM_END, E820_RAM);
    e820_add_entry(PC_LITE_LOW_RAM_END, 0xa0000 - PC_LITE_LOW_RAM_END,
                   E820_RESERVED);
    e820_add_entry(PC_LITE_ACPI_ADDR, PC_LITE_ACPI_SIZE, E820_RESERVED);
    e820_add_entry(PC_LITE_HIGH_RAM_START,
                   x86ms->below_4g_mem_size - PC_LITE_HIGH_RAM_START,
                   E820_RAM);
    e820_add_entry(PC_LITE_PCIE_ECAM_BASE, PC_LITE_PCIE_ECAM_SIZE,
                   E820_RESERVED);
    end = 4 * GiB;
    if (x86ms->above_4g_mem_size) {
        high = g_new(MemoryRegion, 1);
        memory_region_init_alias(high, NULL, "ram-above-4g", ms->ram,
                                 x86ms->below_4g_mem_size,
                                 x86ms->above_4g_mem_size);
        memory_region_add_subregion(sysmem, 4 * GiB, high);
        e820_add_entry(4 * GiB, x86ms->above_4g_mem_size, E820_RAM);
        end += x86ms->above_4g_mem_size;
    }

    /* Device memory (NVDIMMs, -m slots=,maxmem=) follows RAM. */
    end = ROUND_UP(end, 1 * GiB);
    if (ms->maxram_size > ms->ram_size) {
        machine_memory_devices_init(ms, end, ms->maxram_size - ms->ram_size);
        end = ROUND_UP(end + ms->maxram_size - ms->ram_size, 1 * GiB);
    }
    pms->gpex.mmio64.base = end;
}

static void pc_lite_pm_tmr_update_sci(ACPIREGS *regs)
{
    /* No SCI on a hardware-reduced machine: the timer is only read. */
}

static void pc_lite_marker_write(void *opaque, hwaddr addr, uint64_t val,
                                 unsigned size)
{
    trace_pc_lite_marker(val, qemu_clock_get_ns(QEMU_CLOCK_REALTIME));
}

/*
 * The port is write-only; a read returns 0.  Without a read callback a
 * guest's read would call a NULL function (found by generic-fuzz).
 */
static uint64_t pc_lite_marker_read(void *opaque, hwaddr addr, unsigned size)
{
    return 0;
}

static const MemoryRegionOps pc_lite_marker_ops = {
    .read = pc_lite_marker_read,
    .write = pc_lite_marker_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid.min_access_size = 1,
    .valid.max_access_size = 4,
};

/* KVM with the CPUID bit that kvmclock_create() looks at. */
static bool pc_lite_has_kvmclock(void)
{
    return kvm_enabled() && X86_CPU(first_cpu)->env.features[FEAT_KVM] &
           (CPUID_KVM_CLOCK | CPUID_KVM_CLOCK2);
}

static void pc_lite_devices_init(PcLiteMachineState *pms)
{
    X86MachineState *x86ms = X86_MACHINE(pms);
    GSIState *gsi_state = g_new0(GSIState, 1);
    hwaddr phys_size = 1ULL << X86_CPU(first_cpu)->phys_bits;
    DeviceState *dev;

    x86ms->gsi = qemu_allocate_irqs(gsi_handler, gsi_state, IOAPIC_NUM_PINS);
    ioapic_init_gsi(gsi_state, OBJECT(pms));
    x86ms->ioapic_as = &address_space_memory;

    if (kvm_enabled()) {
        kvmclock_create(true);
    }

    /*
     * ACPI PM timer: a clock the guest calibrates its TSC (and, through
     * it, its LAPIC timer) against when nothing tells it their frequency,
     * and the watchdog of its TSC clocksource.  auto leaves it out when the
     * guest has kvmclock, which gives the TSC frequency and is a watchdog
     * of its own.  Under TCG it stays: a guest that does not read CPUID
     * leaf 0x15 (an AMD CPU model, an older kernel) has no other reference
     * and hangs without it, and it costs no measurable boot time there
     * (docs/pc-lite.rst, "Clocks and calibration").
     */
    if (pms->pm_timer == ON_OFF_AUTO_AUTO) {
        pms->pm_timer = pc_lite_has_kvmclock() ? ON_OFF_AUTO_OFF
                                                : ON_OFF_AUTO_ON;
    }
    if (pms->pm_timer == ON_OFF_AUTO_ON) {
        memory_region_init(&pms->pm_io, OBJECT(pms), "pc-lite-pm", 12);
        acpi_pm_tmr_init(&pms->pm, pc_lite_pm_tmr_update_sci, &pms->pm_io);
        memory_region_add_subregion(get_system_io(), PC_LITE_PM_IOPORT,
                                    &pms->pm_io);
    }

    /*
     * A CMOS RTC: Linux reads its wall clock from it at boot when it has
     * no kvmclock, and polls ports 0x70/0x71 for a second when nothing
     * answers there.  auto leaves it out when the guest has kvmclock (KVM
     * with the CPUID bit that kvmclock_create() looks at), as microvm
     * does under KVM; the FADT then says there is no CMOS RTC.
     */
    if (pms->rtc == ON_OFF_AUTO_AUTO && pc_lite_has_kvmclock()) {
        pms->rtc = ON_OFF_AUTO_OFF;
    }
    /*
     * An ISA bus for the RTC and the UART, and for -device isa-serial
     * (libvirt's <serial>): ISA IRQ n is GSI n.
     */
    pms->isa_bus = isa_bus_new(NULL, get_system_memory(), get_system_io(),
                               &error_fatal);
    isa_bus_register_input_irqs(pms->isa_bus, x86ms->gsi);
    if (pms->rtc != ON_OFF_AUTO_OFF) {
        mc146818_rtc_init(pms->isa_bus, 2000, NULL);
        pms->rtc = ON_OFF_AUTO_ON;
    }

    memory_region_init_io(&pms->marker_io, OBJECT(pms), &pc_lite_marker_ops,
                          pms, "pc-lite-marker", 4);
    memory_region_add_subregion(get_system_io(), PC_LITE_MARKER_IOPORT,
                                &pms->marker_io);

    dev = qdev_new(TYPE_ACPI_GED);
    qdev_prop_set_uint32(dev, "ged-event", ACPI_GED_PWR_DOWN_EVT);
    sysbus_realize_and_unref(SYS_BUS_DEVICE(dev), &error_fatal);
    sysbus_mmio_map(SYS_BUS_DEVICE(dev), 0, PC_LITE_GED_BASE);
    sysbus_mmio_map(SYS_BUS_DEVICE(dev), 2, PC_LITE_GED_REGS_BASE);
    sysbus_connect_irq(SYS_BUS_DEVICE(dev), 0, x86ms->gsi[PC_LITE_GED_GSI]);
    x86ms->acpi_dev = HOTPLUG_HANDLER(dev);

    pms->gpex.ecam.base = PC_LITE_PCIE_ECAM_BASE;
    pms->gpex.ecam.size = PC_LITE_PCIE_ECAM_SIZE;
    pms->gpex.mmio32.base = PC_LITE_PCIE_MMIO_BASE;
    pms->gpex.mmio32.size = PC_LITE_PCIE_MMIO_SIZE;
    /* The 64-bit window: from above device memory to the top 1/4. */
    pms->gpex.mmio64.base = MAX(pms->gpex.mmio64.base, phys_size / 4 * 3);
    if (pms->gpex.mmio64.base >= phys_size) {
        error_report("pc-lite: RAM and device memory leave no room for the "
                     "PCIe window in %u physical address bits",
                     X86_CPU(first_cpu)->phys_bits);
        exit(EXIT_FAILURE);
    }
    pms->gpex.mmio64.size = phys_size - pms->gpex.mmio64.base;
    pms->gpex.irq = PC_LITE_PCIE_GSI_BASE;
    pc_lite_create_gpex(pms);

    if (pms->serial == ON_OFF_AUTO_ON ||
        (pms->serial == ON_OFF_AUTO_AUTO && serial_hd(0))) {
        /* COM1's port and IRQ; a -device isa-serial then gets COM2's. */
        pms->uart = isa_new(TYPE_ISA_SERIAL);
        qdev_prop_set_uint32(DEVICE(pms->uart), "index", 0);
        qdev_prop_set_uint32(DEVICE(pms->uart), "iobase",
                             PC_LITE_UART_IOPORT);
        qdev_prop_set_uint32(DEVICE(pms->uart), "irq", PC_LITE_UART_GSI);
        qdev_prop_set_chr(DEVICE(pms->uart), "chardev", serial_hd(0));
        isa_realize_and_unref(pms->uart, pms->isa_bus, &error_fatal);
        pms->serial = ON_OFF_AUTO_ON;
    } else {
        pms->serial = ON_OFF_AUTO_OFF;
    }
}

static void pc_lite_powerdown_req(Notifier *notifier, void *data)
{
    PcLiteMachineState *pms = container_of(notifier, PcLiteMachineState,
                                           powerdown_req);
    HotplugHandler *ged = X86_MACHINE(pms)->acpi_dev;

    acpi_send_event(DEVICE(ged), ACPI_POWER_DOWN_STATUS);
}

/*
 * VM generation ID (Microsoft's "Virtual Machine Generation ID" spec, as
 * in hw/acpi/vmgenid.c, without firmware): a GUID at a fixed reserved
 * address that the DSDT's VGEN device points to.  A VM started from
 * migrated state (a clone of a template) gets a new one and an ACPI
 * notification, so that the guest reseeds its random number generator.
 */
static void pc_lite_vmgenid_write(PcLiteMachineState *pms)
{
    QemuUUID le = qemu_uuid_bswap(pms->generation);

    cpu_physical_memory_write(PC_LITE_VMGENID_ADDR, le.data, sizeof(le.data));
}

static void pc_lite_vm_change(void *opaque, bool running, RunState state)
{
    PcLiteMachineState *pms = opaque;

    if (!running || !pms->restored) {
        return;
    }
    pms->restored = false;
    if (pms->vmgenid_enabled) {
        if (!strcmp(pms->vmgenid, "auto")) {
            qemu_uuid_generate(&pms->generation);
        }
        pc_lite_vmgenid_write(pms);
        qemu_irq_pulse(X86_MACHINE(pms)->gsi[PC_LITE_VMGENID_GSI]);
    }
}

static void pc_lite_vmgenid_init(PcLiteMachineState *pms)
{
    if (!strcmp(pms->vmgenid, "off")) {
        return;
    }
    if (!strcmp(pms->vmgenid, "auto")) {
        qemu_uuid_generate(&pms->generation);
    } else if (qemu_uuid_parse(pms->vmgenid, &pms->generation) < 0) {
        error_report("pc-lite: vmgenid=%s: use auto, off or a UUID",
                     pms->vmgenid);
        exit(EXIT_FAILURE);
    }
    pms->vmgenid_enabled = true;
}

/* Read and check -kernel and -initrd, once: a bad one ends QEMU. */
static void pc_lite_prepare_boot(PcLiteMachineState *pms)
{
    MachineState *ms = MACHINE(pms);
    const DirectBootLayout layout = {
        .ram_top = X86_MACHINE(pms)->below_4g_mem_size,
        .kernel_base = PC_LITE_HIGH_RAM_START,
        .cmdline_addr = PC_LITE_CMDLINE_ADDR,
        .cmdline_max = PC_LITE_CMDLINE_MAX,
        .start_info_addr = PC_LITE_START_INFO_ADDR,
        .zero_page_addr = PC_LITE_ZERO_PAGE_ADDR,
        .gdt_addr = PC_LITE_GDT_ADDR,
        .pgtable_addr = PC_LITE_PGTABLE_ADDR,
    };
    Error *err = NULL;

    if (!ms->kernel_filename || pms->boot) {
        return;
    }
    pms->boot = direct_boot_prepare(ms, &layout, pms->share_kernel, &err);
    if (!pms->boot) {
        error_report_err(err);
        exit(EXIT_FAILURE);
    }
}

/*
 * What the vCPUs tell the guest about its clocks, so that Linux calibrates
 * neither its TSC nor its LAPIC timer (docs/pc-lite.rst, "Clocks and
 * calibration").  Machine compat properties, applied before -cpu's (global
 * properties): whatever -cpu says wins.
 *
 * Under KVM with its in-kernel LAPIC, the TSC-deadline timer (-cpu host
 * and most named models have it, the default qemu64 does not): Linux then
 * never calibrates the LAPIC timer (setup_boot_APIC_clock(): 100 ms of
 * polling), and kvmclock gives it the TSC's frequency.
 *
 * Under TCG, a TSC counting 1 GHz of the virtual clock and CPUID leaves
 * 0x15/0x16 that say so, with the APIC timer's 1 GHz as the crystal
 * clock; Linux reads them only from an Intel CPU (native_calibrate_tsc()),
 * so the default CPU model, qemu64, has Intel's vendor string here.
 * QEMU's own LAPIC (TCG, kernel-irqchip=off) has no TSC-deadline mode.
 */
#define PC_LITE_TCG_TSC_HZ  "1000000000"

static void pc_lite_cpu_defaults(MachineState *ms)
{
    static GlobalProperty kvm_props[] = {
        { TYPE_X86_CPU, "tsc-deadline", "on" },
    };
    static GlobalProperty tcg_props[] = {
        { TYPE_X86_CPU, "tsc-frequency", PC_LITE_TCG_TSC_HZ },
        { X86_CPU_TYPE_NAME("qemu64"), "vendor", CPUID_VENDOR_INTEL },
    };
    GPtrArray *compat = MACHINE_GET_CLASS(ms)->compat_props;

    if (kvm_enabled() && kvm_irqchip_in_kernel() &&
        kvm_arch_get_supported_cpuid(kvm_state, 1, 0, R_ECX) &
        CPUID_EXT_TSC_DEADLINE_TIMER) {
        compat_props_add(compat, kvm_props, G_N_ELEMENTS(kvm_props));
    } else if (tcg_enabled()) {
        compat_props_add(compat, tcg_props, G_N_ELEMENTS(tcg_props));
    }
}

static void pc_lite_machine_state_init(MachineState *ms)
{
    PcLiteMachineState *pms = PC_LITE_MACHINE(ms);
    X86MachineState *x86ms = X86_MACHINE(ms);

    if (x86ms->pit == ON_OFF_AUTO_ON || x86ms->pic == ON_OFF_AUTO_ON) {
        error_report("pc-lite has no legacy PIT or PIC: remove pit=on/pic=on");
        exit(EXIT_FAILURE);
    }
    x86ms->pit = ON_OFF_AUTO_OFF;
    x86ms->pic = ON_OFF_AUTO_OFF;
    /* PCIe INTx use GSIs 16-19: no ISA IRQ is overridden to level. */
    x86ms->pci_irq_mask = 0;
    if (x86ms->acpi == ON_OFF_AUTO_OFF) {
        error_report("pc-lite needs ACPI: its only firmware interface");
        exit(EXIT_FAILURE);
    }
    if (ms->ram_size < 16 * MiB) {
        error_report("pc-lite needs at least 16 MiB of RAM (-m)");
        exit(EXIT_FAILURE);
    }
    if (!ms->kernel_filename && !qtest_enabled()) {
        error_report("pc-lite has no firmware: give the kernel with -kernel");
        exit(EXIT_FAILURE);
    }
    if (!ms->kernel_filename && ms->initrd_filename) {
        error_report("-initrd needs -kernel");
        exit(EXIT_FAILURE);
    }

    pms->powerdown_req.notify = pc_lite_powerdown_req;
    qemu_register_powerdown_notifier(&pms->powerdown_req);

    pc_lite_memory_init(pms);
    pc_lite_vmgenid_init(pms);
    pms->vm_change = qemu_add_vm_change_state_handler(pc_lite_vm_change, pms);
    /*
     * A VM whose state comes from -incoming (a clone of a template) needs
     * its kernel only if it reboots: read it then.
     */
    if (!runstate_check(RUN_STATE_INMIGRATE)) {
        pc_lite_prepare_boot(pms);
    }
    /*
     * Start every vCPU thread, then wait for all of them once, rather than
     * for each in turn (nothing in x86_cpus_init() after qemu_init_vcpu()
     * needs the accelerator's vCPU: it is reset again with the machine).
     */
    pc_lite_cpu_defaults(ms);
    qemu_init_vcpus_begin();
    x86_cpus_init(x86ms, CPU_VERSION_LATEST);
    qemu_init_vcpus_wait();
    pc_lite_devices_init(pms);
}

/*
 * A kernel that resets the machine right after its entry (a triple fault
 * at the first instructions, as a user-space executable or a corrupt
 * image does) would be reloaded and entered again forever: give up after
 * a few such resets in a row.  A guest that runs for a while before it
 * reboots (reboot=t, the ACPI reset register) is not counted.
 */
#define PC_LITE_QUICK_RESET_MS    50
#define PC_LITE_QUICK_RESETS_MAX  3

static void pc_lite_check_reset_loop(PcLiteMachineState *pms)
{
    int64_t now = qemu_clock_get_ms(QEMU_CLOCK_VIRTUAL);

    if (pms->boot && pms->booted_at >= 0 &&
        now - pms->booted_at < PC_LITE_QUICK_RESET_MS) {
        if (++pms->quick_resets >= PC_LITE_QUICK_RESETS_MAX) {
            error_report("pc-lite: the guest reset %d times within %d ms of "
                         "its kernel's entry: the kernel does not start "
                         "(a triple fault at its entry?)", pms->quick_resets,
                         PC_LITE_QUICK_RESET_MS);
            exit(EXIT_FAILURE);
        }
    } else {
        pms->quick_resets = 0;
    }
}

static void pc_lite_machine_reset(MachineState *ms, ResetType type)
{
    PcLiteMachineState *pms = PC_LITE_MACHINE(ms);
    Error *err = NULL;
    CPUState *cs;

    pc_lite_check_reset_loop(pms);
    qemu_devices_reset(type);
    CPU_FOREACH(cs) {
        x86_cpu_after_reset(X86_CPU(cs));
    }

    /*
     * Incoming migration resets the machine before it loads the state.
     * Guest RAM then already holds a running guest (with x-ignore-shared,
     * the template's RAM file mapped copy-on-write): leave it alone.
     */
    if (runstate_check(RUN_STATE_INMIGRATE)) {
        pms->restored = true;
        return;
    }

    pc_lite_prepare_boot(pms);
    if (pms->vmgenid_enabled) {
        pc_lite_vmgenid_write(pms);
    }
    /* The tables and boot data are rebuilt at every reset. */
    pms->rsdp_addr = pc_lite_acpi_write(pms, &err);
    if (!err && pms->boot) {
        direct_boot_load(pms->boot, pms->rsdp_addr, &err);
    }
    if (err) {
        error_report_err(err);
        exit(EXIT_FAILURE);
    }
    if (pms->boot) {
        direct_boot_setup_cpu(pms->boot, first_cpu);
    }
    pms->booted_at = qemu_clock_get_ms(QEMU_CLOCK_VIRTUAL);
}

static HotplugHandler *pc_lite_get_hotplug_handler(MachineState *ms,
                                                   DeviceState *dev)
{
    if (object_dynamic_cast(OBJECT(dev), TYPE_CPU) ||
        object_dynamic_cast(OBJECT(dev), TYPE_PC_DIMM)) {
        return HOTPLUG_HANDLER(ms);
    }
    return NULL;
}

/*
 * An NVDIMM must be backed by an image: a memory-backend-file whose
 * mem-path is a regular file exactly as large as the NVDIMM, or a
 * device-dax character device.  memory-backend-file silently creates a
 * missing mem-path (and a temporary file in a directory), which would
 * give the guest an empty disk: a file that this QEMU created is refused
 * and removed again, if it still is that file.  The size must be a
 * multiple of 2 MiB, the alignment of an fsdax namespace
 * (scripts/pc-lite-image.py pads images to it).
 */
static bool pc_lite_is_devdax(const struct stat *st)
{
    g_autofree char *link = g_strdup_printf("/sys/dev/char/%u:%u/subsystem",
                                            major(st->st_rdev),
                                            minor(st->st_rdev));
    g_autofree char *target = g_file_read_link(link, NULL);

    return target && g_str_has_suffix(target, "/dax");
}

static bool pc_lite_nvdimm_check(PCDIMMDevice *dimm, Error **errp)
{
    HostMemoryBackend *hostmem = dimm->hostmem;
    const char *id = DEVICE(dimm)->id ?: "nvdimm";
    g_autofree char *path = NULL;
    struct stat st, created;
    MemoryRegion *mr;
    uint64_t size;
    int fd;

    if (!hostmem || !host_memory_backend_mr_inited(hostmem)) {
        return true;            /* realize reports a missing memdev */
    }
    if (!object_dynamic_cast(OBJECT(hostmem), TYPE_MEMORY_BACKEND_FILE)) {
        error_setg(errp, "NVDIMM '%s': backend '%s' is not a "
                   "memory-backend-file: an NVDIMM needs an image file", id,
                   object_get_canonical_path_component(OBJECT(hostmem)));
        return false;
    }
    mr = host_memory_backend_get_memory(hostmem);
    path = object_property_get_str(OBJECT(hostmem), "mem-path", NULL);
    fd = qemu_ram_get_fd(mr->ram_block);
    if (mr->ram_block->file_created) {
        /* Remove the file only if the name still leads to it. */
        if (path && fd >= 0 && fstat(fd, &created) == 0 &&
            stat(path, &st) == 0 && st.st_dev == created.st_dev &&
            st.st_ino == created.st_ino) {
            unlink(path);
        }
        error_setg(errp, "NVDIMM '%s': image '%s' does not exist (make one "
                   "with scripts/pc-lite-image.py)", id, path ?: "");
        return false;
    }
    /* The path itself: a directory gets a temporary file of QEMU's. */
    if (!path || stat(path, &st) < 0 ||
        !(S_ISREG(st.st_mode) || (S_ISCHR(st.st_mode) &&
                                  pc_lite_is_devdax(&st)))) {
        error_setg(errp, "NVDIMM '%s': '%s' is not an image file", id,
                   path ?: "");
        return false;
    }
    size = memory_region_size(mr);
    if (!QEMU_IS_ALIGNED(size, PC_LITE_NVDIMM_ALIGN)) {
        error_setg(errp, "NVDIMM '%s': size 0x%" PRIx64 " is not a multiple "
                   "of 2 MiB", id, size);
        return false;
    }
    if (S_ISREG(st.st_mode) && st.st_size != size) {
        error_setg(errp, "NVDIMM '%s': image '%s' is %" PRIu64 " bytes, "
                   "not the %" PRIu64 " of size=", id, path,
                   (uint64_t)st.st_size, size);
        return false;
    }
    return true;
}

static void pc_lite_device_pre_plug_cb(HotplugHandler *hotplug_dev,
                                       DeviceState *dev, Error **errp)
{
    MachineState *ms = MACHINE(hotplug_dev);

    if (object_dynamic_cast(OBJECT(dev), TYPE_CPU)) {
        x86_cpu_pre_plug(hotplug_dev, dev, errp);
        return;
    }
    if (dev->hotplugged) {
        error_setg(errp, "pc-lite does not support memory hot-plug");
        return;
    }
    if (!object_dynamic_cast(OBJECT(dev), TYPE_NVDIMM)) {
        error_setg(errp, "pc-lite supports only NVDIMM memory devices");
        return;
    }
    if (!ms->nvdimms_state->is_enabled) {
        error_setg(errp, "nvdimm is not enabled: add 'nvdimm=on' to '-M'");
        return;
    }
    if (!pc_lite_nvdimm_check(PC_DIMM(dev), errp)) {
        return;
    }
    pc_dimm_pre_plug(PC_DIMM(dev), ms, errp);
}

static void pc_lite_device_plug_cb(HotplugHandler *hotplug_dev,
                                   DeviceState *dev, Error **errp)
{
    if (object_dynamic_cast(OBJECT(dev), TYPE_CPU)) {
        x86_cpu_plug(hotplug_dev, dev, errp);
        return;
    }
    pc_dimm_plug(PC_DIMM(dev), MACHINE(hotplug_dev));
}

static void pc_lite_device_unplug_request_cb(HotplugHandler *hotplug_dev,
                                             DeviceState *dev, Error **errp)
{
    error_setg(errp, "pc-lite does not support hot-unplug");
}

/* The OnOffAuto properties; opaque is the field's offset in the state. */
static void pc_lite_get_on_off_auto(Object *obj, Visitor *v, const char *name,
                                    void *opaque, Error **errp)
{
    OnOffAuto value = *(OnOffAuto *)((char *)obj + (uintptr_t)opaque);

    visit_type_OnOffAuto(v, name, &value, errp);
}

static void pc_lite_set_on_off_auto(Object *obj, Visitor *v, const char *name,
                                    void *opaque, Error **errp)
{
    visit_type_OnOffAuto(v, name,
                         (OnOffAuto *)((char *)obj + (uintptr_t)opaque), errp);
}

static char *pc_lite_get_vmgenid(Object *obj, Error **errp)
{
    return g_strdup(PC_LITE_MACHINE(obj)->vmgenid);
}

/*
 * Set on a machine that runs (qom-set /machine vmgenid UUID|auto): a new
 * generation now, written and notified as when a clone starts, for a VM
 * that was started ahead of its use (pc-lite-pool hands one out).
 */
static void pc_lite_set_vmgenid(Object *obj, const char *value, Error **errp)
{
    PcLiteMachineState *pms = PC_LITE_MACHINE(obj);
    QemuUUID uuid;

    if (phase_check(PHASE_MACHINE_READY)) {
        if (!pms->vmgenid_enabled) {
            error_setg(errp, "pc-lite: the machine has no VM generation ID "
                       "(vmgenid=off)");
            return;
        }
        if (!strcmp(value, "auto")) {
            qemu_uuid_generate(&uuid);
        } else if (qemu_uuid_parse(value, &uuid) < 0) {
            error_setg(errp, "pc-lite: vmgenid=%s: use auto or a UUID", value);
            return;
        }
        pms->generation = uuid;
        pc_lite_vmgenid_write(pms);
        qemu_irq_pulse(X86_MACHINE(pms)->gsi[PC_LITE_VMGENID_GSI]);
        return;
    }
    g_free(pms->vmgenid);
    pms->vmgenid = g_strdup(value);
}

static void pc_lite_machine_initfn(Object *obj)
{
    PcLiteMachineState *pms = PC_LITE_MACHINE(obj);

    pms->serial = ON_OFF_AUTO_AUTO;
    pms->rtc = ON_OFF_AUTO_AUTO;
    pms->pm_timer = ON_OFF_AUTO_AUTO;
    pms->share_kernel = ON_OFF_AUTO_AUTO;
    pms->booted_at = -1;
    pms->vmgenid = g_strdup("auto");
}

static void pc_lite_machine_finalize(Object *obj)
{
    g_free(PC_LITE_MACHINE(obj)->vmgenid);
}

static GlobalProperty pc_lite_compat_props[] = {
    /* The PCIe host has no I/O window: ports reserve none. */
    { "pcie-root-port", "io-reserve", "0" },
    /* No firmware runs option ROMs: do not load them. */
    { "pci-device", "romfile", "" },
    /* x2APIC, so that APIC IDs above 254 (more than 255 vCPUs) work. */
    { TYPE_X86_CPU, "x2apic", "on" },
    /*
     * No kvmvapic: it patches the TPR accesses of 32-bit Windows XP through
     * an option ROM, and no firmware runs one.  Without it, reset does not
     * enable TPR access reporting on every vCPU in turn.
     */
    { TYPE_APIC_COMMON, "vapic", "off" },
};

static void pc_lite_class_init(ObjectClass *oc, void *data)
{
    MachineClass *mc = MACHINE_CLASS(oc);
    HotplugHandlerClass *hc = HOTPLUG_HANDLER_CLASS(oc);

    mc->desc = "Minimal firmware-less PC for fast Linux boot";
    mc->family = "pc_lite_i386";
    mc->init = pc_lite_machine_state_init;
    mc->reset = pc_lite_machine_reset;
    mc->max_cpus = 1024;
    mc->default_ram_size = 128 * MiB;
    mc->default_ram_id = "pc-lite.ram";
    mc->default_cpu_type = TARGET_DEFAULT_CPU_TYPE;
    mc->nvdimm_supported = true;
    mc->has_hotpluggable_cpus = false;
    mc->auto_enable_numa_with_memhp = false;
    mc->auto_enable_numa_with_memdev = false;
    mc->no_floppy = 1;
    mc->no_cdrom = 1;
    mc->no_parallel = 1;
    mc->no_serial = 1;
    mc->units_per_default_bus = 1;
    mc->get_hotplug_handler = pc_lite_get_hotplug_handler;

    hc->pre_plug = pc_lite_device_pre_plug_cb;
    hc->plug = pc_lite_device_plug_cb;
    hc->unplug_request = pc_lite_device_unplug_request_cb;

    object_class_property_add(oc, PC_LITE_MACHINE_SERIAL, "OnOffAuto",
                              pc_lite_get_on_off_auto, pc_lite_set_on_off_auto,
                              NULL, (void *)offsetof(PcLiteMachineState,
                                                     serial));
    object_class_property_set_description(oc, PC_LITE_MACHINE_SERIAL,
        "16550 UART at 0x3f8/IRQ 4 (auto: only when -serial is given)");
    object_class_property_add(oc, PC_LITE_MACHINE_RTC, "OnOffAuto",
                              pc_lite_get_on_off_auto, pc_lite_set_on_off_auto,
                              NULL, (void *)offsetof(PcLiteMachineState, rtc));
    object_class_property_set_description(oc, PC_LITE_MACHINE_RTC,
        "CMOS RTC at 0x70/IRQ 8, the guest's wall clock at boot "
        "(auto: on unless the guest has kvmclock)");
    object_class_property_add(oc, PC_LITE_MACHINE_PM_TIMER, "OnOffAuto",
                              pc_lite_get_on_off_auto, pc_lite_set_on_off_auto,
                              NULL, (void *)offsetof(PcLiteMachineState,
                                                     pm_timer));
    object_class_property_set_description(oc, PC_LITE_MACHINE_PM_TIMER,
        "ACPI PM timer at 0x608, the reference the guest calibrates its "
        "TSC against (auto: on unless the guest has kvmclock)");
    object_class_property_add(oc, PC_LITE_MACHINE_SHARE_KERNEL, "OnOffAuto",
                              pc_lite_get_on_off_auto, pc_lite_set_on_off_auto,
                              NULL, (void *)offsetof(PcLiteMachineState,
                                                     share_kernel));
    object_class_property_set_description(oc, PC_LITE_MACHINE_SHARE_KERNEL,
        "map the kernel's page-aligned segments from its file copy-on-write "
        "at boot, so that VMs share them in the page cache (auto: when the "
        "file has no write permission)");
    object_class_property_add_str(oc, PC_LITE_MACHINE_VMGENID,
                                  pc_lite_get_vmgenid, pc_lite_set_vmgenid);
    object_class_property_set_description(oc, PC_LITE_MACHINE_VMGENID,
        "VM generation ID: auto (a new one whenever the VM starts from "
        "migrated state), off, or a fixed UUID; set on a running machine, "
        "a new generation (auto: random) written and notified at once");

    compat_props_add(mc->compat_props, pc_lite_compat_props,
                     G_N_ELEMENTS(pc_lite_compat_props));
}

static const TypeInfo pc_lite_machine_info = {
    .name          = TYPE_PC_LITE_MACHINE,
    .parent        = TYPE_X86_MACHINE,
    .instance_size = sizeof(PcLiteMachineState),
    .instance_init = pc_lite_machine_initfn,
    .instance_finalize = pc_lite_machine_finalize,
    .class_init    = pc_lite_class_init,
    .interfaces = (InterfaceInfo[]) {
         { TYPE_HOTPLUG_HANDLER },
         { }
    },
};

static void pc_lite_machine_register_types(void)
{
    type_register_static(&pc_lite_machine_info);
}
type_init(pc_lite_machine_register_types);
