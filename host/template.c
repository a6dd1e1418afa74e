/*
 * The template store: VMs booted once to the point where their init
 * waits on the command channel, saved with QEMU's migration, and started
 * again many times.  One store for every tool (pc-lite-run, pc-lite-oci):
 * $PC_LITE_CACHE/templates/KEY, KEY a hash of the machine
 * (pcl_vm_inputs(): the QEMU binary, kernel and root image by path,
 * inode, size and mtime; vCPUs, memory, accelerator, kernel arguments,
 * generation ID, 9p share tags, interfaces).
 *
 * A template directory holds ram (guest RAM: memory-backend-file,
 * share=on, so the migration stream holds only the device state), state
 * (the stream, x-ignore-shared; the root image is shared and read-only,
 * so not in it either), the console and QEMU logs and manifest.json,
 * written last: the inputs, the key, when it was made, the sizes of ram
 * and state, the state's SHA-256 and its stamp (inode, size, mtime,
 * ctime).  It is made under a temporary name and renamed into place
 * under a lock, its files read-only; removing it does not disturb clones
 * that run (they keep their mappings).
 *
 * Every use checks the manifest, the sizes and the stamp; a stamp that
 * changed (anything written, even with the times set back: the ctime)
 * has the SHA-256 checked.  A damaged template is made again.
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
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "../proto/channel.h"

#define MANIFEST "manifest.json"
#define STATE_FDSET 1
#define TEMPLATE_MISSING 1      /* error code: no template there */

char *pcl_template_top(const PclPaths *p)
{
    return g_build_filename(p->cache, "templates", NULL);
}

char *pcl_template_key(const PclVm *vm, GError **errp)
{
    json_t *in = pcl_vm_inputs(vm, errp);
    g_autofree char *text = NULL;
    char *sum;

    if (!in) {
        return NULL;
    }
    text = json_dumps(in, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(in);
    sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, text, -1);
    sum[16] = '\0';
    return sum;
}

static char *file_sha256(const char *path)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    char buf[65536];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return NULL;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        g_checksum_update(sum, (guchar *)buf, n);
    }
    close(fd);
    return n < 0 ? NULL : g_strdup(g_checksum_get_string(sum));
}

/* What a write to a file changes (its ctime cannot be set back). */
static char *stamp(const struct stat *st)
{
    return g_strdup_printf("%lu %lld %lld.%09ld %lld.%09ld",
                           (unsigned long)st->st_ino, (long long)st->st_size,
                           (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
                           (long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

json_t *pcl_template_check(const char *dir, GError **errp)
{
    g_autofree char *key = g_path_get_basename(dir);
    g_autofree char *path = g_build_filename(dir, MANIFEST, NULL);
    g_autofree char *state = g_build_filename(dir, "state", NULL);
    g_autofree char *now = NULL, *sum = NULL;
    static const char *const names[] = { "ram", "state" };
    json_t *m, *sizes;
    struct stat st;
    guint i;

    if (stat(path, &st) < 0 && errno == ENOENT) {
        g_set_error(errp, PCL_ERROR, TEMPLATE_MISSING, "template %s: none",
                    key);
        return NULL;
    }
    m = json_load_file(path, 0, NULL);
    sizes = json_object_get(m, "sizes");
    if (!json_is_object(m) || !json_is_object(sizes)) {
        g_set_error(errp, PCL_ERROR, 0, "template %s: unreadable manifest",
                    key);
        goto bad;
    }
    if (json_integer_value(json_object_get(m, "format")) !=
        PCL_TEMPLATE_FORMAT) {
        g_autofree char *f = json_dumps(json_object_get(m, "format"),
                                        JSON_ENCODE_ANY);

        g_set_error(errp, PCL_ERROR, 0, "template %s: format %s, not %d",
                    key, f ?: "none", PCL_TEMPLATE_FORMAT);
        goto bad;
    }
    for (i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *p = g_build_filename(dir, names[i], NULL);
        json_t *want = json_object_get(sizes, names[i]);

        if (stat(p, &st) < 0) {
            g_set_error(errp, PCL_ERROR, 0, "template %s: %s: %s", key,
                        names[i], g_strerror(errno));
            goto bad;
        }
        if (!json_is_integer(want) ||
            json_integer_value(want) != st.st_size) {
            g_set_error(errp, PCL_ERROR, 0, "template %s: %s is %lld bytes, "
                        "not %lld", key, names[i], (long long)st.st_size,
                        (long long)json_integer_value(want));
            goto bad;
        }
    }
    /* st is the state's: unchanged since it was made, or hashed again */
    now = stamp(&st);
    if (g_strcmp0(now, json_string_value(json_object_get(m, "state_stamp")))) {
        const char *want = json_string_value(json_object_get(m,
                                                             "state_sha256"));

        sum = file_sha256(state);
        if (g_strcmp0(sum, want)) {
            g_set_error(errp, PCL_ERROR, 0, "template %s: its saved state is "
                        "corrupt", key);
            goto bad;
        }
    }
    return m;
bad:
    json_decref(m);
    return NULL;
}

gboolean pcl_template_remove(const char *top, const char *key)
{
    g_autofree char *dir = NULL;

    if (strlen(key) != 16 || strspn(key, "0123456789abcdef") != 16) {
        return FALSE;
    }
    dir = g_build_filename(top, key, NULL);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        return FALSE;
    }
    pcl_remove_tree(dir);
    return !g_file_test(dir, G_FILE_TEST_EXISTS);
}

static gint compare(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char **)a, *(char **)b);
}

char **pcl_template_keys(const char *top)
{
    g_autoptr(GDir) d = g_dir_open(top, 0, NULL);
    GPtrArray *keys = g_ptr_array_new();
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(top, name, NULL);

        if (!strchr(name, '.') && g_file_test(p, G_FILE_TEST_IS_DIR)) {
            g_ptr_array_add(keys, g_strdup(name));
        }
    }
    g_ptr_array_sort(keys, compare);
    g_ptr_array_add(keys, NULL);
    return (char **)g_ptr_array_free(keys, FALSE);
}

