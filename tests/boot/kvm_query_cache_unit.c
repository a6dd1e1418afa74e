/*
 * target/i386/kvm/kvm-query-cache.c without /dev/kvm
 *
 * The file is linked with the kvm_ioctl() and kvm_vm_ioctl() below, a fake
 * kernel that counts its ioctls and fails them on demand, and with QEMU's
 * libqemuutil.  tests/boot/test_kvm_query_cache.py builds it with the
 * compiler flags of build/qemu and runs one scenario per process (the
 * cache lives as long as the process): "kvm_query_cache_unit SCENARIO"
 * exits 0 if the scenario holds, else prints what failed and exits 2.
 *
 * Copyright (c) 2026 pc-lite authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "system/kvm.h"
#include "system/kvm_int.h"
#include "kvm-query-cache.h"

KVMState *kvm_state;

/* The fake kernel. */
#define CPUID_NENT 100          /* entries of KVM_GET_SUPPORTED_CPUID */
#define MSR_UNREADABLE 0x481    /* a feature MSR KVM_GET_MSRS cannot read */

enum { CHECK_EXT, VM_CHECK_EXT, MMAP_SIZE, CPUID, ATTR, MCE, MSRS, NR_IOCTL };

static int calls[NR_IOCTL];     /* ioctls issued, by kind */
static int fail_kind = -1;      /* the next @fail_times of this kind... */
static int fail_times;
static int fail_err;            /* ...fail with this -errno */
static bool vm_created;         /* else the VM fd is not open: -EBADF */
static bool xcomp_enxio;        /* the kernel lacks XCOMP_GUEST_SUPP */
static KVMState *last_state;    /* the KVMState of the last ioctl */

static int ext_answer(unsigned long ext)
{
    return ext % 3;             /* 0 for a capability the kernel lacks */
}

static int fake_ioctl(KVMState *s, int kind, unsigned long type, void *arg)
{
    calls[kind]++;
    last_state = s;
    if (kind == fail_kind && fail_times) {
        fail_times--;
        return fail_err;
    }
    switch (type) {
    case KVM_CHECK_EXTENSION:
        if (kind == VM_CHECK_EXT) {
            return vm_created ? 100 + ext_answer((uintptr_t)arg) : -EBADF;
        }
        return ext_answer((uintptr_t)arg);
    case KVM_GET_VCPU_MMAP_SIZE:
        return 12288;
    case KVM_GET_SUPPORTED_CPUID: {
        struct kvm_cpuid2 *cpuid = arg;
        int i;

        if (cpuid->nent < CPUID_NENT) {
            return -E2BIG;
        }
        for (i = 0; i < CPUID_NENT; i++) {
            cpuid->entries[i].function = i;
        }
        cpuid->nent = CPUID_NENT;
        return 0;
    }
    case KVM_GET_DEVICE_ATTR: {
        struct kvm_device_attr *attr = arg;

        if (xcomp_enxio || attr->attr != KVM_X86_XCOMP_GUEST_SUPP) {
            return -ENXIO;
        }
        *(uint64_t *)(uintptr_t)attr->addr = 0x602e7;
        return 0;
    }
    case KVM_X86_GET_MCE_CAP_SUPPORTED:
        *(uint64_t *)arg = 0x1000c0a;
        return 0;
    case KVM_GET_MSRS: {
        struct kvm_msrs *msrs = arg;
        int i;

        for (i = 0; i < msrs->nmsrs; i++) {
            if (msrs->entries[i].index == MSR_UNREADABLE) {
                break;
            }
            msrs->entries[i].data = msrs->entries[i].index * 3;
        }
        return i;
    }
    }
    abort();
}

static int kind_of(unsigned long type)
{
    switch (type) {
    case KVM_CHECK_EXTENSION:
        return CHECK_EXT;
    case KVM_GET_VCPU_MMAP_SIZE:
        return MMAP_SIZE;
    case KVM_GET_SUPPORTED_CPUID:
        return CPUID;
    case KVM_GET_DEVICE_ATTR:
        return ATTR;
    case KVM_X86_GET_MCE_CAP_SUPPORTED:
        return MCE;
    case KVM_GET_MSRS:
        return MSRS;
    }
    abort();
}

int kvm_ioctl(KVMState *s, unsigned long type, ...)
{
    va_list ap;
    void *arg;

    va_start(ap, type);
    arg = va_arg(ap, void *);
    va_end(ap);
    return fake_ioctl(s, kind_of(type), type, arg);
}

int kvm_vm_ioctl(KVMState *s, unsigned long type, ...)
{
    va_list ap;
    void *arg;

    va_start(ap, type);
    arg = va_arg(ap, void *);
    va_end(ap);
    g_assert(type == KVM_CHECK_EXTENSION);
    return fake_ioctl(s, VM_CHECK_EXT, type, arg);
}

static void fail_next(int kind, int times, int err)
{
    fail_kind = kind;
    fail_times = times;
    fail_err = err;
}

static int failures;

