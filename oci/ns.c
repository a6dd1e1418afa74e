/*
 * pc-lite-oci: the namespaces of a container's monitor, the process
 * whose PID create reports.  Engines act on a container through that
 * PID's /proc entries: they join its network namespace to configure it
 * (Docker's libnetwork-setkey, CNI), its mount namespace to copy files
 * (podman cp), read its /proc for its processes (podman top) and its
 * cgroup for its figures.  So the monitor lives where the container
 * lives, never in the host's namespaces:
 *
 *   PID, UTS, IPC  new ones (clone): the monitor is PID 1 and QEMU its
 *                  only other process; the UTS namespace has the
 *                  container's hostname
 *   network        the one the configuration names (setns), or a new one
 *   mount          a new one whose root is the container's root
 *                  filesystem (the directory the VM shares), with a /proc
 *                  of the PID namespace; entered after QEMU started,
 *                  which keeps the runtime's view of its files
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "oci.h"

static GQuark ns_quark(void)
{
    return g_quark_from_static_string("pc-lite-oci-ns");
}

static gboolean fail(GError **errp, const char *what, const char *path)
{
    g_set_error(errp, ns_quark(), 1, "%s %s: %s", what, path,
                g_strerror(errno));
    return FALSE;
}

/* fork() into new namespaces (flags of clone(2)); as fork() returns. */
pid_t oci_ns_clone(int flags)
{
    return syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
}

/* Join the network namespace at path. */
gboolean oci_ns_join_net(const char *path, GError **errp)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
        if (fd >= 0) {
            close(fd);
        }
        return fail(errp, "network namespace", path);
    }
    close(fd);
    return TRUE;
}

/*
 * A mount namespace of our own, slave to the runtime's (unmounts there
 * reach it), with the root filesystem bind-mounted on itself (a mount
 * point, for pivot_root) and /proc in it a proc of our PID namespace,
 * when the root filesystem has a /proc to mount it on.
 */
gboolean oci_ns_mounts(const char *rootfs, GError **errp)
{
    g_autofree char *proc = g_build_filename(rootfs, "proc", NULL);
    struct stat st;

    if (unshare(CLONE_NEWNS) < 0) {
        return fail(errp, "a mount namespace for", rootfs);
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0 ||
        mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) {
        return fail(errp, "bind mount of", rootfs);
    }
    if (lstat(proc, &st) == 0 && S_ISDIR(st.st_mode) &&
        mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              NULL) < 0) {
        return fail(errp, "mounting proc on", proc);
    }
    return TRUE;
}

/*
 * The root filesystem becomes our root, the runtime's tree detached from
 * this namespace (runc's pivot_root(".", ".")); the working directory
 * becomes @dirfd (the state directory, outside the new root: the monitor's
 * own files stay reachable by relative names).
 */
gboolean oci_ns_pivot(const char *rootfs, int dirfd, GError **errp)
{
    int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    int newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    gboolean ok = FALSE;

    if (oldroot < 0 || newroot < 0 || fchdir(newroot) < 0 ||
        syscall(SYS_pivot_root, ".", ".") < 0 || fchdir(oldroot) < 0 ||
        mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0 ||
        umount2(".", MNT_DETACH) < 0 || chdir("/") < 0 ||
        fchdir(dirfd) < 0) {
        fail(errp, "changing root to", rootfs);
    } else {
        ok = TRUE;
    }
    if (oldroot >= 0) {
        close(oldroot);
    }
    if (newroot >= 0) {
        close(newroot);
    }
    return ok;
}
