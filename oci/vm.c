/*
 * pc-lite-oci: a container's VM (its QEMU command line) and the templates
 * its VMs start from.
 *
 * Each container is a pc-lite VM booted from the project's kernel and DAX
 * root image (shared read-only by every container), with two virtio-9p
 * shares: the bundle's rootfs (tag pclite-root) and a directory of the
 * container's state that holds its bind-mount sources (pclite-binds).
 *
 * A template is such a VM booted until its init waits on the command
 * channel, saved with QEMU's migration (x-ignore-shared: guest RAM stays
 * in the template's file, the root image is shared); the 9p shares are
 * not yet mounted then, so a clone gives them its own paths.  Templates
 * live in $PC_LITE_CACHE/oci-templates/KEY, KEY a hash of the QEMU
 * binary, kernel, root image, vCPUs, memory, accelerator and number of
 * network interfaces; they are made on first use under a lock, checked on
 * every use (the manifest, the RAM file's size, the saved state's inode,
 * size, mtime and ctime) and made again when damaged.  The same scheme as
 * pc-lite-run's templates (python/pclite/template.py), for the runtime's
 * own machine shape.
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
#include <sys/file.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "oci.h"
#include "../proto/channel.h"

#define TEMPLATE_FORMAT 3
#define BOOT_TIMEOUT_MS (120 * 1000)

static GQuark vm_quark(void)
{
    return g_quark_from_static_string("pc-lite-oci-vm");
}

void oci_host_init(OciHost *host, const char *accel)
{
    g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *dir = g_path_get_dirname(exe ? exe : ".");

    /* pc-lite-oci lives in build/, beside QEMU and build/guest. */
    host->qemu = g_strdup(g_getenv("PC_LITE_QEMU") ?:
                          g_build_filename(dir, "qemu-system-x86_64", NULL));
    host->kernel = g_build_filename(dir, "guest", "vmlinux", NULL);
    host->rootfs = g_build_filename(dir, "guest", "rootfs.img", NULL);
    /*
     * As python/pclite/paths.py; without HOME (a shim's environment),
     * /var/cache.
     */
    if (g_getenv("PC_LITE_CACHE")) {
        host->cache = g_strdup(g_getenv("PC_LITE_CACHE"));
    } else if (g_getenv("XDG_CACHE_HOME")) {
        host->cache = g_build_filename(g_getenv("XDG_CACHE_HOME"), "pc-lite",
                                       NULL);
    } else if (g_getenv("HOME")) {
        host->cache = g_build_filename(g_getenv("HOME"), ".cache", "pc-lite",
                                       NULL);
    } else {
        host->cache = g_strdup("/var/cache/pc-lite");
    }
    accel = accel ?: g_getenv("PC_LITE_ACCEL") ?: "auto";
    if (!strcmp(accel, "auto")) {
        /*
         * KVM when /dev/kvm opens, unless pc-lite's probe (python/pclite/
         * accel.py) found that KVM does not boot this kernel here.
         */
        g_autofree char *probe = g_build_filename(dir, "accel-probe.json",
                                                  NULL);
        g_autofree char *kernel = realpath(host->kernel, NULL);
        int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        json_t *rec;

        accel = fd >= 0 ? "kvm" : "tcg";
        if (fd >= 0) {
            close(fd);
            rec = kernel ? json_load_file(probe, 0, NULL) : NULL;
            if (!g_strcmp0(json_string_value(json_object_get(rec, "kernel")),
                           kernel) &&
                json_is_false(json_object_get(rec, "kvm_boots"))) {
                accel = "tcg";
            }
            json_decref(rec);
        }
    }
    host->accel = g_strdup(accel);
}

static char *escape(const char *value)
{
    g_auto(GStrv) parts = g_strsplit(value, ",", -1);

    return g_strjoinv(",,", parts);
}

