/*
 * One command over the command channel, with this process's streams as
 * its own (pc-lite-run): it goes to the guest when the guest says hello
 * (a booting VM) or at once (a clone, whose init already waits); stdin
 * streams in as the guest keeps up, stdout and stderr come out, signals
 * that arrive on signal_fd go to the command, and the session ends with
 * the command's exit status once init has been told it is done.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host.h"
#include "../proto/channel.h"

#define STDERR_KEPT (64 * 1024)

typedef struct {
    PclSession *s;
    GByteArray *q;              /* frames not yet written */
    gboolean sent;              /* the command is queued */
    gboolean in_open;
    gboolean out_broken;        /* our stdout is gone (EPIPE) */
    GArray *pending;            /* signals for a command not started */
    int status;                 /* the exit frame's, -1 before it */
    char *fail;
} Run;

static void command_frames(Run *r)
{
    PclSession *s = r->s;
    uint32_t flags = s->in >= 0 ? CHANNEL_STDIN : 0;
    uint8_t v[4];
    int i;

    if (r->sent) {
        return;
    }
    pcl_time_frame(r->q);
    if (s->generation) {
        pcl_frame(r->q, FRAME_GENID, 0, s->generation, 16);
    }
    for (i = 0; s->argv[i]; i++) {
        pcl_frame(r->q, FRAME_ARG, 0, s->argv[i], strlen(s->argv[i]));
    }
    for (i = 0; s->env && s->env[i]; i++) {
        pcl_frame(r->q, FRAME_ENV, 0, s->env[i], strlen(s->env[i]));
    }
    if (s->cwd) {
        pcl_frame(r->q, FRAME_CWD, 0, s->cwd, strlen(s->cwd));
    }
    chan_put_u32(v, flags);
    pcl_frame(r->q, FRAME_START, 0, v, 4);
    r->sent = TRUE;
}

static void signal_frame(Run *r, uint32_t signo)
{
    uint8_t v[4];

    chan_put_u32(v, signo);
    pcl_frame(r->q, FRAME_SIGNAL, 0, v, 4);
}

static void output(Run *r, int fd, const char *data, size_t len)
{
    if (!r->s->t_first_output_us && len) {
        r->s->t_first_output_us = g_get_real_time();
    }
    if (fd < 0 || (fd == r->s->out && r->out_broken)) {
        return;
    }
    if (chan_write_all(fd, data, len) < 0 && errno == EPIPE) {
        /* Nobody reads it: the command learns as it would from a pipe. */
        if (fd == r->s->out && !r->out_broken) {
            r->out_broken = TRUE;
            if (r->s->started) {
                signal_frame(r, SIGPIPE);
            }
        }
    }
}

/* Act on what the guest said; FALSE (errp) when it broke the protocol. */
static gboolean guest_frames(Run *r, struct chan_reader *rd, GError **errp)
{
    PclSession *s = r->s;
    PclGuestEvent ev;
    int ret;
    guint i;

    while ((ret = pcl_guest_next(rd, &ev, errp)) > 0) {
        if (ev.session) {
            continue;           /* only session 0 is ours */
        }
        switch (ev.type) {
        case FRAME_HELLO:
            command_frames(r);
            break;
        case FRAME_STARTED:
            s->started = TRUE;
            for (i = 0; i < r->pending->len; i++) {
                signal_frame(r, g_array_index(r->pending, int, i));
            }
            g_array_set_size(r->pending, 0);
            break;
        case FRAME_OUTPUT:
            output(r, s->out, ev.data, ev.len);
            break;
        case FRAME_ERROR:
            output(r, s->err, ev.data, ev.len);
            break;
        case FRAME_EXIT:
            r->status = ev.signal ? 128 + ev.signal : ev.status;
            pcl_frame(r->q, FRAME_QUIT, 0, NULL, 0);
            break;
        default:
            break;
        }
    }
    return ret == 0;
}

static void read_stdin(Run *r)
{
    char buf[65536];
    ssize_t n = read(r->s->in, buf, sizeof(buf));

    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    pcl_frame(r->q, FRAME_INPUT, 0, buf, n > 0 ? n : 0);
    if (n <= 0) {
        r->in_open = FALSE;     /* its end (an error too) */
    }
}

static void read_qemu_stderr(PclSession *s)
{
    char buf[65536];
    ssize_t n = read(s->qemu_err, buf, sizeof(buf));

    if (n > 0) {
        g_string_append_len(s->qemu_stderr, buf, n);
        if (s->qemu_stderr->len > STDERR_KEPT) {
            g_string_erase(s->qemu_stderr, 0,
                           s->qemu_stderr->len - STDERR_KEPT);
        }
    } else if (n == 0) {
        close(s->qemu_err);
        s->qemu_err = -1;
    }
}

/* A signal for the command: forwarded, or it ends a session not begun. */
static gboolean take_signal(Run *r)
{
    struct signalfd_siginfo si;

    if (read(r->s->signal_fd, &si, sizeof(si)) != sizeof(si)) {
        return TRUE;
    }
    if (!r->s->started) {
        /* Nothing to forward to: the VM goes, as a command not started. */
        r->s->interrupted = si.ssi_signo;
        kill(r->s->qemu, SIGKILL);
        return FALSE;
    }
    signal_frame(r, si.ssi_signo);
    return TRUE;
}

