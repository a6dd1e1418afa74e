/*
 * pc-lite-pool: VMs started ahead of their use.  It keeps SIZE clones of
 * one template (the VM that pc-lite-run's options describe), each warmed
 * by a short command run in it (its page cache and, under TCG, its
 * translated code are then warm), and hands them out on its socket
 * (host/pool.c): a VM serves one run and is destroyed after it, as a
 * clone is.  At hand-out a VM gets a new generation ID (QMP qom-set
 * /machine vmgenid: written and notified as when a clone starts; the
 * taker sends it in the G frame for the reseed, and the host's clock),
 * and goes when its taker does.  The pool refills in the background.
 *
 *   pc-lite-pool [--socket PATH] [--size N] [--warm CMD] [VM options]
 *   pc-lite-pool status [--socket PATH]
 *
 * A VM that dies, fails or hangs in its warm-up, says anything while it
 * waits, or no longer matches its template is dropped and replaced.  Its
 * QEMUs die with it (PR_SET_PDEATHSIG); the tools fall back to a clone
 * whenever the pool has nothing for them.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../host/host.h"
#include "../proto/channel.h"

#define TEMPLATE_TIMEOUT_MS (120 * 1000)
#define WARM_TIMEOUT_US (60 * G_USEC_PER_SEC)
#define QMP_TIMEOUT_MS 5000
#define MAX_SIZE 64
#define WARM_SESSION 1

typedef struct {
    pid_t pid;
    int pidfd, chan, qmp_fd;
    PclQmp qmp;
    char *dir, *key;
    gboolean ready;
    gint64 deadline;            /* for its warm-up */
    struct chan_reader r;
} PoolVm;

/* A VM handed out: it goes when its taker does. */
typedef struct {
    pid_t vm;
    int taker;                  /* the taker's pidfd, -1 once it went */
} Lent;

typedef struct {
    PclPaths paths;
    PclShape shape;
    char *socket, *top;
    int size, max_warming;
    char **warm;
    gsize root_size;
    int root_fd, listen_fd, sfd;
    GPtrArray *vms;             /* PoolVm */
    GArray *lent;               /* Lent */
    guint64 runs, dropped, misses;
    char *last_error;
    gint64 retry_at;            /* after a failed start */
} Pool;

static void log_line(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void log_line(const char *fmt, ...)
{
    g_autofree char *text = NULL;
    va_list ap;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "pc-lite-pool: %s\n", text);
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: pc-lite-pool [--socket PATH] [--size N] [--warm CMD] [VM options]\n"
"       pc-lite-pool status [--socket PATH]\n"
"\n"
"Keep N warm clones of a template ready for pc-lite-run --pool.\n"
"\n"
"  --socket PATH       its socket (default $PC_LITE_POOL, or\n"
"                      /run/pc-lite/pool.sock as root,\n"
"                      $XDG_RUNTIME_DIR/pc-lite/pool.sock otherwise)\n"
"  --size N            VMs kept ready (default 2, at most 64)\n"
"  --warm CMD          the shell command that warms each VM (default true)\n"
"VM options, as pc-lite-run's (the same options give the same VM):\n"
PCL_SHAPE_USAGE);
}

static void vm_free(PoolVm *v)
{
    if (v->pid > 0) {
        kill(v->pid, SIGKILL);  /* reaped with SIGCHLD */
    }
    pcl_qmp_close(&v->qmp);
    if (v->qmp_fd >= 0) {
        close(v->qmp_fd);
    }
    if (v->chan >= 0) {
        close(v->chan);
    }
    if (v->pidfd >= 0) {
        close(v->pidfd);
    }
    if (v->dir) {
        pcl_remove_tree(v->dir);
    }
    free(v->r.buf);
    free(v->r.last);
    g_free(v->dir);
    g_free(v->key);
    g_free(v);
}

static void drop(Pool *p, guint i, const char *why)
{
    PoolVm *v = g_ptr_array_index(p->vms, i);

    log_line("VM %d dropped: %s", v->pid, why);
    p->dropped++;
    g_ptr_array_remove_index(p->vms, i);
    vm_free(v);
}

/* The key of the template the pool's VMs are clones of, now. */
static char *current_key(Pool *p, GError **errp)
{
    PclVm vm;
    char *key;

    pcl_shape_template(&p->shape, &p->paths, p->root_size, &vm);
    key = pcl_template_key(&vm, errp);
    pcl_vm_clear(&vm);
    return key;
}

