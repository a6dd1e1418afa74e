/*
 * pc-lite-oci: the bundle's config.json (OCI runtime spec), read with
 * jansson, and the channel frames that describe its process.
 *
 * What is taken: ociVersion 1.x, root, hostname, process (args, env, cwd,
 * user, rlimits, terminal, consoleSize), mounts, the CPU quota and memory
 * limit of linux.resources (the VM's size), the network namespace's
 * path, cgroupsPath (where the VM's host-side processes go), hooks and
 * annotations.  What a VM cannot honour as asked is refused with one
 * message: user-namespace ID mappings, and sharing the runtime's network
 * namespace.  The rest (seccomp, capabilities, AppArmor, SELinux, cgroup
 * limits other than the VM's size, masked and read-only paths) is about
 * isolating a process on the host's kernel: the container has a kernel of
 * its own.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "oci.h"
#include "../proto/channel.h"

#define DEFAULT_MEM_MIB 128
#define MIN_MEM_MIB     64
#define MAX_MEM_MIB     (64 * 1024)

static GQuark oci_quark(void)
{
    return g_quark_from_static_string("pc-lite-oci");
}

#define FAIL(...) do { \
        g_set_error(errp, oci_quark(), 1, __VA_ARGS__); \
        return FALSE; \
    } while (0)

static json_t *member_object(json_t *o, const char *name)
{
    json_t *n = json_object_get(o, name);

    return json_is_object(n) ? n : NULL;
}

static json_t *member_array(json_t *o, const char *name)
{
    json_t *n = json_object_get(o, name);

    return json_is_array(n) ? n : NULL;
}

/* A string member; NULL when absent, an error when not a string. */
static gboolean member_string(json_t *o, const char *name, const char *where,
                              char **out, GError **errp)
{
    json_t *n = json_object_get(o, name);

    *out = NULL;
    if (!n || json_is_null(n)) {
        return TRUE;
    }
    if (!json_is_string(n)) {
        FAIL("%s.%s is not a string", where, name);
    }
    *out = g_strdup(json_string_value(n));
    return TRUE;
}

static gboolean member_uint(json_t *o, const char *name, const char *where,
                            guint64 max, guint64 *out, GError **errp)
{
    json_t *n = json_object_get(o, name);
    json_int_t v;

    if (!n || json_is_null(n)) {
        return TRUE;
    }
    if (!json_is_integer(n)) {
        FAIL("%s.%s is not an integer", where, name);
    }
    v = json_integer_value(n);
    if (v < 0 || (guint64)v > max) {
        FAIL("%s.%s is out of range", where, name);
    }
    *out = v;
    return TRUE;
}

/* An array of strings as a NULL-terminated vector (NULL when absent). */
static gboolean member_strv(json_t *o, const char *name, const char *where,
                            char ***out, GError **errp)
{
    json_t *n = json_object_get(o, name);
    size_t i, len;

    *out = NULL;
    if (!n || json_is_null(n)) {
        return TRUE;
    }
    if (!json_is_array(n)) {
        FAIL("%s.%s is not an array", where, name);
    }
    len = json_array_size(n);
    *out = g_new0(char *, len + 1);
    for (i = 0; i < len; i++) {
        json_t *e = json_array_get(n, i);

        if (!json_is_string(e)) {
            FAIL("%s.%s[%zu] is not a string", where, name, i);
        }
        (*out)[i] = g_strdup(json_string_value(e));
    }
    return TRUE;
}

static gboolean member_true(json_t *o, const char *name)
{
    return json_is_true(json_object_get(o, name));
}

