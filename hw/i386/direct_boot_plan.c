/*
 * Firmware-less Linux boot for x86: the load plan
 *
 * Reads a kernel image held in memory and decides where its parts go:
 *  - an ELF vmlinux with the Xen PVH note (XEN_ELFNOTE_PHYS32_ENTRY):
 *    entered in 32-bit protected mode with %ebx pointing to an
 *    hvm_start_info (command line, initrd module, memory map, RSDP);
 *  - an ELF vmlinux without it and a bzImage: the 64-bit Linux boot
 *    protocol (Documentation/arch/x86/boot.rst), entered in long mode
 *    with %rsi pointing to boot_params (the "zero page").
 * Anything else, including ELF files that are not Linux kernels, is
 * refused with one error.  Every field read from the image is checked
 * against the image's size and the RAM layout before it is used.
 *
 * Copyright (c) 2026 The pc-lite authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include "hw/i386/direct_boot_plan.h"
#include "hw/xen/start_info.h"
#include "elf.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define X86_COMMAND_LINE_SIZE   2048
#define MAX_NOTES_SIZE          (64 * KiB)
#define MAX_PHDRS               64

/* boot_params offsets (arch/x86/include/uapi/asm/bootparam.h) */
#define BP_ACPI_RSDP_ADDR       0x070
#define BP_EXT_RAMDISK_IMAGE    0x0c0
#define BP_EXT_RAMDISK_SIZE     0x0c4
#define BP_E820_ENTRIES         0x1e8
#define BP_SETUP_SECTS          0x1f1
#define BP_SYSSIZE              0x1f4
#define BP_BOOT_FLAG            0x1fe
#define BP_JUMP                 0x200
#define BP_HEADER               0x202
#define BP_VERSION              0x206
#define BP_TYPE_OF_LOADER       0x210
#define BP_LOADFLAGS            0x211
#define BP_RAMDISK_IMAGE        0x218
#define BP_RAMDISK_SIZE         0x21c
#define BP_CMD_LINE_PTR         0x228
#define BP_INITRD_ADDR_MAX      0x22c
#define BP_KERNEL_ALIGNMENT     0x230
#define BP_XLOADFLAGS           0x236
#define BP_CMDLINE_SIZE         0x238
#define BP_PREF_ADDRESS         0x258
#define BP_INIT_SIZE            0x260
#define BP_E820_TABLE           0x2d0
#define BP_E820_MAX             128
#define BP_E820_ENTRY_SIZE      20  /* struct boot_e820_entry, packed */

/* A vmlinux is linked at kernel addresses (its "virtual" ones). */
#define LINUX_KERNEL_HALF       0xffff800000000000ULL

#define HDRS_MAGIC              0x53726448 /* "HdrS" */
#define BOOT_FLAG_MAGIC         0xaa55
#define BOOT_PROTOCOL_2_15      0x020f
#define LOADER_UNDEFINED        0xff    /* type_of_loader: no assigned ID */
#define LOADED_HIGH             0x01
#define XLF_KERNEL_64           0x01

/* A field of the setup header, by its boot_params offset. */
#define HDR(plan, off)  ((plan)->setup_hdr + ((off) - DIRECT_BOOT_SETUP_HDR))

static const char *const format_names[] = {
    [DIRECT_BOOT_PVH] = "PVH ELF",
    [DIRECT_BOOT_ELF64] = "ELF (64-bit boot protocol)",
    [DIRECT_BOOT_BZIMAGE] = "bzImage (64-bit boot protocol)",
};

const char *direct_boot_format_name(DirectBootFormat format)
{
    return format_names[format];
}

/* Check that [paddr, paddr + len) is RAM the kernel may occupy. */
static bool check_kernel_range(const DirectBootLayout *layout,
                               const char *what, uint64_t paddr, uint64_t len,
                               Error **errp)
{
    if (paddr < layout->kernel_base) {
        error_setg(errp, "kernel %s at 0x%" PRIx64 " overlaps the boot data "
                   "below 0x%" PRIx64, what, paddr, layout->kernel_base);
        return false;
    }
    if (len > layout->ram_top || paddr > layout->ram_top - len) {
        error_setg(errp, "kernel %s [0x%" PRIx64 ", 0x%" PRIx64 ") is outside "
                   "guest RAM below 0x%" PRIx64 " (increase -m)", what,
                   paddr, paddr + len, layout->ram_top);
        return false;
    }
    return true;
}

