/*
 * Unit tests of the OCI runtime's pure parts, without a VM or an engine:
 * the channel's host end (host/guest.c over proto/channel.h's framing),
 * config.json (oci/spec.c), cgroup paths (oci/cgroup.c) and hook state
 * (oci/hooks.c).  Run by make check-unit (GLib's test harness).
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <glib/gstdio.h>
#include <stdio.h>

#include "../../oci/oci.h"
#include "../../proto/channel.h"

static GByteArray *frame(GByteArray *out, char type, int session,
                         const void *data, uint32_t len)
{
    uint8_t hdr[8] = { type, session, 0, 0 };

    chan_put_u32(hdr + 4, len);
    g_byte_array_append(out, hdr, 8);
    g_byte_array_append(out, data, len);
    return out;
}

static GByteArray *frame_u32s(GByteArray *out, char type, int session,
                              uint32_t a, uint32_t b, int n)
{
    uint8_t v[8];

    chan_put_u32(v, a);
    chan_put_u32(v + 4, b);
    return frame(out, type, session, v, 4 * n);
}

/* Every event of @bytes fed one byte at a time; the last status. */
static int events(GByteArray *bytes, GPtrArray *out, GError **errp)
{
    struct chan_reader r = { 0 };
    PclGuestEvent ev;
    int ret = 0;
    guint i;

    for (i = 0; i < bytes->len && ret >= 0; i++) {
        chan_feed(&r, bytes->data + i, 1);
        while ((ret = pcl_guest_next(&r, &ev, errp)) > 0) {
            g_ptr_array_add(out, g_strdup_printf(
                "%c%d:%s:%u:%u:%u:%u", ev.type, ev.session,
                strchr("oery", ev.type) ? ev.data : "", ev.version, ev.pid,
                ev.status, ev.signal));
        }
    }
    free(r.buf);
    free(r.last);
    return ret;
}

static void test_guest_frames(void)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    g_autoptr(GPtrArray) ev = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) err = NULL;

    frame_u32s(b, FRAME_HELLO, 0, CHANNEL_VERSION, 0, 1);
    frame(b, FRAME_READY, 0, "", 0);
    frame_u32s(b, FRAME_STARTED, 3, 42, 0, 1);
    frame(b, FRAME_OUTPUT, 3, "out", 3);
    frame(b, 'z', 5, "a later protocol's", 18);
    frame(b, FRAME_ERROR, 3, "err", 3);
    frame_u32s(b, FRAME_EXIT, 3, 0, 9, 2);
    g_assert_cmpint(events(b, ev, &err), ==, 0);
    g_assert_no_error(err);
    g_assert_cmpuint(ev->len, ==, 6);
    g_assert_cmpstr(ev->pdata[0], ==, "h0::2:0:0:0");
    g_assert_cmpstr(ev->pdata[1], ==, "r0::0:0:0:0");
    g_assert_cmpstr(ev->pdata[2], ==, "p3::0:42:0:0");
    g_assert_cmpstr(ev->pdata[3], ==, "o3:out:0:0:0:0");
    g_assert_cmpstr(ev->pdata[4], ==, "e3:err:0:0:0:0");
    g_assert_cmpstr(ev->pdata[5], ==, "x3::0:0:0:9");
}

static void test_guest_bad_frames(void)
{
    static const struct {
        const char *what;
        char type;
        int session, n;
        uint32_t a, b;
    } cases[] = {
        { "short exit", FRAME_EXIT, 0, 1, 0, 0 },
        { "exit status", FRAME_EXIT, 0, 2, 256, 0 },
        { "exit signal", FRAME_EXIT, 0, 2, 0, 65 },
        { "hello off session 0", FRAME_HELLO, 1, 1, 2, 0 },
        { "long start", FRAME_STARTED, 0, 2, 1, 2 },
        { "ready off session 0", FRAME_READY, 2, 0, 0, 0 },
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GByteArray) b = g_byte_array_new();
        g_autoptr(GPtrArray) ev = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) err = NULL;

        frame(b, FRAME_OUTPUT, 0, "before", 6);
        frame_u32s(b, cases[i].type, cases[i].session, cases[i].a,
                   cases[i].b, cases[i].n);
        g_test_message("%s", cases[i].what);
        g_assert_cmpint(events(b, ev, &err), ==, -1);
        g_assert_nonnull(err);
        g_assert_cmpuint(ev->len, ==, 1);
    }
}

