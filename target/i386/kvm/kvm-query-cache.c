/*
 * x86 KVM: system-scope queries answered once per process
 *
 * QEMU asks /dev/kvm the same questions for every vCPU it creates: a dozen
 * KVM_CHECK_EXTENSION, the feature MSRs, the XSAVE components the guest may
 * use, the MCE capabilities, the size of the kvm_run area.  The answers
 * describe the host kernel and do not change while the process lives, so
 * this file asks each of them once and answers from memory afterwards.
 * Only answers are kept: an ioctl that fails (EINTR, ENOMEM, ...) returns
 * its error to the caller and is issued again at the next call.
 * KVM_GET_SUPPORTED_CPUID is fetched with one ioctl and a buffer that fits
 * the kernel's limit, instead of a probe with doubling buffers.
 *
 * Whatever is cached is the raw answer of the kernel: the fix-ups upstream
 * applies on top (kvm_arch_get_supported_cpuid() and friends) still run on
 * every call, so the guest sees the same CPUID and MSRs with or without the
 * cache.  -accel kvm,x-query-cache=off turns it off, for comparisons.
 *
 * vCPU threads may call in concurrently: one mutex guards the cache.
 *
 * Copyright (c) 2026 pc-lite authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/ioctl.h>
#include "qemu/thread.h"
#include "qemu/lockable.h"
#include "qemu/bitmap.h"
#include "qemu/error-report.h"
#include "system/kvm.h"
#include "system/kvm_int.h"
#include "kvm-query-cache.h"
#include "trace.h"

/*
 * The kernel's KVM_MAX_CPUID_ENTRIES (256 since Linux 5.17, 80 before) is
 * not part of the uAPI; the kernel clamps a larger nent to it, so one more
 * entry than the limit always holds the answer: KVM_GET_SUPPORTED_CPUID
 * fails with E2BIG only when the buffer is too small.
 */
#define KVM_QUERY_CPUID_ENTRIES 257

/* Capability numbers are small (KVM_CAP_* < 512 in Linux 6.x). */
#define KVM_QUERY_MAX_EXT 512

typedef struct KVMQueryCache {
    QemuMutex lock;
    DECLARE_BITMAP(ext_known, KVM_QUERY_MAX_EXT);
    int ext[KVM_QUERY_MAX_EXT];
    DECLARE_BITMAP(vm_ext_known, KVM_QUERY_MAX_EXT);
    int vm_ext[KVM_QUERY_MAX_EXT];
    bool mmap_size_known;
    int mmap_size;
    struct kvm_cpuid2 *cpuid;
    bool xcomp_known;
    int xcomp_ret;
    uint64_t xcomp;
    bool mce_known;
    int mce_ret;
    uint64_t mce_cap;
    /* Feature MSRs, in the order of the KVM_GET_MSR_FEATURE_INDEX_LIST */
    const struct kvm_msr_list *msr_list;
    int *msr_ret;               /* 1 or 0 (cannot be read); < 0 not known */
    uint64_t *msr_val;
} KVMQueryCache;

static KVMQueryCache cache;

static void __attribute__((__constructor__)) kvm_query_cache_init(void)
{
    qemu_mutex_init(&cache.lock);
}

/*
 * Whether @s answers from the cache.  @s may be NULL (a vCPU's kvm_state
 * before kvm_init_vcpu() sets it): no cache then, the query takes the
 * uncached path, as it does upstream.
 */
static bool cache_on(KVMState *s)
{
    return s && s->query_cache;
}

static int check_extension(KVMState *s, unsigned int extension, bool vm,
                           int *val, unsigned long *known)
{
    int ret;

    if (!cache_on(s) || extension >= KVM_QUERY_MAX_EXT) {
        return vm ? kvm_vm_ioctl(s, KVM_CHECK_EXTENSION, extension)
                  : kvm_ioctl(s, KVM_CHECK_EXTENSION, extension);
    }
    QEMU_LOCK_GUARD(&cache.lock);
    if (test_bit(extension, known)) {
        return val[extension];
    }
    ret = vm ? kvm_vm_ioctl(s, KVM_CHECK_EXTENSION, extension)
             : kvm_ioctl(s, KVM_CHECK_EXTENSION, extension);
    /*
     * A capability the kernel lacks is 0, an answer; < 0 is an error (or,
     * on the VM fd, a VM not created yet), asked again next time.
     */
    if (ret >= 0) {
        val[extension] = ret;
        set_bit(extension, known);
        trace_kvm_query_cache_fill(vm ? "vm_check_extension"
                                      : "check_extension", extension, ret);
    }
    return ret;
}