/*
 * The notes of a PT_NOTE segment (@len bytes at @buf): the PVH entry
 * (Xen's PHYS32_ENTRY note) when there is one, and whether Linux's own
 * notes ("Linux") are there.  Returns true when the PVH entry was found.
 */
static bool parse_notes(const uint8_t *buf, uint64_t len, uint64_t *entry,
                        bool *linux_note)
{
    uint64_t pos = 0;

    while (pos + 12 <= len) {
        uint32_t namesz = ldl_le_p(buf + pos);
        uint32_t descsz = ldl_le_p(buf + pos + 4);
        uint32_t type = ldl_le_p(buf + pos + 8);
        uint64_t name = pos + 12;
        uint64_t desc = name + QEMU_ALIGN_UP((uint64_t)namesz, 4);
        uint64_t next = desc + QEMU_ALIGN_UP((uint64_t)descsz, 4);

        if (next > len) {
            break;
        }
        if (namesz == 6 && !memcmp(buf + name, "Linux", 6)) {
            *linux_note = true;
        }
        if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
            !memcmp(buf + name, "Xen", 4) && (descsz == 4 || descsz == 8)) {
            *entry = descsz == 4 ? (uint32_t)ldl_le_p(buf + desc)
                                 : ldq_le_p(buf + desc);
            return true;
        }
        pos = next;
    }
    return false;
}

/* What an ELF kernel's headers say about its entry. */
typedef struct ElfEntryInfo {
    uint64_t entry;         /* e_entry */
    uint64_t pvh_entry;     /* the PVH note's entry, when pvh */
    bool pvh;               /* Xen's PHYS32_ENTRY note is there */
    bool linux_note;        /* Linux's own notes are there */
    bool kernel_entry;      /* e_entry's segment is linked in the kernel half */
} ElfEntryInfo;

/* A program header as the plan reads it. */
typedef struct ElfPhdr {
    uint32_t type;
    uint64_t vaddr;
    DirectBootSegment seg;
} ElfPhdr;

/* Whether @addr is in the file data of segment @s. */
static bool segment_holds(const DirectBootSegment *s, uint64_t addr)
{
    return addr >= s->paddr && addr - s->paddr < s->filesz;
}

/*
 * Check the ELF header: an x86_64 executable with a program header table
 * inside the file.  Returns the table's offset and size and e_entry.
 */
static bool elf_check_header(const uint8_t *image, uint64_t size,
                             const char *name, uint64_t *phoff,
                             unsigned *phnum, uint64_t *entry, Error **errp)
{
    Elf64_Ehdr eh;

    if (size < sizeof(eh)) {
        error_setg(errp, "kernel '%s' is truncated: no complete ELF header",
                   name);
        return false;
    }
    memcpy(&eh, image, sizeof(eh));
    if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
        error_setg(errp, "kernel '%s' is a 32-bit ELF: pc-lite boots x86_64 "
                   "kernels", name);
        return false;
    }
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB ||
        le16_to_cpu(eh.e_machine) != EM_X86_64 ||
        le16_to_cpu(eh.e_type) != ET_EXEC) {
        error_setg(errp, "kernel '%s' is not an x86_64 executable ELF", name);
        return false;
    }
    *phoff = le64_to_cpu(eh.e_phoff);
    *phnum = le16_to_cpu(eh.e_phnum);
    *entry = le64_to_cpu(eh.e_entry);
    if (le16_to_cpu(eh.e_phentsize) != sizeof(Elf64_Phdr) ||
        *phnum == 0 || *phnum > MAX_PHDRS) {
        error_setg(errp, "kernel '%s' has a malformed program header table",
                   name);
        return false;
    }
    if (*phoff > size || size - *phoff < *phnum * sizeof(Elf64_Phdr)) {
        error_setg(errp, "kernel '%s' is truncated: program headers beyond "
                   "the end of the file", name);
        return false;
    }
    return true;
}

