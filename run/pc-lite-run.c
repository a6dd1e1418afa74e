/*
 * pc-lite-run: one command in a pc-lite VM booted from an NVDIMM/DAX
 * root image, its exit status as our own.
 *
 *   pc-lite-run [--rootfs IMG] [--cpus N] [--mem M] [options] -- COMMAND...
 *   pc-lite-run --clone [options] -- COMMAND...
 *   pc-lite-run --template-create | --template-list | --template-rm [KEY...]
 *
 * boots build/guest/vmlinux on -M pc-lite with IMG (an fsdax image made
 * by scripts/pc-lite-image.py, default build/guest/rootfs.img) as
 * /dev/pmem0, mounted as the root filesystem with DAX, runs COMMAND in
 * the guest through the command channel (docs/pc-lite.rst) with this
 * process's stdin, stdout and stderr as its own and SIGINT, SIGTERM and
 * SIGHUP forwarded to it, powers the VM off and exits with the command's
 * exit status (128 + N when signal N ended it; 125 when the VM could not
 * run it).  One word is a shell command line, several a program and its
 * arguments; no COMMAND gives a shell on the virtio console.
 *
 * --clone runs the command in a clone of a template (host/template.c),
 * made first when there is none; a clone's root image is read-only.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../host/host.h"

#define EXIT_VM 125
/* How long a VM may take to start the command: a cold boot, a clone. */
#define BOOT_TIMEOUT_MS (120 * 1000)
#define CLONE_TIMEOUT_MS (20 * 1000)
#define PROBE_TIMEOUT_MS (20 * 1000)

typedef struct {
    PclPaths paths;
    PclShape shape;             /* the VM: kernel, root, vCPUs, memory... */
    char *workdir, *timings_file;
    PclRootMode mode;
    GPtrArray *env;
    GPtrArray *share_tags, *share_paths;
    gboolean no_stdin, no_sandbox, keep_root, timings, qemu_argv;
    double timeout;
    gboolean clone, template_create, template_list, template_rm;
    int pool;                   /* 1 --pool, 0 --no-pool, -1 auto */
    char *pool_why;             /* why the pool did not serve a clone */
    char **words;               /* the command line's rest */
    char **command;             /* the command, NULL: a shell */
} Opts;

/* What went wrong: started says whether the command had started. */
typedef struct {
    GError *err;
    gboolean started;
} Failure;

static void usage(FILE *f)
{
    fprintf(f,
"usage: pc-lite-run [options] [-- COMMAND...]\n"
"\n"
"Run one command in a pc-lite VM booted from an NVDIMM/DAX root disk.\n"
"\n"
PCL_SHAPE_USAGE
"  --persist           guest writes reach the image\n"
"  --readonly          map the image read-only\n"
"  --share TAG=DIR     DIR as a virtio-9p share with mount tag TAG (the\n"
"                      command mounts it: mount -t 9p -o trans=virtio TAG\n"
"                      MOUNTPOINT)\n"
"  -e, --env NAME=VALUE  the command's environment (default: the guest's\n"
"                      PATH, HOME and TERM)\n"
"  -w, --workdir DIR   the command's working directory (default /root)\n"
"  -n, --no-stdin      the command's stdin is /dev/null\n"
"  --no-sandbox        QEMU without its seccomp filter\n"
"  --timings           print the boot-time breakdown on stderr\n"
"  --timings-file FILE write the breakdown to FILE as JSON, with\n"
"                      runner_cpu: pc-lite-run's own CPU time, ms\n"
"  --timeout SECONDS   kill the VM after this long (default: no limit)\n"
"  --clone             run the command in a clone of a template (from\n"
"                      pc-lite-pool's warm VMs when its socket is there)\n"
"  --pool              run it in a VM of pc-lite-pool (a clone when the\n"
"                      pool has none; socket: $PC_LITE_POOL)\n"
"  --no-pool           never take a VM of the pool\n"
"  --template-create   make the template for these options; print its key\n"
"  --template-list     list the templates\n"
"  --template-rm [KEY...]  remove these templates (all without a key)\n"
"  --qemu-argv         print QEMU's command line for these options, one\n"
"                      argument a line, the command channel on descriptor\n"
"                      3 and the console in /dev/null, and exit (a clone's:\n"
"                      its template is made first)\n"
"\n"
"Exit status: the command's (128 + N when signal N ended it); 125 when\n"
"the VM could not run it.\n");
}

