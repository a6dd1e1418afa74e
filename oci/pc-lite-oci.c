/*
 * pc-lite-oci: an OCI runtime (the command-line interface of runc and
 * crun) that runs each container in a pc-lite VM, for podman, Docker and
 * containerd.  docs/pc-lite.rst, "Containers: pc-lite-oci", says how to
 * register it and what of the runtime spec it implements.
 *
 *   pc-lite-oci [global options] create --bundle DIR [--pid-file F]
 *                                       [--console-socket S] ID
 *   pc-lite-oci [global options] start|state|pause|resume ID
 *   pc-lite-oci [global options] ps [--format table|json] ID
 *   pc-lite-oci [global options] update [--resources F|-] [--cpu-quota N]
 *                                       [--cpu-period N] [--cpu-share N] ID
 *   pc-lite-oci [global options] kill [--all] ID [SIGNAL]
 *   pc-lite-oci [global options] delete [--force] ID
 *   pc-lite-oci [global options] exec --process F [--detach]
 *                                     [--pid-file F] [--console-socket S] ID
 *   pc-lite-oci features
 *   pc-lite-oci --version
 * Global options: --root DIR (state, default /run/pc-lite-oci), --log F,
 * --log-format text|json, --systemd-cgroup, --debug (accepted), --accel
 * kvm|tcg|auto, --cpu-log F or PC_LITE_OCI_CPU_LOG=F (each process of
 * pc-lite-oci appends "WHAT ID CPU_US START_US": its CPU time, and the
 * part of it spent before main(), for the benchmark).
 *
 * State of container ID, in ROOT/ID: state.json (written by create),
 * ctl.sock (the monitor's control socket, oci/monitor.c), "started" once
 * started, "exit" (its exit status) once stopped, "paused" while
 * paused, qemu.pid, qemu.log, console.log, binds/ (the sources of its
 * bind mounts, shared into the VM).
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

#include "oci.h"
#include "../proto/channel.h"

#define DEFAULT_ROOT "/run/pc-lite-oci"

static struct {
    char *root;
    char *accel;
} opts;

/* Commands' options: --name VALUE, --name=VALUE, flags. */
typedef struct {
    const char *bundle, *pid_file, *console_socket, *process, *format;
    const char *resources, *cpu_quota, *cpu_period, *cpu_share, *memory;
    const char *pids_limit;
    const char *unmapped;       /* a valued option of runc's not taken */
    gboolean force, all, detach, tty;
    char **rest;
} CmdOpts;

static char *state_dir(const char *id)
{
    return g_build_filename(opts.root, id, NULL);
}

static gboolean valid_id(const char *id)
{
    return id && *id && strlen(id) < 1024 && !strchr(id, '/') &&
           strcmp(id, ".") && strcmp(id, "..");
}

/* The state directory of an existing container, or an error. */
static char *existing(const char *id)
{
    g_autofree char *dir = NULL;

    if (!valid_id(id)) {
        oci_error("%s: not a container ID", id ? id : "(none)");
        return NULL;
    }
    dir = state_dir(id);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        oci_error("container %s does not exist", id);
        return NULL;
    }
    return g_steal_pointer(&dir);
}

/* One request and its reply ("ok" or "error: ..."): 0, or 1 after an error. */
static int ctl_request(const char *dir, const char *id, const char *req)
{
    g_autoptr(GError) err = NULL;
    char buf[512];
    ssize_t n;
    int fd = oci_ctl_connect(dir, &err);

    if (fd < 0 || !oci_ctl_send(fd, req, strlen(req), NULL, 0, &err)) {
        oci_error("container %s: %s", id, err->message);
        if (fd >= 0) {
            close(fd);
        }
        return 1;
    }
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    buf[MAX(n, 0)] = '\0';
    if (n <= 0) {
        /* The monitor ended meanwhile (a kill that stopped it). */
        return 0;
    }
    if (g_str_has_prefix(buf, "error: ")) {
        oci_error("container %s: %s", id, buf + 7);
        return 1;
    }
    return 0;
}

/* Field 22 of /proc/PID/stat: tells a PID's process from a later one. */
static guint64 start_time(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", pid);
    g_autofree char *text = NULL;
    char *p;
    int i;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return 0;
    }
    p = strrchr(text, ')');
    for (i = 2; i < 22 && p; i++) {
        p = strchr(p + 1, ' ');
    }
    return p ? g_ascii_strtoull(p + 1, NULL, 10) : 0;
}

typedef struct {
    json_t *o;                  /* state.json */
    pid_t pid;
    const char *status;
} State;

/* The container's state.json and its status now (json_decref(st->o)). */
static gboolean load_state(const char *dir, State *st)
{
    g_autofree char *path = g_build_filename(dir, "state.json", NULL);
    g_autofree char *started = g_build_filename(dir, "started", NULL);
    g_autofree char *exited = g_build_filename(dir, "exit", NULL);
    g_autofree char *paused = g_build_filename(dir, "paused", NULL);
    g_autofree char *creating = g_build_filename(dir, "creating", NULL);
    json_t *t;

    st->o = json_load_file(path, 0, NULL);
    if (!json_is_object(st->o)) {
        return FALSE;
    }
    st->pid = json_integer_value(json_object_get(st->o, "pid"));
    t = json_object_get(st->o, "monitorStart");
    if (st->pid > 0 && !g_file_test(exited, G_FILE_TEST_EXISTS) &&
        start_time(st->pid) == (guint64)json_integer_value(t) &&
        kill(st->pid, 0) == 0) {
        st->status = g_file_test(creating, G_FILE_TEST_EXISTS) ? "creating" :
                     !g_file_test(started, G_FILE_TEST_EXISTS) ? "created" :
                     g_file_test(paused, G_FILE_TEST_EXISTS) ? "paused" :
                     "running";
    } else {
        st->status = "stopped";
    }
    return TRUE;
}

