/*
 * pc-lite-oci: the monitor, the process that `create` leaves behind and
 * names in --pid-file, in the container's namespaces and cgroup (ns.c).
 * It takes the network namespace's interfaces, starts the container's VM
 * (a clone of a template, or a boot), changes its root to the container's
 * root filesystem, sets the container up through the command channel,
 * and then lives as long as the container's process: it relays
 * the process's streams (the engine's pipes, or a terminal), takes
 * `start`, `kill` and `exec` on a control socket in the state directory,
 * and exits with the process's exit status.
 *
 * With create, on a socket pair (SOCK_SEQPACKET): the monitor says "ns"
 * once in its namespaces; create puts it in the cgroup, runs the
 * createRuntime and prestart hooks and answers "go" with the container's
 * state (JSON, for the hooks); the monitor says "ok" once the container's
 * process waits for start, or why it could not be made.
 *
 * Control socket (SOCK_SEQPACKET, one request per message):
 *   "start"                  -> "ok" | "error: ..."
 *   "kill SIG ALL"           -> "ok"
 *   "ps"                     -> the guest's processes ("PID UID COMMAND"
 *                               lines, from its init)
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
#include "../proto/channel.h"

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
    pid_t qemu;                 /* in our PID namespace */
    json_t *state;              /* the state create sent, for hooks */
    struct chan_reader r;
    Session s[CHANNEL_SESSIONS];
    GPtrArray *clients;         /* GINT_TO_POINTER(fd) of open requests */
    GPtrArray *ps_waiting;      /* clients of "ps", answered in order */
    GByteArray *net;            /* the interfaces' frames */
} Monitor;

static void send_frame(Monitor *m, char type, int session, const void *data,
                       uint32_t len)
{
    chan_send(m->chan, type, session, data, len);
}

/* Whole frames of @data (as pcl_frame() writes them), on @session. */
static void send_frames_on(Monitor *m, int session, const char *data,
                           size_t len)
{
    size_t off = 0;

    while (len - off >= 8) {
        uint32_t flen = chan_u32(data + off + 4);

        if (flen > len - off - 8) {
            break;
        }
        send_frame(m, data[off], session, data + off + 8, flen);
        off += 8 + flen;
    }
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
    g_autofree char *text = g_strdup_printf("%d\n", status);
    int i, st;

    /* Our working directory is the state directory. */
    oci_write_file("exit", text, -1, NULL);
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
    g_autofree char *text = NULL;
    char *nl;

    if (!g_file_get_contents("qemu.log", &text, NULL, NULL) ||
        !*g_strstrip(text)) {
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
    g_autoptr(GError) err = NULL;
    PclGuestEvent ev;
    int ret;

    for (;;) {
        struct pollfd p = { .fd = m->chan, .events = POLLIN };
        int left = (deadline - g_get_monotonic_time()) / 1000;

        while ((ret = pcl_guest_next(&m->r, &ev, &err)) > 0) {
            if (ev.type == type) {
                out->type = ev.type;
                out->len = ev.len;
                out->data = g_strndup(ev.data, ev.len);
                return;
            }
        }
        if (ret < 0) {
            fail_ready(m, "%s", err->message);
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
        pcl_time_frame(frames);
    }
    if (vm->has_generation) {
        pcl_frame(frames, FRAME_GENID, 0, vm->generation, 16);
    }
    chan_put_u32(v, spec->root_readonly ? CHANNEL_ROOT_RO : 0);
    pcl_frame(frames, FRAME_CONTAINER, 0, v, 4);
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
        pcl_frame(frames, FRAME_MOUNT, 0, f->str, f->len);
    }
    if (spec->hostname && *spec->hostname) {
        pcl_frame(frames, FRAME_HOSTNAME, 0, spec->hostname,
                  strlen(spec->hostname));
    }
    oci_process_frames(spec->process, frames);
    pcl_frame(frames, FRAME_SETUP, 0, NULL, 0);
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
        send_u32(m, FRAME_WINSIZE, id, ws.ws_row, ws.ws_col, 2);
    }
}