/* The warm-up command on its own session, with the clock and the ID. */
static gboolean send_warm_up(PoolVm *v, Pool *p, const uint8_t *guid)
{
    g_autoptr(GByteArray) q = g_byte_array_new();
    uint8_t flags[4] = { 0 };
    int i;

    pcl_time_frame(q);
    if (guid) {
        pcl_frame(q, FRAME_GENID, 0, guid, 16);
    }
    for (i = 0; p->warm[i]; i++) {
        pcl_frame(q, FRAME_ARG, WARM_SESSION, p->warm[i], strlen(p->warm[i]));
    }
    pcl_frame(q, FRAME_START, WARM_SESSION, flags, 4);
    return chan_write_all(v->chan, q->data, q->len) == 0;
}

static gboolean start_vm(Pool *p, GError **errp)
{
    g_autofree char *tmpl = g_build_filename(g_get_tmp_dir(),
                                             "pc-lite-pool-XXXXXX", NULL);
    g_autofree char *log = NULL;
    g_auto(GStrv) argv = NULL;
    PoolVm *v = g_new0(PoolVm, 1);
    PclTemplate t;
    PclVm vm;
    uint8_t guid[16];
    gboolean has_guid;
    int ch[2], qmp[2], logfd;

    v->chan = v->qmp_fd = v->pidfd = -1;
    pcl_shape_template(&p->shape, &p->paths, p->root_size, &vm);
    if (!pcl_template_get(p->top, &vm, TEMPLATE_TIMEOUT_MS, NULL, &t,
                          errp)) {
        g_prefix_error(errp, "cannot make the template: ");
        goto fail;
    }
    v->key = g_strdup(t.key);
    pcl_template_clone(&t, &vm, guid, &has_guid);
    pcl_template_clear(&t);
    v->dir = g_mkdtemp(g_strdup(tmpl));
    if (!v->dir ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qmp) < 0) {
        g_set_error(errp, PCL_ERROR, 0, "%s", g_strerror(errno));
        goto fail;
    }
    v->chan = ch[0];
    v->qmp_fd = qmp[0];
    vm.console = g_build_filename(v->dir, "console.log", NULL);
    vm.channel_fd = ch[1];
    vm.qmp_fd = qmp[1];
    argv = pcl_vm_argv(&vm);
    log = g_build_filename(v->dir, "qemu.log", NULL);
    logfd = open(log, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    v->pid = pcl_spawn_qemu(argv, &(PclSpawn){
                                .keep = (int[]){ ch[1], qmp[1] }, .nkeep = 2,
                                .in = -1, .out = logfd, .err = logfd },
                            errp);
    close(ch[1]);
    close(qmp[1]);
    if (logfd >= 0) {
        close(logfd);
    }
    if (v->pid < 0) {
        goto fail;
    }
    v->pidfd = syscall(SYS_pidfd_open, v->pid, 0);
    if (!send_warm_up(v, p, has_guid ? guid : NULL)) {
        g_set_error(errp, PCL_ERROR, 0, "the VM closed its channel");
        goto fail;
    }
    v->deadline = g_get_monotonic_time() + WARM_TIMEOUT_US;
    g_ptr_array_add(p->vms, v);
    pcl_vm_clear(&vm);
    return TRUE;
fail:
    pcl_vm_clear(&vm);
    vm_free(v);
    return FALSE;
}

/* What a VM in the pool said: its warm-up's end, or trouble. */
static void vm_readable(Pool *p, guint i)
{
    PoolVm *v = g_ptr_array_index(p->vms, i);
    g_autoptr(GError) err = NULL;
    PclGuestEvent ev;
    int ret;

    if (v->ready) {
        drop(p, i, "it spoke while it waited");
        return;
    }
    if (chan_fill(&v->r, v->chan) <= 0) {
        drop(p, i, "its channel closed in its warm-up");
        return;
    }
    while ((ret = pcl_guest_next(&v->r, &ev, &err)) > 0) {
        if (ev.type != FRAME_EXIT || ev.session != WARM_SESSION) {
            continue;           /* its output, its start */
        }
        if (ev.status || ev.signal) {
            g_autofree char *why = g_strdup_printf(
                "its warm-up exited with %u (signal %u)", ev.status,
                ev.signal);

            drop(p, i, why);
            return;
        }
        if (!pcl_qmp_open(&v->qmp, v->qmp_fd, QMP_TIMEOUT_MS, &err)) {
            drop(p, i, err->message);
            return;
        }
        v->ready = TRUE;
        return;
    }
    if (ret < 0) {
        drop(p, i, err->message);
    }
}

