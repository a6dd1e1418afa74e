/*
 * pc-lite-oci: the monitor, the process that `create` leaves behind and
 * names in --pid-file.  It starts the container's VM (a clone of a
 * template, or a boot), sets the container up through the command
 * channel, and then lives as long as the container's process: it relays
 * the process's streams (the engine's pipes, or a terminal), takes
 * `start`, `kill` and `exec` on a control socket in the state directory,
 * and exits with the process's exit status.
 *
 * Control socket (SOCK_SEQPACKET, one request per message):
 *   "start"                  -> "ok" | "error: ..."
 *   "kill SIG ALL"           -> "ok"
 *   "exec FLAGS" + frames + fds (a terminal, or stdin/stdout/stderr)
 *                            -> "started PID", then "exit STATUS SIGNAL"
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

#include "oci.h"
#include "../guest/channel.h"

#define READY_TIMEOUT_MS (120 * 1000)
#define MAX_CLIENTS      64             /* control connections at once */

typedef struct {
    gboolean used, started, done;
    int in, out, err;           /* host ends; -1 when none */
    int client;                 /* an exec's control connection */
    uint32_t flags;
} Session;

typedef struct {
    OciMonitorArgs *a;
    int chan, ctl, sfd;
    pid_t qemu;
    struct chan_reader r;
    Session s[CHANNEL_SESSIONS];
    GPtrArray *clients;         /* GINT_TO_POINTER(fd) of open requests */
    GByteArray *net;            /* the interfaces' frames */
} Monitor;

static void send_frame(Monitor *m, char type, int session, const void *data,
                       uint32_t len)
{
    chan_send(m->chan, type, session, data, len);
}

static void send_u32(Monitor *m, char type, int session, uint32_t a,
                     uint32_t b, int n)
{
    uint32_t v[2] = { a, b };

    chan_send_u32s(m->chan, type, session, v, n);
}

/* Write the exit status file and end: the container has stopped. */
static G_GNUC_NORETURN void finish(Monitor *m, int status)
{
    g_autofree char *path = g_build_filename(m->a->dir, "exit", NULL);
    g_autofree char *text = g_strdup_printf("%d\n", status);
    int i, st;

    oci_write_file(path, text, -1, NULL);
    if (m->qemu > 0) {
        /* init powers off after 'Q'; do not wait for it long. */
        for (i = 0; i < 200 && waitpid(m->qemu, &st, WNOHANG) == 0; i++) {
            g_usleep(5000);
        }
        kill(m->qemu, SIGKILL);
        waitpid(m->qemu, &st, 0);
    }
    oci_cpu_log("monitor");
    _exit(status);
}

/* The last line QEMU printed, for an error message. */
static char *qemu_said(Monitor *m)
{
    g_autofree char *log = g_build_filename(m->a->dir, "qemu.log", NULL);
    g_autofree char *text = NULL;
    char *nl;

    if (!g_file_get_contents(log, &text, NULL, NULL) || !*g_strstrip(text)) {
        return g_strdup("");
    }
    nl = strrchr(text, '\n');
    return g_strdup_printf(": %s", nl ? nl + 1 : text);
}

/* Tell create why the container could not be made, and end. */
static G_GNUC_NORETURN void fail_ready(Monitor *m, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    chan_write_all(m->a->ready_fd, msg, strlen(msg));
    close(m->a->ready_fd);
    if (m->qemu > 0) {
        kill(m->qemu, SIGKILL);
        waitpid(m->qemu, NULL, 0);
        m->qemu = 0;
    }
    oci_cpu_log("monitor");
    _exit(1);
}