static gboolean fail(GError **errp, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean fail(GError **errp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_propagate_error(errp, g_error_new_valist(PCL_ERROR, 0, fmt, ap));
    va_end(ap);
    return FALSE;
}

static gboolean parse_opts(Opts *o, int argc, char **argv, GError **errp)
{
    enum { PERSIST = 256, READONLY, NO_SANDBOX, TIMINGS, TIMINGS_FILE,
           TIMEOUT, CLONE, T_CREATE, T_LIST, T_RM, QEMU_ARGV, SHARE, POOL,
           NO_POOL };
    static const struct option own[] = {
        { "persist", no_argument, NULL, PERSIST },
        { "readonly", no_argument, NULL, READONLY },
        { "env", required_argument, NULL, 'e' },
        { "workdir", required_argument, NULL, 'w' },
        { "no-stdin", no_argument, NULL, 'n' },
        { "no-sandbox", no_argument, NULL, NO_SANDBOX },
        { "timings", no_argument, NULL, TIMINGS },
        { "timings-file", required_argument, NULL, TIMINGS_FILE },
        { "timeout", required_argument, NULL, TIMEOUT },
        { "clone", no_argument, NULL, CLONE },
        { "template-create", no_argument, NULL, T_CREATE },
        { "template-list", no_argument, NULL, T_LIST },
        { "template-rm", no_argument, NULL, T_RM },
        { "qemu-argv", no_argument, NULL, QEMU_ARGV },
        { "share", required_argument, NULL, SHARE },
        { "pool", no_argument, NULL, POOL },
        { "no-pool", no_argument, NULL, NO_POOL },
        { "help", no_argument, NULL, 'h' },
    };
    g_autoptr(GArray) longs = g_array_new(TRUE, TRUE, sizeof(struct option));
    int c, modes = 0, templates = 0, i;
    char *end;

    for (i = 0; pcl_shape_options[i].name; i++) {
        g_array_append_val(longs, pcl_shape_options[i]);
    }
    g_array_append_vals(longs, own, G_N_ELEMENTS(own));
    pcl_shape_init(&o->shape);
    o->mode = PCL_ROOT_COW;
    o->pool = -1;
    o->env = g_ptr_array_new_with_free_func(g_free);
    o->share_tags = g_ptr_array_new_with_free_func(g_free);
    o->share_paths = g_ptr_array_new_with_free_func(g_free);
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+e:w:nh",
                            (struct option *)longs->data, NULL)) != -1) {
        switch (c) {
        case PERSIST:
        case READONLY:
            modes++;
            o->mode = c == PERSIST ? PCL_ROOT_PERSIST : PCL_ROOT_READONLY;
            break;
        case 'e':
            if (!strchr(optarg, '=') || *optarg == '=') {
                return fail(errp, "--env %s: use NAME=VALUE", optarg);
            }
            g_ptr_array_add(o->env, g_strdup(optarg));
            break;
        case 'w':
            g_free(o->workdir);
            o->workdir = g_strdup(optarg);
            break;
        case 'n':
            o->no_stdin = TRUE;
            break;
        case NO_SANDBOX:
            o->no_sandbox = TRUE;
            break;
        case TIMINGS:
            o->timings = TRUE;
            break;
        case TIMINGS_FILE:
            g_free(o->timings_file);
            o->timings_file = g_strdup(optarg);
            break;
        case TIMEOUT:
            o->timeout = g_ascii_strtod(optarg, &end);
            if (*end || end == optarg || o->timeout < 0) {
                return fail(errp, "--timeout %s: use seconds", optarg);
            }
            break;
        case POOL:
        case NO_POOL:
            o->pool = c == POOL;
            o->clone |= c == POOL;
            break;
        case CLONE:
        case T_CREATE:
        case T_LIST:
        case T_RM:
            templates++;
            o->clone |= c == CLONE;
            o->template_create |= c == T_CREATE;
            o->template_list |= c == T_LIST;
            o->template_rm |= c == T_RM;
            break;
        case QEMU_ARGV:
            o->qemu_argv = TRUE;
            break;
        case SHARE: {
            const char *eq = strchr(optarg, '=');

            if (!eq || eq == optarg || !eq[1] || eq - optarg > 31 ||
                strcspn(optarg, ",") < (size_t)(eq - optarg) ||
                !g_file_test(eq + 1, G_FILE_TEST_IS_DIR)) {
                return fail(errp, "--share %s: use TAG=DIR, a tag of at most "
                            "31 characters without commas and a directory",
                            optarg);
            }
            g_ptr_array_add(o->share_tags, g_strndup(optarg, eq - optarg));
            g_ptr_array_add(o->share_paths, g_strdup(eq + 1));
            break;
        }
        case 'h':
            usage(stdout);
            exit(0);
        default:
            i = pcl_shape_option(&o->shape, c, optarg, errp);
            if (i < 0) {
                return FALSE;
            }
            if (i == 0) {
                return fail(errp, "%s: unknown option or missing value (see "
                            "--help)", argv[optind - 1]);
            }
        }
    }
    if (o->pool == 1 && templates && !o->clone) {
        return fail(errp, "--pool runs a command: not with --template-*");
    }
    if (modes > 1) {
        return fail(errp, "--persist and --readonly: one or the other");
    }
    if (templates > 1) {
        return fail(errp, "--clone, --template-create, --template-list and "
                    "--template-rm: one at a time");
    }
    o->words = argv + optind;
    /* One word is a shell command line, several a program and arguments. */
    if (o->words[0] && !o->template_rm) {
        if (o->words[1]) {
            o->command = g_strdupv(o->words);
        } else {
            o->command = g_new0(char *, 4);
            o->command[0] = g_strdup("/bin/sh");
            o->command[1] = g_strdup("-c");
            o->command[2] = g_strdup(o->words[0]);
        }
    }
    return TRUE;
}

