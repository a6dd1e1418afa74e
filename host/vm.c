/*
 * A pc-lite VM's description and the QEMU command line made of it: the
 * one builder for pc-lite-run's VMs, a container's VM (pc-lite-oci), the
 * templates both start from and their clones.  A template and its
 * clones must describe the same machine; pcl_vm_inputs() is what makes
 * the machine, the rest (files, descriptors, the user) is the run's.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "host.h"
#include "../proto/channel.h"

/*
 * QEMU's seccomp filter: no new programs, no privileges gained, no
 * scheduler or resource changes, no obsolete system calls.  A QEMU that
 * changes to an unprivileged user once it has opened its files installs
 * the filter first and calls setgid() and setuid() after, which
 * elevateprivileges=deny would kill it for; once its real, effective and
 * saved IDs are the user's, with no capabilities left, the set*id calls
 * gain it nothing (and spawn=deny leaves it no set-user-ID program).
 */
#define SANDBOX "on,obsolete=deny,elevateprivileges=deny,spawn=deny," \
                "resourcecontrol=deny"
#define SANDBOX_UNPRIVILEGED "on,obsolete=deny,elevateprivileges=allow," \
                             "spawn=deny,resourcecontrol=deny"

/*
 * virtio-serial with the 2 ports pc-lite uses (the console and the
 * channel; exec sessions share the channel) instead of QEMU's 31: each
 * port is two virtqueues, and QEMU 10.0.x allocates every queue's element
 * array for 1024 entries (56 KiB) at realize; 64 queues were 3.4 MiB of
 * heap (docs/pc-lite.rst, "Memory of an idle VM").
 */
#define VIRTIO_SERIAL "virtio-serial-pci,max_ports=2"

void pcl_vm_init(PclVm *vm)
{
    memset(vm, 0, sizeof(*vm));
    vm->cpus = 1;
    vm->mem_mib = 128;
    vm->channel_fd = -1;
    vm->qmp_fd = -1;
    vm->no_reboot = TRUE;
    vm->rng = TRUE;
    vm->sandbox = TRUE;
}

void pcl_vm_clear(PclVm *vm)
{
    g_free(vm->qemu);
    g_free(vm->kernel);
    g_free(vm->rootfs);
    g_free(vm->accel);
    g_strfreev(vm->append);
    g_free(vm->vmgenid);
    g_strfreev(vm->share_tags);
    g_strfreev(vm->share_paths);
    g_free(vm->nic);
    g_free(vm->ram);
    g_free(vm->incoming);
    g_free(vm->generation);
    g_free(vm->console);
    g_free(vm->user);
    g_free(vm->trace);
    memset(vm, 0, sizeof(*vm));
}

/* value for QEMU's KEY=VALUE,... syntax: each comma doubled */
static char *esc(const char *value)
{
    g_auto(GStrv) parts = g_strsplit(value, ",", -1);

    return g_strjoinv(",,", parts);
}

