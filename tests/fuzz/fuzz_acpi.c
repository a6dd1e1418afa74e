/*
 * libFuzzer target for pc-lite's ACPI builder (hw/i386/pc_lite_acpi.c):
 * random machine shapes.
 *
 * Each input is decoded into a shape (vCPUs present and possible, RAM
 * size, NVDIMMs with their sizes and label areas, the optional devices),
 * and pc-lite is started with it under qtest, from the sanitized build
 * (build/qemu-fuzz/qemu-system-x86_64, ASan and UBSan; PC_LITE_FUZZ_QEMU
 * overrides).  Then either
 *   - QEMU refused the shape: it must have exited with status 1 and one
 *     error line, and no sanitizer report; or
 *   - QEMU runs: the tables it wrote are read back from guest RAM and
 *     checked: RSDP, XSDT and every table's signature, length, checksum
 *     and place; one enabled MADT entry (LAPIC or x2APIC) per present
 *     vCPU and one per possible vCPU; an NFIT with one SPA range per
 *     NVDIMM at its address and size, and none without NVDIMMs.
 * QEMU killed by a signal, a sanitizer report or a wrong table abort this
 * process, which libFuzzer reports as a crash; a hang is libFuzzer's
 * timeout (-timeout, 180 s in make fuzz).  QEMU dies with this process.
 *
 * QEMU runs in a child process, so libFuzzer's coverage guidance sees only
 * this decoder, not QEMU: the search over shapes is close to random.
 *
 * Copyright (c) 2026 The pc-lite authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <glib.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB             (1024ULL * 1024)
#define ACPI_AREA       0xe0000
#define ACPI_AREA_SIZE  0x20000
#define MAX_CPUS        288
#define MAX_NVDIMMS     4

#define CHECK(cond, ...) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "fuzz_acpi: %s\nfuzz_acpi: shape: %s\n", \
                    #cond, shape_line); \
            fprintf(stderr, "fuzz_acpi: " __VA_ARGS__); \
            fputc('\n', stderr); \
            abort(); \
        } \
    } while (0)

typedef struct Shape {
    unsigned cpus, maxcpus;
    uint64_t ram_mib;
    unsigned nvdimms;
    uint64_t nv_mib[MAX_NVDIMMS];
    uint64_t nv_label[MAX_NVDIMMS];
    unsigned slots;
    bool vmgenid, rtc, serial;
} Shape;

static char shape_line[1024];
static char *tmpdir;

static const uint64_t ram_sizes[] = {
    32, 64, 128, 256, 1024, 2047, 2048, 3072, 3583, 3584, 4096, 6144,
};
static const uint64_t nv_sizes[] = { 2, 4, 16, 62, 64, 128, 130, 1024 };
static const uint64_t label_sizes[] = { 0, 128 * 1024, 256 * 1024, 4096 };

static unsigned take(const uint8_t **data, size_t *size)
{
    unsigned v = 0;

    if (*size) {
        v = **data;
        (*data)++;
        (*size)--;
    }
    return v;
}

static void decode(Shape *s, const uint8_t *data, size_t size)
{
    unsigned i, v;

    memset(s, 0, sizeof(*s));
    v = take(&data, &size) | take(&data, &size) << 8;
    /* Mostly small machines; now and then x2APIC territory. */
    s->cpus = 1 + (v & 0x8000 ? v % MAX_CPUS : v % 16);
    s->maxcpus = MIN(MAX_CPUS, s->cpus + take(&data, &size) % 8);
    v = take(&data, &size);
    s->ram_mib = v & 0x80 ? 16 + (v * 37) % 8192
                          : ram_sizes[v % G_N_ELEMENTS(ram_sizes)];
    s->nvdimms = take(&data, &size) % (MAX_NVDIMMS + 1);
    for (i = 0; i < s->nvdimms; i++) {
        v = take(&data, &size);
        s->nv_mib[i] = nv_sizes[v % G_N_ELEMENTS(nv_sizes)];
        s->nv_label[i] = label_sizes[(v >> 4) % G_N_ELEMENTS(label_sizes)];
    }
    s->slots = s->nvdimms + take(&data, &size) % 3;
    v = take(&data, &size);
    s->vmgenid = v & 1;
    s->rtc = v & 2;
    s->serial = v & 4;
}

