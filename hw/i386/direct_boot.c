/*
 * Firmware-less Linux boot for x86
 *
 * The kernel, initrd and command line are checked once at start-up by
 * the pure load plan (direct_boot_plan.c: formats, placement, boot data),
 * so that bad input gives one error and a non-zero exit.  This file
 * carries the plan out: it copies the kernel's segments and the initrd
 * into RAM at every reset, writes the boot data the plan builds (PVH
 * start_info or the 64-bit boot protocol's boot_params), a GDT with
 * __BOOT_CS/__BOOT_DS and identity-mapped page tables, and puts the boot
 * CPU at the entry.
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
#include "hw/i386/direct_boot.h"
#include "hw/i386/e820_memory_layout.h"
#include "target/i386/cpu.h"
#include "x86-boot-data.h"
#include "trace.h"

/* The GDT at layout.gdt_addr: Linux's __BOOT_CS and __BOOT_DS. */
enum {
    GDT_NULL,
    GDT_UNUSED,
    GDT_BOOT_CS,
    GDT_BOOT_DS,
    GDT_ENTRIES
};
#define BOOT_CS                 X86_GDT_SELECTOR(GDT_BOOT_CS)
#define BOOT_DS                 X86_GDT_SELECTOR(GDT_BOOT_DS)

/* Identity-mapped low memory for the 64-bit entry, layout.pgtable_addr. */
#define BOOT_MAP_GIB            4

#define EFLAGS_RESERVED_1       0x2     /* bit 1 of EFLAGS is always set */

struct DirectBoot {
    MachineState *ms;
    DirectBootLayout layout;
    DirectBootPlan plan;
    int kernel_fd;
    int initrd_fd;
    bool share_kernel;
    char *cmdline;
    bool loaded;
};

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
                      mode_t *mode, Error **errp)
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
    *mode = st.st_mode;
    return fd;
}

/* Plan the kernel from a read-only mapping of the whole file. */
static bool plan_kernel(DirectBoot *b, const char *path, uint64_t size,
                        Error **errp)
{
    void *image;
    bool ok;

    if (size > SIZE_MAX) {
        error_setg(errp, "kernel '%s' is too large", path);
        return false;
    }
    image = mmap(NULL, size, PROT_READ, MAP_PRIVATE, b->kernel_fd, 0);
    if (image == MAP_FAILED) {
        error_setg_errno(errp, errno, "kernel '%s' could not be read", path);
        return false;
    }
    ok = direct_boot_plan_kernel(&b->plan, &b->layout, image, size, path,
                                 errp);
    munmap(image, size);
    return ok;
}