/* Program header @i of the table at @phoff; its data must be in the file. */
static bool elf_read_phdr(const uint8_t *image, uint64_t size, uint64_t phoff,
                          unsigned i, const char *name, ElfPhdr *ph,
                          Error **errp)
{
    Elf64_Phdr raw;
    DirectBootSegment *s = &ph->seg;

    memcpy(&raw, image + phoff + i * sizeof(raw), sizeof(raw));
    ph->type = le32_to_cpu(raw.p_type);
    ph->vaddr = le64_to_cpu(raw.p_vaddr);
    s->offset = le64_to_cpu(raw.p_offset);
    s->filesz = le64_to_cpu(raw.p_filesz);
    s->memsz = le64_to_cpu(raw.p_memsz);
    s->paddr = le64_to_cpu(raw.p_paddr);
    if (s->offset > size || s->filesz > size - s->offset) {
        error_setg(errp, "kernel '%s' is truncated: segment %u needs "
                   "0x%" PRIx64 " bytes at offset 0x%" PRIx64
                   ", the file has 0x%" PRIx64, name, i, s->filesz,
                   s->offset, size);
        return false;
    }
    return true;
}

/*
 * Add loadable segment @s (program header @i) to @plan: in the kernel's
 * RAM and clear of the segments before it.
 */
static bool elf_add_segment(DirectBootPlan *plan,
                            const DirectBootLayout *layout,
                            const DirectBootSegment *s, unsigned i,
                            const char *name, Error **errp)
{
    int j;

    if (s->filesz > s->memsz) {
        error_setg(errp, "kernel '%s': segment %u has more file data "
                   "than memory", name, i);
        return false;
    }
    if (plan->nr_seg == DIRECT_BOOT_MAX_SEGMENTS) {
        error_setg(errp, "kernel '%s' has more than %d loadable segments",
                   name, DIRECT_BOOT_MAX_SEGMENTS);
        return false;
    }
    if (!check_kernel_range(layout, "segment", s->paddr, s->memsz, errp)) {
        return false;
    }
    for (j = 0; j < plan->nr_seg; j++) {
        if (s->paddr < plan->seg[j].paddr + plan->seg[j].memsz &&
            plan->seg[j].paddr < s->paddr + s->memsz) {
            error_setg(errp, "kernel '%s': segments overlap at 0x%" PRIx64,
                       name, s->paddr);
            return false;
        }
    }
    plan->seg[plan->nr_seg++] = *s;
    plan->kernel_end = MAX(plan->kernel_end, s->paddr + s->memsz);
    return true;
}

/*
 * Walk the @phnum program headers at @phoff: the loadable segments go
 * into @plan, what the notes and the entry's segment say into @info.
 */
static bool elf_plan_segments(DirectBootPlan *plan,
                              const DirectBootLayout *layout,
                              const uint8_t *image, uint64_t size,
                              uint64_t phoff, unsigned phnum,
                              const char *name, ElfEntryInfo *info,
                              Error **errp)
{
    ElfPhdr ph;
    unsigned i;

    for (i = 0; i < phnum; i++) {
        if (!elf_read_phdr(image, size, phoff, i, name, &ph, errp)) {
            return false;
        }
        if (ph.type == PT_NOTE && ph.seg.filesz &&
            ph.seg.filesz <= MAX_NOTES_SIZE && !info->pvh) {
            info->pvh = parse_notes(image + ph.seg.offset, ph.seg.filesz,
                                    &info->pvh_entry, &info->linux_note);
        }
        if (ph.type != PT_LOAD || ph.seg.memsz == 0) {
            continue;
        }
        if (segment_holds(&ph.seg, info->entry)) {
            info->kernel_entry = ph.vaddr >= LINUX_KERNEL_HALF;
        }
        if (!elf_add_segment(plan, layout, &ph.seg, i, name, errp)) {
            return false;
        }
    }
    if (!plan->nr_seg) {
        error_setg(errp, "kernel '%s' has no loadable segment", name);
        return false;
    }
    return true;
}

/*
 * Choose the boot protocol and the entry: the PVH note's when there is
 * one, else e_entry, which must be a Linux vmlinux's.  Either must be in
 * a loaded segment.
 */