/* Wait for a frame of @type on session 0 during set-up. */
static void wait_frame(Monitor *m, char type, struct chan_frame *out)
{
    gint64 deadline = g_get_monotonic_time() + READY_TIMEOUT_MS * 1000LL;
    struct chan_frame f;
    int ret;

    for (;;) {
        struct pollfd p = { .fd = m->chan, .events = POLLIN };
        int left = (deadline - g_get_monotonic_time()) / 1000;

        while ((ret = chan_next_frame(&m->r, &f)) > 0) {
            if (f.type == type) {
                out->type = f.type;
                out->len = f.len;
                out->data = g_strndup(f.data, f.len);
                return;
            }
        }
        if (ret < 0) {
            fail_ready(m, "the VM sent a bad frame");
        }
        if (left <= 0 || poll(&p, 1, left) <= 0) {
            g_autofree char *said = qemu_said(m);

            fail_ready(m, "the VM did not start within %d s%s",
                       READY_TIMEOUT_MS / 1000, said);
        }
        if (chan_fill(&m->r, m->chan) <= 0) {
            g_autofree char *said = NULL;

            waitpid(m->qemu, NULL, 0);
            m->qemu = 0;
            said = qemu_said(m);
            fail_ready(m, "QEMU exited while the VM started%s", said);
        }
    }
}

