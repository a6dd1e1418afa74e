/*
 * Firmware-less Linux boot for x86
 *
 * Three kernel formats are accepted:
 *  - an ELF vmlinux with the Xen PVH note (XEN_ELFNOTE_PHYS32_ENTRY): the
 *    boot CPU enters in 32-bit protected mode with %ebx pointing to an
 *    hvm_start_info (command line, initrd module, memory map, RSDP);
 *  - an ELF vmlinux without it and a bzImage: the 64-bit Linux boot
 *    protocol (Documentation/arch/x86/boot.rst), entered in long mode
 *    with %rsi pointing to boot_params (the "zero page"), a GDT with
 *    __BOOT_CS/__BOOT_DS and identity-mapped page tables built here.
 *
 * The kernel is checked once at start-up, so that bad input gives one
 * error and a non-zero exit; it is then copied into RAM at every reset.
 * Application processors start through INIT/SIPI as on real hardware.
 *
 * Copyright (c) 2026 The pc-lite authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include "exec/address-spaces.h"
#include "exec/memory.h"
#include "hw/i386/elf_direct_boot.h"
#include "hw/i386/pc_lite.h"
#include "hw/i386/e820_memory_layout.h"
#include "hw/xen/start_info.h"
#include "target/i386/cpu.h"
#include "x86-boot-data.h"
#include "elf.h"
#include "trace.h"

#define MAX_SEGMENTS            16
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define X86_COMMAND_LINE_SIZE   2048

/* The GDT at PC_LITE_GDT_ADDR: Linux's __BOOT_CS and __BOOT_DS. */
enum {
    GDT_NULL,
    GDT_UNUSED,
    GDT_BOOT_CS,
    GDT_BOOT_DS,
    GDT_ENTRIES
};
#define BOOT_CS                 X86_GDT_SELECTOR(GDT_BOOT_CS)
#define BOOT_DS                 X86_GDT_SELECTOR(GDT_BOOT_DS)

/* Identity-mapped low memory for the 64-bit entry, PC_LITE_PGTABLE_ADDR. */
#define BOOT_MAP_GIB            4

/* boot_params offsets (arch/x86/include/uapi/asm/bootparam.h) */
#define BP_ACPI_RSDP_ADDR       0x070
#define BP_EXT_RAMDISK_IMAGE    0x0c0
#define BP_EXT_RAMDISK_SIZE     0x0c4
#define BP_E820_ENTRIES         0x1e8
#define BP_HDR                  0x1f1
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

/* A vmlinux is linked at kernel addresses (its "virtual" ones). */
#define LINUX_KERNEL_HALF       0xffff800000000000ULL

#define HDRS_MAGIC              0x53726448 /* "HdrS" */
#define BOOT_FLAG_MAGIC         0xaa55
#define BOOT_PROTOCOL_2_15      0x020f
#define LOADER_UNDEFINED        0xff    /* type_of_loader: no assigned ID */
#define LOADED_HIGH             0x01
#define XLF_KERNEL_64           0x01
#define EFLAGS_RESERVED_1       0x2     /* bit 1 of EFLAGS is always set */

typedef struct {
    uint64_t offset;        /* in the file */
    uint64_t filesz;
    uint64_t paddr;
    uint64_t memsz;
} BootSegment;

struct PcLiteBoot {
    MachineState *ms;
    DirectBootFormat format;
    int kernel_fd;
    int initrd_fd;
    BootSegment seg[MAX_SEGMENTS];
    int nr_seg;
    uint64_t entry;
    uint64_t kernel_end;
    uint64_t initrd_addr;
    uint64_t initrd_size;
    uint8_t setup_hdr[0x300 - BP_HDR]; /* bzImage setup header */
    size_t setup_hdr_len;
    char *cmdline;
    bool loaded;
};

static const char *const format_names[] = {
    [DIRECT_BOOT_PVH] = "PVH ELF",
    [DIRECT_BOOT_ELF64] = "ELF (64-bit boot protocol)",
    [DIRECT_BOOT_BZIMAGE] = "bzImage (64-bit boot protocol)",
};