static void refill(Pool *p)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *key = NULL;
    guint warming = 0, i;

    if (g_get_monotonic_time() < p->retry_at) {
        return;
    }
    key = current_key(p, &err);
    for (i = p->vms->len; i-- > 0;) {
        PoolVm *v = g_ptr_array_index(p->vms, i);

        if (g_strcmp0(v->key, key)) {
            drop(p, i, "its template changed");
        } else if (!v->ready && g_get_monotonic_time() > v->deadline) {
            drop(p, i, "its warm-up did not end in time");
        } else {
            warming += !v->ready;
        }
    }
    while ((int)p->vms->len < p->size && (int)warming < p->max_warming) {
        if (!start_vm(p, &err)) {
            log_line("%s", err->message);
            g_free(p->last_error);
            p->last_error = g_strdup(err->message);
            p->retry_at = g_get_monotonic_time() + G_USEC_PER_SEC;
            return;
        }
        warming++;
    }
}

/* "take KEY": a ready VM of that key to the taker, with a new ID. */
static void take(Pool *p, int conn, const char *key, int taker)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *uuid = NULL, *reply = NULL;
    uint8_t guid[16];
    char hex[33] = "-";
    PoolVm *v = NULL;
    json_t *r;
    guint i;

    for (i = 0; i < p->vms->len; i++) {
        PoolVm *c = g_ptr_array_index(p->vms, i);
        struct pollfd pf = { .fd = c->pidfd, .events = POLLIN };

        if (!c->ready || strcmp(c->key, key)) {
            continue;
        }
        if (poll(&pf, 1, 0) > 0) {
            drop(p, i--, "it died");
            continue;
        }
        v = c;
        g_ptr_array_remove_index(p->vms, i);
        break;
    }
    if (!v) {
        p->misses++;
        pcl_pool_send(conn, p->vms->len ? "none the pool's VMs are warming "
                      "up" : "none the pool has no VM of that key", NULL, 0);
        close(taker);
        return;
    }
    if (!p->shape.vmgenid) {
        uuid = pcl_new_generation(guid);
        r = pcl_qmp_call(&v->qmp, "qom-set",
                         json_pack("{s:s, s:s, s:s}", "path", "/machine",
                                   "property", "vmgenid", "value", uuid),
                         -1, &err);
        if (!r) {
            log_line("VM %d: a new generation ID: %s", v->pid, err->message);
            pcl_pool_send(conn, "none the VM did not take its new ID", NULL,
                          0);
            close(taker);
            vm_free(v);
            return;
        }
        json_decref(r);
        for (i = 0; i < 16; i++) {
            sprintf(hex + 2 * i, "%02x", guid[i]);
        }
    }
    reply = g_strdup_printf("ok %d %s", v->pid, hex);
    if (!pcl_pool_send(conn, reply, (int[]){ v->chan, v->pidfd }, 2)) {
        close(taker);
        vm_free(v);
        return;
    }
    p->runs++;
    g_array_append_val(p->lent, ((Lent){ .vm = v->pid, .taker = taker }));
    v->pid = 0;                 /* the taker's now: not killed here */
    vm_free(v);
}

static char *status_json(Pool *p)
{
    g_autofree char *key = current_key(p, NULL);
    guint ready = 0, i;
    json_t *o;
    char *text;

    for (i = 0; i < p->vms->len; i++) {
        ready += ((PoolVm *)g_ptr_array_index(p->vms, i))->ready;
    }
    o = json_pack("{s:s?, s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:s, s:s?}",
                  "key", key, "size", p->size, "ready", ready,
                  "warming", p->vms->len - ready, "lent", p->lent->len,
                  "runs", (json_int_t)p->runs,
                  "dropped", (json_int_t)p->dropped,
                  "misses", (json_int_t)p->misses, "socket", p->socket,
                  "last_error", p->last_error);
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static void serve_conn(Pool *p, int conn)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    struct timeval tv = { .tv_sec = 1 };
    char buf[256];
    int fds[1], nfds = 1;

    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
        (cred.uid != geteuid() && cred.uid != 0)) {
        pcl_pool_send(conn, "none not yours", NULL, 0);
        return;
    }
    if (pcl_pool_recv(conn, buf, sizeof(buf), fds, &nfds) <= 0) {
        return;
    }
    if (!strcmp(buf, "status")) {
        g_autofree char *text = status_json(p);

        pcl_pool_send(conn, text, NULL, 0);
    } else if (g_str_has_prefix(buf, "take ") && nfds == 1) {
        take(p, conn, buf + 5, fds[0]);
        return;
    } else {
        pcl_pool_send(conn, "none a bad request", NULL, 0);
    }
    if (nfds) {
        close(fds[0]);
    }
}