/* The container's environment and process, as channel frames. */
static void send_setup(Monitor *m, const OciVm *vm)
{
    OciSpec *spec = m->a->spec;
    g_autoptr(GByteArray) frames = g_byte_array_new();
    uint8_t v[12];
    guint i, nbind = 0;

    if (vm->clone) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        chan_put_u64(v, ts.tv_sec);
        chan_put_u32(v + 8, ts.tv_nsec);
        oci_frame(frames, 'T', v, 12);
        oci_frame(frames, 'G', vm->generation, 16);
    }
    chan_put_u32(v, spec->root_readonly ? CHANNEL_ROOT_RO : 0);
    oci_frame(frames, 'C', v, 4);
    g_byte_array_append(frames, m->net->data, m->net->len);
    for (i = 0; i < spec->mounts->len; i++) {
        OciMount *mnt = g_ptr_array_index(spec->mounts, i);
        g_autoptr(GString) f = g_string_new(NULL);
        g_autofree char *src = NULL;
        const char *field[4] = { mnt->dest, mnt->type, mnt->source,
                                 mnt->options };
        int k;

        if (mnt->bind && !strcmp(mnt->dest, "/dev/shm")) {
            /* The VM's own shared memory, not the host's. */
            field[1] = "tmpfs";
            field[2] = "shm";
            field[3] = "nosuid,nodev,noexec,mode=1777";
        } else if (mnt->bind) {
            /* Its source is binds/N, N counted as create counts it. */
            field[2] = src = g_strdup_printf("%u", nbind++);
        }
        for (k = 0; k < 4; k++) {
            g_string_append_len(f, field[k], strlen(field[k]) + 1);
        }
        oci_frame(frames, 'M', f->str, f->len);
    }
    if (spec->hostname && *spec->hostname) {
        oci_frame(frames, 'H', spec->hostname, strlen(spec->hostname));
    }
    oci_process_frames(spec->process, frames);
    oci_frame(frames, 'P', NULL, 0);
    chan_write_all(m->chan, frames->data, frames->len);
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void reply(int fd, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void reply(int fd, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    send(fd, msg, strlen(msg), MSG_NOSIGNAL);
}

/* The terminal's size now, to the guest's terminal of session id. */
static void send_winsize(Monitor *m, int id)
{
    struct winsize ws;

    if (m->s[id].in >= 0 && ioctl(m->s[id].in, TIOCGWINSZ, &ws) == 0 &&
        ws.ws_row) {
        send_u32(m, 'W', id, ws.ws_row, ws.ws_col, 2);
    }
}

static void start(Monitor *m, int client)
{
    g_autofree char *path = g_build_filename(m->a->dir, "started", NULL);
    Session *s = &m->s[0];

    if (s->started) {
        reply(client, "error: the container has already started");
        return;
    }
    if (s->flags & CHANNEL_TTY) {
        send_winsize(m, 0);
    }
    send_u32(m, 'S', 0, s->flags, 0, 1);
    s->started = TRUE;
    oci_write_file(path, "", -1, NULL);
    reply(client, "ok");
}

static gboolean exec_request(Monitor *m, int client, const char *msg,
                             size_t len, const int *fds, int nfds)
{
    uint32_t flags = 0;
    const char *frames;
    size_t off;
    int id;

    if (!m->s[0].started || m->s[0].done) {
        reply(client, "error: the container is not running");
        return FALSE;
    }
    id = 1;
    while (id < CHANNEL_SESSIONS && m->s[id].used) {
        id++;
    }
    frames = memchr(msg, '\n', len);
    if (id == CHANNEL_SESSIONS || !frames ||
        sscanf(msg, "exec %u", &flags) != 1 ||
        nfds != ((flags & CHANNEL_TTY) ? 1 : 3)) {
        reply(client, id == CHANNEL_SESSIONS ? "error: too many execs" :
              "error: a bad exec request");
        return FALSE;
    }
    frames++;
    off = frames - msg;
    m->s[id] = (Session){ .used = TRUE, .in = fds[0],
                          .out = (flags & CHANNEL_TTY) ? dup(fds[0]) : fds[1],
                          .err = (flags & CHANNEL_TTY) ? -1 : fds[2],
                          .client = client, .flags = flags };
    /* The frames of the exec's process, on session id. */
    while (len - off >= 8) {
        uint32_t flen = chan_u32(msg + off + 4);

        if (flen > len - off - 8) {
            break;
        }
        send_frame(m, msg[off], id, msg + off + 8, flen);
        off += 8 + flen;
    }
    if (flags & CHANNEL_TTY) {
        send_winsize(m, id);
    }
    send_u32(m, 'S', id, flags, 0, 1);
    m->s[id].started = TRUE;
    g_ptr_array_remove(m->clients, GINT_TO_POINTER(client));
    return TRUE;
}

/* A request on a control connection; FALSE when it has gone. */
static gboolean request(Monitor *m, int client)
{
    char buf[65536], cbuf[CMSG_SPACE(3 * sizeof(int))];
    struct iovec iov = { buf, sizeof(buf) - 1 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
    struct cmsghdr *c;
    int fds[3], nfds = 0, sig, all = 0;
    ssize_t n = recvmsg(client, &mh, MSG_CMSG_CLOEXEC);

    if (n <= 0) {
        return FALSE;
    }
    buf[n] = '\0';
    for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            nfds = MIN((c->cmsg_len - CMSG_LEN(0)) / sizeof(int), 3);
            memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
        }
    }
    if (!strcmp(buf, "start")) {
        start(m, client);
    } else if (sscanf(buf, "kill %d %d", &sig, &all) >= 1) {
        if (!m->s[0].started) {
            /* Never started: the container just stops. */
            reply(client, "ok");
            finish(m, 128 + sig);
        }
        send_u32(m, 'K', 0, sig, all ? CHANNEL_KILL_ALL : 0, 2);
        reply(client, "ok");
    } else if (g_str_has_prefix(buf, "exec ") &&
               exec_request(m, client, buf, n, fds, nfds)) {
        return TRUE;            /* the session has its fds now */
    } else if (!g_str_has_prefix(buf, "exec ")) {
        reply(client, "error: unknown request");
    }
    while (nfds--) {
        close(fds[nfds]);
    }
    return TRUE;
}

static void write_out(int fd, const char *data, size_t len)
{
    if (fd >= 0) {
        chan_write_all(fd, data, len);
    }
}