/* QEMU's argv for @s; NVDIMM backing files go to tmpdir. */
static GPtrArray *qemu_argv(const Shape *s, const char *qemu)
{
    GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
    uint64_t nv_total = 0;
    unsigned i;

    g_ptr_array_add(a, g_strdup(qemu));
    g_ptr_array_add(a, g_strdup("-M"));
    g_ptr_array_add(a, g_strdup_printf("pc-lite%s,vmgenid=%s,rtc=%s",
                                       s->nvdimms ? ",nvdimm=on" : "",
                                       s->vmgenid ? "auto" : "off",
                                       s->rtc ? "on" : "off"));
    for (i = 0; i < s->nvdimms; i++) {
        nv_total += s->nv_mib[i];
    }
    g_ptr_array_add(a, g_strdup("-m"));
    if (s->nvdimms) {
        g_ptr_array_add(a, g_strdup_printf("%" PRIu64 "M,slots=%u,maxmem=%"
                                           PRIu64 "M", s->ram_mib, s->slots,
                                           s->ram_mib + nv_total + 1024));
    } else {
        g_ptr_array_add(a, g_strdup_printf("%" PRIu64 "M", s->ram_mib));
    }
    g_ptr_array_add(a, g_strdup("-smp"));
    g_ptr_array_add(a, g_strdup_printf("%u,maxcpus=%u", s->cpus, s->maxcpus));
    for (i = 0; i < s->nvdimms; i++) {
        g_autofree char *path = g_strdup_printf("%s/nv%u", tmpdir, i);
        g_autofree char *label = s->nv_label[i] ?
            g_strdup_printf(",label-size=%" PRIu64, s->nv_label[i]) :
            g_strdup("");
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

        if (fd < 0 || ftruncate(fd, s->nv_mib[i] * MiB) < 0) {
            perror(path);
            abort();
        }
        close(fd);
        g_ptr_array_add(a, g_strdup("-object"));
        g_ptr_array_add(a, g_strdup_printf(
            "memory-backend-file,id=m%u,mem-path=%s,size=%" PRIu64
            "M,share=on", i, path, s->nv_mib[i]));
        g_ptr_array_add(a, g_strdup("-device"));
        g_ptr_array_add(a, g_strdup_printf("nvdimm,memdev=m%u,id=nv%u%s", i,
                                           i, label));
    }
    if (s->serial) {
        g_ptr_array_add(a, g_strdup("-serial"));
        g_ptr_array_add(a, g_strdup("null"));
    }
    g_ptr_array_add(a, g_strdup("-accel"));
    g_ptr_array_add(a, g_strdup("qtest"));
    g_ptr_array_add(a, g_strdup("-qtest"));
    g_ptr_array_add(a, g_strdup("stdio"));
    g_ptr_array_add(a, g_strdup("-qtest-log"));
    g_ptr_array_add(a, g_strdup("none"));
    g_ptr_array_add(a, g_strdup("-display"));
    g_ptr_array_add(a, g_strdup("none"));
    g_ptr_array_add(a, NULL);
    return a;
}

typedef struct QemuChild {
    pid_t pid;
    int in_fd, out_fd, err_fd;
    GString *pending;       /* read from out_fd, not yet a whole line */
} QemuChild;