/* The hooks create recorded (hooks.json), or NULL. */
static json_t *recorded_hooks(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "hooks.json", NULL);

    return json_load_file(path, 0, NULL);
}

/* poststart and poststop: a failure is reported, the command goes on. */
static void run_post_hooks(const char *dir, const char *kind, State *st,
                           const char *status)
{
    g_autoptr(GError) err = NULL;
    json_t *hooks = recorded_hooks(dir);
    g_autofree char *state = NULL;

    if (!json_array_size(json_object_get(hooks, kind))) {
        json_decref(hooks);
        return;
    }
    state = oci_hook_state(
        json_string_value(json_object_get(st->o, "id")), status,
        strcmp(status, "stopped") ? st->pid : 0,
        json_string_value(json_object_get(st->o, "bundle")),
        json_object_get(st->o, "annotations"));
    if (!oci_hooks_run(hooks, kind, state, &err)) {
        oci_error("container %s: %s (ignored)",
                  json_string_value(json_object_get(st->o, "id")),
                  err->message);
    }
    json_decref(hooks);
}

/*
 * features (the runtime spec's features.md): what of a configuration this
 * runtime takes.  Every hook (hooks.c); every namespace but the user
 * namespace (ID mappings are refused), the VM being the container's
 * boundary and the monitor living in the others (ns.c); cgroups v1 and
 * v2 for the VM's processes (cgroup.c), not systemd's API; capabilities,
 * seccomp and LSM labels are not applied inside the VM.
 */
static int cmd_features(void)
{
    json_t *f = json_pack(
        "{s:s, s:s, s:[ssssss], s:{s:[ssssss], s:{s:b, s:b, s:b, s:b},"
        " s:{s:b}, s:{s:b}, s:{s:b}}, s:{s:s, s:s}}",
        "ociVersionMin", "1.0.0", "ociVersionMax", OCI_VERSION, "hooks",
        "prestart", "createRuntime", "createContainer", "startContainer",
        "poststart", "poststop",
        "linux", "namespaces", "cgroup", "ipc", "mount", "network", "pid",
        "uts", "cgroup", "v1", 1, "v2", 1, "systemd", 0, "systemdUser", 0,
        "seccomp", "enabled", 0, "apparmor", "enabled", 0,
        "selinux", "enabled", 0,
        "annotations", "io.github.pc-lite.oci.version", PC_LITE_OCI_VERSION,
        "org.pclite.template", "off: boot the VM, no template");
    char *text = json_dumps(f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    printf("%s\n", text);
    free(text);
    json_decref(f);
    return 0;
}

static int cmd_state(const char *id)
{
    g_autofree char *dir = existing(id);
    State st = { 0 };
    char *text;

    if (!dir) {
        return 1;
    }
    if (!load_state(dir, &st)) {
        oci_error("container %s: no state (being created?)", id);
        json_decref(st.o);
        return 1;
    }
    json_object_set_new(st.o, "status", json_string(st.status));
    if (!strcmp(st.status, "stopped")) {
        json_object_set_new(st.o, "pid", json_integer(0));
    }
    json_object_del(st.o, "monitorStart");
    text = json_dumps(st.o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", text);
    free(text);
    json_decref(st.o);
    return 0;
}

static int cmd_start(const char *id)
{
    g_autofree char *dir = existing(id);
    State st = { 0 };
    int ret = 1;

    if (!dir) {
        return 1;
    }
    if (!load_state(dir, &st) || strcmp(st.status, "created")) {
        oci_error("container %s is %s, not created", id,
                  st.status ? st.status : "not ready");
    } else {
        ret = ctl_request(dir, id, "start");
        if (ret == 0) {
            run_post_hooks(dir, "poststart", &st, "running");
        }
    }
    json_decref(st.o);
    return ret;
}

static int cmd_kill(const char *id, const char *signame, gboolean all)
{
    g_autofree char *dir = existing(id);
    g_autofree char *req = NULL;
    State st = { 0 };
    int sig = oci_signal_parse(signame), ret = 1;

    if (!dir) {
        return 1;
    }
    if (sig < 0) {
        oci_error("%s: not a signal", signame);
        return 1;
    }
    if (!load_state(dir, &st) || !strcmp(st.status, "stopped")) {
        /*
         * As runc: signalling every process of a stopped container is
         * done (there are none); its init alone cannot be signalled, in
         * runc's words, which containerd's shim takes for "exited".
         */
        if (all) {
            ret = 0;
        } else {
            oci_error("container %s: container not running", id);
        }
    } else {
        req = g_strdup_printf("kill %d %d", sig, all);
        ret = ctl_request(dir, id, req);
    }
    json_decref(st.o);
    return ret;
}

/* Unmount the directories create bind-mounted into binds/. */
static void unmount_binds(const char *dir)
{
    g_autofree char *binds = g_build_filename(dir, "binds", NULL);
    g_autoptr(GDir) d = g_dir_open(binds, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(binds, name, NULL);

        umount2(p, MNT_DETACH);
    }
}

/* pid runs a QEMU (its binary may since have been replaced). */
static gboolean is_qemu(pid_t pid)
{
    g_autofree char *exe = g_strdup_printf("/proc/%d/exe", pid);
    g_autofree char *target = g_file_read_link(exe, NULL);
    g_autofree char *base = target ? g_path_get_basename(target) : NULL;

    return base && g_str_has_prefix(base, "qemu-system-x86_64");
}

/* The container's QEMU (qemu.pid) while it runs, else 0. */
static pid_t container_qemu(const char *dir)
{
    g_autofree char *qpath = g_build_filename(dir, "qemu.pid", NULL);
    g_autofree char *qtext = NULL;
    pid_t q;

    if (!g_file_get_contents(qpath, &qtext, NULL, NULL)) {
        return 0;
    }
    q = atoi(qtext);
    return q > 0 && kill(q, 0) == 0 && is_qemu(q) ? q : 0;
}

/* Stop the container's monitor and QEMU for good. */
static void stop_processes(const char *dir, pid_t monitor)
{
    pid_t q;
    int i;

    kill(monitor, SIGKILL);
    for (i = 0; i < 500 && kill(monitor, 0) == 0; i++) {
        g_usleep(2000);
    }
    /* QEMU dies with its monitor (PDEATHSIG); make sure of it. */
    q = container_qemu(dir);
    if (q > 0) {
        kill(q, SIGKILL);
    }
}

/*
 * pause and resume: the VM stopped and continued as a whole, SIGSTOP and
 * SIGCONT to its QEMU (as runc freezes a container's cgroup, every
 * process of the container at once); "paused" in the state directory
 * marks it for state.  Signals and input sent meanwhile wait for resume.
 */
static int cmd_pause(const char *id, gboolean pause)
{
    g_autofree char *dir = existing(id);
    g_autofree char *mark = NULL;
    g_autoptr(GError) err = NULL;
    const char *want = pause ? "running" : "paused";
    State st = { 0 };
    int ret = 1;
    pid_t q;

    if (!dir) {
        return 1;
    }
    mark = g_build_filename(dir, "paused", NULL);
    q = container_qemu(dir);
    if (!load_state(dir, &st) || strcmp(st.status, want)) {
        oci_error("container %s is %s, not %s", id,
                  st.status ? st.status : "not ready", want);
    } else if (!q) {
        oci_error("container %s: its VM is gone", id);
    } else if (pause && !oci_write_file(mark, "", 0, &err)) {
        oci_error("container %s: %s", id, err->message);
    } else if (kill(q, pause ? SIGSTOP : SIGCONT) < 0) {
        oci_error("container %s: %s", id, g_strerror(errno));
        if (pause) {
            unlink(mark);
        }
    } else {
        if (!pause) {
            unlink(mark);
        }
        ret = 0;
    }
    json_decref(st.o);
    return ret;
}

/* The cgroups create recorded ("cgroup": one directory a line). */
static char **recorded_cgroups(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "cgroup", NULL);
    g_autofree char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL) || !*text) {
        return NULL;
    }
    return g_strsplit(text, "\n", -1);
}