/* The QEMU command line; clone: RAM mapped copy-on-write from ram. */
static char **vm_argv(const OciHost *host, const OciSpec *spec,
                      gsize root_size, const char *ram, gboolean clone,
                      const char *rootfs, const char *binds,
                      const char *console, int channel_fd,
                      const char *vmgenid)
{
    GPtrArray *a = g_ptr_array_new();
    guint i;
    g_autofree char *e_root = escape(rootfs), *e_binds = escape(binds);
    g_autofree char *e_con = escape(console), *e_img = escape(host->rootfs);

#define ADD(...) g_ptr_array_add(a, g_strdup_printf(__VA_ARGS__))
    ADD("%s", host->qemu);
    ADD("-M");
    ADD("pc-lite,nvdimm=on%s%s%s", ram ? ",memory-backend=ram" : "",
        vmgenid ? ",vmgenid=" : "", vmgenid ?: "");
    ADD("-accel");
    ADD("%s", host->accel);
    ADD("-smp");
    ADD("%d", spec->cpus);
    ADD("-m");
    ADD("%dM,slots=1,maxmem=%" G_GSIZE_FORMAT "M", spec->mem_mib,
        spec->mem_mib + (root_size >> 20));
    ADD("-nodefaults");
    ADD("-display");
    ADD("none");
    ADD("-no-reboot");
    ADD("-kernel");
    ADD("%s", host->kernel);
    if (ram) {
        g_autofree char *e_ram = escape(ram);

        ADD("-object");
        ADD("memory-backend-file,id=ram,mem-path=%s,size=%dM,%s", e_ram,
            spec->mem_mib, clone ? "share=off,readonly=on,rom=off" :
            "share=on");
    }
    ADD("-object");
    ADD("memory-backend-file,id=root,mem-path=%s,size=%" G_GSIZE_FORMAT
        ",share=on,readonly=on", e_img, root_size);
    ADD("-device");
    ADD("nvdimm,memdev=root,id=nv0,unarmed=on");
    ADD("-device");
    /* 2 ports, not 31: python/pclite/qemucmd.py's VIRTIO_SERIAL */
    ADD("virtio-serial-pci,max_ports=2");
    ADD("-chardev");
    ADD("file,id=con,path=%s", e_con);
    ADD("-device");
    ADD("virtconsole,chardev=con");
    ADD("-chardev");
    ADD("socket,id=channel,fd=%d", channel_fd);
    ADD("-device");
    ADD("virtserialport,chardev=channel,name=%s", CHANNEL_NAME);
    ADD("-device");
    ADD("virtio-rng-pci");
    /*
     * The container's interfaces: taps, or in a template (which no
     * network reaches) hub ports; the device is the same, and a clone's
     * guest takes its MAC from the channel ('N').
     */
    for (i = 0; spec->nics && i < spec->nics->len; i++) {
        OciNic *n = g_ptr_array_index(spec->nics, i);

        ADD("-netdev");
        if (n->tap_fd >= 0) {
            ADD("tap,id=net%u,fd=%d,vhost=off", i, n->tap_fd);
        } else {
            ADD("hubport,id=net%u,hubid=%u", i, i);
        }
        ADD("-device");
        ADD("virtio-net-pci,netdev=net%u,mac=%02x:%02x:%02x:%02x:%02x:%02x",
            i, n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4],
            n->mac[5]);
    }
    ADD("-fsdev");
    ADD("local,id=fsroot,path=%s,security_model=passthrough,"
        "multidevs=remap", e_root);
    ADD("-device");
    ADD("virtio-9p-pci,fsdev=fsroot,mount_tag=pclite-root");
    ADD("-fsdev");
    ADD("local,id=fsbinds,path=%s,security_model=passthrough,"
        "multidevs=remap", e_binds);
    ADD("-device");
    ADD("virtio-9p-pci,fsdev=fsbinds,mount_tag=pclite-binds");
    /* The VMM's system calls: no new programs, privileges or limits. */
    ADD("-sandbox");
    ADD("on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
        "resourcecontrol=deny");
    ADD("-append");
    ADD("quiet panic=-1 root=/dev/pmem0 rootflags=dax ro console=hvc0 "
        "pclite.channel");
#undef ADD
    g_ptr_array_add(a, NULL);
    return (char **)g_ptr_array_free(a, FALSE);
}

