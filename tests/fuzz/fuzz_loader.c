/*
 * libFuzzer targets for pc-lite's kernel loader (hw/i386/direct_boot_plan.c)
 *
 * Built three times (make fuzz, tests/fuzz/fuzz.mk) with -DFUZZ_TARGET=:
 *   FUZZ_ELF        the input is a kernel file, planned as an ELF
 *                   (PVH note, Linux notes, program headers, segments);
 *   FUZZ_BZIMAGE    the input is a kernel file, planned as a bzImage
 *                   (setup header, setup_sects/syssize, init_size);
 *   FUZZ_PLACEMENT  a machine shape, then a kernel file of any format: the
 *                   whole plan (kernel, command line, initrd at the top of
 *                   RAM) and the boot data it builds for that shape.
 *
 * Besides what ASan and UBSan catch, every plan the loader accepts is
 * checked here against what the board relies on when it carries the plan
 * out: a violation aborts, and libFuzzer reports it as a crash.
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

#define FUZZ_ELF        1
#define FUZZ_BZIMAGE    2
#define FUZZ_PLACEMENT  3

#ifndef FUZZ_TARGET
#error "build with -DFUZZ_TARGET=FUZZ_ELF, FUZZ_BZIMAGE or FUZZ_PLACEMENT"
#endif

/* pc-lite's layout (include/hw/i386/pc_lite.h) with 128 MiB of RAM. */
static const DirectBootLayout pc_lite_layout = {
    .ram_top = 128 * MiB,
    .kernel_base = 1 * MiB,
    .cmdline_addr = 0x20000,
    .cmdline_max = 0x1000,
    .start_info_addr = 0x6000,
    .zero_page_addr = 0x7000,
    .gdt_addr = 0x500,
    .pgtable_addr = 0x9000,
};

#define CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "fuzz_loader: %s:%d: plan breaks \"%s\"\n", \
                    __FILE__, __LINE__, #cond); \
            abort(); \
        } \
    } while (0)

/* An error is one non-empty line. */
static void check_error(Error *err)
{
    const char *msg = error_get_pretty(err);

    CHECK(*msg && !strchr(msg, '\n'));
    error_free(err);
}

/* [a, a + alen) and [b, b + blen) overlap; neither wraps. */
static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* What direct_boot.c relies on when it loads an accepted kernel. */
static void check_kernel_plan(const DirectBootPlan *p,
                              const DirectBootLayout *l, uint64_t size)
{
    bool entry_ok = false;
    int i, j;

    CHECK(p->nr_seg >= 1 && p->nr_seg <= DIRECT_BOOT_MAX_SEGMENTS);
    CHECK(p->format == DIRECT_BOOT_PVH || p->format == DIRECT_BOOT_ELF64 ||
          p->format == DIRECT_BOOT_BZIMAGE);
    for (i = 0; i < p->nr_seg; i++) {
        const DirectBootSegment *s = &p->seg[i];

        CHECK(s->offset <= size && s->filesz <= size - s->offset);
        CHECK(s->filesz <= s->memsz);
        CHECK(s->paddr >= l->kernel_base);
        CHECK(s->memsz <= l->ram_top && s->paddr <= l->ram_top - s->memsz);
        CHECK(s->paddr + s->memsz <= p->kernel_end);
        for (j = 0; j < i; j++) {
            CHECK(!overlap(s->paddr, s->memsz, p->seg[j].paddr,
                           p->seg[j].memsz));
        }
        if (p->entry >= s->paddr && p->entry - s->paddr < s->filesz) {
            entry_ok = true;
        }
    }
    CHECK(p->kernel_end <= l->ram_top);
    if (p->format == DIRECT_BOOT_BZIMAGE) {
        CHECK(p->setup_hdr_len <= sizeof(p->setup_hdr));
        CHECK(p->entry == p->seg[0].paddr + 0x200);
    } else {
        CHECK(entry_ok);
    }
}