/* A "ps" request sent to the monitor: its connection in *fd. */
static gboolean ps_request(const char *dir, int *fd, GError **errp)
{
    *fd = oci_ctl_connect(dir, errp);
    return *fd >= 0 && oci_ctl_send(*fd, "ps", 2, NULL, 0, errp);
}

/*
 * ps: --format json lists the container's processes on the host, the
 * monitor and its QEMU (what Docker's top and containerd's task ps look
 * up on the host by PID: never a process of anyone else); the table is
 * the guest's processes, from its init through the channel.
 */
static int cmd_ps(const char *id, const char *format)
{
    g_autofree char *dir = existing(id);
    g_autoptr(GError) err = NULL;
    g_autofree char *buf = NULL;
    State st = { 0 };
    int fd = -1, ret = 1;
    ssize_t n;

    if (!dir) {
        return 1;
    }
    if (format && strcmp(format, "json") && strcmp(format, "table")) {
        oci_error("--format %s: json or table", format);
        return 1;
    }
    if (!load_state(dir, &st) || !strcmp(st.status, "stopped")) {
        oci_error("container %s: container not running", id);
    } else if (!g_strcmp0(format, "json")) {
        pid_t q = container_qemu(dir);

        if (q) {
            printf("[%d,%d]\n", st.pid, q);
        } else {
            printf("[%d]\n", st.pid);
        }
        ret = 0;
    } else if (!ps_request(dir, &fd, &err)) {
        oci_error("container %s: %s", id, err->message);
    } else {
        buf = g_malloc(CHANNEL_MAX + 1);
        n = recv(fd, buf, CHANNEL_MAX, 0);
        if (n < 0) {
            oci_error("container %s: %s", id, g_strerror(errno));
        } else {
            buf[n] = '\0';
            printf("PID UID COMMAND\n%s", buf);
            ret = 0;
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    json_decref(st.o);
    return ret;
}

/*
 * A member of linux.resources that is set: not null, 0, false or [], nor
 * an object with nothing set (engines send every field, most of them 0).
 */
static gboolean is_set(json_t *v)
{
    const char *name;
    json_t *m;

    if (json_is_object(v)) {
        json_object_foreach(v, name, m) {
            if (is_set(m)) {
                return TRUE;
            }
        }
        return FALSE;
    }
    return v && !json_is_null(v) &&
           !(json_is_integer(v) && !json_integer_value(v)) &&
           !(json_is_array(v) && !json_array_size(v)) &&
           !json_is_false(v);
}

/*
 * update: what maps to a VM.  The CPU controls of linux.resources
 * (shares, quota, period) go to the cgroup of the VM's processes and so
 * limit the VM; the memory limit can only stay what the VM has (its RAM
 * is fixed when it starts); anything else is refused with its name.
 */
static int cmd_update(const char *id, const char *resources, CmdOpts *o)
{
    g_autofree char *dir = existing(id);
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) cgroups = NULL;
    json_t *r = NULL, *cpu, *v;
    json_error_t je;
    const char *name;
    State st = { 0 };
    OciSpec *spec = NULL;
    int ret = 1;

    if (!dir) {
        return 1;
    }
    if (resources) {
        r = !strcmp(resources, "-") ? json_loadf(stdin, 0, &je) :
            json_load_file(resources, 0, &je);
        if (!json_is_object(r)) {
            oci_error("--resources %s: %s", resources,
                      r ? "not a JSON object" : je.text);
            json_decref(r);
            return 1;
        }
    } else {
        r = json_object();
    }
#define FLAG(field, obj, key) \
    if (o->field) { \
        json_t *c_ = json_object_get(r, obj) ?: json_object(); \
        json_object_set(r, obj, c_); \
        json_object_set_new(c_, key, json_integer( \
            g_ascii_strtoll(o->field, NULL, 10))); \
        json_decref(c_); \
    }
    FLAG(cpu_quota, "cpu", "quota");
    FLAG(cpu_period, "cpu", "period");
    FLAG(cpu_share, "cpu", "shares");
    FLAG(memory, "memory", "limit");
    FLAG(pids_limit, "pids", "limit");
#undef FLAG
    cgroups = recorded_cgroups(dir);
    if (!load_state(dir, &st) || !strcmp(st.status, "stopped")) {
        oci_error("container %s: container not running", id);
        goto out;
    }
    spec = oci_spec_load(json_string_value(json_object_get(st.o, "bundle")),
                         &err);
    json_object_foreach(r, name, v) {
        if (!strcmp(name, "cpu") || !is_set(v)) {
            continue;
        }
        if (!strcmp(name, "memory")) {
            json_t *limit = json_object_get(v, "limit");
            const char *key;
            json_t *m;

            json_object_foreach(v, key, m) {
                if (strcmp(key, "limit") && strcmp(key, "swap") &&
                    strcmp(key, "reservation") && is_set(m)) {
                    oci_error("container %s: linux.resources.memory.%s "
                              "cannot be changed for a VM", id, key);
                    goto out;
                }
            }
            if (is_set(limit) && json_integer_value(limit) > 0 &&
                (!spec || json_integer_value(limit) >> 20 != spec->mem_mib)) {
                oci_error("container %s: linux.resources.memory.limit: a "
                          "VM's memory is fixed when it starts (%d MiB)", id,
                          spec ? spec->mem_mib : 0);
                goto out;
            }
            continue;
        }
        oci_error("container %s: linux.resources.%s cannot be changed for "
                  "a VM (only the CPU's shares, quota and period)", id, name);
        goto out;
    }
    cpu = json_object_get(r, "cpu");
    json_object_foreach(cpu, name, v) {
        if (is_set(v) && (!json_is_integer(v) ||
                          (strcmp(name, "shares") && strcmp(name, "quota") &&
                           strcmp(name, "period")))) {
            oci_error("container %s: linux.resources.cpu.%s cannot be "
                      "changed for a VM", id, name);
            goto out;
        }
    }
    v = json_object_get(cpu, "shares");
    if (is_set(v)) {
        guint64 sh = MAX(json_integer_value(v), 2);
        /* v2's weight from v1's shares, as runc converts them. */
        g_autofree char *text = g_strdup_printf(
            "%" G_GUINT64_FORMAT,
            oci_cgroup_v2() ? 1 + ((sh - 2) * 9999) / 262142 : sh);

        oci_cgroup_write_cpu(cgroups, "cpu.shares", "cpu.weight", text,
                             &err);
    }
    if (!err && (is_set(json_object_get(cpu, "quota")) ||
                 is_set(json_object_get(cpu, "period")))) {
        json_int_t quota = json_integer_value(json_object_get(cpu, "quota"));
        json_int_t period = json_integer_value(json_object_get(cpu,
                                                               "period"));
        g_autofree char *q = g_strdup_printf("%" JSON_INTEGER_FORMAT,
                                             quota > 0 ? quota : -1);
        g_autofree char *p = g_strdup_printf("%" JSON_INTEGER_FORMAT,
                                             period > 0 ? period : 100000);
        g_autofree char *max = g_strdup_printf("%s %s", quota > 0 ? q : "max",
                                               p);

        if (oci_cgroup_v2()) {
            oci_cgroup_write_cpu(cgroups, NULL, "cpu.max", max, &err);
        } else if (oci_cgroup_write_cpu(cgroups, "cpu.cfs_period_us", NULL,
                                        p, &err)) {
            oci_cgroup_write_cpu(cgroups, "cpu.cfs_quota_us", NULL, q, &err);
        }
    }
    if (err) {
        oci_error("container %s: %s", id, err->message);
    } else {
        ret = 0;
    }
out:
    oci_spec_free(spec);
    json_decref(st.o);
    json_decref(r);
    return ret;
}

static void teardown_network(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, "net", NULL);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;

    if (g_file_get_contents(path, &text, NULL, NULL)) {
        lines = g_strsplit(text, "\n", -1);
        oci_net_teardown(lines[0], lines + 1);
    }
}