static const struct {
    const char *name;
    int type;
} rlimit_names[] = {
    { "RLIMIT_AS", RLIMIT_AS }, { "RLIMIT_CORE", RLIMIT_CORE },
    { "RLIMIT_CPU", RLIMIT_CPU }, { "RLIMIT_DATA", RLIMIT_DATA },
    { "RLIMIT_FSIZE", RLIMIT_FSIZE }, { "RLIMIT_LOCKS", RLIMIT_LOCKS },
    { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },
    { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE },
    { "RLIMIT_NOFILE", RLIMIT_NOFILE }, { "RLIMIT_NPROC", RLIMIT_NPROC },
    { "RLIMIT_RSS", RLIMIT_RSS }, { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },
    { "RLIMIT_RTTIME", RLIMIT_RTTIME },
    { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
    { "RLIMIT_STACK", RLIMIT_STACK },
};

static gboolean parse_rlimits(json_t *a, OciProcess *p, GError **errp)
{
    size_t i, j, len = a ? json_array_size(a) : 0;

    for (i = 0; i < len; i++) {
        json_t *o = json_array_get(a, i);
        g_autofree char *type = NULL;
        guint64 soft = 0, hard = 0;
        OciRlimit rl;

        if (!json_is_object(o)) {
            FAIL("process.rlimits[%zu] is not an object", i);
        }
        if (!member_string(o, "type", "process.rlimits", &type, errp) ||
            !member_uint(o, "soft", "process.rlimits", G_MAXUINT64, &soft,
                         errp) ||
            !member_uint(o, "hard", "process.rlimits", G_MAXUINT64, &hard,
                         errp)) {
            return FALSE;
        }
        for (j = 0; j < G_N_ELEMENTS(rlimit_names); j++) {
            if (!g_strcmp0(type, rlimit_names[j].name)) {
                break;
            }
        }
        if (j == G_N_ELEMENTS(rlimit_names)) {
            FAIL("process.rlimits: unknown type %s", type ? type : "(none)");
        }
        rl.type = rlimit_names[j].type;
        rl.soft = soft;
        rl.hard = hard;
        g_array_append_val(p->rlimits, rl);
    }
    return TRUE;
}

void oci_process_free(OciProcess *p)
{
    if (!p) {
        return;
    }
    g_strfreev(p->args);
    g_strfreev(p->env);
    g_free(p->cwd);
    g_array_unref(p->groups);
    g_array_unref(p->rlimits);
    g_free(p);
}

static OciProcess *parse_process(json_t *o, GError **errp)
{
    g_autoptr(GError) err = NULL;
    OciProcess *p = g_new0(OciProcess, 1);
    json_t *user = member_object(o, "user");
    json_t *size = member_object(o, "consoleSize");
    json_t *groups = member_array(user, "additionalGids");
    guint64 uid = 0, gid = 0, umask = 022, rows = 0, cols = 0;
    size_t i;

    p->groups = g_array_new(FALSE, FALSE, sizeof(uint32_t));
    p->rlimits = g_array_new(FALSE, FALSE, sizeof(OciRlimit));
    p->terminal = member_true(o, "terminal");
    if (!member_strv(o, "args", "process", &p->args, &err) ||
        !member_strv(o, "env", "process", &p->env, &err) ||
        !member_string(o, "cwd", "process", &p->cwd, &err) ||
        !member_uint(user, "uid", "process.user", G_MAXUINT32, &uid, &err) ||
        !member_uint(user, "gid", "process.user", G_MAXUINT32, &gid, &err) ||
        !member_uint(user, "umask", "process.user", 0777, &umask, &err) ||
        !member_uint(size, "height", "process.consoleSize", 0xffff, &rows,
                     &err) ||
        !member_uint(size, "width", "process.consoleSize", 0xffff, &cols,
                     &err) ||
        !parse_rlimits(member_array(o, "rlimits"), p, &err)) {
        goto fail;
    }
    if (!p->args || !p->args[0] || !p->args[0][0]) {
        g_set_error(&err, oci_quark(), 1, "process.args is empty");
        goto fail;
    }
    if (!p->cwd || p->cwd[0] != '/') {
        g_set_error(&err, oci_quark(), 1,
                    "process.cwd must be an absolute path");
        goto fail;
    }
    if (json_object_get(user, "username")) {
        g_set_error(&err, oci_quark(), 1, "process.user.username (a "
                    "Windows field) is not supported");
        goto fail;
    }
    for (i = 0; groups && i < json_array_size(groups); i++) {
        json_t *g = json_array_get(groups, i);
        uint32_t gv;

        if (!json_is_integer(g) || json_integer_value(g) < 0 ||
            json_integer_value(g) > G_MAXUINT32) {
            g_set_error(&err, oci_quark(), 1,
                        "process.user.additionalGids[%zu] is not a gid", i);
            goto fail;
        }
        gv = json_integer_value(g);
        g_array_append_val(p->groups, gv);
    }
    p->uid = uid;
    p->gid = gid;
    p->umask = umask;
    p->rows = rows;
    p->cols = cols;
    return p;

fail:
    g_propagate_error(errp, g_steal_pointer(&err));
    oci_process_free(p);
    return NULL;
}

json_t *oci_json_load(const char *path, GError **errp)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);

    if (!root) {
        g_set_error(errp, oci_quark(), 1, "%s: %s (line %d)", path, je.text,
                    je.line);
        return NULL;
    }
    if (!json_is_object(root)) {
        g_set_error(errp, oci_quark(), 1, "%s: not a JSON object", path);
        json_decref(root);
        return NULL;
    }
    return root;
}

