/*
 * x86 boot data by name: GDT entries and page-table entries, for loaders
 * that start a kernel without firmware (as Firecracker's
 * arch/x86_64/gdt.rs and regs.rs do).
 *
 * Copyright (c) 2026 The pc-lite authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_I386_X86_BOOT_DATA_H
#define HW_I386_X86_BOOT_DATA_H

#include "qemu/bswap.h"
#include "qemu/units.h"
#include "target/i386/cpu.h"

/*
 * Segments
 *
 * @flags are the attribute bits of a descriptor's high dword, in QEMU's
 * segment-cache layout (DESC_*_MASK of target/i386/cpu.h); the same value
 * goes to cpu_x86_load_seg_cache(), so that the GDT in guest memory and
 * the loaded segment registers cannot disagree.
 */
#define X86_SEG_FLAT_LIMIT  0xfffff     /* 4 GiB in 4 KiB units (with G) */

/* 64-bit code: present, code, readable, accessed, 4 KiB granular, long. */
#define X86_SEG_CODE64  (DESC_P_MASK | DESC_S_MASK | DESC_CS_MASK | \
                         DESC_R_MASK | DESC_A_MASK | DESC_G_MASK | DESC_L_MASK)
/* The same for 32-bit protected mode (PVH entry): big instead of long. */
#define X86_SEG_CODE32  (DESC_P_MASK | DESC_S_MASK | DESC_CS_MASK | \
                         DESC_R_MASK | DESC_A_MASK | DESC_G_MASK | DESC_B_MASK)
/* Flat data: present, data, writable, accessed, 4 KiB granular, big. */
#define X86_SEG_DATA    (DESC_P_MASK | DESC_S_MASK | DESC_W_MASK | \
                         DESC_A_MASK | DESC_G_MASK | DESC_B_MASK)
/* The task register at entry: a busy 32/64-bit TSS of 104 bytes. */
#define X86_SEG_TSS_BUSY (DESC_P_MASK | (11 << DESC_TYPE_SHIFT))
#define X86_TSS_LIMIT   0x67

/* Segment selector of GDT entry @index, RPL 0. */
#define X86_GDT_SELECTOR(index) ((index) * 8)

/*
 * A GDT entry (Intel SDM vol. 3A, 3.4.5) for a segment at @base whose
 * 20-bit limit field is @limit, with the attributes @flags.
 */
static inline uint64_t x86_gdt_entry(uint32_t flags, uint32_t base,
                                     uint32_t limit)
{
    uint32_t hi = (flags & 0x00f0ff00) | (base & 0xff000000) |
                  ((base >> 16) & 0xff) | (limit & 0x000f0000);
    uint32_t lo = (base << 16) | (limit & 0xffff);

    return ((uint64_t)hi << 32) | lo;
}

/* The byte limit a segment register holds for @entry's limit field. */
static inline uint32_t x86_gdt_entry_byte_limit(uint64_t entry)
{
    uint32_t limit = (entry & 0xffff) | ((entry >> 32) & 0x000f0000);

    return (entry >> 32) & DESC_G_MASK ? (limit << 12) | 0xfff : limit;
}

/*
 * 4-level paging (Intel SDM vol. 3A, 4.5): a table is 512 entries of 8
 * bytes.  An entry either points to the next level's table or, with PS in
 * a page directory, maps a 2 MiB page.
 */
#define X86_PT_ENTRIES      512
#define X86_PT_SIZE         (X86_PT_ENTRIES * sizeof(uint64_t))
#define X86_PD_PAGE_SIZE    (2 * MiB)

/* Entry pointing to the next-level table at @table: present, writable. */
static inline uint64_t x86_pte_table(uint64_t table)
{
    return table | PG_PRESENT_MASK | PG_RW_MASK;
}

/* Page-directory entry mapping the 2 MiB page at @addr, present, writable. */
static inline uint64_t x86_pde_2m_page(uint64_t addr)
{
    return addr | PG_PRESENT_MASK | PG_RW_MASK | PG_PSE_MASK;
}

/*
 * Identity map of [0, @gib GiB) with 2 MiB pages: at @base (the address
 * the tables will have in the guest, CR3), one PML4, one PDPT, then @gib
 * page directories.  @pt holds (2 + @gib) tables, little-endian.
 */
#define X86_IDENTITY_MAP_TABLES(gib) (2 + (gib))

static inline void x86_identity_map(uint64_t *pt, uint64_t base, int gib)
{
    uint64_t *pml4 = pt, *pdpt = pt + X86_PT_ENTRIES;
    uint64_t *pd = pt + 2 * X86_PT_ENTRIES;
    int i;

    assert(gib >= 1 && gib <= X86_PT_ENTRIES);
    pml4[0] = cpu_to_le64(x86_pte_table(base + X86_PT_SIZE));
    for (i = 0; i < gib; i++) {
        pdpt[i] = cpu_to_le64(x86_pte_table(base + (2 + i) * X86_PT_SIZE));
    }
    for (i = 0; i < gib * X86_PT_ENTRIES; i++) {
        pd[i] = cpu_to_le64(x86_pde_2m_page((uint64_t)i * X86_PD_PAGE_SIZE));
    }
}

#endif