DirectBootFormat direct_boot_format(PcLiteBoot *boot)
{
    return boot->format;
}

static bool read_exact(int fd, void *buf, size_t len, uint64_t off)
{
    while (len) {
        ssize_t n = pread(fd, buf, len, off);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        buf = (uint8_t *)buf + n;
        len -= n;
        off += n;
    }
    return true;
}

static int open_input(const char *what, const char *path, uint64_t *size,
                      Error **errp)
{
    struct stat st;
    int fd = qemu_open(path, O_RDONLY, errp);

    if (fd < 0) {
        error_prepend(errp, "%s: ", what);
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        error_setg(errp, "%s '%s' is not a regular file", what, path);
        close(fd);
        return -1;
    }
    if (st.st_size == 0) {
        error_setg(errp, "%s '%s' is empty", what, path);
        close(fd);
        return -1;
    }
    *size = st.st_size;
    return fd;
}

/* Check that [paddr, paddr + len) is RAM the kernel may occupy. */
static bool check_kernel_range(PcLiteBoot *b, const char *what,
                               uint64_t paddr, uint64_t len, hwaddr ram_top,
                               Error **errp)
{
    if (paddr < PC_LITE_HIGH_RAM_START) {
        error_setg(errp, "kernel %s at 0x%" PRIx64 " overlaps the boot data "
                   "below 1 MiB", what, paddr);
        return false;
    }
    if (len > ram_top || paddr > ram_top - len) {
        error_setg(errp, "kernel %s [0x%" PRIx64 ", 0x%" PRIx64 ") is outside "
                   "guest RAM below 0x%" HWADDR_PRIx " (increase -m)", what,
                   paddr, paddr + len, ram_top);
        return false;
    }
    return true;
}

/*
 * The notes of a PT_NOTE segment: the PVH entry (Xen's PHYS32_ENTRY note)
 * when there is one, and whether Linux's own notes ("Linux") are there.
 * Returns true when the PVH entry was found.
 */
