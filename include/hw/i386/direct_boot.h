/*
 * Firmware-less Linux boot for x86: load the kernel, initrd and boot data
 * straight into guest RAM and start the boot CPU at the kernel's entry.
 *
 * Copyright (c) 2026 The pc-lite authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_I386_DIRECT_BOOT_H
#define HW_I386_DIRECT_BOOT_H

#include "exec/hwaddr.h"
#include "hw/boards.h"
#include "hw/i386/direct_boot_plan.h"

typedef struct DirectBoot DirectBoot;

/*
 * Open and check -kernel, -initrd and -append of @ms against @layout, the
 * board's guest RAM and the addresses of the boot data (copied).  Nothing
 * is written to the guest yet.
 * @share_kernel: map the kernel's segments from its file copy-on-write at
 * the first load where the layout allows (on), never (off), or when the
 * file has no write permission (auto).
 * Returns NULL and sets @errp on bad input.
 */
DirectBoot *direct_boot_prepare(MachineState *ms,
                                const DirectBootLayout *layout,
                                OnOffAuto share_kernel, Error **errp);

/*
 * Write kernel, initrd and boot data (PVH start_info or boot_params with
 * the e820 map, command line, page tables) into guest RAM.  Called at
 * every system reset, after the CPUs were reset.
 */
bool direct_boot_load(DirectBoot *boot, hwaddr rsdp_addr, Error **errp);

/* Put the boot CPU in the state the kernel's entry expects. */
void direct_boot_setup_cpu(DirectBoot *boot, CPUState *cs);

#endif