void pcl_template_clear(PclTemplate *t)
{
    g_free(t->key);
    g_free(t->dir);
    json_decref(t->manifest);
    memset(t, 0, sizeof(*t));
}

/* The guest's hello on fd, within the deadline (monotonic, us). */
static gboolean wait_hello(int fd, gint64 deadline, int timeout_ms,
                           GError **errp)
{
    struct chan_reader r = { 0 };
    PclGuestEvent ev;
    gboolean hello = FALSE;
    int ret;

    while (!hello) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (left <= 0 || poll(&p, 1, left) <= 0) {
            g_set_error(errp, PCL_ERROR, 0, "the guest did not reach its "
                        "init within %d s", timeout_ms / 1000);
            break;
        }
        n = chan_fill(&r, fd);
        if (n <= 0) {
            g_set_error(errp, PCL_ERROR, 0, "the guest closed the channel");
            break;
        }
        while ((ret = pcl_guest_next(&r, &ev, errp)) > 0) {
            hello |= ev.type == FRAME_HELLO;
        }
        if (ret < 0) {
            break;
        }
    }
    free(r.buf);
    free(r.last);
    return hello;
}

/* Migrate the running VM into its state file (passed in an fd set). */
static gboolean save(PclQmp *q, int state, gint64 deadline, GError **errp)
{
    json_t *r;

    r = pcl_qmp_call(q, "add-fd", json_pack("{s:i}", "fdset-id",
                                            STATE_FDSET), state, errp);
    if (!r) {
        return FALSE;
    }
    json_decref(r);
    /*
     * Migrated while it runs (it is stopped for the last stage), so that
     * the saved run state is "running" and clones start at once.
     */
    r = pcl_qmp_call(q, "migrate-set-capabilities",
                     json_pack("{s:[{s:s, s:b}]}", "capabilities",
                               "capability", "x-ignore-shared", "state", 1),
                     -1, errp);
    if (!r) {
        return FALSE;
    }
    json_decref(r);
    r = pcl_qmp_call(q, "migrate",
                     json_pack("{s:s}", "uri", "file:/dev/fdset/1"), -1,
                     errp);
    if (!r) {
        return FALSE;
    }
    json_decref(r);
    for (;;) {
        const char *status;

        r = pcl_qmp_call(q, "query-migrate", NULL, -1, errp);
        if (!r) {
            return FALSE;
        }
        status = json_string_value(json_object_get(r, "status"));
        if (!g_strcmp0(status, "completed")) {
            json_decref(r);
            return TRUE;
        }
        if (!g_strcmp0(status, "failed") || !g_strcmp0(status, "cancelled")) {
            const char *desc = json_string_value(json_object_get(r,
                                                                 "error-desc"));

            g_set_error(errp, PCL_ERROR, 0, "saving the template failed: %s",
                        desc ?: status);
            json_decref(r);
            return FALSE;
        }
        json_decref(r);
        if (g_get_monotonic_time() > deadline) {
            g_set_error(errp, PCL_ERROR, 0, "saving the template timed out");
            return FALSE;
        }
        g_usleep(5000);
    }
}

/* QEMU's last line in log, when it said anything. */
static char *last_line(const char *log)
{
    g_autofree char *text = NULL;
    char *nl;

    if (!g_file_get_contents(log, &text, NULL, NULL)) {
        return NULL;
    }
    g_strstrip(text);
    if (!*text) {
        return NULL;
    }
    nl = strrchr(text, '\n');
    return g_strdup(nl ? nl + 1 : text);
}