G_GNUC_PRINTF(2, 3)
static void add(GPtrArray *a, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_ptr_array_add(a, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

static void add_root(const PclVm *vm, GPtrArray *a, GPtrArray *words)
{
    g_autofree char *img = esc(vm->rootfs);
    gboolean shared = vm->root_mode == PCL_ROOT_PERSIST ||
                      vm->root_mode == PCL_ROOT_SHARED_RO;
    gboolean ro = vm->root_mode == PCL_ROOT_READONLY ||
                  vm->root_mode == PCL_ROOT_SHARED_RO;

    /*
     * Templates and containers map it shared and read-only: the same
     * pages for every VM, and outside a template's migration stream
     * (x-ignore-shared).
     */
    add(a, "-object");
    add(a, "memory-backend-file,id=root,mem-path=%s,size=%" G_GSIZE_FORMAT
        ",share=%s%s", img, vm->rootfs_size, shared ? "on" : "off",
        ro ? ",readonly=on" : "");
    add(a, "-device");
    add(a, "nvdimm,memdev=root,id=nv0%s", ro ? ",unarmed=on" : "");
    g_ptr_array_add(words, g_strdup("root=/dev/pmem0"));
    g_ptr_array_add(words, g_strdup("rootflags=dax"));
    g_ptr_array_add(words, g_strdup(ro ? "ro" : "rw"));
}

static void add_console(const PclVm *vm, GPtrArray *a, GPtrArray *words)
{
    add(a, "-device");
    add(a, VIRTIO_SERIAL);
    add(a, "-chardev");
    if (vm->console) {
        g_autofree char *path = esc(vm->console);

        add(a, "file,id=con,path=%s", path);
    } else {
        add(a, "stdio,id=con,signal=off");
    }
    add(a, "-device");
    add(a, "virtconsole,chardev=con");
    g_ptr_array_add(words, g_strdup("console=hvc0"));
    if (vm->channel_fd >= 0) {
        add(a, "-chardev");
        add(a, "socket,id=channel,fd=%d", vm->channel_fd);
        add(a, "-device");
        add(a, "virtserialport,chardev=channel,name=%s", CHANNEL_NAME);
        g_ptr_array_add(words, g_strdup("pclite.channel"));
    }
    if (vm->shell) {
        g_ptr_array_add(words, g_strdup("pclite.shell"));
    }
}

/*
 * The container's interfaces: taps, or where no network reaches (a
 * template) hub ports; the device is the same, and a clone's guest takes
 * its MAC from the channel.
 */
static void add_nics(const PclVm *vm, GPtrArray *a)
{
    int i;

    for (i = 0; i < vm->nics; i++) {
        const PclNic *n = vm->nic ? &vm->nic[i] : NULL;
        const uint8_t *m = n ? n->mac : (const uint8_t[]){ 2, 0, 0, 0, 0, i };

        add(a, "-netdev");
        if (n && n->tap_fd >= 0) {
            add(a, "tap,id=net%d,fd=%d,vhost=off", i, n->tap_fd);
        } else {
            add(a, "hubport,id=net%d,hubid=%d", i, i);
        }
        add(a, "-device");
        add(a, "virtio-net-pci,netdev=net%d,mac=%02x:%02x:%02x:%02x:%02x:"
            "%02x", i, m[0], m[1], m[2], m[3], m[4], m[5]);
    }
}

/* The shares: a template's are empty directories (not mounted yet). */
static void add_shares(const PclVm *vm, GPtrArray *a)
{
    int i;

    for (i = 0; vm->share_tags && vm->share_tags[i]; i++) {
        g_autofree char *path = esc(vm->share_paths ? vm->share_paths[i] :
                                    "/nonexistent");

        add(a, "-fsdev");
        add(a, "local,id=fs%d,path=%s,security_model=passthrough,"
            "multidevs=remap", i, path);
        add(a, "-device");
        add(a, "virtio-9p-pci,fsdev=fs%d,mount_tag=%s", i, vm->share_tags[i]);
    }
}

char **pcl_vm_argv(const PclVm *vm)
{
    GPtrArray *a = g_ptr_array_new();
    g_autoptr(GPtrArray) words = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *cmdline = NULL;
    int i;

    add(a, "%s", vm->qemu);
    add(a, "-M");
    add(a, "pc-lite,nvdimm=on%s%s%s", vm->ram ? ",memory-backend=ram" : "",
        vm->generation || vm->vmgenid ? ",vmgenid=" : "",
        vm->generation ?: vm->vmgenid ?: "");
    add(a, "-accel");
    add(a, "%s", vm->accel);
    add(a, "-smp");
    add(a, "%d", vm->cpus);
    add(a, "-m");
    add(a, "%dM,slots=1,maxmem=%" G_GSIZE_FORMAT "M", vm->mem_mib,
        vm->mem_mib + (vm->rootfs_size >> 20));
    add(a, "-nodefaults");
    add(a, "-display");
    add(a, "none");
    if (vm->no_reboot) {
        add(a, "-no-reboot");
    }
    add(a, "-kernel");
    add(a, "%s", vm->kernel);
    g_ptr_array_add(words, g_strdup("quiet"));
    g_ptr_array_add(words, g_strdup("panic=-1"));
    if (vm->ram) {
        g_autofree char *ram = esc(vm->ram);

        /*
         * A template's RAM is written through to its file; a clone opens
         * the file read-only and maps it copy-on-write.
         */
        add(a, "-object");
        add(a, "memory-backend-file,id=ram,mem-path=%s,size=%dM,%s", ram,
            vm->mem_mib, vm->clone ? "share=off,readonly=on,rom=off" :
            "share=on");
    }
    add_root(vm, a, words);
    add_console(vm, a, words);
    if (vm->rng) {
        add(a, "-device");
        add(a, "virtio-rng-pci");
    }
    add_nics(vm, a);
    add_shares(vm, a);
    if (vm->incoming) {
        add(a, "-global");
        add(a, "migration.x-ignore-shared=true");
        add(a, "-incoming");
        add(a, "file:%s", vm->incoming);
    }
    if (vm->trace) {
        g_auto(GStrv) events = g_strsplit(PCL_TRACE_EVENTS, ",", -1);
        g_autoptr(GString) d = g_string_new(NULL);

        for (i = 0; events[i]; i++) {
            g_string_append_printf(d, "%strace:%s", i ? "," : "", events[i]);
        }
        add(a, "-msg");
        add(a, "timestamp=on");
        add(a, "-D");
        add(a, "%s", vm->trace);
        add(a, "-d");
        add(a, "%s", d->str);
    }
    if (vm->sandbox) {
        add(a, "-sandbox");
        add(a, "%s", vm->user ? SANDBOX_UNPRIVILEGED : SANDBOX);
    }
    if (vm->user) {
        add(a, "-run-with");
        add(a, "user=%s", vm->user);
    }
    if (vm->qmp_fd >= 0) {
        add(a, "-chardev");
        add(a, "socket,id=qmp,fd=%d", vm->qmp_fd);
        add(a, "-mon");
        add(a, "chardev=qmp,mode=control");
    }
    for (i = 0; vm->append && vm->append[i]; i++) {
        if (*vm->append[i]) {
            g_ptr_array_add(words, g_strdup(vm->append[i]));
        }
    }
    g_ptr_array_add(words, NULL);
    cmdline = g_strjoinv(" ", (char **)words->pdata);
    add(a, "-append");
    add(a, "%s", cmdline);
    g_ptr_array_add(a, NULL);
    return (char **)g_ptr_array_free(a, FALSE);
}

gboolean pcl_parse_mib(const char *text, int *mib)
{
    unsigned long long n;
    char *end;

    if (!g_ascii_isdigit(*text)) {
        return FALSE;
    }
    errno = 0;
    n = g_ascii_strtoull(text, &end, 10);
    if (errno || (*end && (!strchr("MmGg", *end) || end[1]))) {
        return FALSE;
    }
    if (*end == 'G' || *end == 'g') {
        n = n > (1ULL << 10) ? 0 : n * 1024;
    }
    if (!n || n > (1ULL << 20)) {
        return FALSE;
    }
    *mib = n;
    return TRUE;
}

/* What changes when a file is replaced or rebuilt. */
static json_t *identity(const char *path, GError **errp)
{
    g_autofree char *real = realpath(path, NULL);
    struct stat st;

    if (!real || stat(real, &st) < 0) {
        g_set_error(errp, PCL_ERROR, 0, "%s: %s", path, g_strerror(errno));
        return NULL;
    }
    return json_pack("[s, I, I, I, I]", real, (json_int_t)st.st_dev,
                     (json_int_t)st.st_ino, (json_int_t)st.st_size,
                     (json_int_t)st.st_mtim.tv_sec * 1000000000 +
                     st.st_mtim.tv_nsec);
}

static json_t *strv_json(char **v)
{
    json_t *a = json_array();
    int i;

    for (i = 0; v && v[i]; i++) {
        if (*v[i]) {
            json_array_append_new(a, json_string(v[i]));
        }
    }
    return a;
}

json_t *pcl_vm_inputs(const PclVm *vm, GError **errp)
{
    json_t *qemu = identity(vm->qemu, errp);
    json_t *kernel = qemu ? identity(vm->kernel, errp) : NULL;
    json_t *rootfs = kernel ? identity(vm->rootfs, errp) : NULL;

    if (!rootfs) {
        json_decref(qemu);
        json_decref(kernel);
        return NULL;
    }
    return json_pack("{s:i, s:o, s:o, s:o, s:i, s:i, s:s, s:o, s:s, s:o, "
                     "s:i}", "format", PCL_TEMPLATE_FORMAT, "qemu", qemu,
                     "kernel", kernel, "rootfs", rootfs, "cpus", vm->cpus,
                     "mem_mib", vm->mem_mib, "accel", vm->accel,
                     "append", strv_json(vm->append),
                     "vmgenid", vm->vmgenid ?: "auto",
                     "shares", strv_json(vm->share_tags), "nics", vm->nics);
}
