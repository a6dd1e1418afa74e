/*
 * pc-lite-pool's socket: the protocol between the pool (pool/) and the
 * tools that take its VMs.  A SOCK_SEQPACKET Unix socket, one message a
 * packet, descriptors passed with SCM_RIGHTS:
 *
 *   take KEY      (with the taker's pidfd: its VM goes when it does)
 *   -> ok PID GUID   with the VM's channel and a pidfd of its QEMU; GUID
 *                    (32 hex digits) is the VM's new generation ID, for
 *                    the channel's G frame ("-" when the machine has a
 *                    fixed one)
 *   -> none WHY      no VM of that key now: the taker clones instead
 *   status
 *   -> a JSON object: the key, the size, the VMs ready and warming, runs
 *
 * The socket is the daemon's user's alone (mode 0600 in a 0700
 * directory, peer credentials checked).
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "host.h"

#define REPLY_TIMEOUT_S 5

char *pcl_pool_socket(void)
{
    const char *env = g_getenv("PC_LITE_POOL");

    if (env && !strcmp(env, "off")) {
        return NULL;
    }
    if (env && *env) {
        return g_strdup(env);
    }
    if (geteuid() == 0) {
        return g_strdup("/run/pc-lite/pool.sock");
    }
    return g_build_filename(g_get_user_runtime_dir(), "pc-lite", "pool.sock",
                            NULL);
}

gboolean pcl_pool_send(int fd, const char *text, const int *fds, int nfds)
{
    struct iovec iov = { (char *)text, strlen(text) };
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * 4)];
    } c;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

    g_assert(nfds <= 4);
    if (nfds) {
        memset(&c, 0, sizeof(c));
        msg.msg_control = c.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        c.h.cmsg_level = SOL_SOCKET;
        c.h.cmsg_type = SCM_RIGHTS;
        c.h.cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(&c.h), fds, sizeof(int) * nfds);
    }
    return sendmsg(fd, &msg, MSG_NOSIGNAL) == (ssize_t)iov.iov_len;
}

ssize_t pcl_pool_recv(int fd, char *buf, size_t len, int *fds, int *nfds)
{
    struct iovec iov = { buf, len - 1 };
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * 4)];
    } c;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = c.buf,
                          .msg_controllen = sizeof(c.buf) };
    struct cmsghdr *h;
    ssize_t n;
    int max = *nfds;

    *nfds = 0;
    do {
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    for (h = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL; h;
         h = CMSG_NXTHDR(&msg, h)) {
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
            int k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int), i;
            int *in = (int *)CMSG_DATA(h);

            for (i = 0; i < k; i++) {
                if (*nfds < max) {
                    fds[(*nfds)++] = in[i];
                } else {
                    close(in[i]);
                }
            }
        }
    }
    if (n >= 0) {
        buf[n] = '\0';
    }
    return n;
}

/* Connected to the pool's socket, or -1 and why. */
static int connect_pool(const char *path, GError **errp)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct timeval tv = { .tv_sec = REPLY_TIMEOUT_S };
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        g_set_error(errp, PCL_ERROR, 0, "%s: too long for a socket", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        g_set_error(errp, PCL_ERROR, 0, "%s: %s", path, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

gboolean pcl_pool_take(const char *path, const char *key, PclPooled *vm,
                       GError **errp)
{
    g_autofree char *req = g_strdup_printf("take %s", key);
    char buf[256], guid[33];
    int fd = connect_pool(path, errp), self, fds[2], nfds = 0, pid, i;
    ssize_t n;

    if (fd < 0) {
        return FALSE;
    }
    self = syscall(SYS_pidfd_open, getpid(), 0);
    if (self < 0 || !pcl_pool_send(fd, req, &self, 1)) {
        g_set_error(errp, PCL_ERROR, 0, "%s: %s", path, g_strerror(errno));
        goto fail;
    }
    nfds = 2;
    n = pcl_pool_recv(fd, buf, sizeof(buf), fds, &nfds);
    if (n <= 0) {
        g_set_error(errp, PCL_ERROR, 0, "%s: %s", path, n < 0 ?
                    g_strerror(errno) : "no answer");
        goto fail;
    }
    if (g_str_has_prefix(buf, "none ")) {
        g_set_error(errp, PCL_ERROR, 0, "%s", buf + 5);
        goto fail;
    }
    if (sscanf(buf, "ok %d %32[-0-9a-f]", &pid, guid) != 2 || nfds != 2 ||
        (strlen(guid) != 32 && strcmp(guid, "-"))) {
        g_set_error(errp, PCL_ERROR, 0, "%s: a bad answer", path);
        goto fail;
    }
    vm->has_guid = strcmp(guid, "-") != 0;
    for (i = 0; vm->has_guid && i < 16; i++) {
        vm->guid[i] = g_ascii_xdigit_value(guid[2 * i]) << 4 |
                      g_ascii_xdigit_value(guid[2 * i + 1]);
    }
    vm->pid = pid;
    vm->chan = fds[0];
    vm->pidfd = fds[1];
    close(self);
    close(fd);
    return TRUE;
fail:
    for (i = 0; i < nfds; i++) {
        close(fds[i]);
    }
    if (self >= 0) {
        close(self);
    }
    close(fd);
    return FALSE;
}

char *pcl_pool_status(const char *path, GError **errp)
{
    char buf[65536];
    int fd = connect_pool(path, errp), nfds = 0;
    ssize_t n;

    if (fd < 0) {
        return NULL;
    }
    n = pcl_pool_send(fd, "status", NULL, 0) ?
        pcl_pool_recv(fd, buf, sizeof(buf), NULL, &nfds) : -1;
    close(fd);
    if (n <= 0) {
        g_set_error(errp, PCL_ERROR, 0, "%s: no answer", path);
        return NULL;
    }
    return g_strdup(buf);
}