/* Boot vm's template in tmp until init waits for a command, then save. */
static gboolean boot_and_save(const char *top, const PclVm *spec,
                              const char *tmp, int timeout_ms, GError **errp)
{
    g_autofree char *log = g_build_filename(tmp, "qemu.log", NULL);
    g_autofree char *state_path = g_build_filename(tmp, "state", NULL);
    g_auto(GStrv) argv = NULL, shares = NULL;
    g_autofree char *empty = NULL;
    PclVm vm = *spec;
    PclQmp q = { 0 };
    int ch[2] = { -1, -1 }, qmp[2] = { -1, -1 }, fd, state = -1, logfd = -1;
    int status = 0;
    gboolean ok = FALSE, exited = FALSE;
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000LL;
    pid_t pid = -1;

    vm.ram = g_build_filename(tmp, "ram", NULL);
    vm.console = g_build_filename(tmp, "console.log", NULL);
    /* The RAM file's blocks reserved: a clear error now, no SIGBUS later */
    fd = open(vm.ram, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    errno = fd < 0 ? errno : posix_fallocate(fd, 0,
                                             (off_t)vm.mem_mib * PCL_MiB);
    if (fd < 0 || errno) {
        g_set_error(errp, PCL_ERROR, 0, "cannot reserve %d MiB for the "
                    "template's RAM in %s: %s", vm.mem_mib, top,
                    g_strerror(errno));
        goto out;
    }
    /*
     * The stream's file, opened here and passed in an fd set: a QEMU that
     * has changed its user could not create it in tmp.
     */
    state = open(state_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    logfd = open(log, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (state < 0 || logfd < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ch) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qmp) < 0) {
        g_set_error(errp, PCL_ERROR, 0, "template: %s", g_strerror(errno));
        goto out;
    }
    /*
     * No network reaches a template (its interfaces are hub ports) and
     * its shares are empty: a clone gives them its own.
     */
    vm.nic = NULL;
    if (vm.share_tags) {
        guint i, n = g_strv_length(vm.share_tags);

        empty = g_build_filename(tmp, "empty", NULL);
        g_mkdir(empty, 0755);
        shares = g_new0(char *, n + 1);
        for (i = 0; i < n; i++) {
            shares[i] = g_strdup(empty);
        }
        vm.share_paths = shares;
    }
    vm.channel_fd = ch[1];
    vm.qmp_fd = qmp[1];
    vm.incoming = NULL;
    vm.clone = FALSE;
    vm.generation = NULL;
    vm.trace = NULL;
    argv = pcl_vm_argv(&vm);
    pid = pcl_spawn_qemu(argv, &(PclSpawn){
                             .keep = (int[]){ ch[1], qmp[1] }, .nkeep = 2,
                             .in = -1, .out = logfd, .err = logfd,
                             .limit_caps = !vm.user }, errp);
    close(ch[1]);
    close(qmp[1]);
    if (pid < 0) {
        goto out;
    }
    if (!wait_hello(ch[0], deadline, timeout_ms, errp) ||
        !pcl_qmp_open(&q, qmp[0], timeout_ms, errp) ||
        !save(&q, state, deadline, errp)) {
        goto out;
    }
    ok = TRUE;
out:
    if (pid > 0) {
        exited = waitpid(pid, &status, WNOHANG) == pid;
        if (!exited) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
        }
    }
    if (!ok && exited && status) {
        g_autofree char *said = last_line(log);

        if (said) {
            g_clear_error(errp);
            g_set_error(errp, PCL_ERROR, 0, "QEMU: %s", said);
        }
    }
    pcl_qmp_close(&q);
    if (ch[0] >= 0) {
        close(ch[0]);
    }
    if (qmp[0] >= 0) {
        close(qmp[0]);
    }
    if (fd >= 0) {
        close(fd);
    }
    if (state >= 0) {
        close(state);
    }
    if (logfd >= 0) {
        close(logfd);
    }
    if (empty) {
        g_rmdir(empty);
    }
    g_free(vm.ram);
    g_free(vm.console);
    return ok;
}