static bool elf_plan_entry(DirectBootPlan *plan, const ElfEntryInfo *info,
                           const char *name, Error **errp)
{
    bool entry_ok = false;
    int j;

    plan->format = info->pvh ? DIRECT_BOOT_PVH : DIRECT_BOOT_ELF64;
    plan->entry = info->pvh ? info->pvh_entry : info->entry;
    for (j = 0; j < plan->nr_seg; j++) {
        if (segment_holds(&plan->seg[j], plan->entry)) {
            entry_ok = true;
        }
    }
    if (!entry_ok) {
        error_setg(errp, "kernel '%s': entry point 0x%" PRIx64 " is not in a "
                   "loaded segment%s", name, plan->entry,
                   info->pvh ? "" : " (an ELF without the PVH note must be a "
                   "vmlinux with a physical entry address)");
        return false;
    }
    /*
     * Without the PVH note, only a Linux vmlinux may be entered through
     * the 64-bit boot protocol: one with Linux's ELF notes, or (notes
     * stripped) whose entry is code linked at a kernel address and loaded
     * at a physical one.  A user-space executable would triple-fault at
     * its entry.
     */
    if (!info->pvh && !info->linux_note && !info->kernel_entry) {
        error_setg(errp, "kernel '%s' is not a Linux kernel: no PVH or Linux "
                   "ELF note, and it is not linked at kernel addresses",
                   name);
        return false;
    }
    return true;
}

bool direct_boot_plan_elf(DirectBootPlan *plan, const DirectBootLayout *layout,
                          const uint8_t *image, uint64_t size,
                          const char *name, Error **errp)
{
    ElfEntryInfo info = { 0 };
    uint64_t phoff;
    unsigned phnum;

    plan->nr_seg = 0;
    plan->kernel_end = 0;
    return elf_check_header(image, size, name, &phoff, &phnum, &info.entry,
                            errp) &&
           elf_plan_segments(plan, layout, image, size, phoff, phnum, name,
                             &info, errp) &&
           elf_plan_entry(plan, &info, name, errp);
}

bool direct_boot_plan_bzimage(DirectBootPlan *plan,
                              const DirectBootLayout *layout,
                              const uint8_t *image, uint64_t size,
                              const char *name, Error **errp)
{
    uint64_t setup_size, load, init_size, code_size;
    uint16_t version;
    uint8_t setup_sects;

    plan->nr_seg = 0;
    plan->kernel_end = 0;
    if (size < DIRECT_BOOT_SETUP_HDR_END) {
        error_setg(errp, "kernel '%s' is truncated: no complete setup header",
                   name);
        return false;
    }
    memcpy(plan->setup_hdr, image + DIRECT_BOOT_SETUP_HDR,
           sizeof(plan->setup_hdr));
    version = lduw_le_p(HDR(plan, BP_VERSION));
    if (version < 0x020c || !(*HDR(plan, BP_XLOADFLAGS) & XLF_KERNEL_64)) {
        error_setg(errp, "kernel '%s': bzImage protocol %x.%02x has no 64-bit "
                   "entry point (needs 2.12 with XLF_KERNEL_64)", name,
                   version >> 8, version & 0xff);
        return false;
    }
    if (!(*HDR(plan, BP_LOADFLAGS) & LOADED_HIGH)) {
        error_setg(errp, "kernel '%s' is a zImage, not a bzImage", name);
        return false;
    }
    setup_sects = *HDR(plan, BP_SETUP_SECTS);
    setup_size = ((setup_sects ?: 4) + 1) * 512;
    load = ldq_le_p(HDR(plan, BP_PREF_ADDRESS));
    /* ldl_le_p() returns a signed int: take the 32 bits as they are. */
    init_size = (uint32_t)ldl_le_p(HDR(plan, BP_INIT_SIZE));
    code_size = (uint64_t)(uint32_t)ldl_le_p(HDR(plan, BP_SYSSIZE)) * 16;
    if (setup_size >= size) {
        error_setg(errp, "kernel '%s' is truncated: no protected-mode code "
                   "after the %" PRIu64 "-byte setup", name, setup_size);
        return false;
    }
    /*
     * syssize is the protected-mode code's size in 16-byte units, rounded
     * up (arch/x86/boot/tools/build.c): it must follow the setup sectors
     * in the file.  Up to 64 KiB more is accepted (an appended signature);
     * more than that means setup_sects is wrong, and so is the entry.
     */
    if (code_size > size - setup_size + 15) {
        error_setg(errp, "kernel '%s' is truncated or its setup_sects (%u) "
                   "is wrong: syssize says %" PRIu64 " bytes of code after "
                   "the setup, the file has %" PRIu64, name, setup_sects,
                   code_size, size - setup_size);
        return false;
    }
    if (size - setup_size > code_size + 64 * KiB) {
        error_setg(errp, "kernel '%s': its setup_sects (%u) is wrong: %"
                   PRIu64 " bytes follow the setup, syssize says %" PRIu64,
                   name, setup_sects, size - setup_size, code_size);
        return false;
    }
    /* Setup header length: 0x202 + the byte at 0x201 (boot.rst). */
    plan->setup_hdr_len = MIN(sizeof(plan->setup_hdr),
                              BP_HEADER + *HDR(plan, BP_JUMP + 1) -
                              DIRECT_BOOT_SETUP_HDR);
    init_size = MAX(init_size, size - setup_size);
    if (!check_kernel_range(layout, "image", load, init_size, errp)) {
        return false;
    }
    plan->seg[0] = (DirectBootSegment) { setup_size, size - setup_size, load,
                                         size - setup_size };
    plan->nr_seg = 1;
    plan->kernel_end = load + init_size;
    plan->entry = load + 0x200;
    plan->format = DIRECT_BOOT_BZIMAGE;
    return true;
}