OciProcess *oci_process_load(const char *path, GError **errp)
{
    json_t *o = oci_json_load(path, errp);
    OciProcess *p = o ? parse_process(o, errp) : NULL;

    json_decref(o);
    return p;
}

static void mount_free(gpointer data)
{
    OciMount *m = data;

    g_free(m->dest);
    g_free(m->type);
    g_free(m->source);
    g_free(m->options);
    g_free(m);
}

static gboolean parse_mounts(json_t *a, OciSpec *spec, GError **errp)
{
    size_t i, len = a ? json_array_size(a) : 0;

    for (i = 0; i < len; i++) {
        json_t *o = json_array_get(a, i);
        OciMount *m = g_new0(OciMount, 1);
        g_auto(GStrv) opts = NULL;
        guint j;

        g_ptr_array_add(spec->mounts, m);
        if (!json_is_object(o)) {
            FAIL("mounts[%zu] is not an object", i);
        }
        if (!member_string(o, "destination", "mounts", &m->dest, errp) ||
            !member_string(o, "type", "mounts", &m->type, errp) ||
            !member_string(o, "source", "mounts", &m->source, errp) ||
            !member_strv(o, "options", "mounts", &opts, errp)) {
            return FALSE;
        }
        if (!m->dest || m->dest[0] != '/') {
            FAIL("mounts[%zu].destination must be an absolute path", i);
        }
        if (member_array(o, "uidMappings") || member_array(o, "gidMappings")) {
            FAIL("mounts[%zu]: ID-mapped mounts are not supported", i);
        }
        m->options = opts ? g_strjoinv(",", opts) : g_strdup("");
        m->bind = !g_strcmp0(m->type, "bind");
        for (j = 0; opts && opts[j]; j++) {
            m->bind |= !strcmp(opts[j], "bind") || !strcmp(opts[j], "rbind");
        }
        if (!m->type) {
            m->type = g_strdup(m->bind ? "bind" : "none");
        }
        if (!m->source) {
            m->source = g_strdup(m->type);
        }
        if (m->bind && m->source[0] != '/') {
            FAIL("mounts[%zu]: bind mount source %s is not an absolute path",
                 i, m->source);
        }
    }
    return TRUE;
}

/* The VM's size from linux.resources: CPU quota and memory limit. */
static gboolean parse_resources(json_t *linux_, OciSpec *spec, GError **errp)
{
    json_t *res = member_object(linux_, "resources");
    json_t *cpu = member_object(res, "cpu");
    json_t *quota = json_object_get(cpu, "quota");
    json_t *limit = json_object_get(member_object(res, "memory"), "limit");
    guint64 period = 100000;

    spec->cpus = 1;
    spec->mem_mib = DEFAULT_MEM_MIB;
    if (!member_uint(cpu, "period", "linux.resources.cpu", G_MAXUINT32,
                     &period, errp)) {
        return FALSE;
    }
    if (json_is_integer(quota) && period && json_integer_value(quota) > 0) {
        gint64 q = json_integer_value(quota);

        spec->cpus = MIN((q + period - 1) / period,
                         (gint64)g_get_num_processors());
    }
    if (json_is_integer(limit) && json_integer_value(limit) > 0) {
        gint64 mib = json_integer_value(limit) >> 20;

        if (mib < MIN_MEM_MIB || mib > MAX_MEM_MIB) {
            FAIL("linux.resources.memory.limit: %" G_GINT64_FORMAT " MiB; "
                 "a pc-lite VM takes %d MiB to %d MiB", mib, MIN_MEM_MIB,
                 MAX_MEM_MIB);
        }
        spec->mem_mib = mib;
    }
    return TRUE;
}

static gboolean parse_linux(json_t *linux_, OciSpec *spec, GError **errp)
{
    json_t *ns = member_array(linux_, "namespaces");
    size_t i;

    if (member_array(linux_, "uidMappings") ||
        member_array(linux_, "gidMappings")) {
        FAIL("linux.uidMappings: user namespaces are not supported (each "
             "container has a VM of its own)");
    }
    for (i = 0; ns && i < json_array_size(ns); i++) {
        json_t *o = json_array_get(ns, i);
        const char *type = json_string_value(json_object_get(o, "type"));
        const char *path = json_string_value(json_object_get(o, "path"));

        if (!g_strcmp0(type, "network")) {
            g_free(spec->netns);
            spec->netns = g_strdup(path ? path : "");
        }
    }
    if (!member_string(linux_, "cgroupsPath", "linux", &spec->cgroups_path,
                       errp)) {
        return FALSE;
    }
    if (!spec->netns) {
        /* The runtime's own namespace (net.c refuses it by path too). */
        FAIL("linux.namespaces has no network namespace, so the container "
             "would share the runtime's (host networking): a VM does not "
             "take the host's interfaces; give the container a network "
             "namespace of its own (or --network none)");
    }
    return parse_resources(linux_, spec, errp);
}