/* The VM that opts describe, without the command's way in and out. */
static void describe(const Opts *o, gsize size, PclVm *vm)
{
    pcl_shape_vm(&o->shape, &o->paths, size, vm);
    vm->root_mode = o->mode;
    if (o->share_tags->len) {
        vm->share_tags = pcl_strv_of(o->share_tags);
        vm->share_paths = pcl_strv_of(o->share_paths);
    }
    vm->sandbox = !o->no_sandbox;
}

/* A template's machine: the root shared and read-only, sandboxed. */
static void describe_template(const Opts *o, gsize size, PclVm *vm)
{
    pcl_shape_template(&o->shape, &o->paths, size, vm);
    if (o->share_tags->len) {
        vm->share_tags = pcl_strv_of(o->share_tags);
        vm->share_paths = pcl_strv_of(o->share_paths);
    }
}

static void remade_because(const char *why)
{
    fprintf(stderr, "pc-lite-run: %s: making it again\n", why);
}

static gboolean get_template(const Opts *o, gsize size, PclTemplate *t,
                             GError **errp)
{
    g_autofree char *top = pcl_template_top(&o->paths);
    PclVm vm;
    gboolean ok;

    describe_template(o, size, &vm);
    ok = pcl_template_get(top, &vm, BOOT_TIMEOUT_MS, remade_because, t, errp);
    pcl_vm_clear(&vm);
    if (!ok) {
        g_prefix_error(errp, "cannot make the template: ");
    }
    return ok;
}

static double now_s(void)
{
    return g_get_real_time() / 1e6;
}

static char *last_lines(const char *text, int n)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    guint len = g_strv_length(lines);

    return g_strjoinv("\n", lines + (len > (guint)n ? len - n : 0));
}

