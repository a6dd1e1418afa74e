/*
 * QEMU as a child process: it dies with the process that started it
 * (PR_SET_PDEATHSIG; QEMU sets it again when -run-with user= changes its
 * user, patch 0014), runs glibc's malloc with one arena, inherits only
 * the descriptors it is given and, as root where asked, keeps only the
 * capabilities its 9p server needs.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"

/*
 * The capabilities QEMU keeps when it runs as root for a container: those
 * its 9p server (security_model=passthrough) needs to carry out a
 * container root's file operations: open and search files whoever owns
 * them, change owners, modes and times, keep set-ID bits, make device
 * nodes and set file capabilities.  Everything else leaves the bounding
 * set before QEMU starts, so QEMU cannot mount, load modules, trace or
 * signal other processes, configure the network, use raw I/O or change
 * its IDs, whatever its seccomp filter would let through.
 */
static const int qemu_caps[] = {
    CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,
    CAP_FSETID, CAP_MKNOD, CAP_SETFCAP,
};

/* In the child, before exec: only qemu_caps stay in the bounding set. */
static int limit_capabilities(void)
{
    uint64_t keep = 0;
    size_t i;
    int cap;

    if (geteuid() != 0) {
        return 0;               /* nothing to give up */
    }
    for (i = 0; i < G_N_ELEMENTS(qemu_caps); i++) {
        keep |= 1ULL << qemu_caps[i];
    }
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    for (cap = 0; cap < 64; cap++) {
        if (keep & (1ULL << cap)) {
            continue;
        }
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL) {
                break;          /* past the kernel's last capability */
            }
            return -1;
        }
    }
    return 0;
}

pid_t pcl_spawn_qemu(char **argv, const PclSpawn *how, GError **errp)
{
    pid_t parent = getpid();
    pid_t pid = fork();

    if (pid == 0) {
        int null = open("/dev/null", O_RDWR), i;
        sigset_t none;

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        setenv("MALLOC_ARENA_MAX", "1", 0);
        signal(SIGPIPE, SIG_DFL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(how->in >= 0 ? how->in : null, 0);
        dup2(how->out >= 0 ? how->out : null, 1);
        dup2(how->err >= 0 ? how->err : null, 2);
        for (i = 0; i < how->nkeep; i++) {
            fcntl(how->keep[i], F_SETFD, 0);
        }
        if (how->limit_caps && limit_capabilities() < 0) {
            dprintf(2, "cannot limit QEMU's capabilities: %s\n",
                    g_strerror(errno));
            _exit(127);
        }
        execv(argv[0], argv);
        dprintf(2, "%s: %s\n", argv[0], g_strerror(errno));
        _exit(127);
    }
    if (pid < 0) {
        g_set_error(errp, PCL_ERROR, 0, "fork: %s", g_strerror(errno));
    }
    return pid;
}

void pcl_remove_tree(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    chmod(dir, 0700);
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        struct stat st;

        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            pcl_remove_tree(p);
        } else {
            unlink(p);
        }
    }
    rmdir(dir);
}