#define EXPECT(cond) do {                                               \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, \
                    #cond);                                             \
            failures++;                                                 \
        }                                                               \
    } while (0)

static KVMState *new_state(bool query_cache)
{
    KVMState *s = g_new0(KVMState, 1);

    s->query_cache = query_cache;
    return s;
}

/* An error of KVM_CHECK_EXTENSION is returned, not kept; answers are. */
static void test_ext(KVMState *s)
{
    fail_next(CHECK_EXT, 1, -EINTR);
    EXPECT(kvm_query_check_extension(s, 5) == -EINTR);
    EXPECT(kvm_query_check_extension(s, 5) == ext_answer(5));
    EXPECT(kvm_query_check_extension(s, 5) == ext_answer(5));
    EXPECT(calls[CHECK_EXT] == 2);
    /* 0, a capability the kernel lacks, is an answer */
    EXPECT(kvm_query_check_extension(s, 6) == 0);
    EXPECT(kvm_query_check_extension(s, 6) == 0);
    EXPECT(calls[CHECK_EXT] == 3);
}

/* Before the VM fd exists, the /dev/kvm answer; the VM's one after. */
static void test_vm_ext(KVMState *s)
{
    EXPECT(kvm_query_vm_check_extension(s, 5) == ext_answer(5));
    vm_created = true;
    EXPECT(kvm_query_vm_check_extension(s, 5) == 100 + ext_answer(5));
    EXPECT(kvm_query_vm_check_extension(s, 5) == 100 + ext_answer(5));
    EXPECT(calls[VM_CHECK_EXT] == 2);
}

static void test_mmap_size(KVMState *s)
{
    fail_next(MMAP_SIZE, 1, -ENOMEM);
    EXPECT(kvm_query_vcpu_mmap_size(s) == -ENOMEM);
    EXPECT(kvm_query_vcpu_mmap_size(s) == 12288);
    EXPECT(kvm_query_vcpu_mmap_size(s) == 12288);
    EXPECT(calls[MMAP_SIZE] == 2);
}

static void test_xcomp(KVMState *s)
{
    uint64_t bitmask = 0;

    fail_next(ATTR, 1, -EINTR);
    EXPECT(kvm_query_xcomp_guest_supp(s, &bitmask) == -EINTR);
    EXPECT(kvm_query_xcomp_guest_supp(s, &bitmask) == 0);
    EXPECT(bitmask == 0x602e7);
    bitmask = 0;
    EXPECT(kvm_query_xcomp_guest_supp(s, &bitmask) == 0);
    EXPECT(bitmask == 0x602e7);
    EXPECT(calls[ATTR] == 2);
}

/* -ENXIO is the kernel's lasting answer: asked once. */
static void test_xcomp_enxio(KVMState *s)
{
    uint64_t bitmask = 0;

    xcomp_enxio = true;
    EXPECT(kvm_query_xcomp_guest_supp(s, &bitmask) == -ENXIO);
    EXPECT(kvm_query_xcomp_guest_supp(s, &bitmask) == -ENXIO);
    EXPECT(bitmask == 0);
    EXPECT(calls[ATTR] == 1);
}

static void test_mce(KVMState *s)
{
    uint64_t cap = 0;

    fail_next(MCE, 1, -EINTR);
    EXPECT(kvm_query_mce_cap_supported(s, &cap) == -EINTR);
    EXPECT(kvm_query_mce_cap_supported(s, &cap) == 0);
    EXPECT(cap == 0x1000c0a);
    cap = 0;
    EXPECT(kvm_query_mce_cap_supported(s, &cap) == 0);
    EXPECT(cap == 0x1000c0a);
    EXPECT(calls[MCE] == 2);
}

static struct kvm_msr_list *msr_list(void)
{
    static const uint32_t index[] = { 0x10a, 0x480, MSR_UNREADABLE, 0x482 };
    struct kvm_msr_list *list;

    list = g_malloc0(sizeof(*list) + sizeof(index));
    list->nmsrs = ARRAY_SIZE(index);
    memcpy(list->indices, index, sizeof(index));
    return list;
}

static void expect_msrs(KVMState *s, struct kvm_msr_list *list)
{
    uint64_t value = 0;

    EXPECT(kvm_query_feature_msr(s, list, 0x480, &value) == 1);
    EXPECT(value == 0x480 * 3);
    EXPECT(kvm_query_feature_msr(s, list, MSR_UNREADABLE, &value) == 0);
    EXPECT(kvm_query_feature_msr(s, list, 0x482, &value) == 1);
    EXPECT(value == 0x482 * 3);
    EXPECT(kvm_query_feature_msr(s, list, 0x10a, &value) == 1);
    EXPECT(value == 0x10a * 3);
}

/* All feature MSRs in 3 ioctls (KVM stops at the unreadable one). */
static void test_msr(KVMState *s)
{
    struct kvm_msr_list *list = msr_list();

    expect_msrs(s, list);
    EXPECT(calls[MSRS] == 3);
    expect_msrs(s, list);
    EXPECT(calls[MSRS] == 3);
}