/* Why the VM did not run the command, in one message. */
static void failure(Failure *f, const char *what, PclSession *s,
                    const char *console)
{
    g_autofree char *text = NULL, *con = NULL, *tail = NULL;
    int st = s->qemu_status;

    text = g_strstrip(g_strdup(s->qemu_stderr->str));
    if (st >= 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0) &&
        !(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) && *text) {
        g_autofree char *last = last_lines(text, 1);

        f->err = g_error_new(PCL_ERROR, 0, "%s", last);
        return;
    }
    if (g_file_get_contents(console, &con, NULL, NULL)) {
        tail = last_lines(g_strstrip(con), 5);
    }
    f->err = g_error_new(PCL_ERROR, 0, "%s%s%s", what,
                         tail && *tail ? "; the console said:\n" : "",
                         tail && *tail ? tail : "");
}

static void drain(int fd, GString *into)
{
    char buf[4096];
    ssize_t n;

    while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
        g_string_append_len(into, buf, n);
    }
}

/*
 * Run vm (its channel on theirs) with the command on ours: the command's
 * status, or -1 and f.  *t_exit is when QEMU exited.
 */
static int launch(const Opts *o, PclVm *vm, int ours, int theirs,
                  gboolean clone, const uint8_t *generation, int sfd,
                  double *t_exec, double *t_exit, gint64 *t_output,
                  Failure *f)
{
    g_auto(GStrv) argv = NULL;
    PclSession s = {
        .argv = o->command, .cwd = o->workdir,
        .in = o->no_stdin ? -1 : 0, .out = 1, .err = 2,
        .at_once = clone, .generation = generation, .chan = ours,
        .signal_fd = sfd,
        .start_timeout_ms = clone ? CLONE_TIMEOUT_MS : BOOT_TIMEOUT_MS,
    };
    struct stat st;
    int pipefd[2], status, ret;
    GError *err = NULL;

    if (o->qemu_argv) {
        int i;

        vm->channel_fd = 3;
        g_free(vm->console);
        vm->console = g_strdup("/dev/null");
        argv = pcl_vm_argv(vm);
        for (i = 0; argv[i]; i++) {
            printf("%s\n", argv[i]);
        }
        close(ours);
        close(theirs);
        return 0;
    }
    if (o->env->len) {
        g_ptr_array_add(o->env, NULL);
        s.env = (char **)o->env->pdata;
    }
    if (s.in >= 0 && fstat(0, &st) < 0) {
        s.in = -1;              /* no stdin at all */
    }
    if (o->timeout) {
        s.deadline_us = g_get_monotonic_time() + o->timeout * 1e6;
    }
    vm->channel_fd = theirs;
    argv = pcl_vm_argv(vm);
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        f->err = g_error_new(PCL_ERROR, 0, "pipe: %s", g_strerror(errno));
        return -1;
    }
    *t_exec = now_s();
    s.qemu = pcl_spawn_qemu(argv, &(PclSpawn){
                                .keep = &theirs, .nkeep = 1, .in = -1,
                                .out = -1, .err = pipefd[1] }, &f->err);
    close(pipefd[1]);
    close(theirs);
    if (s.qemu < 0) {
        close(pipefd[0]);
        return -1;
    }
    fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
    s.qemu_err = pipefd[0];
    s.qemu_stderr = g_string_new(NULL);
    ret = pcl_session_run(&s, &err);
    close(ours);
    if (ret < 0) {
        /* reaped here if the session did not, stderr read to its end */
        if (s.qemu_status < 0) {
            kill(s.qemu, SIGKILL);
            waitpid(s.qemu, &s.qemu_status, 0);
        }
        if (s.qemu_err >= 0) {
            fcntl(s.qemu_err, F_SETFL, 0);
            drain(s.qemu_err, s.qemu_stderr);
        }
        *t_exit = now_s();
        if (s.interrupted) {
            ret = 128 + s.interrupted;
        } else {
            g_autofree char *console = g_strdup(vm->console);

            failure(f, err->message, &s, console);
            f->started = s.started;
        }
        goto out;
    }
    if (clone) {
        /* Nothing of a clone outlives it: no need to wait for poweroff. */
        kill(s.qemu, SIGKILL);
    }
    if (s.qemu_status < 0) {
        int pidfd = syscall(SYS_pidfd_open, s.qemu, 0);
        struct pollfd pf = { .fd = pidfd, .events = POLLIN };

        /* QEMU powers off once init has its Q; 30 s at most. */
        if (pidfd < 0 || poll(&pf, 1, 30 * 1000) <= 0) {
            kill(s.qemu, SIGKILL);
        }
        if (pidfd >= 0) {
            close(pidfd);
        }
        waitpid(s.qemu, &status, 0);
        s.qemu_status = status;
    }
    *t_exit = now_s();
    if (s.qemu_err >= 0) {
        fcntl(s.qemu_err, F_SETFL, 0);
        drain(s.qemu_err, s.qemu_stderr);
    }
    status = s.qemu_status;
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
        !(clone && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
        failure(f, "QEMU failed", &s, vm->console);
        f->started = TRUE;
        ret = -1;
    }