static gboolean create(const char *top, const PclVm *vm, const char *key,
                       int timeout_ms, GError **errp)
{
    g_autofree char *dir = g_build_filename(top, key, NULL);
    g_autofree char *tmp = g_strdup_printf("%s.tmp-XXXXXX", dir);
    g_autofree char *state = NULL, *ram = NULL, *manifest = NULL;
    g_autofree char *sum = NULL, *text = NULL;
    g_autoptr(GDir) d = NULL;
    const char *name;
    struct stat rs, ss;
    json_t *m;
    int fd;

    if (!g_mkdtemp(tmp)) {
        g_set_error(errp, PCL_ERROR, 0, "%s: %s", tmp, g_strerror(errno));
        return FALSE;
    }
    if (!boot_and_save(top, vm, tmp, timeout_ms, errp)) {
        goto fail;
    }
    state = g_build_filename(tmp, "state", NULL);
    ram = g_build_filename(tmp, "ram", NULL);
    manifest = g_build_filename(tmp, MANIFEST, NULL);
    sum = file_sha256(state);
    /* Read-only first: the stamp is taken after the state's chmod. */
    d = g_dir_open(tmp, 0, NULL);
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(tmp, name, NULL);

        chmod(p, 0444);
    }
    if (!sum || stat(ram, &rs) < 0 || stat(state, &ss) < 0) {
        g_set_error(errp, PCL_ERROR, 0, "%s: %s", state, g_strerror(errno));
        goto fail;
    }
    m = pcl_vm_inputs(vm, errp);
    if (!m) {
        goto fail;
    }
    json_object_set_new(m, "key", json_string(key));
    json_object_set_new(m, "created", json_real(g_get_real_time() / 1e6));
    json_object_set_new(m, "sizes", json_pack("{s:I, s:I}",
                                              "ram", (json_int_t)rs.st_size,
                                              "state",
                                              (json_int_t)ss.st_size));
    json_object_set_new(m, "state_sha256", json_string(sum));
    json_object_set_new(m, "state_stamp", json_string_nocheck(stamp(&ss)));
    text = json_dumps(m, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(m);
    fd = open(manifest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
        fsync(fd) < 0) {
        g_set_error(errp, PCL_ERROR, 0, "%s: %s", manifest,
                    g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        goto fail;
    }
    close(fd);
    chmod(tmp, 0555);
    if (rename(tmp, dir) < 0) {
        g_set_error(errp, PCL_ERROR, 0, "%s: %s", dir, g_strerror(errno));
        goto fail;
    }
    return TRUE;
fail:
    pcl_remove_tree(tmp);
    return FALSE;
}

gboolean pcl_template_get(const char *top, const PclVm *vm, int timeout_ms,
                          void (*remade_because)(const char *why),
                          PclTemplate *t, GError **errp)
{
    g_autoptr(GError) why = NULL;
    g_autofree char *lock = NULL;
    int fd;

    memset(t, 0, sizeof(*t));
    t->key = pcl_template_key(vm, errp);
    if (!t->key) {
        return FALSE;
    }
    t->dir = g_build_filename(top, t->key, NULL);
    t->manifest = pcl_template_check(t->dir, &why);
    if (t->manifest) {
        return TRUE;
    }
    if (why->code != TEMPLATE_MISSING && remade_because) {
        remade_because(why->message);
    }
    /* Made once when two VMs race for it: the second waits and takes it */
    lock = g_strdup_printf("%s/.%s.lock", top, t->key);
    fd = g_mkdir_with_parents(top, 0755) < 0 ? -1 :
         open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || flock(fd, LOCK_EX) < 0) {
        g_set_error(errp, PCL_ERROR, 0, "%s: %s", top, g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        pcl_template_clear(t);
        return FALSE;
    }
    t->manifest = pcl_template_check(t->dir, NULL);
    if (!t->manifest) {
        pcl_remove_tree(t->dir);
        if (create(top, vm, t->key, timeout_ms, errp)) {
            t->manifest = pcl_template_check(t->dir, errp);
        }
    }
    close(fd);
    if (!t->manifest) {
        pcl_template_clear(t);
        return FALSE;
    }
    return TRUE;
}

char *pcl_new_generation(uint8_t guid[16])
{
    char *uuid = g_uuid_string_random();
    static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6,
                                   8, 9, 10, 11, 12, 13, 14, 15 };
    uint8_t b[16];
    int i, k = 0;

    /* The UUID's bytes in the order of its text ... */
    for (i = 0; i < 16; i++, k += 2) {
        k += uuid[k] == '-';
        b[i] = g_ascii_xdigit_value(uuid[k]) << 4 |
               g_ascii_xdigit_value(uuid[k + 1]);
    }
    /* ... as the guest's GUID: the first three fields little-endian. */
    for (i = 0; i < 16; i++) {
        guid[i] = b[order[i]];
    }
    return uuid;
}

void pcl_template_clone(const PclTemplate *t, PclVm *vm, uint8_t guid[16],
                        gboolean *has_guid)
{
    vm->ram = g_build_filename(t->dir, "ram", NULL);
    vm->clone = TRUE;
    vm->incoming = g_build_filename(t->dir, "state", NULL);
    /*
     * A new VM generation ID for every clone (the guest reseeds its RNG),
     * unless the machine fixes one: then it does not change, and the
     * guest does not reseed, as Linux's vmgenid driver when it sees the
     * same ID again.
     */
    *has_guid = !vm->vmgenid;
    if (*has_guid) {
        vm->generation = pcl_new_generation(guid);
    }
}