static gboolean write_channel(Run *r, GError **errp)
{
    ssize_t n = send(r->s->chan, r->q->data, r->q->len,
                     MSG_NOSIGNAL | MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return TRUE;
    }
    if (n < 0) {
        g_set_error(errp, PCL_ERROR, 0, "the guest closed the channel");
        return FALSE;
    }
    g_byte_array_remove_range(r->q, 0, n);
    return TRUE;
}

static gboolean qemu_alive(PclSession *s)
{
    struct pollfd p = { .fd = s->qemu_pidfd, .events = POLLIN };
    int status;

    if (s->qemu_status >= 0) {
        return FALSE;
    }
    if (s->pooled) {
        /* Another's child: its exit is all there is to know. */
        if (poll(&p, 1, 0) > 0) {
            s->qemu_status = 0;
            return FALSE;
        }
        return TRUE;
    }
    if (waitpid(s->qemu, &status, WNOHANG) == s->qemu) {
        s->qemu_status = status;
        return FALSE;
    }
    return TRUE;
}

int pcl_session_run(PclSession *s, GError **errp)
{
    Run run = { .s = s, .q = g_byte_array_new(), .in_open = s->in >= 0,
                .pending = g_array_new(FALSE, FALSE, sizeof(int)),
                .status = -1 }, *r = &run;
    struct chan_reader rd = { 0 };
    gint64 start_by = s->start_timeout_ms ?
        g_get_monotonic_time() + s->start_timeout_ms * 1000LL : 0;
    int pidfd = s->pooled ? dup(s->qemu_pidfd) :
                syscall(SYS_pidfd_open, s->qemu, 0);
    int ret = -1;

    s->started = FALSE;
    s->interrupted = 0;
    s->t_first_output_us = 0;
    s->qemu_status = -1;
    if (!s->qemu_stderr) {
        s->qemu_stderr = g_string_new(NULL);
    }
    if (s->at_once) {
        command_frames(r);
    }
    for (;;) {
        struct pollfd p[5];
        int n = 0, chan_i, in_i = -1, err_i = -1, sig_i = -1;
        gint64 now = g_get_monotonic_time(), wait = 100000;

        chan_i = n;
        p[n++] = (struct pollfd){ s->chan, POLLIN | (r->q->len ? POLLOUT : 0) };
        /* Input once the command has gone out, as the guest keeps up. */
        if (r->in_open && r->sent && r->q->len < CHANNEL_MAX) {
            in_i = n;
            p[n++] = (struct pollfd){ s->in, POLLIN };
        }
        if (s->qemu_err >= 0) {
            err_i = n;
            p[n++] = (struct pollfd){ s->qemu_err, POLLIN };
        }
        if (s->signal_fd >= 0) {
            sig_i = n;
            p[n++] = (struct pollfd){ s->signal_fd, POLLIN };
        }
        if (pidfd >= 0) {
            p[n++] = (struct pollfd){ pidfd, POLLIN };
            wait = 1000000;
        }
        if (s->deadline_us) {
            wait = MIN(wait, MAX(0, s->deadline_us - now));
        }
        if (start_by && !s->started) {
            wait = MIN(wait, MAX(0, start_by - now));
        }
        if (poll(p, n, (wait + 999) / 1000) < 0 && errno != EINTR) {
            g_set_error(errp, PCL_ERROR, 0, "poll: %s", g_strerror(errno));
            break;
        }
        if (sig_i >= 0 && p[sig_i].revents && !take_signal(r)) {
            g_set_error(errp, PCL_ERROR, 0, "interrupted");
            break;
        }
        if (err_i >= 0 && p[err_i].revents) {
            read_qemu_stderr(s);
        }
        if ((p[chan_i].revents & POLLOUT) && !write_channel(r, errp)) {
            break;
        }
        if (p[chan_i].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t got = chan_fill(&rd, s->chan);

            if (got <= 0) {
                g_set_error(errp, PCL_ERROR, 0, "the guest closed the "
                            "channel");
                break;
            }
            if (!guest_frames(r, &rd, errp)) {
                break;
            }
        }
        if (in_i >= 0 && p[in_i].revents) {
            read_stdin(r);
        }
        /* Done once the exit frame is in and Q has gone out. */
        if (r->status >= 0 && !r->q->len) {
            ret = r->status;
            break;
        }
        if (!qemu_alive(s)) {
            g_set_error(errp, PCL_ERROR, 0, "QEMU exited before the command "
                        "finished");
            break;
        }
        now = g_get_monotonic_time();
        if (s->deadline_us && now >= s->deadline_us) {
            g_set_error(errp, PCL_ERROR, 0, "the command did not finish in "
                        "time");
            break;
        }
        if (start_by && !s->started && now >= start_by) {
            g_set_error(errp, PCL_ERROR, 0, "the guest did not start the "
                        "command within %g s", s->start_timeout_ms / 1000.0);
            break;
        }
    }
    if (pidfd >= 0) {
        close(pidfd);
    }
    free(rd.buf);
    free(rd.last);
    g_byte_array_unref(r->q);
    g_array_unref(r->pending);
    return ret;
}