static void test_guest_not_frames(void)
{
    /* Reserved bytes set; a payload longer than the protocol allows. */
    static const uint8_t reserved[8] = { 'o', 0, 1, 0, 0, 0, 0, 0 };
    static const uint8_t huge[8] = { 'o', 0, 0, 0, 0, 0, 0x10, 0x01 };
    const uint8_t *bad[] = { reserved, huge };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        struct chan_reader r = { 0 };
        g_autoptr(GError) err = NULL;
        PclGuestEvent ev;

        chan_feed(&r, bad[i], 8);
        g_assert_cmpint(pcl_guest_next(&r, &ev, &err), ==, -1);
        g_assert_nonnull(err);
        free(r.buf);
        free(r.last);
    }
}

static char *bundle;

static OciSpec *parse(const char *text, GError **errp)
{
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    OciSpec *spec;

    g_assert_nonnull(o);
    spec = oci_spec_parse(o, bundle, "config.json", errp);
    json_decref(o);
    return spec;
}

#define MINIMAL(extra) \
    "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"rootfs\"}, " \
    "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\"}, " extra \
    "\"linux\": {\"namespaces\": [{\"type\": \"network\"}]"

static void test_spec(void)
{
    g_autoptr(GError) err = NULL;
    OciSpec *spec = parse(
        "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"rootfs\", "
        "\"readonly\": true}, \"hostname\": \"h\", "
        "\"process\": {\"args\": [\"sh\", \"-c\", \"x\"], \"cwd\": \"/\", "
        "\"env\": [\"A=b\"]}, "
        "\"hooks\": {\"prestart\": [{\"path\": \"/bin/true\", "
        "\"timeout\": 3}]}, \"annotations\": {\"k\": \"v\"}, "
        "\"linux\": {\"namespaces\": [{\"type\": \"network\", \"path\": "
        "\"/run/netns/x\"}], \"cgroupsPath\": \"/a/b\", \"resources\": "
        "{\"cpu\": {\"quota\": 150000, \"period\": 100000}, \"memory\": "
        "{\"limit\": 268435456}}}}", &err);

    g_assert_no_error(err);
    g_assert_nonnull(spec);
    g_assert_cmpstr(spec->process->args[2], ==, "x");
    g_assert_true(spec->root_readonly);
    g_assert_cmpstr(spec->hostname, ==, "h");
    g_assert_cmpstr(spec->netns, ==, "/run/netns/x");
    g_assert_cmpstr(spec->cgroups_path, ==, "/a/b");
    g_assert_cmpint(spec->cpus, ==, MIN(2, (int)g_get_num_processors()));
    g_assert_cmpint(spec->mem_mib, ==, 256);
    g_assert_nonnull(json_object_get(spec->hooks, "prestart"));
    g_assert_cmpstr(json_string_value(json_object_get(spec->annotations,
                                                      "k")), ==, "v");
    oci_spec_free(spec);

    spec = parse(MINIMAL("") "}}", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(spec->netns, ==, "");     /* a new one */
    g_assert_null(spec->cgroups_path);
    g_assert_cmpint(spec->mem_mib, ==, 128);
    oci_spec_free(spec);
}

static void test_spec_refused(void)
{
    static const struct {
        const char *config, *words;
    } cases[] = {
        { "{\"ociVersion\": \"2.0\"}", "ociVersion" },
        { MINIMAL("\"hooks\": {\"poststop\": [{\"path\": \"x\"}]},") "}}",
          "hooks.poststop[0].path" },
        { MINIMAL("\"hooks\": {\"prestart\": [{\"path\": \"/x\", "
                  "\"timeout\": 0}]},") "}}", "timeout" },
        { MINIMAL("\"hooks\": {\"prestart\": {}},") "}}", "not an array" },
        { MINIMAL("") ", \"uidMappings\": []}}", "user namespaces" },
        { MINIMAL("") ", \"cgroupsPath\": 3}}", "cgroupsPath" },
        { MINIMAL("") ", \"resources\": {\"memory\": {\"limit\": 1}}}}",
          "memory.limit" },
        { "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"rootfs\"}, "
          "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\"}}",
          "host networking" },
        { "{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"nope\"}, "
          "\"process\": {\"args\": [\"sh\"], \"cwd\": \"/\"}}", "nope" },
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        OciSpec *spec = parse(cases[i].config, &err);

        g_test_message("%s", cases[i].config);
        g_assert_null(spec);
        g_assert_nonnull(err);
        g_assert_nonnull(strstr(err->message, cases[i].words));
    }
}

/* Every hierarchy's directory ends with @rel. */
static void assert_cgroups(const char *path, const char *rel)
{
    g_auto(GStrv) dirs = oci_cgroup_dirs(path, "ID");
    guint i;

    g_assert_nonnull(dirs[0]);
    for (i = 0; dirs[i]; i++) {
        g_assert_true(g_str_has_prefix(dirs[i], "/sys/fs/cgroup"));
        g_assert_true(g_str_has_suffix(dirs[i], rel));
    }
}

static void test_cgroup_paths(void)
{
    if (!g_file_test("/sys/fs/cgroup", G_FILE_TEST_IS_DIR)) {
        g_test_skip("no /sys/fs/cgroup");
        return;
    }
    assert_cgroups(NULL, "/pc-lite-oci/ID");
    assert_cgroups("/a/b", "/a/b");
    assert_cgroups("system.slice:docker:abc",
                   "/system.slice/docker-abc.scope");
    assert_cgroups("machine-libpod.slice:libpod:x",
                   "/machine.slice/machine-libpod.slice/libpod-x.scope");
    assert_cgroups("rel/c", "/rel/c");
}

static void test_hook_state(void)
{
    json_t *ann = json_pack("{s:s}", "k", "v");
    g_autofree char *text = oci_hook_state("c1", "creating", 42, "/b", ann);
    json_t *o = json_loads(text, 0, NULL);

    g_assert_cmpstr(json_string_value(json_object_get(o, "id")), ==, "c1");
    g_assert_cmpint(json_integer_value(json_object_get(o, "pid")), ==, 42);
    g_assert_cmpstr(json_string_value(json_object_get(o, "status")), ==,
                    "creating");
    g_assert_cmpstr(json_string_value(json_object_get(o, "ociVersion")), ==,
                    OCI_VERSION);
    g_assert_cmpstr(json_string_value(json_object_get(
        json_object_get(o, "annotations"), "k")), ==, "v");
    g_assert_true(oci_hook_kind_known("createRuntime"));
    g_assert_false(oci_hook_kind_known("preStart"));
    json_decref(o);
    json_decref(ann);
}

int main(int argc, char **argv)
{
    g_autofree char *rootfs = NULL;
    int ret;

    g_test_init(&argc, &argv, NULL);
    bundle = g_dir_make_tmp("oci-unit-XXXXXX", NULL);
    rootfs = g_build_filename(bundle, "rootfs", NULL);
    g_mkdir(rootfs, 0755);
    g_test_add_func("/oci/guest/frames", test_guest_frames);
    g_test_add_func("/oci/guest/bad-frames", test_guest_bad_frames);
    g_test_add_func("/oci/guest/not-frames", test_guest_not_frames);
    g_test_add_func("/oci/spec/parsed", test_spec);
    g_test_add_func("/oci/spec/refused", test_spec_refused);
    g_test_add_func("/oci/cgroup/paths", test_cgroup_paths);
    g_test_add_func("/oci/hooks/state", test_hook_state);
    ret = g_test_run();
    g_rmdir(rootfs);
    g_rmdir(bundle);
    return ret;
}