out:
    *t_output = s.t_first_output_us;
    if (s.qemu_err >= 0) {
        close(s.qemu_err);
    }
    g_string_free(s.qemu_stderr, TRUE);
    g_clear_error(&err);
    if (o->env->len && !g_ptr_array_index(o->env, o->env->len - 1)) {
        g_ptr_array_remove_index(o->env, o->env->len - 1);
    }
    return ret;
}

static json_t *phases(const char *trace, gboolean clone, double t_exec,
                      double t_output, double t_exit)
{
    g_autofree char *text = NULL;
    PclStamps st;

    if (!g_file_get_contents(trace, &text, NULL, NULL)) {
        return NULL;
    }
    pcl_trace_parse(text, &st);
    return clone ? pcl_clone_phases(&st, t_exec, t_output, t_exit) :
           pcl_boot_phases(&st, t_exec, t_exit);
}

static int channel_pair(int sv[2], Failure *f)
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        f->err = g_error_new(PCL_ERROR, 0, "socketpair: %s",
                             g_strerror(errno));
        return -1;
    }
    return 0;
}

/* The command in a clone; a template that does not run is made again. */
static int run_clone(Opts *o, gsize size, const char *tmp, int sfd,
                     json_t **timings, Failure *f)
{
    int attempt, ret = -1;

    for (attempt = 1; attempt <= 2; attempt++) {
        g_autofree char *top = pcl_template_top(&o->paths);
        PclTemplate t;
        PclVm vm;
        uint8_t guid[16];
        gboolean has_guid;
        double t_exec = 0, t_exit = 0;
        gint64 t_out = 0;
        int sv[2];

        if (!get_template(o, size, &t, &f->err)) {
            return -1;
        }
        if (channel_pair(sv, f) < 0) {
            pcl_template_clear(&t);
            return -1;
        }
        describe_template(o, size, &vm);
        pcl_template_clone(&t, &vm, guid, &has_guid);
        vm.console = g_build_filename(tmp, "console", NULL);
        if (o->timings || o->timings_file) {
            vm.trace = g_build_filename(tmp, "trace", NULL);
        }
        ret = launch(o, &vm, sv[0], sv[1], TRUE, has_guid ? guid : NULL, sfd,
                     &t_exec, &t_exit, &t_out, f);
        if (ret < 0 && attempt == 1 && !f->started) {
            fprintf(stderr, "pc-lite-run: template %s is unusable (%s): "
                    "making it again\n", t.key, f->err->message);
            g_clear_error(&f->err);
            pcl_template_remove(top, t.key);
        } else if (ret >= 0 && vm.trace) {
            *timings = phases(vm.trace, TRUE, t_exec, t_out / 1e6, t_exit);
        }
        pcl_template_clear(&t);
        pcl_vm_clear(&vm);
        if (ret >= 0 || f->err) {
            return ret;
        }
    }
    return ret;
}

/*
 * The command in a VM of the pool: its status, -1 and f when it failed
 * once started, or -2 (o->pool_why says why) when the pool did not
 * serve it: then a clone does.
 */