int kvm_query_check_extension(KVMState *s, unsigned int extension)
{
    return check_extension(s, extension, false, cache.ext, cache.ext_known);
}

/* As kvm_vm_check_extension(): the VM fd, else /dev/kvm. */
int kvm_query_vm_check_extension(KVMState *s, unsigned int extension)
{
    int ret = check_extension(s, extension, true, cache.vm_ext,
                              cache.vm_ext_known);

    if (ret < 0) {
        ret = kvm_query_check_extension(s, extension);
    }
    return ret < 0 ? 0 : ret;
}

int kvm_query_vcpu_mmap_size(KVMState *s)
{
    int ret;

    if (!cache_on(s)) {
        return kvm_ioctl(s, KVM_GET_VCPU_MMAP_SIZE, 0);
    }
    QEMU_LOCK_GUARD(&cache.lock);
    if (cache.mmap_size_known) {
        return cache.mmap_size;
    }
    ret = kvm_ioctl(s, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (ret >= 0) {
        cache.mmap_size = ret;
        cache.mmap_size_known = true;
        trace_kvm_query_cache_fill("vcpu_mmap_size", 0, ret);
    }
    return ret;
}

/*
 * One KVM_GET_SUPPORTED_CPUID with @max entries: 0 and the answer in
 * *@cpuid, or -errno; -E2BIG if @max entries are too few.
 */
static int try_get_cpuid(KVMState *s, int max, struct kvm_cpuid2 **cpuid)
{
    struct kvm_cpuid2 *c;
    int r;

    c = g_malloc0(sizeof(*c) + max * sizeof(*c->entries));
    c->nent = max;
    r = kvm_ioctl(s, KVM_GET_SUPPORTED_CPUID, c);
    if (r == 0 && c->nent >= max) {
        r = -E2BIG;
    }
    if (r < 0) {
        g_free(c);
        return r;
    }
    *cpuid = c;
    return 0;
}

/* The supported CPUID in *@cpuid and 0, or -errno (nothing is cached). */
static int get_supported_cpuid(KVMState *s, struct kvm_cpuid2 **cpuid)
{
    int max = cache_on(s) ? KVM_QUERY_CPUID_ENTRIES : 1;
    int r;

    QEMU_LOCK_GUARD(&cache.lock);
    if (!cache.cpuid) {
        while ((r = try_get_cpuid(s, max, &cache.cpuid)) == -E2BIG) {
            max *= 2;
        }
        if (r < 0) {
            return r;
        }
        trace_kvm_query_cache_fill("supported_cpuid", max, cache.cpuid->nent);
    }
    *cpuid = cache.cpuid;
    return 0;
}

struct kvm_cpuid2 *kvm_query_supported_cpuid(KVMState *s)
{
    struct kvm_cpuid2 *cpuid;
    int r;

    /*
     * Some callers pass a vCPU's kvm_state before it is set: the answer is
     * the same for the whole process, so ask with the global one (which
     * may be NULL too before kvm_init(); cache_on() allows for it).
     */
    s = s ? s : kvm_state;
    r = get_supported_cpuid(s, &cpuid);
    if (r < 0) {
        /* As upstream's try_get_cpuid(), once the lock is released. */
        error_report("KVM_GET_SUPPORTED_CPUID failed: %s", strerror(-r));
        exit(1);
    }
    return cpuid;
}

static int get_xcomp(KVMState *s, uint64_t *bitmask)
{
    struct kvm_device_attr attr = {
        .group = 0,
        .attr = KVM_X86_XCOMP_GUEST_SUPP,
        .addr = (unsigned long) bitmask
    };

    return kvm_ioctl(s, KVM_GET_DEVICE_ATTR, &attr);
}

int kvm_query_xcomp_guest_supp(KVMState *s, uint64_t *bitmask)
{
    int ret;

    if (!cache_on(s)) {
        return get_xcomp(s, bitmask);
    }
    QEMU_LOCK_GUARD(&cache.lock);
    if (!cache.xcomp_known) {
        ret = get_xcomp(s, &cache.xcomp);
        /*
         * -ENXIO is the kernel's answer for an attribute it does not
         * have, kept like a 0 from KVM_CHECK_EXTENSION; any other error
         * is asked again next time.
         */
        if (ret < 0 && ret != -ENXIO) {
            return ret;
        }
        cache.xcomp_ret = ret;
        cache.xcomp_known = true;
        trace_kvm_query_cache_fill("xcomp_guest_supp", ret, cache.xcomp);
    }
    if (cache.xcomp_ret >= 0) {
        *bitmask = cache.xcomp;
    }
    return cache.xcomp_ret;
}

int kvm_query_mce_cap_supported(KVMState *s, uint64_t *mce_cap)
{
    int ret;

    if (!cache_on(s)) {
        return kvm_ioctl(s, KVM_X86_GET_MCE_CAP_SUPPORTED, mce_cap);
    }
    QEMU_LOCK_GUARD(&cache.lock);
    if (!cache.mce_known) {
        ret = kvm_ioctl(s, KVM_X86_GET_MCE_CAP_SUPPORTED, &cache.mce_cap);
        if (ret < 0) {
            return ret;
        }
        cache.mce_ret = ret;
        cache.mce_known = true;
        trace_kvm_query_cache_fill("mce_cap_supported", ret, cache.mce_cap);
    }
    *mce_cap = cache.mce_cap;
    return cache.mce_ret;
}

/* KVM_GET_MSRS on /dev/kvm for @n indices; returns how many were read. */
static int read_msrs(KVMState *s, const uint32_t *index, int n,
                     uint64_t *val)
{
    g_autofree struct kvm_msrs *msrs =
        g_malloc0(sizeof(*msrs) + n * sizeof(msrs->entries[0]));
    int i, ret;

    msrs->nmsrs = n;
    for (i = 0; i < n; i++) {
        msrs->entries[i].index = index[i];
    }
    ret = kvm_ioctl(s, KVM_GET_MSRS, msrs);
    for (i = 0; i < ret && i < n; i++) {
        val[i] = msrs->entries[i].data;
    }
    return ret;
}

/*
 * Read every feature MSR with as few ioctls as possible: KVM stops at the
 * first MSR it cannot read, which is read alone for its own answer (0 if
 * KVM cannot read it), and goes on with the next one.  A negative
 * msr_ret[] is an ioctl's error, not an answer: that MSR is read again
 * when it is asked for.
 */
static void fill_feature_msrs(KVMState *s, const struct kvm_msr_list *list)
{
    int n = list->nmsrs, i = 0, ret;

    cache.msr_list = list;
    cache.msr_ret = g_new0(int, n);
    cache.msr_val = g_new0(uint64_t, n);
    while (i < n) {
        ret = read_msrs(s, &list->indices[i], n - i, &cache.msr_val[i]);
        if (ret < 0) {
            for (; i < n; i++) {
                cache.msr_ret[i] = ret;
            }
            break;
        }
        for (; ret > 0; ret--, i++) {
            cache.msr_ret[i] = 1;
        }
        if (i < n) {
            /* what KVM_GET_MSRS returns for this one alone */
            cache.msr_ret[i] = read_msrs(s, &list->indices[i], 1,
                                         &cache.msr_val[i]);
            i++;
        }
    }
    trace_kvm_query_cache_fill("feature_msrs", n, 0);
}

int kvm_query_feature_msr(KVMState *s, const struct kvm_msr_list *list,
                          uint32_t index, uint64_t *value)
{
    int i;

    if (!cache_on(s)) {
        return read_msrs(s, &index, 1, value);
    }
    QEMU_LOCK_GUARD(&cache.lock);
    if (cache.msr_list != list) {
        g_free(cache.msr_ret);
        g_free(cache.msr_val);
        fill_feature_msrs(s, list);
    }
    for (i = 0; i < list->nmsrs; i++) {
        if (list->indices[i] == index) {
            if (cache.msr_ret[i] < 0) {
                cache.msr_ret[i] = read_msrs(s, &index, 1,
                                             &cache.msr_val[i]);
            }
            if (cache.msr_ret[i] == 1) {
                *value = cache.msr_val[i];
            }
            return cache.msr_ret[i];
        }
    }
    return read_msrs(s, &index, 1, value);
}
