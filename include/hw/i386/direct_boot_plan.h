/*
 * Firmware-less Linux boot for x86: the load plan
 *
 * Pure functions over bytes: they read a kernel image held in memory, the
 * size of an initrd and a command line, and return where everything goes
 * in guest RAM and the boot-protocol data the kernel's entry expects, or
 * an error.  No QEMU state is read or written, so that libFuzzer can drive
 * them (tests/fuzz/); hw/i386/direct_boot.c carries a plan out.
 *
 * Copyright (c) 2026 The pc-lite authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_I386_DIRECT_BOOT_PLAN_H
#define HW_I386_DIRECT_BOOT_PLAN_H

#include "hw/i386/e820_memory_layout.h"

typedef enum {
    DIRECT_BOOT_PVH,        /* ELF vmlinux with the Xen PVH entry note */
    DIRECT_BOOT_ELF64,      /* ELF vmlinux, 64-bit Linux boot protocol */
    DIRECT_BOOT_BZIMAGE,    /* bzImage, 64-bit Linux boot protocol */
} DirectBootFormat;

#define DIRECT_BOOT_MAX_SEGMENTS    16
/* The bzImage setup header: boot_params bytes 0x1f1 to 0x2ff. */
#define DIRECT_BOOT_SETUP_HDR       0x1f1
#define DIRECT_BOOT_SETUP_HDR_END   0x300
#define DIRECT_BOOT_ZERO_PAGE_SIZE  4096

/*
 * Guest RAM as the board lays it out: every address the loader writes
 * boot data at comes from here.  The boot data lies below kernel_base.
 */
typedef struct DirectBootLayout {
    uint64_t ram_top;       /* end of RAM below 4 GiB */
    uint64_t kernel_base;   /* the lowest address a kernel may occupy */
    uint64_t cmdline_addr;  /* where the command line goes ... */
    uint32_t cmdline_max;   /* ... and its room, NUL included */
    uint64_t start_info_addr; /* PVH: where the start_info goes */
    uint64_t zero_page_addr;  /* 64-bit protocol: boot_params ... */
    uint64_t gdt_addr;        /* ... the GDT with __BOOT_CS/__BOOT_DS ... */
    uint64_t pgtable_addr;    /* ... and the identity-mapped page tables */
} DirectBootLayout;

/* @filesz bytes of the image at @offset go to @paddr; zeros up to @memsz. */
typedef struct DirectBootSegment {
    uint64_t offset;
    uint64_t filesz;
    uint64_t paddr;
    uint64_t memsz;
} DirectBootSegment;

typedef struct DirectBootPlan {
    DirectBootFormat format;
    DirectBootSegment seg[DIRECT_BOOT_MAX_SEGMENTS];
    int nr_seg;
    uint64_t entry;
    uint64_t kernel_end;    /* the kernel's last byte + 1, init_size incl. */
    uint64_t initrd_addr;
    uint64_t initrd_size;
    uint64_t cmdline_len;
    uint8_t setup_hdr[DIRECT_BOOT_SETUP_HDR_END - DIRECT_BOOT_SETUP_HDR];
    size_t setup_hdr_len;
} DirectBootPlan;

const char *direct_boot_format_name(DirectBootFormat format);

/*
 * Plan the kernel: @image holds the whole file of @size bytes, @name is
 * its name for error messages.  Fills @plan's format, segments, entry and
 * kernel_end.  Detects the format from the image's magic numbers.
 */
bool direct_boot_plan_kernel(DirectBootPlan *plan,
                             const DirectBootLayout *layout,
                             const uint8_t *image, uint64_t size,
                             const char *name, Error **errp);
/* The same for an ELF image and for a bzImage, whatever the magic says. */
bool direct_boot_plan_elf(DirectBootPlan *plan, const DirectBootLayout *layout,
                          const uint8_t *image, uint64_t size,
                          const char *name, Error **errp);
bool direct_boot_plan_bzimage(DirectBootPlan *plan,
                              const DirectBootLayout *layout,
                              const uint8_t *image, uint64_t size,
                              const char *name, Error **errp);

/* Check a command line of @len bytes against the kernel's and the room. */
bool direct_boot_plan_cmdline(DirectBootPlan *plan,
                              const DirectBootLayout *layout, uint64_t len,
                              Error **errp);

/*
 * Place an initrd of @size bytes at the top of RAM below 4 GiB (and below
 * a bzImage's initrd_addr_max), above the kernel.  After the kernel.
 */
bool direct_boot_plan_initrd(DirectBootPlan *plan,
                             const DirectBootLayout *layout, uint64_t size,
                             const char *name, Error **errp);

/*
 * The 64-bit boot protocol's boot_params ("zero page") for @plan, with
 * the e820 map @e820 of @nr entries and the RSDP at @rsdp_addr.
 */
void direct_boot_plan_boot_params(const DirectBootPlan *plan,
                                  const DirectBootLayout *layout,
                                  const struct e820_entry *e820, int nr,
                                  uint64_t rsdp_addr,
                                  uint8_t zp[DIRECT_BOOT_ZERO_PAGE_SIZE]);

/*
 * PVH: the hvm_start_info with its module list and memory map, to be
 * written at layout->start_info_addr.  Returns a buffer of *@len bytes.
 */
uint8_t *direct_boot_plan_start_info(const DirectBootPlan *plan,
                                     const DirectBootLayout *layout,
                                     const struct e820_entry *e820, int nr,
                                     uint64_t rsdp_addr, size_t *len);

#endif