static void guest_frame(Monitor *m, const PclGuestEvent *f);

/*
 * A startContainer hook: a process of the container, in the VM (its path
 * resolves in the container), on session 1 before the container's own
 * process starts, with the state on its standard input; its standard
 * error is kept for the message when it fails.
 */
static gboolean guest_hook(Monitor *m, json_t *h, size_t index,
                           const char *state, GError **errp)
{
    const char *path = json_string_value(json_object_get(h, "path"));
    json_t *args = json_object_get(h, "args"), *env = json_object_get(h, "env");
    json_t *timeout = json_object_get(h, "timeout");
    gint64 deadline = json_is_integer(timeout) ?
        g_get_monotonic_time() + json_integer_value(timeout) * G_USEC_PER_SEC :
        G_MAXINT64;
    g_autoptr(GByteArray) frames = g_byte_array_new();
    g_autoptr(GString) said = g_string_new(NULL);
    OciProcess p = { .cwd = (char *)"/",
                     .groups = g_array_new(FALSE, FALSE, sizeof(uint32_t)),
                     .rlimits = g_array_new(FALSE, FALSE, sizeof(OciRlimit)) };
    GPtrArray *argv = g_ptr_array_new(), *envp = g_ptr_array_new();
    PclGuestEvent f;
    guint32 code = 255, sig = 0;
    gboolean done = FALSE;
    size_t i;
    int ret;

    g_ptr_array_add(argv, (char *)path);
    for (i = 1; i < json_array_size(args); i++) {
        g_ptr_array_add(argv, (char *)json_string_value(json_array_get(args,
                                                                       i)));
    }
    g_ptr_array_add(argv, NULL);
    for (i = 0; i < json_array_size(env); i++) {
        g_ptr_array_add(envp, (char *)json_string_value(json_array_get(env,
                                                                       i)));
    }
    g_ptr_array_add(envp, NULL);
    p.args = (char **)argv->pdata;
    p.env = (char **)envp->pdata;
    oci_process_frames(&p, frames);
    g_ptr_array_unref(argv);
    g_ptr_array_unref(envp);
    g_array_unref(p.groups);
    g_array_unref(p.rlimits);
    send_frames_on(m, 1, (const char *)frames->data, frames->len);
    send_u32(m, FRAME_START, 1, CHANNEL_STDIN, 0, 1);
    send_frame(m, FRAME_INPUT, 1, state, strlen(state));
    send_frame(m, FRAME_INPUT, 1, NULL, 0);
    while (!done) {
        struct pollfd pf = { .fd = m->chan, .events = POLLIN };
        gint64 left = deadline - g_get_monotonic_time();

        while (!done && (ret = pcl_guest_next(&m->r, &f, NULL)) > 0) {
            if (f.session != 1) {
                guest_frame(m, &f);
            } else if (f.type == FRAME_ERROR) {
                g_string_append_len(said, f.data, MIN(f.len, 4096));
            } else if (f.type == FRAME_EXIT) {
                code = f.status;
                sig = f.signal;
                done = TRUE;
            }
        }
        if (done) {
            break;
        }
        if (ret < 0 || left <= 0 ||
            poll(&pf, 1, MIN(left / 1000 + 1, 60000)) < 0 ||
            ((pf.revents & (POLLIN | POLLHUP)) &&
             chan_fill(&m->r, m->chan) <= 0)) {
            if (left <= 0) {
                send_u32(m, FRAME_SIGNAL, 1, SIGKILL, 0, 2);
            }
            g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                        "hook startContainer[%zu] %s %s", index, path,
                        left <= 0 ? "did not finish within its timeout" :
                        "lost the VM");
            return FALSE;
        }
    }
    if (code || sig) {
        g_strchomp(said->str);
        g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                    "hook startContainer[%zu] %s %s %u%s%s", index, path,
                    sig ? "was killed by signal" : "exited with status",
                    sig ? sig : code, said->len ? ": " : "", said->str);
        return FALSE;
    }
    return TRUE;
}