/* A failed KVM_GET_MSRS is read again, MSR by MSR, then kept. */
static void test_msr_error(KVMState *s)
{
    struct kvm_msr_list *list = msr_list();
    uint64_t value = 0;

    fail_next(MSRS, 1, -ENOMEM);
    expect_msrs(s, list);
    EXPECT(calls[MSRS] == 5);
    expect_msrs(s, list);
    EXPECT(calls[MSRS] == 5);
    /* not in @list: read alone, its error returned */
    fail_next(MSRS, 1, -ENOMEM);
    EXPECT(kvm_query_feature_msr(s, list, 0x999, &value) == -ENOMEM);
}

/* One KVM_GET_SUPPORTED_CPUID with the cache, doubling buffers without. */
static void test_cpuid(KVMState *s)
{
    struct kvm_cpuid2 *cpuid = kvm_query_supported_cpuid(s);

    EXPECT(cpuid->nent == CPUID_NENT);
    EXPECT(cpuid->entries[CPUID_NENT - 1].function == CPUID_NENT - 1);
    EXPECT(kvm_query_supported_cpuid(s) == cpuid);
    EXPECT(calls[CPUID] == (s->query_cache ? 1 : 8));
}

static void atexit_take_lock(void)
{
    /* With the cache on, this takes the cache's lock. */
    kvm_query_check_extension(kvm_state, 5);
    fprintf(stderr, "atexit: the cache's lock was free\n");
}

/* A failed KVM_GET_SUPPORTED_CPUID exits, as upstream, without the lock. */
static void test_cpuid_error(KVMState *s)
{
    kvm_state = s;
    atexit(atexit_take_lock);
    fail_next(CPUID, 1, -ENOMEM);
    kvm_query_supported_cpuid(s);
    fprintf(stderr, "kvm_query_supported_cpuid() returned\n");
    failures++;
}

/*
 * A NULL KVMState (a vCPU's kvm_state before it is set): no cache, every
 * query issues its ioctl, as upstream.
 */
static void test_null(KVMState *s)
{
    struct kvm_msr_list *list = msr_list();
    uint64_t value = 0;
    int i;

    kvm_state = NULL;
    for (i = 0; i < 2; i++) {
        last_state = s;
        EXPECT(kvm_query_check_extension(NULL, 5) == ext_answer(5));
        EXPECT(last_state == NULL);
        EXPECT(kvm_query_vcpu_mmap_size(NULL) == 12288);
        EXPECT(kvm_query_xcomp_guest_supp(NULL, &value) == 0);
        EXPECT(kvm_query_mce_cap_supported(NULL, &value) == 0);
        EXPECT(kvm_query_feature_msr(NULL, list, 0x480, &value) == 1);
        EXPECT(value == 0x480 * 3);
    }
    EXPECT(calls[CHECK_EXT] == 2 && calls[MMAP_SIZE] == 2);
    EXPECT(calls[ATTR] == 2 && calls[MCE] == 2 && calls[MSRS] == 2);
    /* ...and no global kvm_state either: probed as upstream. */
    EXPECT(kvm_query_supported_cpuid(NULL)->nent == CPUID_NENT);
    EXPECT(calls[CPUID] == 8);
}

/* The supported CPUID for a NULL KVMState is the global kvm_state's. */
static void test_null_cpuid(KVMState *s)
{
    kvm_state = s;
    EXPECT(kvm_query_supported_cpuid(NULL)->nent == CPUID_NENT);
    EXPECT(last_state == s);
    EXPECT(calls[CPUID] == 1);
}

static const struct {
    const char *name;
    void (*fn)(KVMState *s);
    bool query_cache;
} scenarios[] = {
    { "ext", test_ext, true },
    { "vm_ext", test_vm_ext, true },
    { "mmap_size", test_mmap_size, true },
    { "xcomp", test_xcomp, true },
    { "xcomp_enxio", test_xcomp_enxio, true },
    { "mce", test_mce, true },
    { "msr", test_msr, true },
    { "msr_error", test_msr_error, true },
    { "cpuid", test_cpuid, true },
    { "cpuid_off", test_cpuid, false },
    { "cpuid_error", test_cpuid_error, true },
    { "null", test_null, true },
    { "null_cpuid", test_null_cpuid, true },
};

int main(int argc, char **argv)
{
    int i;

    for (i = 0; argc == 2 && i < ARRAY_SIZE(scenarios); i++) {
        if (!strcmp(argv[1], scenarios[i].name)) {
            scenarios[i].fn(new_state(scenarios[i].query_cache));
            return failures ? 2 : 0;
        }
    }
    if (argc == 2 && !strcmp(argv[1], "--list")) {
        for (i = 0; i < ARRAY_SIZE(scenarios); i++) {
            printf("%s\n", scenarios[i].name);
        }
        return 0;
    }
    fprintf(stderr, "usage: %s SCENARIO|--list\n", argv[0]);
    return 1;
}
