/*
 * pc-lite-oci: the bundle's config.json (OCI runtime spec), read with
 * json-glib, and the channel frames that describe its process.
 *
 * What is taken: ociVersion 1.x, root, hostname, process (args, env, cwd,
 * user, rlimits, terminal, consoleSize), mounts, the CPU quota and memory
 * limit of linux.resources (the VM's size) and the network namespace's
 * path.  What a VM cannot honour as asked is refused with one message:
 * user-namespace ID mappings and hooks.  The rest (seccomp, capabilities,
 * AppArmor, SELinux, cgroups other than the VM's size, masked and
 * read-only paths) is about isolating a process on the host's kernel: the
 * container has a kernel of its own.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <json-glib/json-glib.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "oci.h"
#include "../guest/channel.h"

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

static JsonObject *member_object(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static JsonArray *member_array(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

/* A string member; NULL when absent, an error when not a string. */
static gboolean member_string(JsonObject *o, const char *name,
                              const char *where, char **out, GError **errp)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    *out = NULL;
    if (!n || JSON_NODE_HOLDS_NULL(n)) {
        return TRUE;
    }
    if (!JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_STRING) {
        FAIL("%s.%s is not a string", where, name);
    }
    *out = g_strdup(json_node_get_string(n));
    return TRUE;
}

static gboolean member_uint(JsonObject *o, const char *name,
                            const char *where, guint64 max, guint64 *out,
                            GError **errp)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;
    gint64 v;

    if (!n || JSON_NODE_HOLDS_NULL(n)) {
        return TRUE;
    }
    if (!JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_INT64) {
        FAIL("%s.%s is not an integer", where, name);
    }
    v = json_node_get_int(n);
    if (v < 0 || (guint64)v > max) {
        FAIL("%s.%s is out of range", where, name);
    }
    *out = v;
    return TRUE;
}

/* An array of strings as a NULL-terminated vector (NULL when absent). */
static gboolean member_strv(JsonObject *o, const char *name,
                            const char *where, char ***out, GError **errp)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;
    JsonArray *a;
    guint i, len;

    *out = NULL;
    if (!n || JSON_NODE_HOLDS_NULL(n)) {
        return TRUE;
    }
    if (!JSON_NODE_HOLDS_ARRAY(n)) {
        FAIL("%s.%s is not an array", where, name);
    }
    a = json_node_get_array(n);
    len = json_array_get_length(a);
    *out = g_new0(char *, len + 1);
    for (i = 0; i < len; i++) {
        JsonNode *e = json_array_get_element(a, i);

        if (!JSON_NODE_HOLDS_VALUE(e) ||
            json_node_get_value_type(e) != G_TYPE_STRING) {
            FAIL("%s.%s[%u] is not a string", where, name, i);
        }
        (*out)[i] = g_strdup(json_node_get_string(e));
    }
    return TRUE;
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

