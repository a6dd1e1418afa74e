/*
 * pc-lite-oci: a container's VM, described for the host library
 * (host/vm.c builds its command line, host/template.c keeps the templates
 * it starts from).
 *
 * Each container is a pc-lite VM booted from the project's kernel and DAX
 * root image (shared read-only by every container), with two virtio-9p
 * shares: the bundle's rootfs (tag pclite-root) and a directory of the
 * container's state that holds its bind-mount sources (pclite-binds),
 * and its network namespace's interfaces as taps.  It starts from a
 * template of that machine (made on first use, in the store pc-lite-run
 * uses too); the 9p shares are not mounted in a template yet, so a clone
 * gives them its own paths, and a clone's guest takes its interfaces'
 * MACs from the channel.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/stat.h>

#include "oci.h"

#define BOOT_TIMEOUT_MS (120 * 1000)

void oci_host_init(OciHost *host, const char *accel)
{
    pcl_paths_init(&host->paths);
    /*
     * KVM when /dev/kvm opens, unless pc-lite's probe found that KVM does
     * not boot this kernel here (build/accel-probe.json); the runtime
     * does not probe itself: an engine's command must not boot a VM.
     */
    host->accel = pcl_accel_for_boot(&host->paths, accel, host->paths.kernel,
                                     NULL, NULL, NULL) ?: g_strdup("tcg");
}

gboolean oci_vm_prepare(const OciHost *host, const OciSpec *spec,
                        const char *state_dir, int channel_fd, OciVm *vm,
                        GError **errp)
{
    const PclPaths *p = &host->paths;
    const char *missing = NULL;
    PclVm d;
    struct stat st;
    gboolean ok = TRUE;
    guint i;

    if (stat(p->qemu, &st) < 0) {
        missing = p->qemu;
    } else if (stat(p->kernel, &st) < 0) {
        missing = p->kernel;
    } else if (stat(p->rootfs, &st) < 0) {
        missing = p->rootfs;
    }
    if (missing) {
        g_set_error(errp, PCL_ERROR, 0, "%s: %s (run \"make\")", missing,
                    g_strerror(errno));
        return FALSE;
    }
    memset(vm, 0, sizeof(*vm));
    pcl_vm_init(&d);
    d.qemu = g_strdup(p->qemu);
    d.kernel = g_strdup(p->kernel);
    d.rootfs = g_strdup(p->rootfs);
    d.rootfs_size = st.st_size;
    d.root_mode = PCL_ROOT_SHARED_RO;
    d.cpus = spec->cpus;
    d.mem_mib = spec->mem_mib;
    d.accel = g_strdup(host->accel);
    d.share_tags = g_strsplit("pclite-root pclite-binds", " ", -1);
    d.share_paths = g_new0(char *, 3);
    d.share_paths[0] = g_strdup(spec->root);
    d.share_paths[1] = g_build_filename(state_dir, "binds", NULL);
    d.nics = spec->nics ? spec->nics->len : 0;
    d.nic = g_new0(PclNic, d.nics + 1);
    for (i = 0; i < (guint)d.nics; i++) {
        OciNic *n = g_ptr_array_index(spec->nics, i);

        d.nic[i].tap_fd = n->tap_fd;
        memcpy(d.nic[i].mac, n->mac, 6);
    }
    d.console = g_build_filename(state_dir, "console.log", NULL);
    d.channel_fd = channel_fd;
    if (spec->template) {
        g_autofree char *top = pcl_template_top(p);
        PclTemplate t;

        ok = pcl_template_get(top, &d, BOOT_TIMEOUT_MS, NULL, &t, errp);
        if (ok) {
            pcl_template_clone(&t, &d, vm->generation, &vm->has_generation);
            vm->clone = TRUE;
            pcl_template_clear(&t);
        } else {
            g_prefix_error(errp, "making the template: ");
        }
    }
    if (ok) {
        vm->argv = pcl_vm_argv(&d);
    }
    pcl_vm_clear(&d);
    return ok;
}

void oci_vm_clear(OciVm *vm)
{
    g_strfreev(vm->argv);
    vm->argv = NULL;
}