/*
 * The capabilities QEMU keeps when pc-lite-oci runs as root: those its 9p
 * server (security_model=passthrough) needs to carry out a container
 * root's file operations on the container's files: open and search them
 * whoever owns them, change owners, modes and times, keep set-ID bits,
 * make device nodes and set file capabilities (security.capability).
 * Everything else leaves the bounding set before QEMU starts, so QEMU
 * (root, as its 9p server needs; docs/pc-lite.rst "Privileges") cannot
 * mount, load modules, trace or signal other processes, configure the
 * network, use raw I/O or change its IDs, whatever its seccomp filter
 * would let through.
 */
static const int qemu_caps[] = {
    CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,
    CAP_FSETID, CAP_MKNOD, CAP_SETFCAP,
};

static uint64_t qemu_capabilities(void)
{
    uint64_t mask = 0;
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(qemu_caps); i++) {
        mask |= 1ULL << qemu_caps[i];
    }
    return mask;
}

/* In the child, before exec: only qemu_caps stay in the bounding set. */
static int limit_capabilities(void)
{
    uint64_t keep = qemu_capabilities();
    int cap;

    if (geteuid() != 0) {
        return 0;               /* nothing to give up */
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

pid_t oci_spawn_qemu(char **argv, const int *keep, int nkeep,
                     const char *log_path, GError **errp)
{
    int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    pid_t pid;

    if (log < 0) {
        g_set_error(errp, vm_quark(), 1, "%s: %s", log_path,
                    g_strerror(errno));
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY), i, fd;
        sigset_t none;

        /* QEMU goes with the process that started it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* One malloc arena, as python/pclite/process.py gives QEMU. */
        setenv("MALLOC_ARENA_MAX", "1", 0);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(null, 0);
        dup2(log, 1);
        dup2(log, 2);
        for (i = 0; i < nkeep; i++) {
            fd = keep[i];
            fcntl(fd, F_SETFD, 0);
        }
        if (limit_capabilities() < 0) {
            dprintf(2, "pc-lite-oci: cannot limit QEMU's capabilities: "
                    "%s\n", g_strerror(errno));
            _exit(127);
        }
        execv(argv[0], argv);
        dprintf(2, "pc-lite-oci: %s: %s\n", argv[0], g_strerror(errno));
        _exit(127);
    }
    close(log);
    if (pid < 0) {
        g_set_error(errp, vm_quark(), 1, "fork: %s", g_strerror(errno));
    }
    return pid;
}

/* What identifies a file: path, device, inode, size, mtime. */
static gboolean identity(const char *path, GString *out, GError **errp)
{
    g_autofree char *real = realpath(path, NULL);
    struct stat st;

    if (!real || stat(real, &st) < 0) {
        g_set_error(errp, vm_quark(), 1, "%s: %s", path, g_strerror(errno));
        return FALSE;
    }
    g_string_append_printf(out, "%s %lu %lu %lld %lld.%09ld\n", real,
                           (unsigned long)st.st_dev, (unsigned long)st.st_ino,
                           (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                           st.st_mtim.tv_nsec);
    return TRUE;
}

static char *template_key(const OciHost *host, const OciSpec *spec,
                          GError **errp)
{
    g_autoptr(GString) in = g_string_new(NULL);

    g_string_append_printf(in, "pc-lite-oci template %d\n", TEMPLATE_FORMAT);
    if (!identity(host->qemu, in, errp) || !identity(host->kernel, in, errp) ||
        !identity(host->rootfs, in, errp)) {
        return NULL;
    }
    g_string_append_printf(in, "%d %d %s %u\n", spec->cpus, spec->mem_mib,
                           host->accel, spec->nics ? spec->nics->len : 0);
    return g_compute_checksum_for_string(G_CHECKSUM_SHA256, in->str,
                                         in->len);
}

static char *file_sha256(const char *path)
{
    g_autofree char *data = NULL;
    gsize len;

    if (!g_file_get_contents(path, &data, &len, NULL)) {
        return NULL;
    }
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guchar *)data, len);
}

static json_int_t manifest_int(json_t *o, const char *name)
{
    json_t *n = json_object_get(o, name);

    return json_is_integer(n) ? json_integer_value(n) : -1;
}