static bool parse_notes(PcLiteBoot *b, uint64_t off, uint64_t len,
                        uint64_t *entry, bool *linux_note)
{
    g_autofree uint8_t *buf = g_malloc(len);
    uint64_t pos = 0;

    if (!read_exact(b->kernel_fd, buf, len, off)) {
        return false;
    }
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

static bool parse_elf(PcLiteBoot *b, const char *path, uint64_t size,
                      hwaddr ram_top, Error **errp)
{
    Elf64_Ehdr eh;
    g_autofree Elf64_Phdr *ph = NULL;
    uint64_t pvh_entry = 0;
    bool pvh = false, entry_ok = false, linux_note = false;
    bool kernel_entry = false;
    int i;

    if (size < sizeof(eh) || !read_exact(b->kernel_fd, &eh, sizeof(eh), 0)) {
        error_setg(errp, "kernel '%s' is truncated: no complete ELF header",
                   path);
        return false;
    }
    if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
        error_setg(errp, "kernel '%s' is a 32-bit ELF: pc-lite boots x86_64 "
                   "kernels", path);
        return false;
    }
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB ||
        le16_to_cpu(eh.e_machine) != EM_X86_64 ||
        le16_to_cpu(eh.e_type) != ET_EXEC) {
        error_setg(errp, "kernel '%s' is not an x86_64 executable ELF", path);
        return false;
    }
    eh.e_phoff = le64_to_cpu(eh.e_phoff);
    eh.e_phnum = le16_to_cpu(eh.e_phnum);
    eh.e_entry = le64_to_cpu(eh.e_entry);
    if (le16_to_cpu(eh.e_phentsize) != sizeof(Elf64_Phdr) ||
        eh.e_phnum == 0 || eh.e_phnum > 64) {
        error_setg(errp, "kernel '%s' has a malformed program header table",
                   path);
        return false;
    }
    ph = g_new(Elf64_Phdr, eh.e_phnum);
    if (eh.e_phoff > size ||
        size - eh.e_phoff < eh.e_phnum * sizeof(Elf64_Phdr) ||
        !read_exact(b->kernel_fd, ph, eh.e_phnum * sizeof(Elf64_Phdr),
                    eh.e_phoff)) {
        error_setg(errp, "kernel '%s' is truncated: program headers beyond "
                   "the end of the file", path);
        return false;
    }

    for (i = 0; i < eh.e_phnum; i++) {
        uint32_t type = le32_to_cpu(ph[i].p_type);
        uint64_t off = le64_to_cpu(ph[i].p_offset);
        uint64_t filesz = le64_to_cpu(ph[i].p_filesz);
        uint64_t memsz = le64_to_cpu(ph[i].p_memsz);
        uint64_t paddr = le64_to_cpu(ph[i].p_paddr);
        BootSegment *s;
        int j;

        if (off > size || filesz > size - off) {
            error_setg(errp, "kernel '%s' is truncated: segment %d needs "
                       "0x%" PRIx64 " bytes at offset 0x%" PRIx64
                       ", the file has 0x%" PRIx64, path, i, filesz, off,
                       size);
            return false;
        }
        if (type == PT_NOTE && filesz && filesz <= 64 * KiB && !pvh) {
            pvh = parse_notes(b, off, filesz, &pvh_entry, &linux_note);
        }
        if (type != PT_LOAD || memsz == 0) {
            continue;
        }
        if (eh.e_entry >= paddr && eh.e_entry - paddr < filesz) {
            kernel_entry = le64_to_cpu(ph[i].p_vaddr) >= LINUX_KERNEL_HALF;
        }
        if (filesz > memsz) {
            error_setg(errp, "kernel '%s': segment %d has more file data "
                       "than memory", path, i);
            return false;
        }
        if (b->nr_seg == MAX_SEGMENTS) {
            error_setg(errp, "kernel '%s' has more than %d loadable segments",
                       path, MAX_SEGMENTS);
            return false;
        }
        if (!check_kernel_range(b, "segment", paddr, memsz, ram_top, errp)) {
            return false;
        }
        for (j = 0; j < b->nr_seg; j++) {
            if (paddr < b->seg[j].paddr + b->seg[j].memsz &&
                b->seg[j].paddr < paddr + memsz) {
                error_setg(errp, "kernel '%s': segments overlap at 0x%" PRIx64,
                           path, paddr);
                return false;
            }
        }
        s = &b->seg[b->nr_seg++];
        *s = (BootSegment) { off, filesz, paddr, memsz };
        b->kernel_end = MAX(b->kernel_end, paddr + memsz);
    }
    if (!b->nr_seg) {
        error_setg(errp, "kernel '%s' has no loadable segment", path);
        return false;
    }
    b->format = pvh ? DIRECT_BOOT_PVH : DIRECT_BOOT_ELF64;
    b->entry = pvh ? pvh_entry : eh.e_entry;
    for (i = 0; i < b->nr_seg; i++) {
        if (b->entry >= b->seg[i].paddr &&
            b->entry < b->seg[i].paddr + b->seg[i].filesz) {
            entry_ok = true;
        }
    }
    if (!entry_ok) {
        error_setg(errp, "kernel '%s': entry point 0x%" PRIx64 " is not in a "
                   "loaded segment%s", path, b->entry,
                   pvh ? "" : " (an ELF without the PVH note must be a "
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
    if (!pvh && !linux_note && !kernel_entry) {
        error_setg(errp, "kernel '%s' is not a Linux kernel: no PVH or Linux "
                   "ELF note, and it is not linked at kernel addresses",
                   path);
        return false;
    }
    return true;
}

static bool parse_bzimage(PcLiteBoot *b, const char *path, uint64_t size,
                          hwaddr ram_top, Error **errp)
{
    uint8_t *h = b->setup_hdr;
    uint64_t setup_size, load, init_size, code_size;
    uint16_t version;

    b->setup_hdr_len = sizeof(b->setup_hdr);
    if (size < 0x300 || !read_exact(b->kernel_fd, h, sizeof(b->setup_hdr),
                                    BP_HDR)) {
        error_setg(errp, "kernel '%s' is truncated: no complete setup header",
                   path);
        return false;
    }
#define HDR(off) (h + (off) - BP_HDR)
    version = lduw_le_p(HDR(BP_VERSION));
    if (version < 0x020c || !(*HDR(BP_XLOADFLAGS) & XLF_KERNEL_64)) {
        error_setg(errp, "kernel '%s': bzImage protocol %x.%02x has no 64-bit "
                   "entry point (needs 2.12 with XLF_KERNEL_64)", path,
                   version >> 8, version & 0xff);
        return false;
    }
    if (!(*HDR(BP_LOADFLAGS) & LOADED_HIGH)) {
        error_setg(errp, "kernel '%s' is a zImage, not a bzImage", path);
        return false;
    }
    setup_size = ((*HDR(BP_SETUP_SECTS) ?: 4) + 1) * 512;
    load = ldq_le_p(HDR(BP_PREF_ADDRESS));
    /* ldl_le_p() returns a signed int: take the 32 bits as they are. */
    init_size = (uint32_t)ldl_le_p(HDR(BP_INIT_SIZE));
    code_size = (uint64_t)(uint32_t)ldl_le_p(HDR(BP_SYSSIZE)) * 16;
    if (setup_size >= size) {
        error_setg(errp, "kernel '%s' is truncated: no protected-mode code "
                   "after the %" PRIu64 "-byte setup", path, setup_size);
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
                   "the setup, the file has %" PRIu64, path,
                   *HDR(BP_SETUP_SECTS), code_size, size - setup_size);
        return false;
    }
    if (size - setup_size > code_size + 64 * KiB) {
        error_setg(errp, "kernel '%s': its setup_sects (%u) is wrong: %"
                   PRIu64 " bytes follow the setup, syssize says %" PRIu64,
                   path, *HDR(BP_SETUP_SECTS), size - setup_size, code_size);
        return false;
    }
    /* Setup header length: 0x202 + the byte at 0x201 (boot.rst). */
    b->setup_hdr_len = MIN(sizeof(b->setup_hdr),
                           BP_HEADER + *HDR(BP_JUMP + 1) - BP_HDR);
    init_size = MAX(init_size, size - setup_size);
    if (!check_kernel_range(b, "image", load, init_size, ram_top, errp)) {
        return false;
    }
    b->seg[0] = (BootSegment) { setup_size, size - setup_size, load,
                                size - setup_size };
    b->nr_seg = 1;
    b->kernel_end = load + init_size;
    b->entry = load + 0x200;
    b->format = DIRECT_BOOT_BZIMAGE;
#undef HDR
    return true;
}