/*
 * hooks (the runtime spec's config.md, "POSIX-platform Hooks"): each kind
 * an array of {path, args, env, timeout}; the object is kept as it was
 * written, for the commands that run them (hooks.c), once checked here.
 */
static gboolean check_hooks(json_t *hooks, GError **errp)
{
    const char *kind;
    json_t *a;

    json_object_foreach(hooks, kind, a) {
        size_t i;

        if (!oci_hook_kind_known(kind)) {
            continue;           /* a later spec's kind: not ours to run */
        }
        if (!json_is_array(a)) {
            FAIL("hooks.%s is not an array", kind);
        }
        for (i = 0; i < json_array_size(a); i++) {
            json_t *h = json_array_get(a, i);
            g_autofree char *where = g_strdup_printf("hooks.%s[%zu]", kind, i);
            g_autofree char *path = NULL;
            g_auto(GStrv) args = NULL, env = NULL;
            guint64 timeout = 0;

            if (!json_is_object(h)) {
                FAIL("%s is not an object", where);
            }
            if (!member_string(h, "path", where, &path, errp) ||
                !member_strv(h, "args", where, &args, errp) ||
                !member_strv(h, "env", where, &env, errp) ||
                !member_uint(h, "timeout", where, G_MAXINT32, &timeout,
                             errp)) {
                return FALSE;
            }
            if (!path || !g_path_is_absolute(path)) {
                FAIL("%s.path is not an absolute path", where);
            }
            if (json_object_get(h, "timeout") && !timeout) {
                FAIL("%s.timeout must be greater than zero", where);
            }
        }
    }
    return TRUE;
}

OciSpec *oci_spec_load(const char *bundle, GError **errp)
{
    g_autofree char *path = g_build_filename(bundle, "config.json", NULL);
    json_t *o = oci_json_load(path, errp);
    OciSpec *spec = o ? oci_spec_parse(o, bundle, path, errp) : NULL;

    json_decref(o);
    return spec;
}

/* config.json's object @o, read from @path, of the bundle @bundle. */
OciSpec *oci_spec_parse(json_t *o, const char *bundle, const char *path,
                        GError **errp)
{
    g_autofree char *version = NULL, *root_path = NULL;
    OciSpec *spec = g_new0(OciSpec, 1);
    json_t *root, *process, *annotations;
    struct stat st;

    spec->bundle = g_canonicalize_filename(bundle, NULL);
    spec->mounts = g_ptr_array_new_with_free_func(mount_free);
    spec->template = TRUE;
    root = member_object(o, "root");
    process = member_object(o, "process");
    if (!member_string(o, "ociVersion", "config", &version, errp) ||
        !member_string(root, "path", "root", &root_path, errp) ||
        !member_string(o, "hostname", "config", &spec->hostname, errp)) {
        goto fail;
    }
    if (!version || !g_str_has_prefix(version, "1.")) {
        g_set_error(errp, oci_quark(), 1, "%s: ociVersion %s: pc-lite-oci "
                    "implements version 1 of the runtime spec", path,
                    version ? version : "is missing");
        goto fail;
    }
    if (!process) {
        g_set_error(errp, oci_quark(), 1, "%s: no process", path);
        goto fail;
    }
    if (json_object_get(o, "hooks") && !member_object(o, "hooks")) {
        g_set_error(errp, oci_quark(), 1, "%s: hooks is not an object",
                    path);
        goto fail;
    }
    if (!check_hooks(member_object(o, "hooks"), errp)) {
        goto fail;
    }
    spec->hooks = json_incref(member_object(o, "hooks"));
    if (!root_path) {
        g_set_error(errp, oci_quark(), 1, "%s: no root.path", path);
        goto fail;
    }
    spec->root = g_path_is_absolute(root_path) ? g_strdup(root_path) :
                 g_build_filename(spec->bundle, root_path, NULL);
    if (stat(spec->root, &st) < 0) {
        g_set_error(errp, oci_quark(), 1, "root.path %s: %s", spec->root,
                    g_strerror(errno));
        goto fail;
    }
    if (!S_ISDIR(st.st_mode)) {
        g_set_error(errp, oci_quark(), 1, "root.path %s: not a directory",
                    spec->root);
        goto fail;
    }
    spec->root_readonly = member_true(root, "readonly");
    spec->process = parse_process(process, errp);
    if (!spec->process ||
        !parse_mounts(member_array(o, "mounts"), spec, errp) ||
        !parse_linux(member_object(o, "linux"), spec, errp)) {
        goto fail;
    }
    annotations = member_object(o, "annotations");
    spec->annotations = json_incref(annotations);
    if (!g_strcmp0(json_string_value(json_object_get(
            annotations, "org.pclite.template")), "off")) {
        spec->template = FALSE;
    }
    return spec;

fail:
    if (errp && *errp && !g_str_has_prefix((*errp)->message, path) &&
        !g_str_has_prefix((*errp)->message, "root.path")) {
        g_prefix_error(errp, "%s: ", path);
    }
    oci_spec_free(spec);
    return NULL;
}

