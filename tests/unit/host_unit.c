/*
 * Unit tests of the host library (host/) without a VM: the QEMU command
 * line made of a VM's description, a template's key and its integrity
 * check, size parsing, the boot and clone phases of a trace log
 * (tests/data/trace-sample.*, which tests/unit/test_trace_sample.py gives
 * python/pclite/trace.py too) and one command's session over the
 * channel against a guest played by a thread.  Run by make check-unit.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../host/host.h"
#include "../../proto/channel.h"

static const char *data_dir;

#define EPSILON 0.000001

/* argv's option after name, or NULL; n: which occurrence (0: first). */
static const char *option(char **argv, const char *name, int n)
{
    int i;

    for (i = 0; argv[i] && argv[i + 1]; i++) {
        if (!strcmp(argv[i], name) && n-- == 0) {
            return argv[i + 1];
        }
    }
    return NULL;
}

static gboolean has(char **argv, const char *word)
{
    return g_strv_contains((const char *const *)argv, word);
}

static void describe(PclVm *vm)
{
    pcl_vm_init(vm);
    vm->qemu = g_strdup("/bin/true");
    vm->kernel = g_strdup("/bin/sh");
    vm->rootfs = g_strdup("/bin/ls");
    vm->rootfs_size = 64 * PCL_MiB;
    vm->cpus = 2;
    vm->mem_mib = 256;
    vm->accel = g_strdup("tcg");
}