static int cmd_delete(const char *id, gboolean force)
{
    g_autofree char *dir = existing(id);
    g_auto(GStrv) cgroups = NULL;
    State st = { 0 };

    if (!dir) {
        return 1;
    }
    if (load_state(dir, &st) && strcmp(st.status, "stopped")) {
        if (strcmp(st.status, "created") && !force) {
            oci_error("container %s is %s: stop it first, or use "
                      "--force", id, st.status);
            json_decref(st.o);
            return 1;
        }
        stop_processes(dir, st.pid);
    }
    teardown_network(dir);
    cgroups = recorded_cgroups(dir);
    oci_cgroup_remove(cgroups);
    if (st.o) {
        run_post_hooks(dir, "poststop", &st, "stopped");
    }
    json_decref(st.o);
    unmount_binds(dir);
    pcl_remove_tree(dir);
    return 0;
}

/* Copy a file bind-mount source into binds/N (regular files only). */
static gboolean copy_file(const char *src, const char *dst, mode_t mode,
                          GError **errp)
{
    g_autofree char *data = NULL;
    gsize len;

    if (!g_file_get_contents(src, &data, &len, errp)) {
        return FALSE;
    }
    if (!oci_write_file(dst, data, len, errp)) {
        return FALSE;
    }
    chmod(dst, mode & 07777);
    return TRUE;
}

/*
 * binds/N for each bind mount: a copy of a file (podman's /etc/hosts,
 * /etc/resolv.conf, ...), or the directory bind-mounted there (volumes).
 */