static uint32_t cmdline_limit(PcLiteBoot *b)
{
    if (b->format == DIRECT_BOOT_BZIMAGE &&
        lduw_le_p(b->setup_hdr + BP_VERSION - BP_HDR) >= 0x0206) {
        return ldl_le_p(b->setup_hdr + BP_CMDLINE_SIZE - BP_HDR);
    }
    return X86_COMMAND_LINE_SIZE - 1;
}

PcLiteBoot *direct_boot_prepare(MachineState *ms, hwaddr ram_top,
                                Error **errp)
{
    g_autofree PcLiteBoot *b = g_new0(PcLiteBoot, 1);
    const char *path = ms->kernel_filename;
    uint8_t magic[4];
    uint32_t hdrs = 0;
    uint64_t size, limit, top;
    size_t len;

    b->ms = ms;
    b->initrd_fd = -1;
    b->kernel_fd = open_input("kernel", path, &size, errp);
    if (b->kernel_fd < 0) {
        return NULL;
    }
    if (size >= BP_HEADER + 4) {
        read_exact(b->kernel_fd, &hdrs, 4, BP_HEADER);
    }
    if (!read_exact(b->kernel_fd, magic, MIN(size, 4), 0)) {
        error_setg(errp, "kernel '%s' could not be read", path);
        goto fail;
    }
    if (size >= 4 && !memcmp(magic, ELFMAG, SELFMAG)) {
        if (!parse_elf(b, path, size, ram_top, errp)) {
            goto fail;
        }
    } else if (le32_to_cpu(hdrs) == HDRS_MAGIC) {
        if (!parse_bzimage(b, path, size, ram_top, errp)) {
            goto fail;
        }
    } else {
        error_setg(errp, "kernel '%s' is neither an ELF vmlinux nor a bzImage",
                   path);
        goto fail;
    }

    b->cmdline = g_strdup(ms->kernel_cmdline ?: "");
    len = strlen(b->cmdline);
    limit = cmdline_limit(b);
    if (len > limit || len >= PC_LITE_CMDLINE_MAX) {
        error_setg(errp, "kernel command line is %zu bytes, over the "
                   "kernel's limit of %" PRIu64, len,
                   MIN(limit, PC_LITE_CMDLINE_MAX - 1));
        goto fail;
    }

    if (ms->initrd_filename) {
        b->initrd_fd = open_input("initrd", ms->initrd_filename,
                                  &b->initrd_size, errp);
        if (b->initrd_fd < 0) {
            goto fail;
        }
        /* At the top of RAM below 4 GiB, under the kernel's own limit. */
        top = ram_top;
        if (b->format == DIRECT_BOOT_BZIMAGE) {
            top = MIN(top, (uint64_t)(uint32_t)ldl_le_p(b->setup_hdr +
                                        BP_INITRD_ADDR_MAX - BP_HDR) + 1);
        }
        top = QEMU_ALIGN_DOWN(top, 4 * KiB);
        if (b->initrd_size > top ||
            QEMU_ALIGN_DOWN(top - b->initrd_size, 4 * KiB) < b->kernel_end) {
            error_setg(errp, "initrd '%s' (%" PRIu64 " bytes) does not fit in "
                       "the %" PRIu64 " bytes of RAM between the kernel and "
                       "0x%" PRIx64 " (increase -m)", ms->initrd_filename,
                       b->initrd_size,
                       top > b->kernel_end ? top - b->kernel_end : 0, top);
            goto fail;
        }
        b->initrd_addr = QEMU_ALIGN_DOWN(top - b->initrd_size, 4 * KiB);
    }

    trace_pc_lite_kernel(format_names[b->format], b->entry,
                         b->seg[0].paddr, b->kernel_end);
    return g_steal_pointer(&b);

fail:
    if (b->initrd_fd >= 0) {
        close(b->initrd_fd);
    }
    close(b->kernel_fd);
    g_free(b->cmdline);
    return NULL;
}