/*
 * What a write to the saved state would change (its ctime cannot be set
 * back); checked on every use instead of the state's SHA-256, which is
 * checked when the template is made and costs more CPU than the rest of
 * a container's start.
 */
static char *state_stamp(const struct stat *st)
{
    return g_strdup_printf("%lu %lld %lld.%09ld %lld.%09ld",
                           (unsigned long)st->st_ino, (long long)st->st_size,
                           (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
                           (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

/* TRUE when template dir is whole: its manifest's sizes and stamp. */
static gboolean template_intact(const char *dir)
{
    g_autofree char *manifest = g_build_filename(dir, "manifest.json", NULL);
    g_autofree char *ram = g_build_filename(dir, "ram", NULL);
    g_autofree char *state = g_build_filename(dir, "state", NULL);
    g_autofree char *stamp = NULL;
    json_t *o = json_load_file(manifest, 0, NULL);
    struct stat rs, ss;
    gboolean ok;

    if (!o || stat(ram, &rs) < 0 || stat(state, &ss) < 0) {
        json_decref(o);
        return FALSE;
    }
    stamp = state_stamp(&ss);
    ok = manifest_int(o, "format") == TEMPLATE_FORMAT &&
         manifest_int(o, "ram_size") == rs.st_size &&
         !g_strcmp0(json_string_value(json_object_get(o, "state_stamp")),
                    stamp);
    json_decref(o);
    return ok;
}

/* rm -rf dir (made writable first: templates are read-only). */
void oci_remove_tree(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    chmod(dir, 0700);
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        struct stat st;

        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            oci_remove_tree(p);
        } else {
            unlink(p);
        }
    }
    rmdir(dir);
}

/* Wait up to timeout_ms for fd to be readable; FALSE on timeout. */
static gboolean wait_readable(int fd, int timeout_ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };

    return poll(&p, 1, timeout_ms) > 0;
}

/* One QMP reply (events skipped), to json_decref(); NULL on failure. */
static json_t *qmp_call(int fd, GString *buf, const char *cmd, GError **errp)
{
    if (cmd && chan_write_all(fd, cmd, strlen(cmd)) < 0) {
        g_set_error(errp, vm_quark(), 1, "QMP: %s", g_strerror(errno));
        return NULL;
    }
    for (;;) {
        char *nl = strchr(buf->str, '\n');
        char chunk[4096];
        ssize_t n;

        if (nl) {
            json_t *o = json_loadb(buf->str, nl - buf->str, 0, NULL);
            json_t *e = json_object_get(o, "error");

            g_string_erase(buf, 0, nl - buf->str + 1);
            if (!json_is_object(o) || json_object_get(o, "event")) {
                json_decref(o);
                continue;
            }
            if (e) {
                const char *desc = json_string_value(
                    json_object_get(e, "desc"));

                g_set_error(errp, vm_quark(), 1, "QMP: %s",
                            desc ? desc : "error");
                json_decref(o);
                return NULL;
            }
            return o;
        }
        n = wait_readable(fd, BOOT_TIMEOUT_MS) ?
            read(fd, chunk, sizeof(chunk)) : 0;
        if (n <= 0) {
            g_set_error(errp, vm_quark(), 1, "QMP: QEMU went away");
            return NULL;
        }
        g_string_append_len(buf, chunk, n);
    }
}

/* A QMP command whose reply does not matter beyond success. */
static gboolean qmp_ok(int fd, GString *buf, const char *cmd, GError **errp)
{
    json_t *o = qmp_call(fd, buf, cmd, errp);

    json_decref(o);
    return o != NULL;
}

/* Boot a template VM in tmp until init says hello, then save it. */
static gboolean template_boot_and_save(const OciHost *host,
                                       const OciSpec *spec, gsize root_size,
                                       const char *tmp, GError **errp)
{
    g_autofree char *ram = g_build_filename(tmp, "ram", NULL);
    g_autofree char *empty = g_build_filename(tmp, "empty", NULL);
    g_autofree char *console = g_build_filename(tmp, "console.log", NULL);
    g_autofree char *log = g_build_filename(tmp, "qemu.log", NULL);
    g_autofree char *state = g_build_filename(tmp, "state", NULL);
    g_autofree char *migrate = NULL, *qmp_opt = NULL;
    g_autoptr(GString) qbuf = g_string_new(NULL);
    struct chan_reader r = { 0 };
    struct chan_frame f;
    int ch[2] = { -1, -1 }, qmp[2] = { -1, -1 }, fd, ret, status;
    gboolean ok = FALSE, hello = FALSE;
    GPtrArray *argv;
    OciSpec tspec;
    char **base;
    pid_t pid = -1;
    gint64 deadline;

    fd = open(ram, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        errno = posix_fallocate(fd, 0, (off_t)spec->mem_mib << 20);
    }
    if (fd < 0 || errno) {
        g_set_error(errp, vm_quark(), 1, "cannot reserve %d MiB for a "
                    "template's RAM in %s: %s", spec->mem_mib, tmp,
                    g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return FALSE;
    }
    close(fd);
    if (g_mkdir(empty, 0755) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qmp) < 0) {
        g_set_error(errp, vm_quark(), 1, "template: %s", g_strerror(errno));
        goto out;
    }
    /* No network reaches a template: its interfaces are hub ports. */
    tspec = *spec;
    tspec.nics = g_ptr_array_new_with_free_func(oci_nic_free);
    for (fd = 0; spec->nics && fd < (int)spec->nics->len; fd++) {
        OciNic *n = g_new0(OciNic, 1);

        n->tap_fd = -1;
        n->routes = g_array_new(FALSE, FALSE, sizeof(OciRoute));
        memcpy(n->mac, (uint8_t[]){ 0x02, 0, 0, 0, 0, fd }, 6);
        g_ptr_array_add(tspec.nics, n);
    }
    base = vm_argv(host, &tspec, root_size, ram, FALSE, empty, empty,
                   console, ch[1], NULL);
    g_ptr_array_unref(tspec.nics);
    argv = g_ptr_array_new_with_free_func(g_free);
    for (fd = 0; base[fd]; fd++) {
        g_ptr_array_add(argv, base[fd]);
    }
    g_free(base);
    qmp_opt = g_strdup_printf("socket,id=qmp,fd=%d", qmp[1]);
    g_ptr_array_add(argv, g_strdup("-chardev"));
    g_ptr_array_add(argv, g_strdup(qmp_opt));
    g_ptr_array_add(argv, g_strdup("-mon"));
    g_ptr_array_add(argv, g_strdup("chardev=qmp,mode=control"));
    g_ptr_array_add(argv, NULL);
    pid = oci_spawn_qemu((char **)argv->pdata, (int[]){ ch[1], qmp[1] }, 2,
                         log, errp);
    g_ptr_array_unref(argv);
    close(ch[1]);
    close(qmp[1]);
    if (pid < 0) {
        goto out;
    }
    deadline = g_get_monotonic_time() + BOOT_TIMEOUT_MS * 1000LL;
    while (!hello) {
        int left = (deadline - g_get_monotonic_time()) / 1000;

        if (left <= 0 || !wait_readable(ch[0], left) ||
            chan_fill(&r, ch[0]) <= 0) {
            g_autofree char *qlog = NULL;

            g_file_get_contents(log, &qlog, NULL, NULL);
            g_set_error(errp, vm_quark(), 1, "the template VM did not reach "
                        "its init%s%s", qlog && *qlog ? ": " : "",
                        qlog ? g_strstrip(qlog) : "");
            goto out;
        }
        while ((ret = chan_next_frame(&r, &f)) > 0) {
            hello |= f.type == FRAME_HELLO;
        }
    }
    migrate = g_strdup_printf("{\"execute\":\"migrate\",\"arguments\":"
                              "{\"uri\":\"file:%s\"}}\n", state);
    if (!qmp_ok(qmp[0], qbuf, NULL, errp) ||
        !qmp_ok(qmp[0], qbuf, "{\"execute\":\"qmp_capabilities\"}\n", errp) ||
        !qmp_ok(qmp[0], qbuf,
                "{\"execute\":\"migrate-set-capabilities\",\"arguments\":"
                "{\"capabilities\":[{\"capability\":\"x-ignore-shared\","
                "\"state\":true}]}}\n", errp) ||
        !qmp_ok(qmp[0], qbuf, migrate, errp)) {
        goto out;
    }
    for (;;) {
        json_t *o = qmp_call(qmp[0], qbuf,
                             "{\"execute\":\"query-migrate\"}\n", errp);
        json_t *info = json_object_get(o, "return");
        const char *st = json_string_value(json_object_get(info, "status"));

        if (!o) {
            goto out;
        }
        if (!g_strcmp0(st, "completed")) {
            json_decref(o);
            break;
        }
        if (!g_strcmp0(st, "failed") || !g_strcmp0(st, "cancelled")) {
            const char *desc = json_string_value(
                json_object_get(info, "error-desc"));

            g_set_error(errp, vm_quark(), 1, "saving the template: %s",
                        desc ? desc : st);
            json_decref(o);
            goto out;
        }
        json_decref(o);
        g_usleep(5000);
    }
    ok = TRUE;
out:
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    if (ch[0] >= 0) {
        close(ch[0]);
        close(qmp[0]);
    }
    free(r.buf);
    free(r.last);
    rmdir(empty);
    return ok;
}

static gboolean template_create(const OciHost *host, const OciSpec *spec,
                                gsize root_size, const char *dir,
                                const char *key, GError **errp)
{
    g_autofree char *tmp = g_strdup_printf("%s.tmp-XXXXXX", dir);
    g_autofree char *state = NULL, *manifest = NULL, *sum = NULL;
    g_autofree char *stamp = NULL;
    json_t *manifest_json;
    struct stat rs, ss;
    const char *names[] = { "ram", "state", "console.log", "qemu.log",
                            "manifest.json" };   /* written last */
    guint i;

    if (!g_mkdtemp(tmp)) {
        g_set_error(errp, vm_quark(), 1, "%s: %s", tmp, g_strerror(errno));
        return FALSE;
    }
    if (!template_boot_and_save(host, spec, root_size, tmp, errp)) {
        oci_remove_tree(tmp);
        return FALSE;
    }
    state = g_build_filename(tmp, "state", NULL);
    manifest = g_build_filename(tmp, "manifest.json", NULL);
    sum = file_sha256(state);
    /* Read-only first: the stamp is taken after the last chmod. */
    for (i = 0; i < G_N_ELEMENTS(names) - 1; i++) {
        g_autofree char *p = g_build_filename(tmp, names[i], NULL);

        chmod(p, 0444);
    }
    {
        g_autofree char *ram = g_build_filename(tmp, "ram", NULL);

        stat(ram, &rs);
        stat(state, &ss);
        stamp = state_stamp(&ss);
    }
    manifest_json = json_pack("{s:i, s:s, s:i, s:i, s:s, s:I, s:I, s:s, "
                              "s:s}",
                              "format", TEMPLATE_FORMAT, "key", key,
                              "cpus", spec->cpus, "mem_mib", spec->mem_mib,
                              "accel", host->accel,
                              "ram_size", (json_int_t)rs.st_size,
                              "state_size", (json_int_t)ss.st_size,
                              "state_sha256", sum ? sum : "",
                              "state_stamp", stamp);
    if (!manifest_json ||
        json_dump_file(manifest_json, manifest, JSON_INDENT(1)) < 0) {
        g_set_error(errp, vm_quark(), 1, "%s: cannot write it", manifest);
        json_decref(manifest_json);
        oci_remove_tree(tmp);
        return FALSE;
    }
    json_decref(manifest_json);
    chmod(manifest, 0444);
    chmod(tmp, 0555);
    if (rename(tmp, dir) < 0) {
        g_set_error(errp, vm_quark(), 1, "%s: %s", dir, g_strerror(errno));
        oci_remove_tree(tmp);
        return FALSE;
    }
    return TRUE;
}

/* The template for spec (made now when there is none): its directory. */
static char *template_get(const OciHost *host, const OciSpec *spec,
                          gsize root_size, GError **errp)
{
    g_autofree char *key = template_key(host, spec, errp);
    g_autofree char *top = g_build_filename(host->cache, "oci-templates",
                                            NULL);
    g_autofree char *lock = NULL;
    char *dir;
    int fd;

    if (!key) {
        return NULL;
    }
    key[16] = '\0';
    dir = g_build_filename(top, key, NULL);
    if (template_intact(dir)) {
        return dir;
    }
    /* Made once when two containers race for it: the second waits. */
    lock = g_strdup_printf("%s/.%s.lock", top, key);
    fd = g_mkdir_with_parents(top, 0755) < 0 ? -1 :
         open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || flock(fd, LOCK_EX) < 0) {
        g_set_error(errp, vm_quark(), 1, "%s: %s", top, g_strerror(errno));
        g_free(dir);
        return NULL;
    }
    if (!template_intact(dir)) {
        oci_remove_tree(dir);
        if (!template_create(host, spec, root_size, dir, key, errp)) {
            g_prefix_error(errp, "making the template: ");
            g_free(dir);
            dir = NULL;
        }
    }
    close(fd);
    return dir;
}