/* A frame from the guest. */
static void guest_frame(Monitor *m, const struct chan_frame *f)
{
    Session *s = &m->s[f->session];

    switch (f->type) {
    case 'p':
        if (s->client >= 0 && f->len == 4) {
            reply(s->client, "started %u", chan_u32(f->data));
        }
        break;
    case 'o':
        write_out(s->out, f->data, f->len);
        break;
    case 'e':
        write_out(s->err >= 0 ? s->err : s->out, f->data, f->len);
        break;
    case 'x': {
        uint32_t code = f->len >= 4 ? chan_u32(f->data) : 255;
        uint32_t sig = f->len >= 8 ? chan_u32(f->data + 4) : 0;

        if (f->session == 0) {
            send_frame(m, 'Q', 0, NULL, 0);
            finish(m, sig ? 128 + sig : code);
        }
        if (s->client >= 0) {
            reply(s->client, "exit %u %u", code, sig);
            close_fd(&s->client);
        }
        close_fd(&s->in);
        close_fd(&s->out);
        close_fd(&s->err);
        *s = (Session){ .in = -1, .out = -1, .err = -1, .client = -1 };
        break;
    }
    default:
        break;
    }
}

/* Input from session id's stdin (or terminal) to the guest. */
static void forward_input(Monitor *m, int id)
{
    char buf[65536];
    ssize_t n = read(m->s[id].in, buf, sizeof(buf));

    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return;
    }
    send_frame(m, 'I', id, buf, n > 0 ? n : 0);
    if (n <= 0) {
        /* The end of its input; a terminal's output still flows. */
        if (m->s[id].flags & CHANNEL_TTY) {
            m->s[id].flags &= ~CHANNEL_STDIN;
        } else {
            close_fd(&m->s[id].in);
        }
    }
}

static void serve(Monitor *m)
{
    for (;;) {
        struct pollfd p[3 + MAX_CLIENTS + CHANNEL_SESSIONS];
        int who[3 + MAX_CLIENTS + CHANNEL_SESSIONS];
        struct chan_frame f;
        int n = 0, i, ret;

        p[n++] = (struct pollfd){ .fd = m->chan, .events = POLLIN };
        p[n++] = (struct pollfd){ .fd = m->ctl, .events = POLLIN };
        p[n++] = (struct pollfd){ .fd = m->sfd, .events = POLLIN };
        for (i = 0; i < (int)m->clients->len; i++) {
            who[n] = -1;
            p[n++] = (struct pollfd){
                .fd = GPOINTER_TO_INT(g_ptr_array_index(m->clients, i)),
                .events = POLLIN };
        }
        for (i = 0; i < CHANNEL_SESSIONS; i++) {
            Session *s = &m->s[i];

            if (s->started && s->in >= 0 && (s->flags & CHANNEL_STDIN)) {
                who[n] = i;
                p[n++] = (struct pollfd){ .fd = s->in, .events = POLLIN };
            }
        }
        if (poll(p, n, -1) < 0) {
            continue;
        }
        if (p[0].revents) {
            if (chan_fill(&m->r, m->chan) <= 0) {
                g_autofree char *said = qemu_said(m);

                dprintf(2, "pc-lite-oci: the VM stopped%s\n", said);
                finish(m, 255);
            }
            while ((ret = chan_next_frame(&m->r, &f)) > 0) {
                guest_frame(m, &f);
            }
            if (ret < 0) {
                dprintf(2, "pc-lite-oci: a bad frame from the VM\n");
                finish(m, 255);
            }
        }
        if (p[1].revents) {
            int c = accept4(m->ctl, NULL, NULL, SOCK_CLOEXEC);

            if (c >= 0 && m->clients->len >= MAX_CLIENTS) {
                reply(c, "error: too many requests at once");
                close(c);
            } else if (c >= 0) {
                g_ptr_array_add(m->clients, GINT_TO_POINTER(c));
            }
        }
        if (p[2].revents) {
            struct signalfd_siginfo si;

            if (read(m->sfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGCHLD &&
                    waitpid(m->qemu, NULL, WNOHANG) == m->qemu) {
                    g_autofree char *said = qemu_said(m);

                    m->qemu = 0;
                    dprintf(2, "pc-lite-oci: QEMU exited%s\n", said);
                    finish(m, 255);
                } else if (si.ssi_signo == SIGWINCH) {
                    send_winsize(m, 0);
                } else if (si.ssi_signo != SIGCHLD) {
                    /* Signals for the monitor are the container's. */
                    if (!m->s[0].started) {
                        finish(m, 128 + si.ssi_signo);
                    }
                    send_u32(m, 'K', 0, si.ssi_signo, 0, 2);
                }
            }
        }
        for (i = 3; i < n; i++) {
            if (!p[i].revents) {
                continue;
            }
            if (who[i] >= 0) {
                forward_input(m, who[i]);
            } else if (!request(m, p[i].fd)) {
                g_ptr_array_remove(m->clients, GINT_TO_POINTER(p[i].fd));
                close(p[i].fd);
            }
        }
    }
}