/*
 * Copy @len bytes of @fd at @off to guest RAM at @gpa.  The first load
 * reads straight into fresh RAM; later ones (after a guest reboot) go
 * through address_space_write so that TCG drops stale translations.
 */
static bool load_file(PcLiteBoot *b, int fd, uint64_t off, uint64_t len,
                      hwaddr gpa)
{
    g_autofree uint8_t *buf = NULL;
    uint64_t chunk;

    if (!b->loaded) {
        uint8_t *ram = memory_region_get_ram_ptr(b->ms->ram);

        return read_exact(fd, ram + gpa, len, off);
    }
    buf = g_malloc(MIN(len, 2 * MiB));
    while (len) {
        chunk = MIN(len, 2 * MiB);
        if (!read_exact(fd, buf, chunk, off)) {
            return false;
        }
        address_space_write(&address_space_memory, gpa,
                            MEMTXATTRS_UNSPECIFIED, buf, chunk);
        gpa += chunk;
        off += chunk;
        len -= chunk;
    }
    return true;
}

static void write_guest(hwaddr gpa, const void *buf, hwaddr len)
{
    address_space_write(&address_space_memory, gpa, MEMTXATTRS_UNSPECIFIED,
                        buf, len);
}

static void zero_guest(hwaddr gpa, hwaddr len)
{
    address_space_set(&address_space_memory, gpa, 0, len,
                      MEMTXATTRS_UNSPECIFIED);
}