DirectBoot *direct_boot_prepare(MachineState *ms,
                                const DirectBootLayout *layout,
                                OnOffAuto share_kernel, Error **errp)
{
    g_autofree DirectBoot *b = g_new0(DirectBoot, 1);
    const char *path = ms->kernel_filename;
    uint64_t size;
    mode_t mode;

    b->ms = ms;
    b->layout = *layout;
    b->initrd_fd = -1;
    b->kernel_fd = open_input("kernel", path, &size, &mode, errp);
    if (b->kernel_fd < 0) {
        return NULL;
    }
    /*
     * A mapped file that is rewritten in place changes under the guest
     * (and a truncated one kills QEMU with SIGBUS): auto shares only a
     * kernel that nobody may write, as build-guest.sh leaves its own.
     */
    b->share_kernel = share_kernel == ON_OFF_AUTO_ON ||
                      (share_kernel == ON_OFF_AUTO_AUTO && !(mode & 0222));
    if (!plan_kernel(b, path, size, errp)) {
        goto fail;
    }
    b->cmdline = g_strdup(ms->kernel_cmdline ?: "");
    if (!direct_boot_plan_cmdline(&b->plan, &b->layout, strlen(b->cmdline),
                                  errp)) {
        goto fail;
    }
    if (ms->initrd_filename) {
        b->initrd_fd = open_input("initrd", ms->initrd_filename, &size,
                                  &mode, errp);
        if (b->initrd_fd < 0 ||
            !direct_boot_plan_initrd(&b->plan, &b->layout, size,
                                     ms->initrd_filename, errp)) {
            goto fail;
        }
    }

    trace_pc_lite_kernel(direct_boot_format_name(b->plan.format),
                         b->plan.entry, b->plan.seg[0].paddr,
                         b->plan.kernel_end);
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
 * Guest RAM (ms->ram) as one RAM block whose host memory the loader may
 * use directly; false when it is a container of other regions, the
 * backends of -numa node,memdev=, which are then written through
 * address_space_write.
 */
static bool ram_is_one_block(DirectBoot *b)
{
    return memory_region_is_ram(b->ms->ram) && b->ms->ram->ram_block;
}

/*
 * Map the whole pages of segment @s from the kernel file copy-on-write at
 * their place in guest RAM, so that VMs booted from one kernel share them
 * in the host's page cache until their guest writes them (the seed's "COW
 * share the kernel").  Only at the first load, into private anonymous RAM
 * (a shared or file-backed RAM block, e.g. a template's, keeps its own
 * pages, and NUMA nodes' RAM is not one block), and where the segment's
 * file offset and guest address are both page-aligned; the rest of the
 * segment is copied.  Returns the bytes mapped, or -1 if the mapping
 * failed (the range is then not usable).
 */
static int64_t map_segment(DirectBoot *b, const DirectBootSegment *s)
{
    MemoryRegion *ram = b->ms->ram;
    uint64_t page = qemu_real_host_page_size();
    uint64_t len = QEMU_ALIGN_DOWN(s->filesz, page);
    uint8_t *host;
    const char *why = NULL;

    if (!b->share_kernel) {
        why = "share-kernel";
    } else if (!ram_is_one_block(b)) {
        why = "RAM is not one RAM block (NUMA nodes)";
    } else if (qemu_ram_is_shared(ram->ram_block) ||
               memory_region_get_fd(ram) >= 0) {
        why = "RAM is not private anonymous memory";
    } else if (s->offset % page || s->paddr % page) {
        why = "not page-aligned";
    } else if (!len) {
        why = "less than a page";
    }
    if (why) {
        trace_pc_lite_kernel_copy(s->paddr, s->filesz, why);
        return 0;
    }
    host = (uint8_t *)memory_region_get_ram_ptr(ram) + s->paddr;
    if (mmap(host, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED,
             b->kernel_fd, s->offset) == MAP_FAILED) {
        return -1;
    }
    trace_pc_lite_kernel_map(s->paddr, len);
    return len;
}

/*
 * Copy @len bytes of @fd at @off to guest RAM at @gpa.  The first load
 * reads straight into fresh RAM when it is one RAM block; later ones
 * (after a guest reboot) go through address_space_write so that TCG drops
 * stale translations, as does every load into NUMA nodes' RAM.
 */
static bool load_file(DirectBoot *b, int fd, uint64_t off, uint64_t len,
                      hwaddr gpa)
{
    g_autofree uint8_t *buf = NULL;
    uint64_t chunk;

    if (!b->loaded && ram_is_one_block(b)) {
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

static void write_start_info(DirectBoot *b, hwaddr rsdp_addr)
{
    struct e820_entry *e820;
    int n = e820_get_table(&e820);
    size_t len;
    g_autofree uint8_t *si = direct_boot_plan_start_info(&b->plan, &b->layout,
                                                         e820, n, rsdp_addr,
                                                         &len);

    write_guest(b->layout.start_info_addr, si, len);
}

static void write_boot_params(DirectBoot *b, hwaddr rsdp_addr)
{
    g_autofree uint8_t *zp = g_malloc(DIRECT_BOOT_ZERO_PAGE_SIZE);
    struct e820_entry *e820;
    int n = e820_get_table(&e820);
    uint64_t gdt[GDT_ENTRIES] = {
        [GDT_BOOT_CS] = cpu_to_le64(x86_gdt_entry(X86_SEG_CODE64, 0,
                                                  X86_SEG_FLAT_LIMIT)),
        [GDT_BOOT_DS] = cpu_to_le64(x86_gdt_entry(X86_SEG_DATA, 0,
                                                  X86_SEG_FLAT_LIMIT)),
    };
    g_autofree uint64_t *pt =
        g_new0(uint64_t, X86_IDENTITY_MAP_TABLES(BOOT_MAP_GIB) *
                         X86_PT_ENTRIES);

    direct_boot_plan_boot_params(&b->plan, &b->layout, e820, n, rsdp_addr,
                                 zp);
    write_guest(b->layout.zero_page_addr, zp, DIRECT_BOOT_ZERO_PAGE_SIZE);
    write_guest(b->layout.gdt_addr, gdt, sizeof(gdt));

    /* PML4 -> PDPT -> 4 PDs of 2 MiB pages: identity map of 0-4 GiB. */
    x86_identity_map(pt, b->layout.pgtable_addr, BOOT_MAP_GIB);
    write_guest(b->layout.pgtable_addr, pt,
                X86_IDENTITY_MAP_TABLES(BOOT_MAP_GIB) * X86_PT_SIZE);
}

bool direct_boot_load(DirectBoot *b, hwaddr rsdp_addr, Error **errp)
{
    const DirectBootPlan *p = &b->plan;
    int i;

    for (i = 0; i < p->nr_seg; i++) {
        const DirectBootSegment *s = &p->seg[i];
        int64_t mapped = b->loaded ? 0 : map_segment(b, s);

        if (mapped < 0) {
            error_setg_errno(errp, errno, "could not map the kernel into "
                             "guest RAM");
            return false;
        }
        if (!load_file(b, b->kernel_fd, s->offset + mapped,
                       s->filesz - mapped, s->paddr + mapped)) {
            error_setg(errp, "could not read the kernel (changed on disk?)");
            return false;
        }
        if (s->memsz > s->filesz) {
            zero_guest(s->paddr + s->filesz, s->memsz - s->filesz);
        }
    }
    if (p->initrd_size) {
        if (!load_file(b, b->initrd_fd, 0, p->initrd_size, p->initrd_addr)) {
            error_setg(errp, "could not read the initrd (changed on disk?)");
            return false;
        }
        trace_pc_lite_initrd(p->initrd_addr, p->initrd_size);
    }
    zero_guest(b->layout.cmdline_addr, b->layout.cmdline_max);
    write_guest(b->layout.cmdline_addr, b->cmdline, p->cmdline_len);
    if (p->format == DIRECT_BOOT_PVH) {
        write_start_info(b, rsdp_addr);
    } else {
        write_boot_params(b, rsdp_addr);
    }
    b->loaded = true;
    return true;
}

void direct_boot_setup_cpu(DirectBoot *b, CPUState *cs)
{
    CPUX86State *env = &X86_CPU(cs)->env;
    bool pvh = b->plan.format == DIRECT_BOOT_PVH;
    uint32_t flat_limit = x86_gdt_entry_byte_limit(
        x86_gdt_entry(X86_SEG_DATA, 0, X86_SEG_FLAT_LIMIT));
    int seg;

    if (pvh) {
        cpu_x86_update_cr0(env, CR0_PE_MASK | CR0_ET_MASK);
        cpu_x86_update_cr4(env, 0);
    } else {
        env->gdt.base = b->layout.gdt_addr;
        env->gdt.limit = GDT_ENTRIES * sizeof(uint64_t) - 1;
        cpu_x86_update_cr3(env, b->layout.pgtable_addr);
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
    env->eip = b->plan.entry;
    if (pvh) {
        env->regs[R_EBX] = b->layout.start_info_addr;
    } else {
        env->regs[R_ESI] = b->layout.zero_page_addr;
    }
    trace_pc_lite_cpu_entry(cs->cpu_index, b->plan.entry);
}