/*
 * ctl.sock in the state directory, named relative to it (the monitor's
 * working directory): an engine's --root may be longer than sun_path.
 */
static int listen_ctl(const char *dir)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "ctl.sock" };
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    if (fd < 0 || chdir(dir) < 0) {
        return -1;
    }
    unlink(sa.sun_path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 16) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void oci_monitor_main(OciMonitorArgs *a)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *log = g_build_filename(a->dir, "qemu.log", NULL);
    g_autofree char *pidfile = g_build_filename(a->dir, "qemu.pid", NULL);
    g_autofree char *pidtext = NULL;
    Monitor mon = { .a = a, .chan = -1 }, *m = &mon;
    struct chan_frame f;
    GArray *keep;
    OciVm vm;
    sigset_t mask;
    int ch[2], i;

    setsid();
    if (a->tty) {
        ioctl(a->in, TIOCSCTTY, 0);
    }
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGWINCH);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    m->sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    m->clients = g_ptr_array_new();
    for (i = 0; i < CHANNEL_SESSIONS; i++) {
        m->s[i] = (Session){ .in = -1, .out = -1, .err = -1, .client = -1 };
    }
    m->s[0] = (Session){ .used = TRUE, .in = a->in, .out = a->out,
                         .err = a->tty ? -1 : a->err, .client = -1,
                         .flags = CHANNEL_STDIN |
                                  (a->tty ? CHANNEL_TTY : 0) };
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch) < 0) {
        fail_ready(m, "socketpair: %s", g_strerror(errno));
    }
    m->chan = ch[0];
    if (!oci_vm_prepare(a->host, a->spec, a->dir, ch[1], &vm, &err)) {
        fail_ready(m, "%s", err->message);
    }
    m->net = g_byte_array_new();
    if (a->spec->nics) {
        oci_net_frames(a->spec->nics, m->net);
    }
    keep = g_array_new(FALSE, FALSE, sizeof(int));
    g_array_append_val(keep, ch[1]);
    for (i = 0; a->spec->nics && i < (int)a->spec->nics->len; i++) {
        OciNic *n = g_ptr_array_index(a->spec->nics, i);

        g_array_append_val(keep, n->tap_fd);
    }
    m->qemu = oci_spawn_qemu(vm.argv, (int *)keep->data, keep->len, log,
                             &err);
    g_array_unref(keep);
    close(ch[1]);
    if (a->spec->nics) {
        /* QEMU has the taps: the last of them goes with QEMU. */
        g_ptr_array_set_size(a->spec->nics, 0);
    }
    if (m->qemu < 0) {
        fail_ready(m, "%s", err->message);
    }
    pidtext = g_strdup_printf("%d\n", m->qemu);
    oci_write_file(pidfile, pidtext, -1, NULL);
    if (!vm.clone) {
        wait_frame(m, 'h', &f);
        g_free(f.data);
    }
    send_setup(m, &vm);
    oci_vm_clear(&vm);
    wait_frame(m, 'r', &f);
    if (f.len) {
        fail_ready(m, "%s", f.data);
    }
    g_free(f.data);
    m->ctl = listen_ctl(a->dir);
    if (m->ctl < 0) {
        fail_ready(m, "the control socket in %s: %s", a->dir,
                   g_strerror(errno));
    }
    chan_write_all(a->ready_fd, "ok", 2);
    close(a->ready_fd);
    serve(m);
    _exit(255);
}