static void write_start_info(PcLiteBoot *b, hwaddr rsdp_addr)
{
    struct e820_entry *e820;
    int n = e820_get_table(&e820), i;
    struct {
        struct hvm_start_info si;
        struct hvm_modlist_entry mod;
        struct hvm_memmap_table_entry map[];
    } *p;
    size_t len = sizeof(*p) + n * sizeof(p->map[0]);
    hwaddr base = PC_LITE_START_INFO_ADDR;

    p = g_malloc0(len);
    p->si.magic = cpu_to_le32(XEN_HVM_START_MAGIC_VALUE);
    p->si.version = cpu_to_le32(1);
    p->si.cmdline_paddr = cpu_to_le64(PC_LITE_CMDLINE_ADDR);
    p->si.rsdp_paddr = cpu_to_le64(rsdp_addr);
    if (b->initrd_size) {
        p->si.nr_modules = cpu_to_le32(1);
        p->si.modlist_paddr = cpu_to_le64(base + offsetof(typeof(*p), mod));
        p->mod.paddr = cpu_to_le64(b->initrd_addr);
        p->mod.size = cpu_to_le64(b->initrd_size);
    }
    p->si.memmap_paddr = cpu_to_le64(base + offsetof(typeof(*p), map));
    p->si.memmap_entries = cpu_to_le32(n);
    for (i = 0; i < n; i++) {
        p->map[i].addr = cpu_to_le64(e820[i].address);
        p->map[i].size = cpu_to_le64(e820[i].length);
        p->map[i].type = cpu_to_le32(e820[i].type);
    }
    write_guest(base, p, len);
    g_free(p);
}

static void write_boot_params(PcLiteBoot *b, hwaddr rsdp_addr)
{
    g_autofree uint8_t *zp = g_malloc0(4 * KiB);
    struct e820_entry *e820;
    int n = MIN(e820_get_table(&e820), BP_E820_MAX), i;
    uint64_t gdt[GDT_ENTRIES] = {
        [GDT_BOOT_CS] = cpu_to_le64(x86_gdt_entry(X86_SEG_CODE64, 0,
                                                  X86_SEG_FLAT_LIMIT)),
        [GDT_BOOT_DS] = cpu_to_le64(x86_gdt_entry(X86_SEG_DATA, 0,
                                                  X86_SEG_FLAT_LIMIT)),
    };
    g_autofree uint64_t *pt =
        g_new0(uint64_t, X86_IDENTITY_MAP_TABLES(BOOT_MAP_GIB) *
                         X86_PT_ENTRIES);

    if (b->format == DIRECT_BOOT_BZIMAGE) {
        memcpy(zp + BP_HDR, b->setup_hdr, b->setup_hdr_len);
    } else {
        stw_le_p(zp + BP_BOOT_FLAG, BOOT_FLAG_MAGIC);
        stl_le_p(zp + BP_HEADER, HDRS_MAGIC);
        stw_le_p(zp + BP_VERSION, BOOT_PROTOCOL_2_15);
        stl_le_p(zp + BP_KERNEL_ALIGNMENT, 2 * MiB);
        stl_le_p(zp + BP_CMDLINE_SIZE, X86_COMMAND_LINE_SIZE - 1);
    }
    zp[BP_TYPE_OF_LOADER] = LOADER_UNDEFINED;
    zp[BP_LOADFLAGS] |= LOADED_HIGH;
    stl_le_p(zp + BP_CMD_LINE_PTR, PC_LITE_CMDLINE_ADDR);
    stl_le_p(zp + BP_RAMDISK_IMAGE, b->initrd_addr);
    stl_le_p(zp + BP_RAMDISK_SIZE, b->initrd_size);
    stl_le_p(zp + BP_EXT_RAMDISK_IMAGE, b->initrd_addr >> 32);
    stl_le_p(zp + BP_EXT_RAMDISK_SIZE, b->initrd_size >> 32);
    stq_le_p(zp + BP_ACPI_RSDP_ADDR, rsdp_addr);
    zp[BP_E820_ENTRIES] = n;
    for (i = 0; i < n; i++) {
        x86_boot_e820_entry(zp + BP_E820_TABLE + i * X86_BOOT_E820_ENTRY_SIZE,
                            e820[i].address, e820[i].length, e820[i].type);
    }
    write_guest(PC_LITE_ZERO_PAGE_ADDR, zp, 4 * KiB);
    write_guest(PC_LITE_GDT_ADDR, gdt, sizeof(gdt));

    /* PML4 -> PDPT -> 4 PDs of 2 MiB pages: identity map of 0-4 GiB. */
    x86_identity_map(pt, PC_LITE_PGTABLE_ADDR, BOOT_MAP_GIB);
    write_guest(PC_LITE_PGTABLE_ADDR, pt,
                X86_IDENTITY_MAP_TABLES(BOOT_MAP_GIB) * X86_PT_SIZE);
}