static void test_argv_cold(void)
{
    g_auto(GStrv) argv = NULL;
    PclVm vm;

    describe(&vm);
    vm.console = g_strdup("/tmp/a,b/console");
    vm.channel_fd = 7;
    vm.append = g_strsplit("loglevel=4|", "|", -1);
    argv = pcl_vm_argv(&vm);
    g_assert_cmpstr(argv[0], ==, "/bin/true");
    g_assert_cmpstr(option(argv, "-M", 0), ==, "pc-lite,nvdimm=on");
    g_assert_cmpstr(option(argv, "-smp", 0), ==, "2");
    /* RAM, and a slot and room for the NVDIMM */
    g_assert_cmpstr(option(argv, "-m", 0), ==, "256M,slots=1,maxmem=320M");
    /* copy-on-write: private, writable, mounted rw */
    g_assert_cmpstr(option(argv, "-object", 0), ==, "memory-backend-file,"
                    "id=root,mem-path=/bin/ls,size=67108864,share=off");
    g_assert_cmpstr(option(argv, "-device", 0), ==, "nvdimm,memdev=root,"
                    "id=nv0");
    /* a comma in a path is doubled */
    g_assert_cmpstr(option(argv, "-chardev", 0), ==,
                    "file,id=con,path=/tmp/a,,b/console");
    g_assert_cmpstr(option(argv, "-chardev", 1), ==,
                    "socket,id=channel,fd=7");
    g_assert_true(has(argv, "virtio-rng-pci"));
    g_assert_true(has(argv, "-no-reboot"));
    g_assert_cmpstr(option(argv, "-sandbox", 0), ==, "on,obsolete=deny,"
                    "elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    g_assert_null(option(argv, "-run-with", 0));
    g_assert_null(option(argv, "-incoming", 0));
    /* the kernel's command line last, empty words dropped */
    g_assert_cmpstr(argv[g_strv_length(argv) - 2], ==, "-append");
    g_assert_cmpstr(option(argv, "-append", 0), ==, "quiet panic=-1 "
                    "root=/dev/pmem0 rootflags=dax rw console=hvc0 "
                    "pclite.channel loglevel=4");
    pcl_vm_clear(&vm);
}

static void test_argv_clone(void)
{
    g_auto(GStrv) argv = NULL;
    PclVm vm;

    describe(&vm);
    vm.root_mode = PCL_ROOT_SHARED_RO;
    vm.ram = g_strdup("/t/ram");
    vm.clone = TRUE;
    vm.incoming = g_strdup("/t/state");
    vm.generation = g_strdup("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    vm.user = g_strdup("65534:65534");
    vm.share_tags = g_strsplit("pclite-root", " ", -1);
    vm.share_paths = g_strsplit("/b/rootfs", " ", -1);
    vm.nics = 1;
    argv = pcl_vm_argv(&vm);
    g_assert_cmpstr(option(argv, "-M", 0), ==, "pc-lite,nvdimm=on,"
                    "memory-backend=ram,vmgenid=0f1e2d3c-4b5a-6978-8796-"
                    "a5b4c3d2e1f0");
    g_assert_cmpstr(option(argv, "-object", 0), ==, "memory-backend-file,"
                    "id=ram,mem-path=/t/ram,size=256M,share=off,readonly=on,"
                    "rom=off");
    g_assert_cmpstr(option(argv, "-object", 1), ==, "memory-backend-file,"
                    "id=root,mem-path=/bin/ls,size=67108864,share=on,"
                    "readonly=on");
    g_assert_cmpstr(option(argv, "-device", 0), ==, "nvdimm,memdev=root,"
                    "id=nv0,unarmed=on");
    g_assert_cmpstr(option(argv, "-netdev", 0), ==, "hubport,id=net0,hubid=0");
    g_assert_true(has(argv, "virtio-net-pci,netdev=net0,"
                        "mac=02:00:00:00:00:00"));
    g_assert_cmpstr(option(argv, "-fsdev", 0), ==, "local,id=fs0,"
                    "path=/b/rootfs,security_model=passthrough,"
                    "multidevs=remap");
    g_assert_true(has(argv, "virtio-9p-pci,fsdev=fs0,mount_tag=pclite-root"));
    g_assert_cmpstr(option(argv, "-incoming", 0), ==, "file:/t/state");
    g_assert_cmpstr(option(argv, "-global", 0), ==,
                    "migration.x-ignore-shared=true");
    g_assert_cmpstr(option(argv, "-sandbox", 0), ==, "on,obsolete=deny,"
                    "elevateprivileges=allow,spawn=deny,"
                    "resourcecontrol=deny");
    g_assert_cmpstr(option(argv, "-run-with", 0), ==, "user=65534:65534");
    g_assert_cmpstr(option(argv, "-append", 0), ==, "quiet panic=-1 "
                    "root=/dev/pmem0 rootflags=dax ro console=hvc0");
    pcl_vm_clear(&vm);
}

static void test_key(void)
{
    g_autofree char *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    PclVm vm;

    describe(&vm);
    a = pcl_template_key(&vm, NULL);
    g_assert_cmpuint(strlen(a), ==, 16);
    /* the run's own: not the machine */
    vm.user = g_strdup("1:1");
    vm.console = g_strdup("/x");
    vm.share_tags = g_strsplit("t", " ", -1);
    vm.share_paths = g_strsplit("/one", " ", -1);
    b = pcl_template_key(&vm, NULL);
    g_strfreev(vm.share_paths);
    vm.share_paths = g_strsplit("/two", " ", -1);
    c = pcl_template_key(&vm, NULL);
    g_assert_cmpstr(b, ==, c);
    g_assert_cmpstr(a, !=, b);          /* a share is the machine's */
    vm.cpus = 3;
    d = pcl_template_key(&vm, NULL);
    g_assert_cmpstr(c, !=, d);
    g_free(vm.kernel);
    vm.kernel = g_strdup("/no/such/kernel");
    g_assert_null(pcl_template_key(&vm, NULL));
    pcl_vm_clear(&vm);
}

static void write_file(const char *dir, const char *name, const char *data,
                       gssize len)
{
    g_autofree char *p = g_build_filename(dir, name, NULL);

    g_assert_true(g_file_set_contents(p, data, len, NULL));
}

/* A template directory as template.c writes one, without a VM. */
static char *fake_template(const char *top, const char *key)
{
    char *dir = g_build_filename(top, key, NULL);
    g_autofree char *state = g_build_filename(dir, "state", NULL);
    g_autofree char *sum = NULL, *text = NULL, *stamp = NULL;
    struct stat st;

    g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
    write_file(dir, "ram", "0123456789abcdef", 16);
    write_file(dir, "state", "saved device state", -1);
    sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256,
                                        "saved device state", -1);
    g_assert_cmpint(stat(state, &st), ==, 0);
    stamp = g_strdup_printf("%lu %lld %lld.%09ld %lld.%09ld",
                            (unsigned long)st.st_ino, (long long)st.st_size,
                            (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                            (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
    text = g_strdup_printf("{\"format\": %d, \"sizes\": {\"ram\": 16, "
                           "\"state\": 18}, \"state_sha256\": \"%s\", "
                           "\"state_stamp\": \"%s\"}", PCL_TEMPLATE_FORMAT,
                           sum, stamp);
    write_file(dir, "manifest.json", text, -1);
    return dir;
}

static void test_template_check(void)
{
    g_autofree char *top = g_dir_make_tmp("pc-lite-unit-XXXXXX", NULL);
    g_autofree char *dir = fake_template(top, "0123456789abcdef");
    g_autofree char *nodir = g_build_filename(top, "fedcba9876543210", NULL);
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) keys = NULL;
    json_t *m;

    m = pcl_template_check(dir, &err);
    g_assert_no_error(err);
    json_decref(m);
    g_assert_null(pcl_template_check(nodir, &err));
    g_assert_cmpstr(err->message, ==, "template fedcba9876543210: none");
    g_clear_error(&err);
    /* rewritten with the same bytes: the stamp differs, the hash agrees */
    write_file(dir, "state", "saved device state", -1);
    m = pcl_template_check(dir, &err);
    g_assert_no_error(err);
    json_decref(m);
    write_file(dir, "state", "saved devicE state", -1);
    g_assert_null(pcl_template_check(dir, &err));
    g_assert_cmpstr(err->message, ==, "template 0123456789abcdef: its saved "
                    "state is corrupt");
    g_clear_error(&err);
    write_file(dir, "ram", "0123", 4);
    g_assert_null(pcl_template_check(dir, &err));
    g_assert_cmpstr(err->message, ==, "template 0123456789abcdef: ram is 4 "
                    "bytes, not 16");
    g_clear_error(&err);
    write_file(dir, "manifest.json", "{\"format\": 3, \"sizes\": {}}", -1);
    g_assert_null(pcl_template_check(dir, &err));
    g_assert_cmpstr(err->message, ==, "template 0123456789abcdef: format 3, "
                    "not 4");
    g_clear_error(&err);
    write_file(dir, "manifest.json", "{\"format\": ", -1);
    g_assert_null(pcl_template_check(dir, &err));
    g_assert_cmpstr(err->message, ==, "template 0123456789abcdef: unreadable "
                    "manifest");
    keys = pcl_template_keys(top);
    g_assert_cmpuint(g_strv_length(keys), ==, 1);
    g_assert_false(pcl_template_remove(top, "../../etc"));
    g_assert_true(pcl_template_remove(top, "0123456789abcdef"));
    g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
    g_rmdir(top);
}

static void test_sizes(void)
{
    static const struct {
        const char *text;
        int mib;
    } cases[] = {
        { "128M", 128 }, { "128m", 128 }, { "512", 512 }, { "1G", 1024 },
        { "2g", 2048 }, { "1024G", 1 << 20 }, { "0", 0 }, { "0G", 0 },
        { "1025G", 0 }, { "1048577", 0 }, { "lots", 0 }, { "", 0 },
        { "12MB", 0 }, { "-1M", 0 }, { " 1M", 0 }, { "1K", 0 },
        { "99999999999999999999", 0 }, { "18446744073709551615G", 0 },
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        int mib = 0;

        g_assert_cmpint(pcl_parse_mib(cases[i].text, &mib), ==,
                        cases[i].mib != 0);
        g_assert_cmpint(mib, ==, cases[i].mib);
    }
}

static void assert_same_phases(json_t *got, json_t *want)
{
    const char *key;
    json_t *v;

    g_assert_cmpuint(json_object_size(got), ==, json_object_size(want));
    json_object_foreach(want, key, v) {
        g_assert_true(json_is_number(json_object_get(got, key)));
        g_assert_cmpfloat_with_epsilon(json_number_value(json_object_get(got,
                                                                         key)),
                                       json_number_value(v), EPSILON);
    }
}

static void test_trace_sample(void)
{
    g_autofree char *log = g_build_filename(data_dir, "trace-sample.log",
                                            NULL);
    g_autofree char *expect = g_build_filename(data_dir, "trace-sample.json",
                                               NULL);
    g_autofree char *text = NULL, *table = NULL;
    json_t *want = json_load_file(expect, 0, NULL), *boot, *clone;
    double t_exec, t_out, t_exit;
    PclStamps st;

    g_assert_nonnull(want);
    g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
    t_exec = json_number_value(json_object_get(want, "t_exec"));
    t_out = json_number_value(json_object_get(want, "t_first_output"));
    t_exit = json_number_value(json_object_get(want, "t_exit"));
    pcl_trace_parse(text, &st);
    boot = pcl_boot_phases(&st, t_exec, t_exit);
    clone = pcl_clone_phases(&st, t_exec, t_out, t_exit);
    assert_same_phases(boot, json_object_get(want, "boot"));
    assert_same_phases(clone, json_object_get(want, "clone"));
    table = pcl_phases_format(boot);
    g_assert_true(g_str_has_prefix(table, "  VMM init       135.2\n"));
    g_assert_true(g_str_has_suffix(table, "\n  shutdown        87.7"));
    /* a stamp missing: no phases */
    pcl_trace_parse("1@1.000000:vm_state_notify running 1 reason 9\n", &st);
    g_assert_null(pcl_boot_phases(&st, 0.5, 2));
    json_decref(boot);
    json_decref(clone);
    json_decref(want);
}

typedef struct {
    int fd;
    GByteArray *seen;           /* frame types the guest got */
} Guest;

/* A guest's init in short: hello, then run "the command" it is given. */
static gpointer guest_thread(gpointer opaque)
{
    Guest *g = opaque;
    struct chan_reader r = { 0 };
    struct chan_frame f;
    uint32_t v[2] = { CHANNEL_VERSION, 0 };
    gboolean quit = FALSE;

    chan_send_u32s(g->fd, FRAME_HELLO, 0, v, 1);
    while (!quit && chan_fill(&r, g->fd) > 0) {
        while (chan_next_frame(&r, &f) > 0) {
            g_byte_array_append(g->seen, &f.type, 1);
            if (f.type == FRAME_START) {
                v[0] = 42;
                chan_send_u32s(g->fd, FRAME_STARTED, 0, v, 1);
                chan_send(g->fd, FRAME_OUTPUT, 0, "out\n", 4);
                chan_send(g->fd, FRAME_ERROR, 0, "err\n", 4);
            } else if (f.type == FRAME_INPUT && f.len == 0) {
                v[0] = 0;
                v[1] = 15;      /* ended by SIGTERM */
                chan_send_u32s(g->fd, FRAME_EXIT, 0, v, 2);
            } else if (f.type == FRAME_QUIT) {
                quit = TRUE;
            }
        }
    }
    free(r.buf);
    free(r.last);
    close(g->fd);
    return NULL;
}

static void test_session(void)
{
    static char *cat_argv[] = { (char *)"/bin/cat", NULL };
    static char *env[] = { (char *)"A=1", NULL };
    int sv[2], out[2], in[2], status;
    Guest g = { .seen = g_byte_array_new() };
    GThread *t;
    char buf[64] = "";
    pid_t qemu = fork();        /* QEMU stands in: alive until killed */
    PclSession s = {
        .argv = cat_argv, .env = env, .cwd = "/",
        .start_timeout_ms = 10000, .signal_fd = -1, .qemu_err = -1,
    };

    if (qemu == 0) {
        pause();
        _exit(0);
    }
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    g_assert_cmpint(pipe(out), ==, 0);
    g_assert_cmpint(pipe(in), ==, 0);
    close(in[1]);               /* stdin: empty */
    g.fd = sv[1];
    t = g_thread_new("guest", guest_thread, &g);
    s.chan = sv[0];
    s.in = in[0];
    s.out = out[1];
    s.err = out[1];
    s.qemu = qemu;
    g_assert_cmpint(pcl_session_run(&s, NULL), ==, 128 + 15);
    g_thread_join(t);
    g_assert_true(s.started);
    g_assert_cmpint(s.t_first_output_us, >, 0);
    close(out[1]);
    g_assert_cmpint(read(out[0], buf, sizeof(buf) - 1), ==, 8);
    g_assert_cmpstr(buf, ==, "out\nerr\n");
    /* the command's frames in order, stdin's end, then quit */
    g_byte_array_append(g.seen, (guint8 *)"", 1);
    g_assert_cmpstr((char *)g.seen->data, ==, "TAVDSIQ");
    kill(qemu, SIGKILL);
    waitpid(qemu, &status, 0);
    g_string_free(s.qemu_stderr, TRUE);
    g_byte_array_unref(g.seen);
    close(sv[0]);
    close(out[0]);
    close(in[0]);
}

/* The guest breaks the protocol: the session ends, with why. */
static void test_session_bad_guest(void)
{
    static char *true_argv[] = { (char *)"true", NULL };
    int sv[2], status;
    g_autoptr(GError) err = NULL;
    pid_t qemu = fork();
    PclSession s = {
        .argv = true_argv, .in = -1, .out = -1, .err = -1,
        .signal_fd = -1, .qemu_err = -1, .at_once = TRUE,
    };
    static const uint8_t junk[] = { 'x', 0, 0, 0, 1, 0, 0, 0, 9 };

    if (qemu == 0) {
        pause();
        _exit(0);
    }
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    g_assert_cmpint(write(sv[1], junk, sizeof(junk)), ==, sizeof(junk));
    s.chan = sv[0];
    s.qemu = qemu;
    g_assert_cmpint(pcl_session_run(&s, &err), ==, -1);
    g_assert_nonnull(strstr(err->message, "an exit is a status and a signal"));
    /* QEMU gone before the command ends */
    g_clear_error(&err);
    kill(qemu, SIGKILL);
    waitpid(qemu, &status, 0);
    qemu = fork();
    if (qemu == 0) {
        _exit(1);
    }
    s.qemu = qemu;
    g_assert_cmpint(pcl_session_run(&s, &err), ==, -1);
    g_assert_cmpstr(err->message, ==, "QEMU exited before the command "
                    "finished");
    g_string_free(s.qemu_stderr, TRUE);
    close(sv[0]);
    close(sv[1]);
}

int main(int argc, char **argv)
{
    g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);

    g_test_init(&argc, &argv, NULL);
    data_dir = g_getenv("PC_LITE_TEST_DATA") ?: "tests/data";
    g_test_add_func("/host/vm/argv-cold", test_argv_cold);
    g_test_add_func("/host/vm/argv-clone", test_argv_clone);
    g_test_add_func("/host/vm/sizes", test_sizes);
    g_test_add_func("/host/template/key", test_key);
    g_test_add_func("/host/template/check", test_template_check);
    g_test_add_func("/host/trace/sample", test_trace_sample);
    g_test_add_func("/host/session/command", test_session);
    g_test_add_func("/host/session/bad-guest", test_session_bad_guest);
    return g_test_run();
}