static gboolean prepare_binds(const OciSpec *spec, const char *dir,
                              GError **errp)
{
    g_autofree char *binds = g_build_filename(dir, "binds", NULL);
    guint i, n = 0;

    if (g_mkdir(binds, 0700) < 0) {
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "%s: %s", binds, g_strerror(errno));
        return FALSE;
    }
    for (i = 0; i < spec->mounts->len; i++) {
        OciMount *m = g_ptr_array_index(spec->mounts, i);
        g_autofree char *dst = NULL;
        struct stat st;

        if (!m->bind || !strcmp(m->dest, "/dev/shm")) {
            continue;
        }
        dst = g_strdup_printf("%s/%u", binds, n++);
        if (stat(m->source, &st) < 0) {
            g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno),
                        "bind mount %s: %s", m->source, g_strerror(errno));
            return FALSE;
        }
        if (S_ISREG(st.st_mode)) {
            if (!copy_file(m->source, dst, st.st_mode, errp)) {
                return FALSE;
            }
        } else if (S_ISDIR(st.st_mode)) {
            if (g_mkdir(dst, 0755) < 0 ||
                mount(m->source, dst, NULL, MS_BIND | MS_REC, NULL) < 0) {
                g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno),
                            "bind mount %s: %s", m->source,
                            g_strerror(errno));
                return FALSE;
            }
        } else {
            g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                        "bind mount %s: only files and directories can be "
                        "shared into the VM", m->source);
            return FALSE;
        }
    }
    return TRUE;
}

/* A pty: the master to the engine's console socket, the slave kept. */
static int console_pty(const char *socket_path, GError **errp)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct termios t;
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), slave = -1;
    int sock = -1;
    char *name;

    name = master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0 ?
           ptsname(master) : NULL;
    if (name) {
        slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    }
    if (slave < 0) {
        g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "a terminal: %s", g_strerror(errno));
        goto fail;
    }
    /* The guest's terminal does the line discipline; this one passes. */
    if (tcgetattr(slave, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(slave, TCSANOW, &t);
    }
    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (strlen(socket_path) >= sizeof(sa.sun_path)) {
        g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG,
                    "--console-socket %s: path too long", socket_path);
        goto fail;
    }
    strcpy(sa.sun_path, socket_path);
    if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        !oci_ctl_send(sock, name, strlen(name), &master, 1, errp)) {
        if (errp && !*errp) {
            g_set_error(errp, G_FILE_ERROR, g_file_error_from_errno(errno),
                        "--console-socket %s: %s", socket_path,
                        g_strerror(errno));
        }
        goto fail;
    }
    close(sock);
    close(master);
    return slave;

fail:
    if (sock >= 0) {
        close(sock);
    }
    if (slave >= 0) {
        close(slave);
    }
    if (master >= 0) {
        close(master);
    }
    return -1;
}

static gboolean write_pid_file(const char *path, pid_t pid, GError **errp)
{
    g_autofree char *text = g_strdup_printf("%d", pid);

    return !path || oci_write_file(path, text, -1, errp);
}

static gboolean write_state(const char *dir, const char *id,
                            const OciSpec *spec, pid_t pid, GError **errp)
{
    g_autofree char *path = g_build_filename(dir, "state.json", NULL);
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *created = g_date_time_format_iso8601(now);
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:I}",
                          "ociVersion", OCI_VERSION, "id", id,
                          "status", "created", "pid", (int)pid,
                          "bundle", spec->bundle, "rootfs", spec->root,
                          "created", created, "owner", "",
                          "monitorStart", (json_int_t)start_time(pid));
    int ret;

    if (o && spec->annotations) {
        json_object_set(o, "annotations", spec->annotations);
    }
    ret = o ? json_dump_file(o, path, JSON_PRESERVE_ORDER) : -1;
    json_decref(o);
    if (ret < 0) {
        g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                    "%s: cannot write it", path);
        return FALSE;
    }
    return TRUE;
}

/* For delete: the container's cgroups (@name) and hooks (hooks.json). */
static gboolean record(const char *dir, const char *name, char **cgroups,
                       json_t *hooks, GError **errp)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autofree char *text = g_strjoinv("\n", cgroups);
    g_autofree char *hpath = g_build_filename(dir, "hooks.json", NULL);

    if (!oci_write_file(path, text, -1, errp)) {
        return FALSE;
    }
    if (hooks && json_dump_file(hooks, hpath, 0) < 0) {
        g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                    "%s: cannot write it", hpath);
        return FALSE;
    }
    return TRUE;
}

/* One message from the monitor ("" when it ended). */
static char *monitor_says(int fd)
{
    char buf[8192];
    ssize_t n;

    do {
        n = recv(fd, buf, sizeof(buf) - 1, 0);
    } while (n < 0 && errno == EINTR);
    return g_strndup(buf, MAX(n, 0));
}

/* The monitor's QEMU, as this PID namespace numbers it; 0: none. */
static pid_t monitor_qemu(pid_t monitor)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/task/%d/children",
                                            monitor, monitor);
    g_autofree char *text = NULL;
    g_auto(GStrv) pids = NULL;
    guint i;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return 0;
    }
    pids = g_strsplit(g_strstrip(text), " ", -1);
    for (i = 0; pids[i]; i++) {
        if (atoi(pids[i]) > 0 && is_qemu(atoi(pids[i]))) {
            return atoi(pids[i]);
        }
    }
    return 0;
}

/*
 * create: the monitor cloned into the container's namespaces (ns.c), put
 * in its cgroup, the createRuntime and prestart hooks run with its PID;
 * then the monitor takes the network, starts the VM and answers.
 */