void oci_spec_free(OciSpec *spec)
{
    if (!spec) {
        return;
    }
    g_free(spec->bundle);
    g_free(spec->root);
    g_free(spec->hostname);
    g_free(spec->netns);
    g_free(spec->cgroups_path);
    json_decref(spec->hooks);
    json_decref(spec->annotations);
    oci_process_free(spec->process);
    g_ptr_array_unref(spec->mounts);
    if (spec->nics) {
        g_ptr_array_unref(spec->nics);
    }
    g_free(spec);
}

int oci_signal_parse(const char *name)
{
    static const struct {
        const char *name;
        int sig;
    } names[] = {
        { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
        { "ILL", SIGILL }, { "TRAP", SIGTRAP }, { "ABRT", SIGABRT },
        { "BUS", SIGBUS }, { "FPE", SIGFPE }, { "KILL", SIGKILL },
        { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
        { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
        { "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
        { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },
        { "URG", SIGURG }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
        { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH },
        { "IO", SIGIO }, { "PWR", SIGPWR }, { "SYS", SIGSYS },
    };
    char *end;
    long n;
    size_t i;

    if (!name || !*name) {
        return SIGTERM;
    }
    n = g_ascii_strtoll(name, &end, 10);
    if (!*end) {
        return n > 0 && n < NSIG ? (int)n : -1;
    }
    if (!g_ascii_strncasecmp(name, "SIG", 3)) {
        name += 3;
    }
    for (i = 0; i < G_N_ELEMENTS(names); i++) {
        if (!g_ascii_strcasecmp(name, names[i].name)) {
            return names[i].sig;
        }
    }
    return -1;
}

void oci_process_frames(const OciProcess *p, GByteArray *out)
{
    GByteArray *user = g_byte_array_new();
    uint8_t v[20];
    guint i;

    for (i = 0; p->args[i]; i++) {
        pcl_frame(out, FRAME_ARG, 0, p->args[i], strlen(p->args[i]));
    }
    for (i = 0; p->env && p->env[i]; i++) {
        pcl_frame(out, FRAME_ENV, 0, p->env[i], strlen(p->env[i]));
    }
    if (!p->env) {
        static const char path[] = "PATH=/usr/local/sbin:/usr/local/bin:"
                                   "/usr/sbin:/usr/bin:/sbin:/bin";

        pcl_frame(out, FRAME_ENV, 0, path, sizeof(path) - 1);
    }
    pcl_frame(out, FRAME_CWD, 0, p->cwd, strlen(p->cwd));
    chan_put_u32(v, p->uid);
    chan_put_u32(v + 4, p->gid);
    chan_put_u32(v + 8, p->umask);
    g_byte_array_append(user, v, 12);
    for (i = 0; i < p->groups->len; i++) {
        chan_put_u32(v, g_array_index(p->groups, uint32_t, i));
        g_byte_array_append(user, v, 4);
    }
    pcl_frame(out, FRAME_USER, 0, user->data, user->len);
    g_byte_array_unref(user);
    for (i = 0; i < p->rlimits->len; i++) {
        OciRlimit *rl = &g_array_index(p->rlimits, OciRlimit, i);

        chan_put_u32(v, rl->type);
        chan_put_u64(v + 4, rl->soft);
        chan_put_u64(v + 12, rl->hard);
        pcl_frame(out, FRAME_RLIMIT, 0, v, 20);
    }
    if (p->rows && p->cols) {
        chan_put_u32(v, p->rows);
        chan_put_u32(v + 4, p->cols);
        pcl_frame(out, FRAME_WINSIZE, 0, v, 8);
    }
}