bool direct_boot_load(PcLiteBoot *b, hwaddr rsdp_addr, Error **errp)
{
    int i;

    for (i = 0; i < b->nr_seg; i++) {
        BootSegment *s = &b->seg[i];

        if (!load_file(b, b->kernel_fd, s->offset, s->filesz, s->paddr)) {
            error_setg(errp, "could not read the kernel (changed on disk?)");
            return false;
        }
        if (s->memsz > s->filesz) {
            zero_guest(s->paddr + s->filesz, s->memsz - s->filesz);
        }
    }
    if (b->initrd_size) {
        if (!load_file(b, b->initrd_fd, 0, b->initrd_size, b->initrd_addr)) {
            error_setg(errp, "could not read the initrd (changed on disk?)");
            return false;
        }
        trace_pc_lite_initrd(b->initrd_addr, b->initrd_size);
    }
    zero_guest(PC_LITE_CMDLINE_ADDR, PC_LITE_CMDLINE_MAX);
    write_guest(PC_LITE_CMDLINE_ADDR, b->cmdline, strlen(b->cmdline));
    if (b->format == DIRECT_BOOT_PVH) {
        write_start_info(b, rsdp_addr);
    } else {
        write_boot_params(b, rsdp_addr);
    }
    b->loaded = true;
    return true;
}

void direct_boot_setup_cpu(PcLiteBoot *b, CPUState *cs)
{
    CPUX86State *env = &X86_CPU(cs)->env;
    bool pvh = b->format == DIRECT_BOOT_PVH;
    uint32_t flat_limit = x86_gdt_entry_byte_limit(
        x86_gdt_entry(X86_SEG_DATA, 0, X86_SEG_FLAT_LIMIT));
    int seg;

    if (pvh) {
        cpu_x86_update_cr0(env, CR0_PE_MASK | CR0_ET_MASK);
        cpu_x86_update_cr4(env, 0);
    } else {
        env->gdt.base = PC_LITE_GDT_ADDR;
        env->gdt.limit = GDT_ENTRIES * sizeof(uint64_t) - 1;
        cpu_x86_update_cr3(env, PC_LITE_PGTABLE_ADDR);
        cpu_x86_update_cr4(env, CR4_PAE_MASK);
        cpu_load_efer(env, env->efer | MSR_EFER_LME);
        cpu_x86_update_cr0(env, CR0_PG_MASK | CR0_PE_MASK | CR0_ET_MASK);
    }
    for (seg = R_ES; seg <= R_GS; seg++) {
        if (seg != R_CS) {
            cpu_x86_load_seg_cache(env, seg, BOOT_DS, 0, flat_limit,
                                   X86_SEG_DATA);
        }
    }
    cpu_x86_load_seg_cache(env, R_CS, BOOT_CS, 0, flat_limit,
                           pvh ? X86_SEG_CODE32 : X86_SEG_CODE64);
    env->tr.selector = 0;
    env->tr.base = 0;
    env->tr.limit = X86_TSS_LIMIT;
    env->tr.flags = X86_SEG_TSS_BUSY;
    env->eflags = EFLAGS_RESERVED_1;
    env->eip = b->entry;
    if (pvh) {
        env->regs[R_EBX] = PC_LITE_START_INFO_ADDR;
    } else {
        env->regs[R_ESI] = PC_LITE_ZERO_PAGE_ADDR;
    }
    trace_pc_lite_cpu_entry(cs->cpu_index, b->entry);
}