bool direct_boot_plan_kernel(DirectBootPlan *plan,
                             const DirectBootLayout *layout,
                             const uint8_t *image, uint64_t size,
                             const char *name, Error **errp)
{
    memset(plan, 0, sizeof(*plan));
    if (size >= SELFMAG && !memcmp(image, ELFMAG, SELFMAG)) {
        return direct_boot_plan_elf(plan, layout, image, size, name, errp);
    }
    if (size >= BP_HEADER + 4 && ldl_le_p(image + BP_HEADER) == HDRS_MAGIC) {
        return direct_boot_plan_bzimage(plan, layout, image, size, name, errp);
    }
    error_setg(errp, "kernel '%s' is neither an ELF vmlinux nor a bzImage",
               name);
    return false;
}

bool direct_boot_plan_cmdline(DirectBootPlan *plan,
                              const DirectBootLayout *layout, uint64_t len,
                              Error **errp)
{
    uint64_t limit = X86_COMMAND_LINE_SIZE - 1;

    if (plan->format == DIRECT_BOOT_BZIMAGE &&
        lduw_le_p(HDR(plan, BP_VERSION)) >= 0x0206) {
        limit = (uint32_t)ldl_le_p(HDR(plan, BP_CMDLINE_SIZE));
    }
    limit = MIN(limit, layout->cmdline_max - 1);
    if (len > limit) {
        error_setg(errp, "kernel command line is %" PRIu64 " bytes, over the "
                   "kernel's limit of %" PRIu64, len, limit);
        return false;
    }
    plan->cmdline_len = len;
    return true;
}

bool direct_boot_plan_initrd(DirectBootPlan *plan,
                             const DirectBootLayout *layout, uint64_t size,
                             const char *name, Error **errp)
{
    uint64_t top = layout->ram_top;

    if (plan->format == DIRECT_BOOT_BZIMAGE) {
        top = MIN(top, (uint64_t)(uint32_t)ldl_le_p(HDR(plan,
                                              BP_INITRD_ADDR_MAX)) + 1);
    }
    top = QEMU_ALIGN_DOWN(top, 4 * KiB);
    if (size > top || QEMU_ALIGN_DOWN(top - size, 4 * KiB) < plan->kernel_end) {
        error_setg(errp, "initrd '%s' (%" PRIu64 " bytes) does not fit in "
                   "the %" PRIu64 " bytes of RAM between the kernel and "
                   "0x%" PRIx64 " (increase -m)", name, size,
                   top > plan->kernel_end ? top - plan->kernel_end : 0, top);
        return false;
    }
    plan->initrd_addr = QEMU_ALIGN_DOWN(top - size, 4 * KiB);
    plan->initrd_size = size;
    return true;
}

