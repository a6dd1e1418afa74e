/*
 * pc-lite-oci: the container's cgroup.  The monitor joins it before it
 * starts QEMU, so that the VM's host-side processes are the container's
 * as an engine sees them: what it reads through /proc/PID/cgroup
 * (podman stats, containerd's and Docker's stats) is the VM's CPU time
 * and memory, not the host's root cgroup.
 *
 * linux.cgroupsPath as runc reads it: an absolute path from the root of
 * each hierarchy, a relative one from the runtime's own cgroup, or
 * systemd's "SLICE:PREFIX:NAME" (SLICE's path, then PREFIX-NAME.scope,
 * made directly: pc-lite-oci does not ask systemd); without it,
 * /pc-lite-oci/ID.  cgroup v2 (one hierarchy) and v1 (each mounted
 * hierarchy under /sys/fs/cgroup) alike.  Limits are not written: the
 * VM's size is the container's limit (spec.c), and a memory limit on
 * QEMU itself would kill the VM rather than reclaim from it.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <glib/gstdio.h>
#include <stdio.h>
#include <sys/stat.h>

#include "oci.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

static GQuark cgroup_quark(void)
{
    return g_quark_from_static_string("pc-lite-oci-cgroup");
}

/* A systemd slice's path: "a-b.slice" is "a.slice/a-b.slice". */
static void append_slice(GString *out, const char *slice)
{
    g_autofree char *stem = NULL;
    const char *dash;

    if (!*slice || !strcmp(slice, "-.slice")) {
        return;
    }
    stem = g_strndup(slice, strlen(slice) -
                     (g_str_has_suffix(slice, ".slice") ? 6 : 0));
    for (dash = strchr(stem, '-'); dash; dash = strchr(dash + 1, '-')) {
        g_string_append_printf(out, "/%.*s.slice", (int)(dash - stem), stem);
    }
    g_string_append_printf(out, "/%s.slice", stem);
}

/* Our own cgroup in the hierarchy of controllers @name ("" for v2). */
static char *own_cgroup(const char *name)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_auto(GStrv) want = g_strsplit(name, ",", -1);
    guint i;

    if (!g_file_get_contents("/proc/self/cgroup", &text, NULL, NULL)) {
        return g_strdup("/");
    }
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i]; i++) {
        g_auto(GStrv) f = g_strsplit(lines[i], ":", 3);
        g_auto(GStrv) have = NULL;

        if (g_strv_length(f) != 3) {
            continue;
        }
        have = g_strsplit(f[1], ",", -1);
        if ((!*name || !strcmp(name, "unified")) ? !*f[1] :
            (g_strv_contains((const char *const *)have, want[0]) ||
             (g_str_has_prefix(f[1], "name=") &&
              !strcmp(f[1] + 5, name)))) {
            return g_strdup(f[2]);
        }
    }
    return g_strdup("/");
}

/* The cgroup's path inside a hierarchy whose own cgroup is @own. */
static char *relative_path(const char *cgroups_path, const char *id,
                           const char *own)
{
    GString *p = g_string_new(NULL);

    if (!cgroups_path || !*cgroups_path) {
        g_string_append_printf(p, "/pc-lite-oci/%s", id);
    } else if (cgroups_path[0] != '/' && strchr(cgroups_path, ':')) {
        g_auto(GStrv) f = g_strsplit(cgroups_path, ":", 3);

        append_slice(p, f[0] && *f[0] ? f[0] : "system.slice");
        g_string_append_printf(p, "/%s-%s.scope", f[1] ? f[1] : "",
                               f[1] && f[2] ? f[2] : id);
    } else if (cgroups_path[0] == '/') {
        g_string_append(p, cgroups_path);
    } else {
        g_string_append_printf(p, "%s/%s", strcmp(own, "/") ? own : "",
                               cgroups_path);
    }
    return g_string_free(p, FALSE);
}

/* cgroup v2 alone (unified), not v1's hierarchies. */
gboolean oci_cgroup_v2(void)
{
    return g_file_test(CGROUP_ROOT "/cgroup.controllers", G_FILE_TEST_EXISTS);
}

char **oci_cgroup_dirs(const char *cgroups_path, const char *id)
{
    GPtrArray *dirs = g_ptr_array_new();
    g_autoptr(GDir) d = NULL;
    const char *name;

    if (oci_cgroup_v2()) {
        g_autofree char *own = own_cgroup("");
        g_autofree char *rel = relative_path(cgroups_path, id, own);

        g_ptr_array_add(dirs, g_strconcat(CGROUP_ROOT, rel, NULL));
    } else {
        d = g_dir_open(CGROUP_ROOT, 0, NULL);
        while (d && (name = g_dir_read_name(d))) {
            g_autofree char *base = g_build_filename(CGROUP_ROOT, name, NULL);
            g_autofree char *procs = g_build_filename(base, "cgroup.procs",
                                                      NULL);
            g_autofree char *own = NULL, *rel = NULL;
            struct stat st;

            /* Each hierarchy once: cpu -> cpu,cpuacct links are skipped. */
            if (lstat(base, &st) < 0 || !S_ISDIR(st.st_mode) ||
                !g_file_test(procs, G_FILE_TEST_EXISTS)) {
                continue;
            }
            /* Our own cgroup matters to a relative path only. */
            own = cgroups_path && *cgroups_path && cgroups_path[0] != '/' &&
                  !strchr(cgroups_path, ':') ? own_cgroup(name) :
                  g_strdup("/");
            rel = relative_path(cgroups_path, id, own);
            g_ptr_array_add(dirs, g_strconcat(base, rel, NULL));
        }
    }
    g_ptr_array_sort(dirs, (GCompareFunc)g_strcmp0);
    g_ptr_array_add(dirs, NULL);
    return (char **)g_ptr_array_free(dirs, FALSE);
}

