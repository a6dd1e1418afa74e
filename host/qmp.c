/*
 * A QMP client on a connected socket (QEMU's "-chardev socket,fd=N -mon
 * chardev=...,mode=control"): the greeting, capabilities negotiation,
 * commands and their replies (events skipped), a descriptor passed with
 * a command (SCM_RIGHTS, for add-fd).
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host.h"

static gboolean send_text(PclQmp *q, const char *text, int fd, GError **errp)
{
    size_t len = strlen(text), off = 0;

    while (off < len) {
        struct iovec iov = { (char *)text + off, len - off };
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof(int))];
        } c;
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (fd >= 0 && off == 0) {
            memset(&c, 0, sizeof(c));
            msg.msg_control = c.buf;
            msg.msg_controllen = sizeof(c.buf);
            c.h.cmsg_level = SOL_SOCKET;
            c.h.cmsg_type = SCM_RIGHTS;
            c.h.cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(&c.h), &fd, sizeof(int));
        }
        n = sendmsg(q->fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            g_set_error(errp, PCL_ERROR, 0, "QMP: %s", g_strerror(errno));
            return FALSE;
        }
        off += n;
    }
    return TRUE;
}

/* The next message that is not an event, to json_decref(). */
static json_t *next_message(PclQmp *q, GError **errp)
{
    for (;;) {
        char *nl = strchr(q->buf->str, '\n');
        struct pollfd p = { .fd = q->fd, .events = POLLIN };
        char chunk[4096];
        ssize_t n = 0;

        if (nl) {
            json_t *o = json_loadb(q->buf->str, nl - q->buf->str, 0, NULL);

            g_string_erase(q->buf, 0, nl - q->buf->str + 1);
            if (json_is_object(o) && !json_object_get(o, "event")) {
                return o;
            }
            json_decref(o);
            continue;
        }
        if (poll(&p, 1, q->timeout_ms) > 0) {
            n = read(q->fd, chunk, sizeof(chunk));
        }
        if (n <= 0) {
            g_set_error(errp, PCL_ERROR, 0, n < 0 || p.revents ?
                        "QMP: QEMU went away" : "QMP: QEMU did not answer");
            return NULL;
        }
        g_string_append_len(q->buf, chunk, n);
    }
}

gboolean pcl_qmp_open(PclQmp *q, int fd, int timeout_ms, GError **errp)
{
    json_t *greeting, *r;

    q->fd = fd;
    q->buf = g_string_new(NULL);
    q->timeout_ms = timeout_ms;
    greeting = next_message(q, errp);
    if (!greeting) {
        return FALSE;
    }
    json_decref(greeting);
    r = pcl_qmp_call(q, "qmp_capabilities", NULL, -1, errp);
    json_decref(r);
    return r != NULL;
}

json_t *pcl_qmp_call(PclQmp *q, const char *cmd, json_t *args, int send_fd,
                     GError **errp)
{
    json_t *o = json_pack("{s:s}", "execute", cmd), *reply, *e, *ret;
    g_autofree char *text = NULL;

    if (args) {
        json_object_set_new(o, "arguments", args);
    }
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text || !send_text(q, text, send_fd, errp) ||
        !send_text(q, "\n", -1, errp)) {
        return NULL;
    }
    reply = next_message(q, errp);
    if (!reply) {
        return NULL;
    }
    e = json_object_get(reply, "error");
    if (e) {
        const char *desc = json_string_value(json_object_get(e, "desc"));

        g_set_error(errp, PCL_ERROR, 0, "%s: %s", cmd, desc ?: "error");
        json_decref(reply);
        return NULL;
    }
    ret = json_incref(json_object_get(reply, "return"));
    json_decref(reply);
    return ret ?: json_object();
}

void pcl_qmp_close(PclQmp *q)
{
    if (q->buf) {
        g_string_free(q->buf, TRUE);
        q->buf = NULL;
    }
}