static void qemu_start(QemuChild *q, GPtrArray *argv)
{
    int to[2], from[2], err[2];

    if (pipe(to) || pipe(from) || pipe(err)) {
        abort();
    }
    q->pid = fork();
    if (q->pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        dup2(err[1], 2);
        close(to[1]);
        close(from[0]);
        close(err[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setenv("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0", 1);
        setenv("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1", 1);
        execv(argv->pdata[0], (char **)argv->pdata);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    close(err[1]);
    q->in_fd = to[1];
    q->out_fd = from[0];
    q->err_fd = err[0];
    q->pending = g_string_new("");
}

static char *read_all(int fd)
{
    GString *s = g_string_new("");
    char buf[4096];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        g_string_append_len(s, buf, n);
    }
    return g_string_free(s, false);
}

/*
 * Ask QEMU to quit with SIGTERM, as a user would, and wait up to 10 s.
 * (libFuzzer's timer interrupts system calls with SIGALRM: every wait
 * and read here goes on after EINTR.)
 */
static void qemu_terminate(QemuChild *q, int *status)
{
    int waited;

    kill(q->pid, SIGTERM);
    for (waited = 0; waited < 1000; waited++) {
        if (waitpid(q->pid, status, WNOHANG) == q->pid) {
            return;
        }
        g_usleep(10000);
    }
    kill(q->pid, SIGKILL);
    while (waitpid(q->pid, status, 0) < 0 && errno == EINTR) {
        continue;
    }
    CHECK(false, "QEMU did not quit within 10 s of SIGTERM");
}

/* Wait for QEMU (ending it first if @kill_it); returns its stderr. */
static char *qemu_end(QemuChild *q, bool kill_it, int *status)
{
    char *err;

    close(q->in_fd);
    close(q->out_fd);
    g_string_free(q->pending, true);
    if (kill_it) {
        qemu_terminate(q, status);
    } else {
        while (waitpid(q->pid, status, 0) < 0 && errno == EINTR) {
            continue;
        }
    }
    err = read_all(q->err_fd);
    close(q->err_fd);
    return err;
}

/* One line from QEMU's stdout (without its newline); NULL at EOF. */
static char *read_line(QemuChild *q)
{
    char buf[65536], *nl;
    ssize_t n;

    while (!(nl = memchr(q->pending->str, '\n', q->pending->len))) {
        n = read(q->out_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            continue;       /* libFuzzer's SIGALRM timer */
        }
        if (n <= 0) {
            return NULL;
        }
        g_string_append_len(q->pending, buf, n);
    }
    {
        size_t len = nl - q->pending->str;
        char *line = g_strndup(q->pending->str, len);

        g_string_erase(q->pending, 0, len + 1);
        return line;
    }
}

/* qtest's read: false when QEMU is gone (it exited or died). */
static bool readmem(QemuChild *q, uint64_t addr, uint8_t *buf, size_t len)
{
    g_autofree char *line = NULL;
    size_t i;
    bool ok;

    dprintf(q->in_fd, "read 0x%" PRIx64 " 0x%zx\n", addr, len);
    line = read_line(q);
    if (!line) {
        return false;
    }
    ok = !strncmp(line, "OK 0x", 5) && strlen(line) >= 5 + 2 * len;
    for (i = 0; ok && i < len; i++) {
        unsigned v;

        ok = sscanf(line + 5 + 2 * i, "%2x", &v) == 1;
        buf[i] = v;
    }
    CHECK(ok, "qtest answered '%.80s' to a read", line);
    return true;
}

/* QEMU's stderr without ASan's note on swapcontext (coroutines). */
static void drop_asan_notes(char *err)
{
    char *p;

    while ((p = strstr(err, "WARNING: ASan doesn't fully support"))) {
        char *bol = p, *eol = strchr(p, '\n');

        while (bol > err && bol[-1] != '\n') {
            bol--;
        }
        eol = eol ? eol + 1 : p + strlen(p);
        memmove(bol, eol, strlen(eol) + 1);
    }
}

static uint32_t ld32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t ld64(const uint8_t *p)
{
    return ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;

    while (len--) {
        s += *p++;
    }
    return s;
}

/* One table at @addr inside the ACPI area, checked; NULL if QEMU died. */
static uint8_t *table_at(QemuChild *q, const uint8_t *area, uint64_t addr,
                         uint32_t *len)
{
    CHECK(addr >= ACPI_AREA && addr + 36 <= ACPI_AREA + ACPI_AREA_SIZE,
          "table at 0x%" PRIx64 " is outside the ACPI area", addr);
    *len = ld32(area + addr - ACPI_AREA + 4);
    CHECK(*len >= 36 && addr + *len <= ACPI_AREA + ACPI_AREA_SIZE,
          "table at 0x%" PRIx64 " has length %u", addr, *len);
    CHECK(sum(area + addr - ACPI_AREA, *len) == 0,
          "table %.4s has a bad checksum", area + addr - ACPI_AREA);
    return (uint8_t *)area + addr - ACPI_AREA;
}

static void check_tables(QemuChild *q, const Shape *s)
{
    g_autofree uint8_t *area = g_malloc(ACPI_AREA_SIZE);
    uint8_t *rsdp = NULL, *xsdt, *madt = NULL, *nfit = NULL;
    uint32_t xlen, len, madt_len = 0, nfit_len = 0, off, i;
    unsigned enabled = 0, entries = 0, spa = 0;
    uint64_t spa_size[MAX_NVDIMMS];

    if (!readmem(q, ACPI_AREA, area, ACPI_AREA_SIZE)) {
        return;     /* QEMU died: qemu_end() says how */
    }
    for (off = 0; off < ACPI_AREA_SIZE; off += 16) {
        if (!memcmp(area + off, "RSD PTR ", 8)) {
            rsdp = area + off;
            break;
        }
    }
    CHECK(rsdp, "no RSDP in the ACPI area");
    CHECK(sum(rsdp, 20) == 0 && rsdp[15] == 2 && ld32(rsdp + 20) == 36 &&
          sum(rsdp, 36) == 0, "bad RSDP");
    xsdt = table_at(q, area, ld64(rsdp + 24), &xlen);
    CHECK(!memcmp(xsdt, "XSDT", 4), "the RSDP does not point to an XSDT");
    for (i = 36; i + 8 <= xlen; i += 8) {
        uint8_t *t = table_at(q, area, ld64(xsdt + i), &len);

        if (!memcmp(t, "FACP", 4)) {
            uint8_t *dsdt = table_at(q, area, ld64(t + 140), &len);

            CHECK(!memcmp(dsdt, "DSDT", 4), "the FADT's X_DSDT");
        } else if (!memcmp(t, "APIC", 4)) {
            madt = t;
            madt_len = len;
        } else if (!memcmp(t, "NFIT", 4)) {
            nfit = t;
            nfit_len = len;
        }
    }
    CHECK(madt, "no MADT");
    for (off = 44; off + 2 <= madt_len; off += madt[off + 1]) {
        CHECK(madt[off + 1] >= 2 && off + madt[off + 1] <= madt_len,
              "MADT entry at %u has length %u", off, madt[off + 1]);
        if (madt[off] == 0 || madt[off] == 9) {         /* LAPIC, x2APIC */
            uint32_t flags = madt[off] == 0 ? ld32(madt + off + 4)
                                            : ld32(madt + off + 8);
            entries++;
            enabled += flags & 1;
        }
    }
    CHECK(enabled == s->cpus, "%u enabled MADT entries for %u vCPUs",
          enabled, s->cpus);
    CHECK(entries == s->maxcpus, "%u MADT entries for %u possible vCPUs",
          entries, s->maxcpus);
    CHECK(!nfit == !s->nvdimms, "NFIT %s with %u NVDIMMs",
          nfit ? "present" : "absent", s->nvdimms);
    for (off = 40; nfit && off + 4 <= nfit_len;
         off += nfit[off + 2] | nfit[off + 3] << 8) {
        uint16_t type = nfit[off] | nfit[off + 1] << 8;
        uint16_t elen = nfit[off + 2] | nfit[off + 3] << 8;

        CHECK(elen >= 4 && off + elen <= nfit_len, "NFIT entry length %u",
              elen);
        if (type == 0) {
            uint64_t size = ld64(nfit + off + 40);

            CHECK(spa < s->nvdimms, "more SPA ranges than NVDIMMs");
            spa_size[spa++] = size;
        }
    }
    /* One SPA range per NVDIMM, its size less the label area, any order */
    for (i = 0; i < s->nvdimms && i < spa; i++) {
        uint64_t want = s->nv_mib[i] * MiB - s->nv_label[i];
        unsigned j;

        for (j = 0; j < spa && spa_size[j] != want; j++) {
            continue;
        }
        CHECK(j < spa, "no SPA range of %" PRIu64 " bytes for NVDIMM %u",
              want, i);
        spa_size[j] = UINT64_MAX;
    }
    CHECK(spa == s->nvdimms, "%u SPA ranges for %u NVDIMMs", spa,
          s->nvdimms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *qemu = getenv("PC_LITE_FUZZ_QEMU");
    g_autoptr(GPtrArray) argv = NULL;
    g_autofree char *err = NULL;
    g_autofree char *joined = NULL;
    Shape s;
    QemuChild q;
    char probe[8];
    int status;
    bool running;

    if (!tmpdir) {
        tmpdir = g_dir_make_tmp("pc-lite-fuzz-acpi-XXXXXX", NULL);
        signal(SIGPIPE, SIG_IGN);
    }
    decode(&s, data, size);
    argv = qemu_argv(&s, qemu ?: "build/qemu-fuzz/qemu-system-x86_64");
    joined = g_strjoinv(" ", (char **)argv->pdata + 1);
    g_strlcpy(shape_line, joined, sizeof(shape_line));

    qemu_start(&q, argv);
    /* The first readmem answers once QEMU is up, or fails if it exited. */
    running = readmem(&q, ACPI_AREA, (uint8_t *)probe, sizeof(probe));
    if (running) {
        check_tables(&q, &s);
    }
    err = qemu_end(&q, running, &status);
    drop_asan_notes(err);
    CHECK(!strstr(err, "Sanitizer") && !strstr(err, "runtime error"),
          "sanitizer report:\n%s", err);
    if (running) {
        CHECK(WIFEXITED(status) ||
              (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM),
              "QEMU ended with status 0x%x:\n%s", status, err);
    } else {
        /* Refused: exit 1 and one error line, not a signal or a hang. */
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1,
              "QEMU ended with status 0x%x:\n%s", status, err);
        CHECK(*err && strchr(err, '\n') == err + strlen(err) - 1,
              "not one error line:\n%s", err);
    }
    return 0;
}
