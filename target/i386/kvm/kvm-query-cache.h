/*
 * x86 KVM: system-scope queries answered once per process
 *
 * Copyright (c) 2026 pc-lite authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef I386_KVM_QUERY_CACHE_H
#define I386_KVM_QUERY_CACHE_H

#include <linux/kvm.h>
#include "system/kvm-query-cache.h"

/*
 * Every function below may be called from any thread, concurrently.  The
 * first call issues the ioctl (or ioctls) on /dev/kvm, later calls answer
 * from memory.  Only answers are kept: a failed ioctl's -errno is returned
 * and the next call issues it again.  With -accel kvm,x-query-cache=off
 * every call issues the ioctl again, as upstream QEMU does, except that the
 * supported CPUID was already fetched once by upstream (it is then probed
 * with doubling buffers, as upstream does).
 */

/*
 * KVM_GET_SUPPORTED_CPUID; the result is owned by the cache.  @s may be
 * NULL (kvm_state is used).  If the ioctl fails, reports it and exits,
 * as upstream's get_supported_cpuid() does.
 */
struct kvm_cpuid2 *kvm_query_supported_cpuid(KVMState *s);

/*
 * kvm_vm_check_extension() for capabilities fixed per VM (never < 0).
 */
int kvm_query_vm_check_extension(KVMState *s, unsigned int extension);

/*
 * KVM_GET_DEVICE_ATTR(group 0, KVM_X86_XCOMP_GUEST_SUPP): 0 or -errno.
 * -ENXIO (the kernel lacks the attribute) is an answer, and kept.
 */
int kvm_query_xcomp_guest_supp(KVMState *s, uint64_t *bitmask);

/*
 * KVM_GET_MSRS on /dev/kvm for the feature MSR @index, one of @list (the
 * KVM_GET_MSR_FEATURE_INDEX_LIST answer): all of @list are read with one
 * ioctl at the first call.  Returns 1 and sets @value, 0 if KVM cannot
 * read it, or -errno.
 */
int kvm_query_feature_msr(KVMState *s, const struct kvm_msr_list *list,
                          uint32_t index, uint64_t *value);

/* KVM_X86_GET_MCE_CAP_SUPPORTED: 0 or -errno. */
int kvm_query_mce_cap_supported(KVMState *s, uint64_t *mce_cap);

#endif