/* A random VM generation ID: QEMU's UUID string and the guest's GUID. */
static char *new_generation(uint8_t guid[16])
{
    char *uuid = g_uuid_string_random();
    uint8_t b[16];
    int i;

    for (i = 0; i < 16; i++) {
        int k = i * 2 + (i >= 4) + (i >= 6) + (i >= 8) + (i >= 10);

        b[i] = g_ascii_xdigit_value(uuid[k]) << 4 |
               g_ascii_xdigit_value(uuid[k + 1]);
    }
    /* The GUID's first three fields are little-endian (bytes_le). */
    for (i = 0; i < 16; i++) {
        static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6,
                                       8, 9, 10, 11, 12, 13, 14, 15 };

        guid[i] = b[order[i]];
    }
    return uuid;
}

gboolean oci_vm_prepare(const OciHost *host, const OciSpec *spec,
                        const char *state_dir, int channel_fd, OciVm *vm,
                        GError **errp)
{
    g_autofree char *binds = g_build_filename(state_dir, "binds", NULL);
    g_autofree char *console = g_build_filename(state_dir, "console.log",
                                                NULL);
    g_autofree char *tdir = NULL, *ram = NULL, *state = NULL;
    g_autofree char *uuid = NULL;
    struct stat st;

    if (stat(host->kernel, &st) < 0 || stat(host->qemu, &st) < 0 ||
        stat(host->rootfs, &st) < 0) {
        g_set_error(errp, vm_quark(), 1, "%s: %s (run \"make\")",
                    stat(host->qemu, &st) < 0 ? host->qemu :
                    stat(host->kernel, &st) < 0 ? host->kernel : host->rootfs,
                    g_strerror(errno));
        return FALSE;
    }
    memset(vm, 0, sizeof(*vm));
    if (spec->template) {
        tdir = template_get(host, spec, st.st_size, errp);
        if (!tdir) {
            return FALSE;
        }
        ram = g_build_filename(tdir, "ram", NULL);
        state = g_build_filename(tdir, "state", NULL);
        uuid = new_generation(vm->generation);
        vm->clone = TRUE;
    }
    vm->argv = vm_argv(host, spec, st.st_size, ram, vm->clone, spec->root,
                       binds, console, channel_fd, uuid);
    if (vm->clone) {
        GPtrArray *a = g_ptr_array_new();
        int i;

        for (i = 0; vm->argv[i]; i++) {
            g_ptr_array_add(a, vm->argv[i]);
        }
        g_ptr_array_add(a, g_strdup("-global"));
        g_ptr_array_add(a, g_strdup("migration.x-ignore-shared=true"));
        g_ptr_array_add(a, g_strdup("-incoming"));
        g_ptr_array_add(a, g_strdup_printf("file:%s", state));
        g_ptr_array_add(a, NULL);
        g_free(vm->argv);
        vm->argv = (char **)g_ptr_array_free(a, FALSE);
    }
    return TRUE;
}

void oci_vm_clear(OciVm *vm)
{
    g_strfreev(vm->argv);
    vm->argv = NULL;
}