static gboolean guest_hooks(Monitor *m, GError **errp)
{
    json_t *a = json_object_get(m->a->spec->hooks, "startContainer");
    g_autofree char *state = NULL;
    size_t i;

    if (!json_array_size(a)) {
        return TRUE;
    }
    json_object_set_new(m->state, "status", json_string("created"));
    state = json_dumps(m->state, JSON_COMPACT);
    for (i = 0; i < json_array_size(a); i++) {
        if (!guest_hook(m, json_array_get(a, i), i, state, errp)) {
            return FALSE;
        }
    }
    return TRUE;
}

static void start(Monitor *m, int client)
{
    g_autoptr(GError) err = NULL;
    Session *s = &m->s[0];

    if (s->started) {
        reply(client, "error: the container has already started");
        return;
    }
    if (!guest_hooks(m, &err)) {
        /* The runtime spec: the container is stopped. */
        reply(client, "error: %s", err->message);
        send_frame(m, FRAME_QUIT, 0, NULL, 0);
        finish(m, 255);
    }
    if (s->flags & CHANNEL_TTY) {
        send_winsize(m, 0);
    }
    send_u32(m, FRAME_START, 0, s->flags, 0, 1);
    s->started = TRUE;
    oci_write_file("started", "", -1, NULL);
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
    send_frames_on(m, id, msg + off, len - off);
    if (flags & CHANNEL_TTY) {
        send_winsize(m, id);
    }
    send_u32(m, FRAME_START, id, flags, 0, 1);
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
        send_u32(m, FRAME_SIGNAL, 0, sig, all ? CHANNEL_KILL_ALL : 0, 2);
        reply(client, "ok");
    } else if (!strcmp(buf, "ps")) {
        send_frame(m, FRAME_LIST, 0, NULL, 0);
        g_ptr_array_add(m->ps_waiting, GINT_TO_POINTER(client));
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
static void guest_frame(Monitor *m, const PclGuestEvent *f)
{
    Session *s = &m->s[f->session];

    switch (f->type) {
    case FRAME_PROCESSES:
        if (m->ps_waiting->len) {
            int fd = GPOINTER_TO_INT(g_ptr_array_index(m->ps_waiting, 0));

            send(fd, f->data, f->len, MSG_NOSIGNAL);
            g_ptr_array_remove_index(m->ps_waiting, 0);
        }
        break;
    case FRAME_STARTED:
        if (s->client >= 0) {
            reply(s->client, "started %u", f->pid);
        }
        break;
    case FRAME_OUTPUT:
        write_out(s->out, f->data, f->len);
        break;
    case FRAME_ERROR:
        write_out(s->err >= 0 ? s->err : s->out, f->data, f->len);
        break;
    case FRAME_EXIT: {
        uint32_t code = f->status, sig = f->signal;

        if (f->session == 0) {
            send_frame(m, FRAME_QUIT, 0, NULL, 0);
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
    send_frame(m, FRAME_INPUT, id, buf, n > 0 ? n : 0);
    if (n <= 0) {
        /* The end of its input; a terminal's output still flows. */
        if (m->s[id].flags & CHANNEL_TTY) {
            m->s[id].flags &= ~CHANNEL_STDIN;
        } else {
            close_fd(&m->s[id].in);
        }
    }
}

/*
 * Every child that ended (the monitor is its PID namespace's init: what
 * QEMU or a hook left behind is ours to reap); TRUE when QEMU did.
 */
static gboolean reap(Monitor *m)
{
    gboolean qemu = FALSE;
    pid_t pid;

    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
        qemu |= pid == m->qemu;
    }
    return qemu;
}

static void serve(Monitor *m)
{
    for (;;) {
        struct pollfd p[3 + MAX_CLIENTS + CHANNEL_SESSIONS];
        int who[3 + MAX_CLIENTS + CHANNEL_SESSIONS];
        g_autoptr(GError) err = NULL;
        PclGuestEvent f;
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
            while ((ret = pcl_guest_next(&m->r, &f, &err)) > 0) {
                guest_frame(m, &f);
            }
            if (ret < 0) {
                dprintf(2, "pc-lite-oci: %s\n", err->message);
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
                if (si.ssi_signo == SIGCHLD && reap(m)) {
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
                    send_u32(m, FRAME_SIGNAL, 0, si.ssi_signo, 0, 2);
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
                g_ptr_array_remove(m->ps_waiting, GINT_TO_POINTER(p[i].fd));
                close(p[i].fd);
            }
        }
    }
}

/*
 * ctl.sock in the state directory (our working directory), named
 * relative to it: an engine's --root may be longer than sun_path.
 */
static int listen_ctl(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "ctl.sock" };
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    if (fd < 0) {
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

/*
 * In the container's namespaces (create cloned us into new PID, UTS, IPC
 * and, when the configuration asks for a new one, network namespaces):
 * the network namespace it names, the hostname; then "ns" to create,
 * and its "go" with the state for the hooks.
 */
static void enter_namespaces(Monitor *m)
{
    OciSpec *spec = m->a->spec;
    g_autoptr(GError) err = NULL;
    char buf[65536];
    ssize_t n;

    if (*spec->netns && !oci_ns_join_net(spec->netns, &err)) {
        fail_ready(m, "%s", err->message);
    }
    if (spec->hostname && *spec->hostname &&
        sethostname(spec->hostname, strlen(spec->hostname)) < 0) {
        fail_ready(m, "hostname %s: %s", spec->hostname, g_strerror(errno));
    }
    chan_write_all(m->a->ready_fd, "ns", 2);
    do {
        n = recv(m->a->ready_fd, buf, sizeof(buf) - 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 3 || strncmp(buf, "go\n", 3)) {
        _exit(1);               /* create gave up: it cleans up */
    }
    buf[n] = '\0';
    m->state = json_loads(buf + 3, 0, NULL);
    if (!json_is_object(m->state)) {
        fail_ready(m, "a bad state from create");
    }
}

/*
 * The network namespace's interfaces (the hooks have filled it now) into
 * taps for the VM; "net" in the state directory records a namespace that
 * outlives the container, and its interfaces, for delete.
 */
static void take_network(Monitor *m)
{
    OciSpec *spec = m->a->spec;
    g_autoptr(GError) err = NULL;
    g_autoptr(GString) rec = g_string_new(spec->netns);
    guint i;

    spec->nics = oci_net_setup(m->a->id, &err);
    if (!spec->nics) {
        fail_ready(m, "%s", err->message);
    }
    for (i = 0; i < spec->nics->len; i++) {
        OciNic *n = g_ptr_array_index(spec->nics, i);

        g_string_append_printf(rec, "\n%s", n->name);
    }
    if (*spec->netns && spec->nics->len &&
        !oci_write_file("net", rec->str, -1, &err)) {
        fail_ready(m, "%s", err->message);
    }
}

/*
 * Our own mount namespace, the createContainer hooks (in the container's
 * namespaces, before the root changes, as runc runs them), then the
 * container's root filesystem as our root.
 */
static void enter_root(Monitor *m)
{
    OciSpec *spec = m->a->spec;
    g_autoptr(GError) err = NULL;
    g_autofree char *state = NULL;
    int dirfd = open(".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);

    oci_logs_keep_open();
    if (dirfd < 0 || !oci_ns_mounts(spec->root, &err)) {
        fail_ready(m, "%s", err ? err->message : g_strerror(errno));
    }
    json_object_set_new(m->state, "status", json_string("creating"));
    state = json_dumps(m->state, JSON_COMPACT);
    if (!oci_hooks_run(spec->hooks, "createContainer", state, &err) ||
        !oci_ns_pivot(spec->root, dirfd, &err)) {
        fail_ready(m, "%s", err->message);
    }
    close(dirfd);
}

void oci_monitor_main(OciMonitorArgs *a)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *log = g_build_filename(a->dir, "qemu.log", NULL);
    Monitor mon = { .a = a, .chan = -1 }, *m = &mon;
    struct chan_frame f;
    GArray *keep;
    OciVm vm;
    sigset_t mask;
    int ch[2], i, logfd;

    setsid();
    if (a->tty) {
        ioctl(a->in, TIOCSCTTY, 0);
        /*
         * Nothing of the engine's own streams stays open here: a shim
         * waits for create's output to end (docker run -t).
         */
        dup2(a->in, 0);
        dup2(a->in, 1);
        dup2(a->in, 2);
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
    m->ps_waiting = g_ptr_array_new();
    for (i = 0; i < CHANNEL_SESSIONS; i++) {
        m->s[i] = (Session){ .in = -1, .out = -1, .err = -1, .client = -1 };
    }
    m->s[0] = (Session){ .used = TRUE, .in = a->in, .out = a->out,
                         .err = a->tty ? -1 : a->err, .client = -1,
                         .flags = CHANNEL_STDIN |
                                  (a->tty ? CHANNEL_TTY : 0) };
    if (chdir(a->dir) < 0) {
        fail_ready(m, "%s: %s", a->dir, g_strerror(errno));
    }
    enter_namespaces(m);
    take_network(m);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch) < 0) {
        fail_ready(m, "socketpair: %s", g_strerror(errno));
    }
    m->chan = ch[0];
    if (!oci_vm_prepare(a->host, a->spec, a->dir, ch[1], &vm, &err)) {
        fail_ready(m, "%s", err->message);
    }
    m->net = g_byte_array_new();
    oci_net_frames(a->spec->nics, m->net);
    keep = g_array_new(FALSE, FALSE, sizeof(int));
    g_array_append_val(keep, ch[1]);
    for (i = 0; i < (int)a->spec->nics->len; i++) {
        OciNic *n = g_ptr_array_index(a->spec->nics, i);

        g_array_append_val(keep, n->tap_fd);
    }
    logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0) {
        fail_ready(m, "%s: %s", log, g_strerror(errno));
    }
    m->qemu = pcl_spawn_qemu(vm.argv, &(PclSpawn){
                                 .keep = (int *)keep->data,
                                 .nkeep = keep->len, .in = -1, .out = logfd,
                                 .err = logfd, .limit_caps = TRUE }, &err);
    close(logfd);
    g_array_unref(keep);
    close(ch[1]);
    /* QEMU has the taps: the last of them goes with QEMU. */
    g_ptr_array_set_size(a->spec->nics, 0);
    if (m->qemu < 0) {
        fail_ready(m, "%s", err->message);
    }
    m->ctl = listen_ctl();
    if (m->ctl < 0) {
        fail_ready(m, "the control socket in %s: %s", a->dir,
                   g_strerror(errno));
    }
    enter_root(m);
    if (!vm.clone) {
        wait_frame(m, FRAME_HELLO, &f);
        g_free(f.data);
    }
    send_setup(m, &vm);
    oci_vm_clear(&vm);
    wait_frame(m, FRAME_READY, &f);
    if (f.len) {
        fail_ready(m, "%s", f.data);
    }
    g_free(f.data);
    if (send(a->ready_fd, "ok", 2, MSG_NOSIGNAL) < 0) {
        /* create is gone (killed): nobody will know this container. */
        send_frame(m, FRAME_QUIT, 0, NULL, 0);
        finish(m, 255);
    }
    close(a->ready_fd);
    serve(m);
    _exit(255);
}