static int run_pooled(Opts *o, gsize size, int sfd, json_t **timings,
                      Failure *f)
{
    g_autofree char *sock = pcl_pool_socket();
    g_autofree char *key = NULL;
    g_autoptr(GError) err = NULL;
    PclPooled vm;
    PclSession s = {
        .argv = o->command, .cwd = o->workdir,
        .in = o->no_stdin ? -1 : 0, .out = 1, .err = 2, .at_once = TRUE,
        .signal_fd = sfd, .qemu_err = -1, .pooled = TRUE,
        .start_timeout_ms = CLONE_TIMEOUT_MS,
    };
    double t_exec = now_s(), t_exit;
    struct stat st;
    PclVm desc;
    int ret;

    if (o->pool == 0 || !sock) {
        o->pool_why = g_strdup("not asked for");
        return -2;
    }
    if (o->pool < 0 && stat(sock, &st) < 0) {
        o->pool_why = g_strdup_printf("no pool at %s", sock);
        return -2;
    }
    if (o->share_tags->len) {
        o->pool_why = g_strdup("the pool's VMs have no 9p shares");
        return -2;
    }
    describe_template(o, size, &desc);
    key = pcl_template_key(&desc, &err);
    pcl_vm_clear(&desc);
    if (!key || !pcl_pool_take(sock, key, &vm, &err)) {
        o->pool_why = g_strdup(err->message);
        return -2;
    }
    if (o->env->len) {
        g_ptr_array_add(o->env, NULL);
        s.env = (char **)o->env->pdata;
    }
    if (s.in >= 0 && fstat(0, &st) < 0) {
        s.in = -1;
    }
    if (o->timeout) {
        s.deadline_us = g_get_monotonic_time() + o->timeout * 1e6;
    }
    s.chan = vm.chan;
    s.qemu = vm.pid;
    s.qemu_pidfd = vm.pidfd;
    s.generation = vm.has_guid ? vm.guid : NULL;
    s.qemu_stderr = g_string_new(NULL);
    ret = pcl_session_run(&s, &err);
    close(vm.chan);
    /*
     * Nothing of it outlives the run, as a clone: killed now (the pool
     * reaps it; it is not waited for here).
     */
    syscall(SYS_pidfd_send_signal, vm.pidfd, SIGKILL, NULL, 0);
    t_exit = now_s();
    close(vm.pidfd);
    g_string_free(s.qemu_stderr, TRUE);
    if (o->env->len && !g_ptr_array_index(o->env, o->env->len - 1)) {
        g_ptr_array_remove_index(o->env, o->env->len - 1);
    }
    if (ret < 0 && s.interrupted) {
        return 128 + s.interrupted;
    }
    if (ret < 0 && !s.started) {
        o->pool_why = g_strdup_printf("its VM failed: %s", err->message);
        return -2;
    }
    if (ret < 0) {
        f->err = g_error_new(PCL_ERROR, 0, "%s", err->message);
        f->started = TRUE;
        return -1;
    }
    *timings = json_pack("{s:s, s:o, s:f}", "source", "pool",
                         "first_output", s.t_first_output_us ?
                         json_real((s.t_first_output_us / 1e6 - t_exec) *
                                   1e3) : json_null(),
                         "exit", (t_exit - t_exec) * 1e3);
    return ret;
}

