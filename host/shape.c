/*
 * A VM's shape from the tools' command-line options (pc-lite-run's and
 * pc-lite-pool's): kernel, root image, vCPUs, memory, accelerator, kernel
 * arguments, generation ID and the user QEMU changes to.  One parser, so
 * that a pool's VMs and a runner's clones of the same options have the
 * same template key.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <pwd.h>
#include <stdio.h>
#include <unistd.h>

#include "host.h"

const struct option pcl_shape_options[] = {
    { "rootfs", required_argument, NULL, PCL_OPT_ROOTFS },
    { "kernel", required_argument, NULL, PCL_OPT_KERNEL },
    { "cpus", required_argument, NULL, PCL_OPT_CPUS },
    { "mem", required_argument, NULL, PCL_OPT_MEM },
    { "accel", required_argument, NULL, PCL_OPT_ACCEL },
    { "append", required_argument, NULL, PCL_OPT_APPEND },
    { "vmgenid", required_argument, NULL, PCL_OPT_VMGENID },
    { "qemu-user", required_argument, NULL, PCL_OPT_QEMU_USER },
    { "keep-root", no_argument, NULL, PCL_OPT_KEEP_ROOT },
    { NULL, 0, NULL, 0 },
};

void pcl_shape_init(PclShape *s)
{
    memset(s, 0, sizeof(*s));
    s->cpus = 1;
    s->mem_mib = 128;
    s->qemu_user = g_strdup("nobody");
    s->append = g_ptr_array_new_with_free_func(g_free);
}

void pcl_shape_clear(PclShape *s)
{
    g_free(s->kernel);
    g_free(s->rootfs);
    g_free(s->accel);
    g_free(s->vmgenid);
    g_free(s->qemu_user);
    g_free(s->user);
    if (s->append) {
        g_ptr_array_unref(s->append);
    }
    memset(s, 0, sizeof(*s));
}

static void set(char **field, const char *value)
{
    g_free(*field);
    *field = g_strdup(value);
}

int pcl_shape_option(PclShape *s, int opt, const char *arg, GError **errp)
{
    gint64 n;
    char *end;

    switch (opt) {
    case PCL_OPT_ROOTFS:
        set(&s->rootfs, arg);
        return 1;
    case PCL_OPT_KERNEL:
        set(&s->kernel, arg);
        return 1;
    case PCL_OPT_CPUS:
        n = g_ascii_strtoll(arg, &end, 10);
        if (*end || end == arg || n < 1 || n > G_MAXINT) {
            g_set_error(errp, PCL_ERROR, 0, "--cpus %s: use a number of "
                        "vCPUs", arg);
            return -1;
        }
        s->cpus = n;
        return 1;
    case PCL_OPT_MEM:
        if (!pcl_parse_mib(arg, &s->mem_mib)) {
            g_set_error(errp, PCL_ERROR, 0, "--mem %s: use a size such as "
                        "256M or 1G", arg);
            return -1;
        }
        return 1;
    case PCL_OPT_ACCEL:
        set(&s->accel, arg);
        return 1;
    case PCL_OPT_APPEND:
        g_ptr_array_add(s->append, g_strdup(arg));
        return 1;
    case PCL_OPT_VMGENID:
        if (strcmp(arg, "auto") && !g_uuid_string_is_valid(arg)) {
            g_set_error(errp, PCL_ERROR, 0, "--vmgenid %s: use auto or a "
                        "UUID", arg);
            return -1;
        }
        g_free(s->vmgenid);
        s->vmgenid = strcmp(arg, "auto") ? g_ascii_strdown(arg, -1) : NULL;
        return 1;
    case PCL_OPT_QEMU_USER:
        set(&s->qemu_user, arg);
        return 1;
    case PCL_OPT_KEEP_ROOT:
        s->keep_root = TRUE;
        return 1;
    }
    return 0;
}

void pcl_shape_defaults(PclShape *s, const PclPaths *p)
{
    if (!s->rootfs) {
        s->rootfs = g_strdup(p->rootfs);
    }
    if (!s->kernel) {
        s->kernel = g_strdup(p->kernel);
    }
}

gboolean pcl_shape_user(PclShape *s, GError **errp)
{
    unsigned uid, gid;
    char extra;

    if (geteuid() != 0 || s->keep_root) {
        return TRUE;
    }
    if (sscanf(s->qemu_user, "%u:%u%c", &uid, &gid, &extra) != 2) {
        struct passwd *pw = getpwnam(s->qemu_user);

        if (!pw) {
            g_set_error(errp, PCL_ERROR, 0, "--qemu-user %s: no such user",
                        s->qemu_user);
            return FALSE;
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }
    if (uid == 0 || gid == 0) {
        g_set_error(errp, PCL_ERROR, 0, "--qemu-user %s: not an unprivileged "
                    "user (--keep-root keeps QEMU root)", s->qemu_user);
        return FALSE;
    }
    g_free(s->user);
    s->user = g_strdup_printf("%u:%u", uid, gid);
    return TRUE;
}

char **pcl_strv_of(GPtrArray *a)
{
    char **v = g_new0(char *, a->len + 1);
    guint i;

    for (i = 0; i < a->len; i++) {
        v[i] = g_strdup(g_ptr_array_index(a, i));
    }
    return v;
}

void pcl_shape_vm(const PclShape *s, const PclPaths *p, gsize size,
                  PclVm *vm)
{
    pcl_vm_init(vm);
    vm->qemu = g_strdup(p->qemu);
    vm->kernel = g_strdup(s->kernel);
    vm->rootfs = g_strdup(s->rootfs);
    vm->rootfs_size = size;
    vm->cpus = s->cpus;
    vm->mem_mib = s->mem_mib;
    vm->accel = g_strdup(s->accel);
    vm->append = pcl_strv_of(s->append);
    vm->user = g_strdup(s->user);
}

void pcl_shape_template(const PclShape *s, const PclPaths *p, gsize size,
                        PclVm *vm)
{
    pcl_shape_vm(s, p, size, vm);
    vm->root_mode = PCL_ROOT_SHARED_RO;
    vm->vmgenid = g_strdup(s->vmgenid);
}