static gboolean parse_rlimits(JsonArray *a, OciProcess *p, GError **errp)
{
    guint i, j, len = a ? json_array_get_length(a) : 0;

    for (i = 0; i < len; i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ?
                        json_node_get_object(e) : NULL;
        g_autofree char *type = NULL;
        guint64 soft = 0, hard = 0;
        OciRlimit rl;

        if (!o || !member_string(o, "type", "process.rlimits", &type, errp) ||
            !member_uint(o, "soft", "process.rlimits", G_MAXUINT64, &soft,
                         errp) ||
            !member_uint(o, "hard", "process.rlimits", G_MAXUINT64, &hard,
                         errp)) {
            if (errp && !*errp) {
                FAIL("process.rlimits[%u] is not an object", i);
            }
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

static OciProcess *parse_process(JsonObject *o, GError **errp)
{
    g_autoptr(GError) err = NULL;
    OciProcess *p = g_new0(OciProcess, 1);
    JsonObject *user = member_object(o, "user");
    JsonObject *size = member_object(o, "consoleSize");
    JsonNode *term = json_object_get_member(o, "terminal");
    guint64 uid = 0, gid = 0, umask = 022, rows = 0, cols = 0, g;
    JsonArray *groups = member_array(user, "additionalGids");
    guint i;

    p->groups = g_array_new(FALSE, FALSE, sizeof(uint32_t));
    p->rlimits = g_array_new(FALSE, FALSE, sizeof(OciRlimit));
    p->terminal = term && JSON_NODE_HOLDS_VALUE(term) &&
                  json_node_get_boolean(term);
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
    if (user && json_object_has_member(user, "username")) {
        g_set_error(&err, oci_quark(), 1, "process.user.username (a "
                    "Windows field) is not supported");
        goto fail;
    }
    for (i = 0; groups && i < json_array_get_length(groups); i++) {
        g = json_array_get_int_element(groups, i);
        g_array_append_val(p->groups, g);
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

static JsonObject *load_json(const char *path, const char *what,
                             JsonParser **parser, GError **errp)
{
    g_autoptr(GError) err = NULL;
    JsonNode *root;

    *parser = json_parser_new_immutable();
    if (!json_parser_load_from_mapped_file(*parser, path, &err)) {
        g_set_error(errp, oci_quark(), 1, "%s: %s", what, err->message);
        return NULL;
    }
    root = json_parser_get_root(*parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(errp, oci_quark(), 1, "%s: not a JSON object", what);
        return NULL;
    }
    return json_node_get_object(root);
}

OciProcess *oci_process_load(const char *path, GError **errp)
{
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = load_json(path, path, &parser, errp);

    return o ? parse_process(o, errp) : NULL;
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

static gboolean parse_mounts(JsonArray *a, OciSpec *spec, GError **errp)
{
    guint i, len = a ? json_array_get_length(a) : 0;

    for (i = 0; i < len; i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ?
                        json_node_get_object(e) : NULL;
        OciMount *m = g_new0(OciMount, 1);
        g_auto(GStrv) opts = NULL;
        guint j;

        g_ptr_array_add(spec->mounts, m);
        if (!o) {
            FAIL("mounts[%u] is not an object", i);
        }
        if (!member_string(o, "destination", "mounts", &m->dest, errp) ||
            !member_string(o, "type", "mounts", &m->type, errp) ||
            !member_string(o, "source", "mounts", &m->source, errp) ||
            !member_strv(o, "options", "mounts", &opts, errp)) {
            return FALSE;
        }
        if (!m->dest || m->dest[0] != '/') {
            FAIL("mounts[%u].destination must be an absolute path", i);
        }
        if (member_array(o, "uidMappings") || member_array(o, "gidMappings")) {
            FAIL("mounts[%u]: ID-mapped mounts are not supported", i);
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
            FAIL("mounts[%u]: bind mount source %s is not an absolute path",
                 i, m->source);
        }
    }
    return TRUE;
}

/* The VM's size from linux.resources: CPU quota and memory limit. */
static gboolean parse_resources(JsonObject *linux_, OciSpec *spec,
                                GError **errp)
{
    JsonObject *res = member_object(linux_, "resources");
    JsonObject *cpu = member_object(res, "cpu");
    JsonObject *mem = member_object(res, "memory");
    JsonNode *quota = cpu ? json_object_get_member(cpu, "quota") : NULL;
    JsonNode *limit = mem ? json_object_get_member(mem, "limit") : NULL;
    guint64 period = 100000;

    spec->cpus = 1;
    spec->mem_mib = DEFAULT_MEM_MIB;
    if (!member_uint(cpu, "period", "linux.resources.cpu", G_MAXUINT32,
                     &period, errp)) {
        return FALSE;
    }
    if (quota && JSON_NODE_HOLDS_VALUE(quota) && period &&
        json_node_get_int(quota) > 0) {
        gint64 q = json_node_get_int(quota);

        spec->cpus = MIN((q + period - 1) / period,
                         (gint64)g_get_num_processors());
    }
    if (limit && JSON_NODE_HOLDS_VALUE(limit) &&
        json_node_get_int(limit) > 0) {
        gint64 mib = json_node_get_int(limit) >> 20;

        if (mib < MIN_MEM_MIB || mib > MAX_MEM_MIB) {
            FAIL("linux.resources.memory.limit: %" G_GINT64_FORMAT " MiB; "
                 "a pc-lite VM takes %d MiB to %d MiB", mib, MIN_MEM_MIB,
                 MAX_MEM_MIB);
        }
        spec->mem_mib = mib;
    }
    return TRUE;
}

static gboolean parse_linux(JsonObject *linux_, OciSpec *spec, GError **errp)
{
    JsonArray *ns = member_array(linux_, "namespaces");
    guint i;

    if (member_array(linux_, "uidMappings") ||
        member_array(linux_, "gidMappings")) {
        FAIL("linux.uidMappings: user namespaces are not supported (each "
             "container has a VM of its own)");
    }
    for (i = 0; ns && i < json_array_get_length(ns); i++) {
        JsonObject *o = json_array_get_object_element(ns, i);
        const char *type = o ? json_object_get_string_member_with_default(
            o, "type", "") : "";

        if (!strcmp(type, "network")) {
            g_free(spec->netns);
            spec->netns = g_strdup(json_object_get_string_member_with_default(
                o, "path", ""));
        }
    }
    return parse_resources(linux_, spec, errp);
}

OciSpec *oci_spec_load(const char *bundle, GError **errp)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autofree char *path = g_build_filename(bundle, "config.json", NULL);
    g_autofree char *version = NULL, *root_path = NULL;
    OciSpec *spec = g_new0(OciSpec, 1);
    JsonObject *o, *root, *process, *annotations, *hooks;
    JsonNode *ro;
    struct stat st;

    spec->bundle = g_canonicalize_filename(bundle, NULL);
    spec->mounts = g_ptr_array_new_with_free_func(mount_free);
    spec->template = TRUE;
    o = load_json(path, path, &parser, errp);
    if (!o) {
        goto fail;
    }
    root = member_object(o, "root");
    process = member_object(o, "process");
    hooks = member_object(o, "hooks");
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
    if (hooks && json_object_get_size(hooks)) {
        GList *names = json_object_get_members(hooks), *l;
        gboolean any = FALSE;

        for (l = names; l; l = l->next) {
            JsonArray *a = member_array(hooks, l->data);

            any |= a && json_array_get_length(a);
        }
        g_list_free(names);
        if (any) {
            g_set_error(errp, oci_quark(), 1, "%s: hooks are not supported",
                        path);
            goto fail;
        }
    }
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
    ro = json_object_get_member(root, "readonly");
    spec->root_readonly = ro && JSON_NODE_HOLDS_VALUE(ro) &&
                          json_node_get_boolean(ro);
    spec->process = parse_process(process, errp);
    if (!spec->process ||
        !parse_mounts(member_array(o, "mounts"), spec, errp) ||
        !parse_linux(member_object(o, "linux"), spec, errp)) {
        goto fail;
    }
    annotations = member_object(o, "annotations");
    if (annotations && !g_strcmp0(json_object_get_string_member_with_default(
            annotations, "org.pclite.template", "on"), "off")) {
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
    oci_process_free(spec->process);
    g_ptr_array_unref(spec->mounts);
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
    n = strtol(name, &end, 10);
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

void oci_frame(GByteArray *out, char type, const void *data, uint32_t len)
{
    uint8_t hdr[8] = { (uint8_t)type, 0, 0, 0 };

    chan_put_u32(hdr + 4, len);
    g_byte_array_append(out, hdr, sizeof(hdr));
    if (len) {
        g_byte_array_append(out, data, len);
    }
}

void oci_process_frames(const OciProcess *p, GByteArray *out)
{
    GByteArray *user = g_byte_array_new();
    uint8_t v[20];
    guint i;

    for (i = 0; p->args[i]; i++) {
        oci_frame(out, 'A', p->args[i], strlen(p->args[i]));
    }
    for (i = 0; p->env && p->env[i]; i++) {
        oci_frame(out, 'V', p->env[i], strlen(p->env[i]));
    }
    if (!p->env) {
        static const char path[] = "PATH=/usr/local/sbin:/usr/local/bin:"
                                   "/usr/sbin:/usr/bin:/sbin:/bin";

        oci_frame(out, 'V', path, sizeof(path) - 1);
    }
    oci_frame(out, 'D', p->cwd, strlen(p->cwd));
    chan_put_u32(v, p->uid);
    chan_put_u32(v + 4, p->gid);
    chan_put_u32(v + 8, p->umask);
    g_byte_array_append(user, v, 12);
    for (i = 0; i < p->groups->len; i++) {
        chan_put_u32(v, g_array_index(p->groups, uint32_t, i));
        g_byte_array_append(user, v, 4);
    }
    oci_frame(out, 'U', user->data, user->len);
    g_byte_array_unref(user);
    for (i = 0; i < p->rlimits->len; i++) {
        OciRlimit *rl = &g_array_index(p->rlimits, OciRlimit, i);

        chan_put_u32(v, rl->type);
        chan_put_u64(v + 4, rl->soft);
        chan_put_u64(v + 12, rl->hard);
        oci_frame(out, 'R', v, 20);
    }
    if (p->rows && p->cols) {
        chan_put_u32(v, p->rows);
        chan_put_u32(v + 4, p->cols);
        oci_frame(out, 'W', v, 8);
    }
}