static int cmd_create(const char *id, const char *bundle,
                      const char *pid_file, const char *console_socket)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *msg = NULL;
    g_autofree char *state = NULL;
    g_autofree char *go = NULL;
    g_autofree char *qpid = NULL;
    g_auto(GStrv) cgroups = NULL;
    OciSpec *spec;
    OciHost host;
    OciMonitorArgs args = { 0 };
    int ready[2] = { -1, -1 }, tty = -1, flags;
    pid_t pid = -1;

    if (!valid_id(id)) {
        oci_error("%s: not a container ID", id ? id : "(none)");
        return 1;
    }
    spec = oci_spec_load(bundle ? bundle : ".", &err);
    if (!spec) {
        oci_error("%s", err->message);
        return 1;
    }
    if (spec->process->terminal && !console_socket) {
        oci_error("process.terminal is set: --console-socket is needed");
        oci_spec_free(spec);
        return 1;
    }
    if (!oci_net_check(spec->netns, &err)) {
        oci_error("container %s: %s", id, err->message);
        oci_spec_free(spec);
        return 1;
    }
    dir = state_dir(id);
    if (g_mkdir_with_parents(opts.root, 0700) < 0 || g_mkdir(dir, 0700) < 0) {
        if (errno == EEXIST) {
            oci_error("container %s already exists", id);
        } else {
            oci_error("container %s: its state directory %s: %s%s", id, dir,
                      g_strerror(errno), oci_rootless() ?
                      " (not root: give --root, or set XDG_RUNTIME_DIR)" :
                      "");
        }
        oci_spec_free(spec);
        return 1;
    }
    cgroups = oci_cgroup_dirs(spec->cgroups_path, id);
    if (!record(dir, "cgroup", cgroups, spec->hooks, &err) ||
        !prepare_binds(spec, dir, &err)) {
        goto fail;
    }
    if (spec->process->terminal) {
        tty = console_pty(console_socket, &err);
        if (tty < 0) {
            goto fail;
        }
    }
    oci_host_init(&host, opts.accel);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ready) < 0) {
        g_set_error(&err, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "socketpair: %s", g_strerror(errno));
        goto fail;
    }
    flags = CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC |
            (*spec->netns ? 0 : CLONE_NEWNET);
    pid = oci_ns_clone(flags);
    if (pid == 0) {
        close(ready[0]);
        args = (OciMonitorArgs){ .host = &host, .spec = spec, .id = id,
                                 .dir = dir,
                                 .in = tty >= 0 ? tty : 0,
                                 .out = tty >= 0 ? tty : 1,
                                 .err = tty >= 0 ? tty : 2,
                                 .tty = tty >= 0, .ready_fd = ready[1] };
        oci_monitor_main(&args);
    }
    close(ready[1]);
    ready[1] = -1;
    if (tty >= 0) {
        close(tty);
    }
    if (pid < 0) {
        g_set_error(&err, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "new namespaces for the container: %s",
                    g_strerror(errno));
        goto fail;
    }
    msg = monitor_says(ready[0]);
    if (strcmp(msg, "ns")) {
        g_set_error(&err, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s",
                    *msg ? msg : "the monitor died");
        goto fail;
    }
    g_clear_pointer(&msg, g_free);
    /* state says "creating" from now on, as runc's does. */
    msg = g_build_filename(dir, "creating", NULL);
    if (!oci_write_file(msg, "", 0, &err) ||
        !write_state(dir, id, spec, pid, &err)) {
        goto fail;
    }
    g_clear_pointer(&msg, g_free);
    state = oci_hook_state(id, "creating", pid, spec->bundle,
                           spec->annotations);
    if (!oci_cgroup_join(cgroups, pid, &err) ||
        !oci_hooks_run(spec->hooks, "prestart", state, &err) ||
        !oci_hooks_run(spec->hooks, "createRuntime", state, &err)) {
        goto fail;
    }
    go = g_strconcat("go\n", state, NULL);
    if (send(ready[0], go, strlen(go), MSG_NOSIGNAL) < 0) {
        g_set_error(&err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                    "the monitor died");
        goto fail;
    }
    msg = monitor_says(ready[0]);
    if (strcmp(msg, "ok")) {
        g_set_error(&err, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s",
                    *msg ? msg : "the monitor died");
        goto fail;
    }
    close(ready[0]);
    ready[0] = -1;
    qpid = g_build_filename(dir, "qemu.pid", NULL);
    msg = g_strdup_printf("%d\n", monitor_qemu(pid));
    if (!oci_write_file(qpid, msg, -1, &err) ||
        !write_pid_file(pid_file, pid, &err)) {
        goto fail;
    }
    g_free(qpid);
    qpid = g_build_filename(dir, "creating", NULL);
    unlink(qpid);
    oci_spec_free(spec);
    return 0;

fail:
    oci_error("container %s: %s", id, err->message);
    if (ready[0] >= 0) {
        close(ready[0]);
    }
    if (pid > 0) {
        /* Its PID namespace, QEMU too, ends with it. */
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    teardown_network(dir);
    oci_cgroup_remove(cgroups);
    unmount_binds(dir);
    pcl_remove_tree(dir);
    oci_spec_free(spec);
    return 1;
}

/*
 * exec: the process runs as another session on the container's channel;
 * this process relays nothing itself (the monitor has its streams) and
 * lives until the process ends, with its exit status.
 */
