/*
 * Where things are: the build directory (the binary's own), QEMU, the
 * guest, the cache; and which accelerator runs the guest.
 *
 * Environment: PC_LITE_QEMU (the QEMU binary), PC_LITE_CACHE (default
 * $XDG_CACHE_HOME/pc-lite, ~/.cache/pc-lite, or without HOME, as in an
 * engine's shim, /var/cache/pc-lite).  python/pclite/paths.py gives the
 * tests the same defaults.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "host.h"

GQuark pcl_error_quark(void)
{
    return g_quark_from_static_string("pc-lite-host");
}

void pcl_paths_init(PclPaths *p)
{
    g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);

    /* The tools live in build/, beside QEMU and build/guest. */
    p->build = g_path_get_dirname(exe ? exe : ".");
    p->qemu = g_strdup(g_getenv("PC_LITE_QEMU") ?:
                       g_build_filename(p->build, "qemu-system-x86_64", NULL));
    p->kernel = g_build_filename(p->build, "guest", "vmlinux", NULL);
    p->rootfs = g_build_filename(p->build, "guest", "rootfs.img", NULL);
    if (g_getenv("PC_LITE_CACHE") && *g_getenv("PC_LITE_CACHE")) {
        p->cache = g_strdup(g_getenv("PC_LITE_CACHE"));
    } else if (g_getenv("XDG_CACHE_HOME") && *g_getenv("XDG_CACHE_HOME")) {
        p->cache = g_build_filename(g_getenv("XDG_CACHE_HOME"), "pc-lite",
                                    NULL);
    } else if (g_getenv("HOME")) {
        p->cache = g_build_filename(g_getenv("HOME"), ".cache", "pc-lite",
                                    NULL);
    } else {
        p->cache = g_strdup("/var/cache/pc-lite");
    }
}

void pcl_paths_clear(PclPaths *p)
{
    g_free(p->build);
    g_free(p->qemu);
    g_free(p->kernel);
    g_free(p->rootfs);
    g_free(p->cache);
}

static gboolean kvm_opens(void)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        return FALSE;
    }
    close(fd);
    return TRUE;
}

/*
 * build/accel-probe.json: {"kernel": REAL PATH, "kvm_boots": BOOL}, one
 * kernel's answer (python/pclite/accel.py reads and writes it too, for
 * the guests the tests boot).  -1: no answer for kernel.
 */
static int recorded(const char *record, const char *real)
{
    json_t *o = json_load_file(record, 0, NULL);
    json_t *boots = json_object_get(o, "kvm_boots");
    int ret = -1;

    if (real && json_is_boolean(boots) &&
        !g_strcmp0(json_string_value(json_object_get(o, "kernel")), real)) {
        ret = json_is_true(boots);
    }
    json_decref(o);
    return ret;
}

char *pcl_accel_for_boot(const PclPaths *p, const char *requested,
                         const char *kernel, PclKvmProbe probe, void *opaque,
                         GError **errp)
{
    g_autofree char *record = g_build_filename(p->build, "accel-probe.json",
                                               NULL);
    g_autofree char *real = NULL;
    int boots;

    requested = requested ?: g_getenv("PC_LITE_ACCEL") ?: "auto";
    if (!strcmp(requested, "kvm") || !strcmp(requested, "tcg")) {
        return g_strdup(requested);
    }
    if (strcmp(requested, "auto")) {
        g_set_error(errp, PCL_ERROR, 0, "accelerator %s: use kvm, tcg or "
                    "auto", requested);
        return NULL;
    }
    if (!kvm_opens()) {
        return g_strdup("tcg");
    }
    /*
     * A nested, software-assisted KVM (kvm_pvm) may run QEMU but not an
     * ordinary Linux guest: whether KVM boots this kernel is asked once.
     */
    real = realpath(kernel, NULL);
    boots = recorded(record, real);
    if (boots < 0 && probe && real) {
        json_t *o;

        boots = probe(kernel, opaque);
        o = json_pack("{s:s, s:b}", "kernel", real, "kvm_boots", boots);
        json_dump_file(o, record, 0);
        json_decref(o);
    }
    return g_strdup(boots == 0 ? "tcg" : "kvm");
}