/* Boot (or clone) and run the command (NULL: a shell). */
static int run(Opts *o, json_t **timings, Failure *f)
{
    g_autofree char *tmp = NULL;
    int root, sfd = -1, ret = -1;
    PclVm vm;
    gsize size;
    sigset_t mask;

    /* Templates and their clones map the root read-only. */
    root = pcl_image_open(o->shape.rootfs,
                          o->clone ? PCL_ROOT_READONLY : o->mode,
                          &size, &f->err);
    if (root < 0) {
        return -1;
    }
    if (access(o->shape.kernel, F_OK) < 0) {
        f->err = g_error_new(PCL_ERROR, 0, "kernel %s: not found (run \"make "
                             "guest\")", o->shape.kernel);
        close(root);
        return -1;
    }
    tmp = g_build_filename(g_get_tmp_dir(), "pc-lite-run-XXXXXX", NULL);
    if (!g_mkdtemp(tmp)) {
        f->err = g_error_new(PCL_ERROR, 0, "%s: %s", tmp, g_strerror(errno));
        close(root);
        return -1;
    }
    if (!o->command) {
        /* A shell on the console: QEMU's stdio is ours. */
        g_auto(GStrv) argv = NULL;
        int status;
        pid_t pid;

        describe(o, size, &vm);
        vm.shell = TRUE;
        vm.rng = FALSE;
        argv = pcl_vm_argv(&vm);
        pid = pcl_spawn_qemu(argv, &(PclSpawn){ .in = 0, .out = 1, .err = 2 },
                             &f->err);
        if (pid > 0 && waitpid(pid, &status, 0) == pid) {
            ret = WIFEXITED(status) ? WEXITSTATUS(status) :
                  128 + WTERMSIG(status);
        }
        pcl_vm_clear(&vm);
        goto out;
    }
    /* Forwarded to the command: taken from a signalfd. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (o->clone) {
        ret = run_pooled(o, size, sfd, timings, f);
        if (ret == -2) {
            ret = run_clone(o, size, tmp, sfd, timings, f);
            if (*timings) {
                json_object_set_new(*timings, "source", json_string("clone"));
                json_object_set_new(*timings, "pool",
                                    json_string(o->pool_why));
            }
        }
    } else {
        double t_exec = 0, t_exit = 0;
        gint64 t_out = 0;
        int sv[2];

        if (channel_pair(sv, f) == 0) {
            describe(o, size, &vm);
            vm.console = g_build_filename(tmp, "console", NULL);
            if (o->timings || o->timings_file) {
                vm.trace = g_build_filename(tmp, "trace", NULL);
            }
            ret = launch(o, &vm, sv[0], sv[1], FALSE, NULL, sfd, &t_exec,
                         &t_exit, &t_out, f);
            if (ret >= 0 && vm.trace) {
                *timings = phases(vm.trace, FALSE, t_exec, 0, t_exit);
            }
            pcl_vm_clear(&vm);
        }
    }
out:
    if (sfd >= 0) {
        close(sfd);
    }
    pcl_remove_tree(tmp);
    close(root);
    return ret;
}

static void print_template(const char *top, const char *key)
{
    g_autofree char *dir = g_build_filename(top, key, NULL);
    g_autoptr(GError) err = NULL;
    json_t *m = pcl_template_check(dir, &err);
    json_t *shares;
    char made[64];
    time_t when;
    gsize n;

    if (!m) {
        printf("%s  unusable: %s\n", key, err->message);
        return;
    }
    when = json_number_value(json_object_get(m, "created"));
    strftime(made, sizeof(made), "%Y-%m-%d %H:%M:%S", localtime(&when));
    printf("%s  %d vCPU, %d MiB, %s, kernel %s, root %s, state %lld bytes",
           key, (int)json_integer_value(json_object_get(m, "cpus")),
           (int)json_integer_value(json_object_get(m, "mem_mib")),
           json_string_value(json_object_get(m, "accel")),
           json_string_value(json_array_get(json_object_get(m, "kernel"), 0)),
           json_string_value(json_array_get(json_object_get(m, "rootfs"), 0)),
           (long long)json_integer_value(json_object_get(
               json_object_get(m, "sizes"), "state")));
    shares = json_object_get(m, "shares");
    n = json_array_size(shares);
    if (n) {
        printf(", %" G_GSIZE_FORMAT " 9p share%s", n, n > 1 ? "s" : "");
    }
    n = json_integer_value(json_object_get(m, "nics"));
    if (n) {
        printf(", %" G_GSIZE_FORMAT " NIC%s", n, n > 1 ? "s" : "");
    }
    printf(", made %s\n", made);
    json_decref(m);
}

/* --template-list, --template-rm: the exit status. */
static int template_command(Opts *o)
{
    g_autofree char *top = pcl_template_top(&o->paths);
    g_auto(GStrv) all = pcl_template_keys(top);
    char **keys = o->template_rm && o->words[0] ? o->words : all;
    int i, status = 0;

    for (i = 0; keys[i]; i++) {
        if (o->template_list) {
            print_template(top, keys[i]);
        } else if (!pcl_template_remove(top, keys[i])) {
            fprintf(stderr, "pc-lite-run: no template %s\n", keys[i]);
            status = EXIT_VM;
        }
    }
    return status;
}

/* The accelerator probe: does KVM boot the kernel and run a command? */
static gboolean kvm_boots(const char *kernel, void *opaque)
{
    static char *true_argv[] = { (char *)"true", NULL };
    Opts probe = *(Opts *)opaque;
    Failure f = { 0 };
    json_t *timings = NULL;
    int ret;

    probe.shape.accel = (char *)"kvm";
    probe.command = true_argv;
    probe.mode = PCL_ROOT_COW;
    probe.clone = FALSE;
    probe.no_stdin = TRUE;
    probe.timeout = PROBE_TIMEOUT_MS / 1000.0;
    probe.timings = FALSE;
    probe.timings_file = NULL;
    ret = run(&probe, &timings, &f);
    g_clear_error(&f.err);
    return ret == 0;
}

int main(int argc, char **argv)
{
    Opts o = { 0 };
    Failure f = { 0 };
    json_t *timings = NULL;
    gboolean default_root;
    int ret = -1;

    signal(SIGPIPE, SIG_IGN);
    pcl_paths_init(&o.paths);
    if (!parse_opts(&o, argc, argv, &f.err)) {
        goto out;
    }
    default_root = !o.shape.rootfs;
    pcl_shape_defaults(&o.shape, &o.paths);
    if ((o.clone || o.template_create) && o.mode != PCL_ROOT_COW) {
        fail(&f.err, "templates map the root image read-only: --persist and "
             "--readonly do not apply");
    } else if (o.clone && !o.command) {
        fail(&f.err, "--clone needs a command");
    } else if (o.mode == PCL_ROOT_PERSIST && default_root) {
        fail(&f.err, "--persist needs --rootfs: the default image is shared "
             "by every run and test");
    } else if (o.template_list || o.template_rm) {
        ret = template_command(&o);
    } else if (pcl_shape_user(&o.shape, &f.err)) {
        char *accel = pcl_accel_for_boot(&o.paths, o.shape.accel,
                                         o.shape.kernel, kvm_boots, &o,
                                         &f.err);

        g_free(o.shape.accel);
        o.shape.accel = accel;
        if (!accel) {
            goto out;
        }
        if (o.template_create) {
            PclTemplate t;
            gsize size;
            int root = pcl_image_open(o.shape.rootfs, PCL_ROOT_READONLY,
                                      &size, &f.err);

            if (root >= 0 && get_template(&o, size, &t, &f.err)) {
                printf("%s\n", t.key);
                pcl_template_clear(&t);
                ret = 0;
            }
            if (root >= 0) {
                close(root);
            }
        } else {
            ret = run(&o, &timings, &f);
        }
    }
out:
    if (ret < 0) {
        fprintf(stderr, "pc-lite-run: %s\n",
                f.err ? f.err->message : "failed");
        return EXIT_VM;
    }
    if (timings && o.timings_file) {
        struct rusage ru;

        /* Our own CPU since exec, QEMU's not included (a benchmark's) */
        getrusage(RUSAGE_SELF, &ru);
        json_object_set_new(timings, "runner_cpu", json_real(
            (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
            (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3));
        json_dump_file(timings, o.timings_file, 0);
    }
    if (timings && o.timings) {
        g_autofree char *table = pcl_phases_format(timings);

        fprintf(stderr, "pc-lite-run: %s breakdown (host clock, ms, "
                "accelerator %s%s%s):\n%s\n",
                !o.clone ? "boot-time" : o.pool_why ? "clone" : "pool",
                o.shape.accel,
                o.pool_why && o.pool == 1 ? "; not from the pool: " : "",
                o.pool_why && o.pool == 1 ? o.pool_why : "", table);
    }
    json_decref(timings);
    return ret;
}