static void reap(Pool *p)
{
    pid_t pid;
    int status;
    guint i;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (i = 0; i < p->lent->len; i++) {
            Lent *l = &g_array_index(p->lent, Lent, i);

            if (l->vm == pid) {
                if (l->taker >= 0) {
                    close(l->taker);
                }
                g_array_remove_index_fast(p->lent, i);
                break;
            }
        }
        for (i = 0; i < p->vms->len; i++) {
            PoolVm *v = g_ptr_array_index(p->vms, i);

            if (v->pid == pid) {
                v->pid = 0;
                drop(p, i, "QEMU exited");
                break;
            }
        }
    }
}

/* The listening socket: systemd's (socket activation), or made here. */
static int listen_on(const char *path, GError **errp)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_autofree char *dir = g_path_get_dirname(path);
    const char *fds = g_getenv("LISTEN_FDS"), *pid = g_getenv("LISTEN_PID");
    int fd;

    if (fds && pid && !strcmp(fds, "1") && atoi(pid) == getpid()) {
        fcntl(3, F_SETFD, FD_CLOEXEC);
        return 3;
    }
    if (strlen(path) >= sizeof(sa.sun_path)) {
        g_set_error(errp, PCL_ERROR, 0, "--socket %s: too long", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    if (g_mkdir_with_parents(dir, 0700) < 0) {
        g_set_error(errp, PCL_ERROR, 0, "%s: %s", dir, g_strerror(errno));
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        g_set_error(errp, PCL_ERROR, 0, "%s: a pool already listens there",
                    path);
        close(fd);
        return -1;
    }
    unlink(path);
    umask(077);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        chmod(path, 0600) < 0 || listen(fd, 64) < 0) {
        g_set_error(errp, PCL_ERROR, 0, "%s: %s", path, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

static gboolean parse(Pool *p, int argc, char **argv, gboolean *status,
                      GError **errp)
{
    enum { SOCKET = 256, SIZE, WARM };
    static const struct option own[] = {
        { "socket", required_argument, NULL, SOCKET },
        { "size", required_argument, NULL, SIZE },
        { "warm", required_argument, NULL, WARM },
        { "help", no_argument, NULL, 'h' },
    };
    g_autoptr(GArray) longs = g_array_new(TRUE, TRUE, sizeof(struct option));
    const char *warm = "true";
    int c, i;
    char *end;

    for (i = 0; pcl_shape_options[i].name; i++) {
        g_array_append_val(longs, pcl_shape_options[i]);
    }
    g_array_append_vals(longs, own, G_N_ELEMENTS(own));
    pcl_shape_init(&p->shape);
    p->size = 2;
    opterr = 0;
    if (argc > 1 && !strcmp(argv[1], "status")) {
        *status = TRUE;
        argv++;
        argc--;
    }
    while ((c = getopt_long(argc, argv, "+h", (struct option *)longs->data,
                            NULL)) != -1) {
        switch (c) {
        case SOCKET:
            g_free(p->socket);
            p->socket = g_strdup(optarg);
            break;
        case SIZE:
            p->size = g_ascii_strtoll(optarg, &end, 10);
            if (*end || end == optarg || p->size < 1 || p->size > MAX_SIZE) {
                g_set_error(errp, PCL_ERROR, 0, "--size %s: use 1 to %d VMs",
                            optarg, MAX_SIZE);
                return FALSE;
            }
            break;
        case WARM:
            warm = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            i = pcl_shape_option(&p->shape, c, optarg, errp);
            if (i < 0) {
                return FALSE;
            }
            if (i == 0) {
                g_set_error(errp, PCL_ERROR, 0, "%s: unknown option or "
                            "missing value (see --help)", argv[optind - 1]);
                return FALSE;
            }
        }
    }
    if (optind < argc) {
        g_set_error(errp, PCL_ERROR, 0, "%s: not an option (see --help)",
                    argv[optind]);
        return FALSE;
    }
    p->warm = g_new0(char *, 4);
    p->warm[0] = g_strdup("/bin/sh");
    p->warm[1] = g_strdup("-c");
    p->warm[2] = g_strdup(warm);
    p->socket = p->socket ?: pcl_pool_socket();
    if (!p->socket) {
        g_set_error(errp, PCL_ERROR, 0, "PC_LITE_POOL=off: give --socket");
        return FALSE;
    }
    return TRUE;
}

static int run(Pool *p)
{
    sigset_t mask;
    int stop = 0;

    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    p->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    log_line("%d VMs of template %s on %s", p->size,
             current_key(p, NULL) ?: "?", p->socket);
    while (!stop) {
        g_autofree struct pollfd *pf = NULL;
        guint n = 0, i, nvms, nlent;

        refill(p);
        nvms = p->vms->len;
        nlent = p->lent->len;
        pf = g_new0(struct pollfd, 2 + nvms + nlent);
        pf[n++] = (struct pollfd){ p->listen_fd, POLLIN };
        pf[n++] = (struct pollfd){ p->sfd, POLLIN };
        for (i = 0; i < nvms; i++) {
            PoolVm *v = g_ptr_array_index(p->vms, i);

            pf[n++] = (struct pollfd){ v->chan, POLLIN };
        }
        for (i = 0; i < nlent; i++) {
            pf[n++] = (struct pollfd){
                g_array_index(p->lent, Lent, i).taker, POLLIN };
        }
        if (poll(pf, n, 1000) < 0) {
            continue;
        }
        if (pf[1].revents) {
            struct signalfd_siginfo si;

            while (read(p->sfd, &si, sizeof(si)) == sizeof(si)) {
                stop |= si.ssi_signo != SIGCHLD;
            }
            reap(p);
        }
        /* A taker gone: its VM goes too (reaped with SIGCHLD). */
        for (i = 0; i < nlent && i < p->lent->len; i++) {
            Lent *l = &g_array_index(p->lent, Lent, i);

            if (pf[2 + nvms + i].revents && l->taker >= 0) {
                kill(l->vm, SIGKILL);
                close(l->taker);
                l->taker = -1;
            }
        }
        for (i = nvms; i-- > 0;) {
            PoolVm *v = i < p->vms->len ? g_ptr_array_index(p->vms, i) : NULL;

            if (pf[2 + i].revents && v && v->chan == pf[2 + i].fd) {
                vm_readable(p, i);
            }
        }
        if (pf[0].revents) {
            int conn = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);

            if (conn >= 0) {
                serve_conn(p, conn);
                close(conn);
            }
        }
    }
    log_line("stopping");
    while (p->vms->len) {
        drop(p, p->vms->len - 1, "the pool stops");
    }
    return 0;
}

int main(int argc, char **argv)
{
    g_autoptr(GError) err = NULL;
    Pool pool = { .root_fd = -1, .max_warming = 2 }, *p = &pool;
    gboolean status = FALSE;
    char *accel;

    signal(SIGPIPE, SIG_IGN);
    pcl_paths_init(&p->paths);
    if (!parse(p, argc, argv, &status, &err)) {
        fprintf(stderr, "pc-lite-pool: %s\n", err->message);
        return 2;
    }
    if (status) {
        g_autofree char *text = pcl_pool_status(p->socket, &err);

        if (!text) {
            fprintf(stderr, "pc-lite-pool: %s\n", err->message);
            return 1;
        }
        printf("%s\n", text);
        return 0;
    }
    pcl_shape_defaults(&p->shape, &p->paths);
    /*
     * The runners' accelerator, not probed here: give --accel, or let
     * pc-lite-run probe first (build/accel-probe.json).
     */
    accel = pcl_accel_for_boot(&p->paths, p->shape.accel, p->shape.kernel,
                               NULL, NULL, &err);
    g_free(p->shape.accel);
    p->shape.accel = accel;
    p->root_fd = accel && pcl_shape_user(&p->shape, &err) ?
        pcl_image_open(p->shape.rootfs, PCL_ROOT_READONLY, &p->root_size,
                       &err) : -1;
    if (p->root_fd >= 0) {
        p->listen_fd = listen_on(p->socket, &err);
    }
    if (p->root_fd < 0 || p->listen_fd < 0) {
        fprintf(stderr, "pc-lite-pool: %s\n", err->message);
        return 1;
    }
    p->top = pcl_template_top(&p->paths);
    p->vms = g_ptr_array_new();
    p->lent = g_array_new(FALSE, FALSE, sizeof(Lent));
    run(p);
    if (!g_getenv("LISTEN_FDS")) {
        unlink(p->socket);
    }
    return 0;
}