static void check_initrd_plan(const DirectBootPlan *p,
                              const DirectBootLayout *l, uint64_t size)
{
    CHECK(p->initrd_size == size);
    CHECK(QEMU_IS_ALIGNED(p->initrd_addr, 4 * KiB));
    CHECK(p->initrd_addr >= p->kernel_end);
    CHECK(size <= l->ram_top && p->initrd_addr <= l->ram_top - size);
}

#if FUZZ_TARGET == FUZZ_ELF || FUZZ_TARGET == FUZZ_BZIMAGE

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    DirectBootPlan plan = { 0 };
    Error *err = NULL;
    bool ok;

#if FUZZ_TARGET == FUZZ_ELF
    ok = direct_boot_plan_elf(&plan, &pc_lite_layout, data, size, "fuzz",
                              &err);
#else
    ok = direct_boot_plan_bzimage(&plan, &pc_lite_layout, data, size, "fuzz",
                                  &err);
#endif
    CHECK(ok == !err);
    if (ok) {
        check_kernel_plan(&plan, &pc_lite_layout, size);
    } else {
        check_error(err);
    }
    return 0;
}

#else /* FUZZ_PLACEMENT */

/*
 * The input: a 16-byte machine shape, then the kernel file.
 *   0  u32  RAM below 4 GiB, in KiB (up to 3.5 GiB)
 *   4  u32  initrd size in bytes; 0: no initrd
 *   8  u16  command line length
 *   10 u8   e820 entries (0-255; the zero page holds 128)
 *   11 u8   reserved (both boot-data builders see every plan)
 *   12 u32  RSDP address
 */
#define SHAPE_SIZE 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    DirectBootLayout l = pc_lite_layout;
    DirectBootPlan plan;
    g_autofree struct e820_entry *e820 = NULL;
    g_autofree uint8_t *zp = NULL;
    g_autofree uint8_t *si = NULL;
    Error *err = NULL;
    uint64_t initrd_size, cmdline_len, rsdp;
    size_t si_len;
    int nr, i;

    if (size < SHAPE_SIZE) {
        return 0;
    }
    l.ram_top = (uint64_t)(ldl_le_p(data) % (3584 * KiB)) * KiB;
    initrd_size = (uint32_t)ldl_le_p(data + 4);
    cmdline_len = lduw_le_p(data + 8);
    nr = data[10];
    rsdp = (uint32_t)ldl_le_p(data + 12);
    data += SHAPE_SIZE;
    size -= SHAPE_SIZE;

    if (!direct_boot_plan_kernel(&plan, &l, data, size, "fuzz", &err)) {
        check_error(err);
        return 0;
    }
    check_kernel_plan(&plan, &l, size);
    if (!direct_boot_plan_cmdline(&plan, &l, cmdline_len, &err)) {
        check_error(err);
        return 0;
    }
    CHECK(plan.cmdline_len == cmdline_len && cmdline_len < l.cmdline_max);
    if (initrd_size) {
        if (!direct_boot_plan_initrd(&plan, &l, initrd_size, "fuzz", &err)) {
            check_error(err);
            return 0;
        }
        check_initrd_plan(&plan, &l, initrd_size);
    }

    e820 = g_new0(struct e820_entry, MAX(nr, 1));
    for (i = 0; i < nr; i++) {
        e820[i].address = i * 4 * KiB;
        e820[i].length = 4 * KiB;
        e820[i].type = E820_RAM;
    }
    zp = g_malloc(DIRECT_BOOT_ZERO_PAGE_SIZE);
    direct_boot_plan_boot_params(&plan, &l, e820, nr, rsdp, zp);
    CHECK(ldl_le_p(zp + 0x218) == (uint32_t)plan.initrd_addr);
    CHECK(zp[0x1e8] == MIN(nr, 128));
    si = direct_boot_plan_start_info(&plan, &l, e820, nr, rsdp, &si_len);
    CHECK(si_len >= 48 + 32 && ldl_le_p(si) == 0x336ec578);
    return 0;
}

#endif
