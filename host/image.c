/*
 * The NVDIMM root image that scripts/pc-lite-image.py writes: an fsdax
 * namespace (a Linux pfn info block at 4 KiB, ext4 at the 2 MiB data
 * offset), its size a multiple of 2 MiB.  Opened for a VM with a lock:
 * any number of VMs map it private or read-only, a --persist VM (which
 * writes it) alone.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"

#define ALIGN           (2 * PCL_MiB)
#define INFO_OFFSET     4096
#define INFO_MAGIC      "NVDIMM_PFN_INFO"       /* and its NUL */
/* ext4's superblock, 1 KiB into the filesystem */
#define EXT4_SUPERBLOCK (2 * PCL_MiB + 1024)
#define EXT4_MAGIC      0xef53
#define EXT4_INCOMPAT_RECOVER 0x4               /* the journal needs replay */

#define HINT "(make images with scripts/pc-lite-image.py)"

static gboolean check_fd(const char *path, int fd, gsize *size,
                         GError **errp)
{
    char magic[sizeof(INFO_MAGIC)];
    struct stat st;

    if (fstat(fd, &st) < 0) {
        g_set_error(errp, PCL_ERROR, 0, "root image %s: %s", path,
                    g_strerror(errno));
        return FALSE;
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0 || st.st_size % ALIGN) {
        g_set_error(errp, PCL_ERROR, 0, "root image %s: size %lld is not "
                    "a multiple of 2 MiB " HINT, path,
                    S_ISREG(st.st_mode) ? (long long)st.st_size : 0LL);
        return FALSE;
    }
    if (pread(fd, magic, sizeof(magic), INFO_OFFSET) != sizeof(magic) ||
        memcmp(magic, INFO_MAGIC, sizeof(magic))) {
        g_set_error(errp, PCL_ERROR, 0, "root image %s: no fsdax info "
                    "block at 4 KiB " HINT, path);
        return FALSE;
    }
    *size = st.st_size;
    return TRUE;
}

gboolean pcl_image_check(const char *path, gsize *size, GError **errp)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    gboolean ok;

    if (fd < 0) {
        g_set_error(errp, PCL_ERROR, 0, "root image %s: %s", path,
                    g_strerror(errno));
        return FALSE;
    }
    ok = check_fd(path, fd, size, errp);
    close(fd);
    return ok;
}

/* Was its ext4 left mounted (the journal not replayed)? */
static gboolean needs_recovery(int fd)
{
    uint8_t sb[0x64];

    if (pread(fd, sb, sizeof(sb), EXT4_SUPERBLOCK) != sizeof(sb) ||
        (sb[0x38] | sb[0x39] << 8) != EXT4_MAGIC) {
        return FALSE;
    }
    return sb[0x60] & EXT4_INCOMPAT_RECOVER;
}

int pcl_image_open(const char *path, PclRootMode mode, gsize *size,
                   GError **errp)
{
    gboolean persist = mode == PCL_ROOT_PERSIST;
    int fd = open(path, (persist ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    struct stat st;

    if (fd < 0) {
        g_set_error(errp, PCL_ERROR, 0, "root image %s: %s", path,
                    g_strerror(errno));
        return -1;
    }
    if (!check_fd(path, fd, size, errp)) {
        goto fail;
    }
    if (flock(fd, (persist ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
        g_set_error(errp, PCL_ERROR, 0, persist ?
                    "root image %s is in use by another VM: --persist "
                    "needs it alone" :
                    "root image %s is being written by a --persist VM", path);
        goto fail;
    }
    /*
     * QEMU maps a --persist image shared: a guest write to a hole on a
     * full host file system would kill it with SIGBUS, so every block is
     * in place before the VM starts.
     */
    if (persist && fstat(fd, &st) == 0 && (gsize)st.st_blocks * 512 < *size) {
        int e = posix_fallocate(fd, 0, *size);

        if (e) {
            g_set_error(errp, PCL_ERROR, 0, "root image %s: cannot allocate "
                        "its %" G_GSIZE_FORMAT " MiB for --persist writes: "
                        "%s", path, *size >> 20, g_strerror(e));
            goto fail;
        }
    }
    if (mode == PCL_ROOT_READONLY && needs_recovery(fd)) {
        g_set_error(errp, PCL_ERROR, 0, "root image %s was not cleanly "
                    "unmounted (a --persist VM was killed?): boot it once "
                    "with --persist to replay its journal", path);
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}