static int exec_relay(const char *dir, const char *id, OciProcess *p,
                      const char *console_socket, int notify)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GByteArray) req = g_byte_array_new();
    g_autofree char *head = NULL;
    int fds[3] = { 0, 1, 2 }, nfds = 3, fd, tty = -1;
    char buf[256];
    ssize_t n;
    guint code, sig;

    if (p->terminal) {
        if (!console_socket) {
            oci_error("process.terminal is set: --console-socket is needed");
            return 1;
        }
        tty = console_pty(console_socket, &err);
        if (tty < 0) {
            oci_error("container %s: %s", id, err->message);
            return 1;
        }
        fds[0] = tty;
        nfds = 1;
    }
    head = g_strdup_printf("exec %u\n", CHANNEL_STDIN |
                           (p->terminal ? CHANNEL_TTY : 0));
    g_byte_array_append(req, (guint8 *)head, strlen(head));
    oci_process_frames(p, req);
    fd = oci_ctl_connect(dir, &err);
    if (fd < 0 || !oci_ctl_send(fd, req->data, req->len, fds, nfds, &err)) {
        oci_error("container %s: %s", id, err->message);
        return 1;
    }
    if (tty >= 0) {
        close(tty);
    }
    while ((n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) {
        buf[n] = '\0';
        if (g_str_has_prefix(buf, "error: ")) {
            oci_error("container %s: %s", id, buf + 7);
            return 1;
        }
        if (g_str_has_prefix(buf, "started") && notify >= 0) {
            chan_write_all(notify, "ok", 2);
            close(notify);
            notify = -1;
        }
        if (sscanf(buf, "exit %u %u", &code, &sig) == 2) {
            return sig ? 128 + sig : code;
        }
    }
    /* The container stopped under it. */
    return 137;
}

static int cmd_exec(const char *id, const char *process_file,
                    const char *pid_file, const char *console_socket,
                    gboolean detach, char **argv)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = existing(id);
    OciProcess *p = NULL;
    State st = { 0 };
    int ready[2], ret;
    char buf[8];
    pid_t pid;

    if (!dir) {
        return 1;
    }
    if (!load_state(dir, &st) || strcmp(st.status, "running")) {
        oci_error("container %s is not running", id);
        json_decref(st.o);
        return 1;
    }
    json_decref(st.o);
    if (process_file) {
        p = oci_process_load(process_file, &err);
    } else if (argv && argv[0]) {
        g_autofree char *tmp = g_build_filename(dir, "exec.json", NULL);
        json_t *args = json_array(), *o;
        int i;

        for (i = 0; argv[i]; i++) {
            json_array_append_new(args, json_string(argv[i]));
        }
        o = json_pack("{s:o, s:s}", "args", args, "cwd", "/");
        if (!o || json_dump_file(o, tmp, 0) < 0) {
            g_set_error(&err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                        "%s: cannot write it", tmp);
        } else {
            p = oci_process_load(tmp, &err);
        }
        json_decref(o);
    } else {
        oci_error("exec: --process or a command is needed");
        return 1;
    }
    if (!p) {
        oci_error("exec: %s", err->message);
        return 1;
    }
    if (!detach) {
        if (!write_pid_file(pid_file, getpid(), &err)) {
            oci_error("%s", err->message);
            return 1;
        }
        ret = exec_relay(dir, id, p, console_socket, -1);
        oci_process_free(p);
        return ret;
    }
    if (pipe2(ready, O_CLOEXEC) < 0) {
        oci_error("pipe: %s", g_strerror(errno));
        return 1;
    }
    pid = fork();
    if (pid == 0) {
        close(ready[0]);
        setsid();
        ret = exec_relay(dir, id, p, console_socket, ready[1]);
        oci_cpu_log("exec-relay");
        _exit(ret);
    }
    close(ready[1]);
    oci_process_free(p);
    if (pid < 0 || read(ready[0], buf, sizeof(buf)) != 2) {
        /* The relay said why on stderr. */
        if (pid > 0) {
            waitpid(pid, NULL, 0);
        }
        return 1;
    }
    if (!write_pid_file(pid_file, pid, &err)) {
        oci_error("%s", err->message);
        kill(pid, SIGKILL);
        return 1;
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: pc-lite-oci [--root DIR] [--log FILE] "
            "[--log-format text|json] [--accel kvm|tcg|auto]\n"
            "       COMMAND [options] ID\n"
            "commands: create, start, state, kill, delete, exec, pause, "
            "resume, ps, update, features, --version\n");
    return 1;
}

static gboolean parse_cmd(int argc, char **argv, CmdOpts *o)
{
    static const char *const with_value[] = {
        "bundle", "b", "pid-file", "console-socket", "process", "p", "cwd",
        "env", "e", "user", "u", "process-label", "apparmor", "preserve-fds",
        "cap", "c", "criu", "image-path", "work-path", "format", "f",
        "resources", "r", "cpu-quota", "cpu-period", "cpu-share", "memory",
        "pids-limit", "blkio-weight", "cpuset-cpus", "cpuset-mems",
        "kernel-memory", "kernel-memory-tcp", "memory-reservation",
        "memory-swap", "cpu-rt-period", "cpu-rt-runtime", "l3-cache-schema",
        "mem-bw-schema",
    };
    GPtrArray *rest = g_ptr_array_new();
    int i;

    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        g_autofree char *name = NULL;
        const char *value = NULL;
        gboolean needs = FALSE;
        guint k;

        if (a[0] != '-' || !a[1] || rest->len) {
            g_ptr_array_add(rest, argv[i]);
            continue;
        }
        if (!strcmp(a, "--")) {
            for (i++; i < argc; i++) {
                g_ptr_array_add(rest, argv[i]);
            }
            break;
        }
        a += a[1] == '-' ? 2 : 1;
        name = g_strndup(a, strcspn(a, "="));
        if (a[strlen(name)] == '=') {
            value = a + strlen(name) + 1;
        }
        for (k = 0; k < G_N_ELEMENTS(with_value); k++) {
            needs |= !strcmp(name, with_value[k]);
        }
        if (needs && !value) {
            if (i + 1 >= argc) {
                oci_error("--%s needs a value", name);
                return FALSE;
            }
            value = argv[++i];
        }
        if (!strcmp(name, "bundle") || !strcmp(name, "b")) {
            o->bundle = value;
        } else if (!strcmp(name, "pid-file")) {
            o->pid_file = value;
        } else if (!strcmp(name, "console-socket")) {
            o->console_socket = value;
        } else if (!strcmp(name, "process") || !strcmp(name, "p")) {
            o->process = value;
        } else if (!strcmp(name, "force") ||
                   (!strcmp(name, "f") && !value)) {
            o->force = TRUE;
        } else if (!strcmp(name, "format") || !strcmp(name, "f")) {
            o->format = value;
        } else if (!strcmp(name, "resources") || !strcmp(name, "r")) {
            o->resources = value;
        } else if (!strcmp(name, "cpu-quota")) {
            o->cpu_quota = value;
        } else if (!strcmp(name, "cpu-period")) {
            o->cpu_period = value;
        } else if (!strcmp(name, "cpu-share")) {
            o->cpu_share = value;
        } else if (!strcmp(name, "memory")) {
            o->memory = value;
        } else if (!strcmp(name, "pids-limit")) {
            o->pids_limit = value;
        } else if (needs && strcmp(name, "cwd") && strcmp(name, "env") &&
                   strcmp(name, "e") && strcmp(name, "user") &&
                   strcmp(name, "u") && strcmp(name, "preserve-fds") &&
                   strcmp(name, "process-label") &&
                   strcmp(name, "apparmor") && strcmp(name, "cap") &&
                   strcmp(name, "c")) {
            o->unmapped = name;
        } else if (!strcmp(name, "all") || !strcmp(name, "a")) {
            o->all = TRUE;
        } else if (!strcmp(name, "detach") || !strcmp(name, "d")) {
            o->detach = TRUE;
        } else if (!strcmp(name, "tty") || !strcmp(name, "t")) {
            o->tty = TRUE;
        }
        /*
         * Other options of runc's (--no-pivot, --no-new-keyring, ...):
         * accepted, nothing to do in a VM.
         */
    }
    g_ptr_array_add(rest, NULL);
    o->rest = (char **)g_ptr_array_free(rest, FALSE);
    return TRUE;
}

