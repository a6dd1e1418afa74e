/*
 * KVM queries whose answer does not change during the life of the process
 *
 * Copyright (c) 2026 pc-lite authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef SYSTEM_KVM_QUERY_CACHE_H
#define SYSTEM_KVM_QUERY_CACHE_H

/*
 * KVM_CHECK_EXTENSION on /dev/kvm and KVM_GET_VCPU_MMAP_SIZE answer for the
 * host kernel, not for a VM or a vCPU: they are asked once per process and
 * answered from memory afterwards (unless -accel kvm,x-query-cache=off).
 * Safe to call from any thread.  Errors are returned as -errno, exactly as
 * kvm_ioctl() returns them, and are cached too.
 */
int kvm_query_check_extension(KVMState *s, unsigned int extension);
int kvm_query_vcpu_mmap_size(KVMState *s);

#endif
