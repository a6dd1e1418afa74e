/*
 * KVM queries whose answer does not change during the life of the process
 *
 * Copyright (c) 2026 pc-lite authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef SYSTEM_KVM_QUERY_CACHE_H
#define SYSTEM_KVM_QUERY_CACHE_H

#include "system/kvm.h"

/*
 * KVM_CHECK_EXTENSION on /dev/kvm and KVM_GET_VCPU_MMAP_SIZE answer for the
 * host kernel, not for a VM or a vCPU.  A target that caches such queries
 * (TARGET_KVM_HAVE_QUERY_CACHE in configs/targets/, implemented for x86 in
 * target/i386/kvm/kvm-query-cache.c) asks them once per process and answers
 * from memory afterwards (unless -accel kvm,x-query-cache=off).  Safe to
 * call from any thread.  Errors are returned as -errno, exactly as
 * kvm_ioctl() returns them, and are not cached: the next call issues the
 * ioctl again.  @s may be NULL: nothing is cached for it.
 *
 * Other targets get the stubs below, which issue the ioctl every time, as
 * accel/kvm did before.
 */
#ifdef TARGET_KVM_HAVE_QUERY_CACHE
int kvm_query_check_extension(KVMState *s, unsigned int extension);
int kvm_query_vcpu_mmap_size(KVMState *s);
#else
static inline int kvm_query_check_extension(KVMState *s,
                                            unsigned int extension)
{
    return kvm_ioctl(s, KVM_CHECK_EXTENSION, extension);
}

static inline int kvm_query_vcpu_mmap_size(KVMState *s)
{
    return kvm_ioctl(s, KVM_GET_VCPU_MMAP_SIZE, 0);
}
#endif

#endif