int main(int argc, char **argv)
{
    CmdOpts o = { 0 };
    const char *cmd;
    int i;

    oci_log_opts.cpu_at_main = oci_cpu_us();
    /*
     * As runc: root's state in /run, a user's (a rootless engine runs us
     * as root of its user namespace) under XDG_RUNTIME_DIR.
     */
    opts.root = oci_rootless() && g_getenv("XDG_RUNTIME_DIR") ?
                g_build_filename(g_getenv("XDG_RUNTIME_DIR"), "pc-lite-oci",
                                 NULL) :
                g_strdup(DEFAULT_ROOT);
    oci_log_opts.cpu_log = g_strdup(g_getenv("PC_LITE_OCI_CPU_LOG"));
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i] + (argv[i][1] == '-' ? 2 : 1);
        g_autofree char *name = g_strndup(a, strcspn(a, "="));
        const char *value = a[strlen(name)] == '=' ? a + strlen(name) + 1 :
                            NULL;
        char **slot = !strcmp(name, "root") ? &opts.root :
                      !strcmp(name, "log") ? &oci_log_opts.log :
                      !strcmp(name, "log-format") ? &oci_log_opts.log_format :
                      !strcmp(name, "accel") ? &opts.accel :
                      !strcmp(name, "cpu-log") ? &oci_log_opts.cpu_log : NULL;

        if (!strcmp(name, "version") || !strcmp(name, "v")) {
            printf("pc-lite-oci version %s\nspec: %s\n", PC_LITE_OCI_VERSION,
                   OCI_VERSION);
            return 0;
        }
        if (!strcmp(name, "help") || !strcmp(name, "h")) {
            usage();
            return 0;
        }
        if (slot) {
            if (!value && i + 1 < argc) {
                value = argv[++i];
            }
            if (!value) {
                oci_error("--%s needs a value", name);
                return 1;
            }
            g_free(*slot);
            *slot = g_strdup(value);
        }
        /* --systemd-cgroup, --debug, --rootless ...: accepted. */
    }
    if (i >= argc) {
        return usage();
    }
    cmd = argv[i];
    if (!strcmp(cmd, "features")) {
        return cmd_features();
    }
    if (!parse_cmd(argc - i - 1, argv + i + 1, &o)) {
        return 1;
    }
    oci_log_opts.command = cmd;
    oci_log_opts.id = o.rest[0];
    atexit(oci_cpu_log_at_exit);
    if (!strcmp(cmd, "create")) {
        return cmd_create(o.rest[0], o.bundle, o.pid_file, o.console_socket);
    } else if (!strcmp(cmd, "start")) {
        return cmd_start(o.rest[0]);
    } else if (!strcmp(cmd, "state")) {
        return cmd_state(o.rest[0]);
    } else if (!strcmp(cmd, "kill")) {
        return cmd_kill(o.rest[0], o.rest[0] ? o.rest[1] : NULL, o.all);
    } else if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume")) {
        return cmd_pause(o.rest[0], !strcmp(cmd, "pause"));
    } else if (!strcmp(cmd, "delete")) {
        return cmd_delete(o.rest[0], o.force);
    } else if (!strcmp(cmd, "ps")) {
        return cmd_ps(o.rest[0], o.format);
    } else if (!strcmp(cmd, "update")) {
        if (o.unmapped) {
            oci_error("update --%s: cannot be changed for a VM (only the "
                      "CPU's shares, quota and period)", o.unmapped);
            return 1;
        }
        return cmd_update(o.rest[0], o.resources, &o);
    } else if (!strcmp(cmd, "exec")) {
        return cmd_exec(o.rest[0], o.process, o.pid_file, o.console_socket,
                        o.detach, o.rest[0] ? o.rest + 1 : NULL);
    }
    oci_error("%s: not supported (pc-lite-oci implements create, start, "
              "state, kill, delete, exec, pause, resume, ps, update and "
              "features)", cmd);
    return 1;
}