void direct_boot_plan_boot_params(const DirectBootPlan *plan,
                                  const DirectBootLayout *layout,
                                  const struct e820_entry *e820, int nr,
                                  uint64_t rsdp_addr,
                                  uint8_t zp[DIRECT_BOOT_ZERO_PAGE_SIZE])
{
    int i;

    memset(zp, 0, DIRECT_BOOT_ZERO_PAGE_SIZE);
    if (plan->format == DIRECT_BOOT_BZIMAGE) {
        memcpy(zp + DIRECT_BOOT_SETUP_HDR, plan->setup_hdr,
               plan->setup_hdr_len);
    } else {
        stw_le_p(zp + BP_BOOT_FLAG, BOOT_FLAG_MAGIC);
        stl_le_p(zp + BP_HEADER, HDRS_MAGIC);
        stw_le_p(zp + BP_VERSION, BOOT_PROTOCOL_2_15);
        stl_le_p(zp + BP_KERNEL_ALIGNMENT, 2 * MiB);
        stl_le_p(zp + BP_CMDLINE_SIZE, X86_COMMAND_LINE_SIZE - 1);
    }
    zp[BP_TYPE_OF_LOADER] = LOADER_UNDEFINED;
    zp[BP_LOADFLAGS] |= LOADED_HIGH;
    stl_le_p(zp + BP_CMD_LINE_PTR, layout->cmdline_addr);
    stl_le_p(zp + BP_RAMDISK_IMAGE, plan->initrd_addr);
    stl_le_p(zp + BP_RAMDISK_SIZE, plan->initrd_size);
    stl_le_p(zp + BP_EXT_RAMDISK_IMAGE, plan->initrd_addr >> 32);
    stl_le_p(zp + BP_EXT_RAMDISK_SIZE, plan->initrd_size >> 32);
    stq_le_p(zp + BP_ACPI_RSDP_ADDR, rsdp_addr);
    nr = MIN(MAX(nr, 0), BP_E820_MAX);
    zp[BP_E820_ENTRIES] = nr;
    for (i = 0; i < nr; i++) {
        uint8_t *p = zp + BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;

        stq_le_p(p, e820[i].address);
        stq_le_p(p + 8, e820[i].length);
        stl_le_p(p + 16, e820[i].type);
    }
}

uint8_t *direct_boot_plan_start_info(const DirectBootPlan *plan,
                                     const DirectBootLayout *layout,
                                     const struct e820_entry *e820, int nr,
                                     uint64_t rsdp_addr, size_t *len)
{
    struct {
        struct hvm_start_info si;
        struct hvm_modlist_entry mod;
        struct hvm_memmap_table_entry map[];
    } *p;
    uint64_t base = layout->start_info_addr;
    int i;

    nr = MAX(nr, 0);
    *len = sizeof(*p) + nr * sizeof(p->map[0]);
    p = g_malloc0(*len);
    p->si.magic = cpu_to_le32(XEN_HVM_START_MAGIC_VALUE);
    p->si.version = cpu_to_le32(1);
    p->si.cmdline_paddr = cpu_to_le64(layout->cmdline_addr);
    p->si.rsdp_paddr = cpu_to_le64(rsdp_addr);
    if (plan->initrd_size) {
        p->si.nr_modules = cpu_to_le32(1);
        p->si.modlist_paddr = cpu_to_le64(base + offsetof(typeof(*p), mod));
        p->mod.paddr = cpu_to_le64(plan->initrd_addr);
        p->mod.size = cpu_to_le64(plan->initrd_size);
    }
    p->si.memmap_paddr = cpu_to_le64(base + offsetof(typeof(*p), map));
    p->si.memmap_entries = cpu_to_le32(nr);
    for (i = 0; i < nr; i++) {
        p->map[i].addr = cpu_to_le64(e820[i].address);
        p->map[i].size = cpu_to_le64(e820[i].length);
        p->map[i].type = cpu_to_le32(e820[i].type);
    }
    return (uint8_t *)p;
}