static gboolean write_text(const char *dir, const char *file,
                           const char *text, GError **errp)
{
    g_autofree char *path = g_build_filename(dir, file, NULL);

    return oci_write_file(path, text, -1, errp);
}

/* cgroup v1's cpuset: a new cgroup has no CPUs or memory nodes. */
static void inherit_cpuset(const char *dir)
{
    static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
    g_autofree char *parent = g_path_get_dirname(dir);
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *mine = g_build_filename(dir, files[i], NULL);
        g_autofree char *theirs = g_build_filename(parent, files[i], NULL);
        g_autofree char *have = NULL, *text = NULL;

        if (g_file_get_contents(mine, &have, NULL, NULL) &&
            !*g_strstrip(have) &&
            g_file_get_contents(theirs, &text, NULL, NULL)) {
            oci_write_file(mine, text, -1, NULL);
        }
    }
}

/* mkdir -p, each new level of a cpuset hierarchy given its parent's. */
static gboolean make_dir(const char *dir, GError **errp)
{
    g_autofree char *parent = NULL;
    int ret = g_mkdir(dir, 0755);

    if (ret < 0 && errno == ENOENT) {
        parent = g_path_get_dirname(dir);
        if (strcmp(parent, CGROUP_ROOT) && make_dir(parent, errp)) {
            ret = g_mkdir(dir, 0755);
        } else if (errp && *errp) {
            return FALSE;
        }
    }
    if (ret < 0 && errno != EEXIST) {
        g_set_error(errp, cgroup_quark(), errno == EACCES || errno == EPERM ||
                    errno == EROFS ? 1 : 2, "cgroup %s: %s", dir,
                    g_strerror(errno));
        return FALSE;
    }
    if (ret == 0 && strstr(dir, CGROUP_ROOT "/cpuset")) {
        inherit_cpuset(dir);
    }
    return TRUE;
}

/* cgroup v2: the parents delegate what the VM's figures come from. */
static void enable_controllers(const char *dir)
{
    g_autofree char *parent = g_path_get_dirname(dir);

    if (!g_str_has_prefix(parent, CGROUP_ROOT "/")) {
        return;
    }
    enable_controllers(parent);
    write_text(parent, "cgroup.subtree_control", "+cpu", NULL);
    write_text(parent, "cgroup.subtree_control", "+memory", NULL);
    write_text(parent, "cgroup.subtree_control", "+pids", NULL);
}

gboolean oci_cgroup_join(char **dirs, pid_t pid, GError **errp)
{
    g_autofree char *text = g_strdup_printf("%d", pid);
    guint i;

    for (i = 0; dirs[i]; i++) {
        if (!make_dir(dirs[i], errp)) {
            /*
             * Without a cgroup a user may write to (rootless, as runc
             * goes on without one), the VM's processes stay in ours.
             */
            if (oci_rootless() && g_error_matches(*errp, cgroup_quark(), 1)) {
                g_clear_error(errp);
                return TRUE;
            }
            return FALSE;
        }
        if (oci_cgroup_v2()) {
            enable_controllers(dirs[i]);
        }
        if (!write_text(dirs[i], "cgroup.procs", text, errp)) {
            g_prefix_error(errp, "joining cgroup: ");
            return FALSE;
        }
    }
    return TRUE;
}

/*
 * A CPU control of the container's cgroup: @v1 in v1's cpu hierarchy,
 * or @v2 in v2's.
 */
gboolean oci_cgroup_write_cpu(char **dirs, const char *v1, const char *v2,
                              const char *value, GError **errp)
{
    guint i;

    for (i = 0; dirs && dirs[i]; i++) {
        g_autofree char *path = NULL;

        if (!oci_cgroup_v2() &&
            !g_str_has_prefix(dirs[i], CGROUP_ROOT "/cpu/") &&
            !g_str_has_prefix(dirs[i], CGROUP_ROOT "/cpu,cpuacct/")) {
            continue;
        }
        path = g_build_filename(dirs[i], oci_cgroup_v2() ? v2 : v1, NULL);
        return oci_write_file(path, value, -1, errp);
    }
    g_set_error(errp, cgroup_quark(), 2, "the container has no CPU cgroup");
    return FALSE;
}

/* The container's cgroups, once its processes have gone. */
void oci_cgroup_remove(char **dirs)
{
    guint i;
    int tries;

    for (i = 0; dirs && dirs[i]; i++) {
        /* A killed QEMU can take a moment to leave. */
        for (tries = 0; tries < 200 && rmdir(dirs[i]) < 0 && errno == EBUSY;
             tries++) {
            g_usleep(5000);
        }
    }
}
