/*
 * pc-lite-oci: what every part of the runtime uses: its error messages
 * and logs (--log, --log-format, the CPU log), small files of a state
 * directory, whether it runs rootless, and the client end of a
 * monitor's control socket.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "oci.h"
#include "../proto/channel.h"

OciLogOpts oci_log_opts;
static FILE *log_file;
static FILE *cpu_log_file;

void oci_error(const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "pc-lite-oci: %s\n", msg);
    if (!log_file && oci_log_opts.log) {
        log_file = fopen(oci_log_opts.log, "ae");
    }
    if (log_file) {
        if (!g_strcmp0(oci_log_opts.log_format, "json")) {
            /* As runc writes it; containerd's shim reads it back. */
            g_autoptr(GDateTime) now = g_date_time_new_now_utc();
            g_autofree char *time = g_date_time_format_iso8601(now);
            json_t *o = json_pack("{s:s, s:s, s:s}", "level", "error",
                                  "msg", msg, "time", time);
            char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;

            fprintf(log_file, "%s\n", line ? line : "{}");
            free(line);
            json_decref(o);
        } else {
            fprintf(log_file, "pc-lite-oci: %s\n", msg);
        }
        fflush(log_file);
    }
}

long long oci_cpu_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * A small file of the state directory, written in place: the directory
 * is the runtime's own, and g_file_set_contents()'s temporary file,
 * rename and fsync cost more CPU than the container's whole start.
 */
gboolean oci_write_file(const char *path, const char *data, gssize len,
                        GError **errp)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0 ||
        chan_write_all(fd, data, len < 0 ? strlen(data) : (size_t)len) < 0) {
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "%s: %s", path, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return FALSE;
    }
    close(fd);
    return TRUE;
}

/* A line of the CPU log: what, the container, us, us before main(). */
static void cpu_log_line(const char *what, long long us, long long start)
{
    if (!oci_log_opts.cpu_log) {
        return;
    }
    if (!cpu_log_file) {
        cpu_log_file = fopen(oci_log_opts.cpu_log, "ae");
    }
    if (!cpu_log_file) {
        return;
    }
    fprintf(cpu_log_file, "%s %s %lld %lld\n", what,
            oci_log_opts.id ? oci_log_opts.id : "-", us, start);
    fflush(cpu_log_file);
}

/* The logs opened now, for a monitor that is about to change its root. */
void oci_logs_keep_open(void)
{
    if (!log_file && oci_log_opts.log) {
        log_file = fopen(oci_log_opts.log, "ae");
    }
    if (!cpu_log_file && oci_log_opts.cpu_log) {
        cpu_log_file = fopen(oci_log_opts.cpu_log, "ae");
    }
}

/* Exact, unlike getrusage()'s tick-sampled times. */
void oci_cpu_log(const char *what)
{
    cpu_log_line(what, oci_cpu_us(), oci_log_opts.cpu_at_main);
}

/* A helper program's CPU time, counted as ours. */
void oci_cpu_log_us(const char *what, long long us)
{
    cpu_log_line(what, us, 0);
}

void oci_cpu_log_at_exit(void)
{
    oci_cpu_log(oci_log_opts.command);
}

/*
 * Not the host's root: a user, or root of a user namespace that maps
 * less than every ID (rootless podman's).
 */
gboolean oci_rootless(void)
{
    g_autofree char *map = NULL;
    unsigned long inside, outside, count;

    if (geteuid() != 0) {
        return TRUE;
    }
    if (!g_file_get_contents("/proc/self/uid_map", &map, NULL, NULL) ||
        sscanf(map, "%lu %lu %lu", &inside, &outside, &count) != 3) {
        return FALSE;
    }
    return outside != 0 || count != 4294967295UL;
}

/* The monitor's ctl.sock, named relative to its directory (monitor.c). */
int oci_ctl_connect(const char *dir, GError **errp)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "ctl.sock" };
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    if (fd < 0 || chdir(dir) < 0) {
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "%s: %s", dir, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "the container's monitor: %s", g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

gboolean oci_ctl_send(int fd, const void *data, size_t len, const int *fds,
                      int nfds, GError **errp)
{
    char cbuf[CMSG_SPACE(3 * sizeof(int))] = { 0 };
    struct iovec iov = { (void *)data, len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

    if (nfds) {
        struct cmsghdr *c;

        mh.msg_control = cbuf;
        mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0) {
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "the container's monitor: %s", g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}
