/*
 * qtest for the pc-lite machine: what the guest finds in its memory at
 * the first instruction (ACPI tables written by QEMU) and machine options.
 *
 * Copyright (c) 2026 The pc-lite authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "qobject/qdict.h"

#define ACPI_AREA       0xe0000
#define ACPI_AREA_SIZE  0x20000
#define ECAM_BASE       0xe0000000ULL
#define ECAM_SIZE       0x10000000ULL

typedef struct {
    char sig[5];
    uint64_t addr;
    uint32_t len;
    uint8_t *data;
} Table;

static uint8_t checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;

    while (len--) {
        sum += *p++;
    }
    return sum;
}

static uint64_t find_rsdp(QTestState *qts)
{
    g_autofree uint8_t *area = g_malloc(ACPI_AREA_SIZE);
    uint32_t off;

    qtest_memread(qts, ACPI_AREA, area, ACPI_AREA_SIZE);
    for (off = 0; off < ACPI_AREA_SIZE; off += 16) {
        if (!memcmp(area + off, "RSD PTR ", 8)) {
            g_assert_cmpint(checksum(area + off, 20), ==, 0);
            g_assert_cmpint(area[off + 15], ==, 2);          /* revision */
            g_assert_cmphex((uint32_t)ldl_le_p(area + off + 20), ==, 36);
            g_assert_cmpint(checksum(area + off, 36), ==, 0);
            return ACPI_AREA + off;
        }
    }
    g_assert_not_reached();
}

/* Read and validate one table: signature, length and checksum. */
static Table *read_table(QTestState *qts, uint64_t addr)
{
    Table *t = g_new0(Table, 1);
    uint8_t hdr[36];

    qtest_memread(qts, addr, hdr, sizeof(hdr));
    memcpy(t->sig, hdr, 4);
    t->addr = addr;
    t->len = ldl_le_p(hdr + 4);
    g_assert_cmpint(t->len, >=, 36);
    g_assert_cmpint(t->len, <, ACPI_AREA_SIZE);
    g_assert_cmpint(addr, >=, ACPI_AREA);
    g_assert_cmpint(addr + t->len, <=, ACPI_AREA + ACPI_AREA_SIZE);
    t->data = g_malloc(t->len);
    qtest_memread(qts, addr, t->data, t->len);
    g_assert_cmpint(checksum(t->data, t->len), ==, 0);
    return t;
}

static void free_table(gpointer p)
{
    Table *t = p;

    g_free(t->data);
    g_free(t);
}

/* All tables reachable from the RSDP, DSDT included. */
static GPtrArray *read_tables(QTestState *qts)
{
    GPtrArray *tables = g_ptr_array_new_with_free_func(free_table);
    uint8_t rsdp[36];
    Table *xsdt;
    uint32_t i;

    qtest_memread(qts, find_rsdp(qts), rsdp, sizeof(rsdp));
    xsdt = read_table(qts, ldq_le_p(rsdp + 24));
    g_assert_cmpstr(xsdt->sig, ==, "XSDT");
    g_ptr_array_add(tables, xsdt);
    for (i = 36; i + 8 <= xsdt->len; i += 8) {
        Table *t = read_table(qts, ldq_le_p(xsdt->data + i));

        g_ptr_array_add(tables, t);
        if (!strcmp(t->sig, "FACP")) {
            g_ptr_array_add(tables, read_table(qts, ldq_le_p(t->data + 140)));
        }
    }
    return tables;
}

static Table *find_table(GPtrArray *tables, const char *sig)
{
    guint i;

    for (i = 0; i < tables->len; i++) {
        Table *t = g_ptr_array_index(tables, i);

        if (!strcmp(t->sig, sig)) {
            return t;
        }
    }
    return NULL;
}

static void test_acpi_tables(gconstpointer data)
{
    int cpus = GPOINTER_TO_INT(data);
    QTestState *qts = qtest_initf("-M pc-lite -smp %d -m 256M", cpus);
    g_autoptr(GPtrArray) tables = read_tables(qts);
    Table *fadt = find_table(tables, "FACP");
    Table *madt = find_table(tables, "APIC");
    Table *mcfg = find_table(tables, "MCFG");
    Table *dsdt = find_table(tables, "DSDT");
    uint32_t off, lapics = 0;

    g_assert(fadt && madt && mcfg && dsdt);
    g_assert_null(find_table(tables, "NFIT"));

    /* FADT: hardware-reduced, with reset register and PM timer. */
    g_assert_cmpint(fadt->data[8], ==, 6);
    g_assert_true(ldl_le_p(fadt->data + 112) & (1 << 20));  /* HW_REDUCED */
    g_assert_cmphex((uint32_t)ldl_le_p(fadt->data + 76), ==, 0x608);
    g_assert_cmpint(ldq_le_p(fadt->data + 140), ==, dsdt->addr);

    /* MADT: one enabled local APIC per vCPU, no PC-AT compatible PIC. */
    g_assert_cmphex((uint32_t)ldl_le_p(madt->data + 36), ==, 0xfee00000);
    g_assert_cmpint(ldl_le_p(madt->data + 40) & 1, ==, 0);
    for (off = 44; off + 2 <= madt->len; off += madt->data[off + 1]) {
        g_assert_cmpint(madt->data[off + 1], >, 0);
        if (madt->data[off] == 0 && (madt->data[off + 4] & 1)) {
            g_assert_cmpint(madt->data[off + 3], ==, lapics);  /* APIC ID */
            lapics++;
        }
    }
    g_assert_cmpint(lapics, ==, cpus);

    /* MCFG: the ECAM window, buses 0-255. */
    g_assert_cmpint(mcfg->len, ==, 44 + 16);
    g_assert_cmpint(ldq_le_p(mcfg->data + 44), ==, ECAM_BASE);
    g_assert_cmpint(mcfg->data[54], ==, 0);
    g_assert_cmpint(mcfg->data[55], ==, ECAM_SIZE / MiB - 1);

    /* DSDT: GED, power button, PCIe host, \_S5; no UART without -serial */
    g_assert_nonnull(memmem(dsdt->data, dsdt->len, "GED_", 4));
    g_assert_nonnull(memmem(dsdt->data, dsdt->len, "PCI0", 4));
    g_assert_nonnull(memmem(dsdt->data, dsdt->len, "_S5_", 4));
    g_assert_null(memmem(dsdt->data, dsdt->len, "COM0", 4));

    qtest_quit(qts);
}

/* More than 255 vCPUs: x2APIC entries for APIC IDs above 254. */
static void test_x2apic(void)
{
    QTestState *qts = qtest_init("-M pc-lite -smp 300");
    g_autoptr(GPtrArray) tables = read_tables(qts);
    Table *madt = find_table(tables, "APIC");
    uint32_t off, lapic = 0, x2apic = 0;

    for (off = 44; off + 2 <= madt->len; off += madt->data[off + 1]) {
        if (madt->data[off] == 0 && (madt->data[off + 4] & 1)) {
            lapic++;
        } else if (madt->data[off] == 9 && (madt->data[off + 8] & 1)) {
            g_assert_cmpuint(ldl_le_p(madt->data + off + 4), ==,
                             255 + x2apic);
            x2apic++;
        }
    }
    g_assert_cmpint(lapic, ==, 255);
    g_assert_cmpint(x2apic, ==, 300 - 255);
    qtest_quit(qts);
}

static void test_serial(void)
{
    QTestState *qts = qtest_init("-M pc-lite -serial null");
    g_autoptr(GPtrArray) tables = read_tables(qts);
    Table *dsdt = find_table(tables, "DSDT");
    QDict *rsp;

    g_assert_nonnull(memmem(dsdt->data, dsdt->len, "COM0", 4));
    /* The UART answers at 0x3f8: its scratch register keeps a value. */
    qtest_outb(qts, 0x3ff, 0x5a);
    g_assert_cmpint(qtest_inb(qts, 0x3ff), ==, 0x5a);

    rsp = qtest_qmp(qts, "{ 'execute': 'qom-get', 'arguments': "
                    "{ 'path': '/machine', 'property': 'serial' } }");
    g_assert_cmpstr(qdict_get_str(rsp, "return"), ==, "on");
    qobject_unref(rsp);
    qtest_quit(qts);
}

static void test_no_legacy(void)
{
    static const char *const legacy[] = {
        "isa-serial", "isa-pit", "kvm-pit", "isa-i8259",
        "hpet", "i8042", "fw_cfg", "VGA", "port92",
        "kvmvapic",     /* needs an option ROM, which nothing runs */
    };
    QTestState *qts = qtest_init("-M pc-lite");
    g_autofree char *qtree = qtest_hmp(qts, "info qtree");
    size_t i;

    g_assert_nonnull(strstr(qtree, "gpex-pcihost"));
    g_assert_nonnull(strstr(qtree, "acpi-ged"));
    for (i = 0; i < G_N_ELEMENTS(legacy); i++) {
        g_assert_null(strstr(qtree, legacy[i]));
    }
    /* Nothing answers at the UART's port without -serial. */
    qtest_outb(qts, 0x3ff, 0x5a);
    g_assert_cmpint(qtest_inb(qts, 0x3ff), !=, 0x5a);
    qtest_quit(qts);
}

/* The CMOS RTC answers at 0x70/0x71 unless rtc=off. */
static void test_rtc(void)
{
    QTestState *qts = qtest_init("-M pc-lite");
    g_autofree char *qtree = qtest_hmp(qts, "info qtree");

    g_assert_nonnull(strstr(qtree, "mc146818rtc"));
    qtest_outb(qts, 0x70, 0x0b);            /* register B: 24h, BCD */
    g_assert_cmpint(qtest_inb(qts, 0x71), ==, 0x02);
    qtest_outb(qts, 0x70, 0x09);            /* year, BCD */
    g_assert_cmpint(qtest_inb(qts, 0x71) >> 4, <=, 9);
    qtest_quit(qts);

    qts = qtest_init("-M pc-lite,rtc=off");
    g_free(qtree);
    qtree = qtest_hmp(qts, "info qtree");
    g_assert_null(strstr(qtree, "mc146818rtc"));
    qtest_outb(qts, 0x70, 0x0b);
    g_assert_cmpint(qtest_inb(qts, 0x71), ==, 0xff);
    qtest_quit(qts);
}

/*
 * The VM generation ID at its fixed address, as the DSDT's VGEN.ADDR
 * says: the GUID in the spec's (little-endian) layout, random by default.
 */
static void test_vmgenid(void)
{
    static const uint8_t expected[16] = {
        0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66,
        0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
    };
    uint8_t a[16], b[16], zero[16] = { 0 };
    QTestState *qts;

    qts = qtest_init("-M pc-lite,vmgenid=00112233-4455-6677-8899-"
                     "aabbccddeeff");
    qtest_memread(qts, 0x9fc00, a, sizeof(a));
    g_assert_cmpmem(a, sizeof(a), expected, sizeof(expected));
    qtest_quit(qts);

    qts = qtest_init("-M pc-lite");
    qtest_memread(qts, 0x9fc00, a, sizeof(a));
    qtest_quit(qts);
    qts = qtest_init("-M pc-lite");
    qtest_memread(qts, 0x9fc00, b, sizeof(b));
    qtest_quit(qts);
    g_assert_true(memcmp(a, zero, sizeof(a)) && memcmp(a, b, sizeof(a)));

    qts = qtest_init("-M pc-lite,vmgenid=off");
    qtest_memread(qts, 0x9fc00, a, sizeof(a));
    g_assert_cmpmem(a, sizeof(a), zero, sizeof(zero));
    qtest_quit(qts);
}

static void test_pm_timer(void)
{
    QTestState *qts = qtest_init("-M pc-lite");
    uint32_t t0, t1;

    /* 3.579545 MHz: 10 ms of virtual time is about 35795 ticks. */
    t0 = qtest_inl(qts, 0x608);
    qtest_clock_step(qts, 10 * 1000 * 1000);
    t1 = qtest_inl(qts, 0x608);
    g_assert_cmpint(t1 - t0, >=, 35790);
    g_assert_cmpint(t1 - t0, <=, 35800);
    qtest_quit(qts);
}

static void test_nfit(void)
{
    g_autofree char *path = NULL;
    int fd = g_file_open_tmp("pc-lite-nvdimm-XXXXXX", &path, NULL);
    QTestState *qts;
    g_autoptr(GPtrArray) tables = NULL;
    Table *nfit, *dsdt;

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, 64 * MiB), ==, 0);
    close(fd);
    qts = qtest_initf("-M pc-lite,nvdimm=on -m 128M,slots=2,maxmem=1G "
                      "-object memory-backend-file,id=mem0,mem-path=%s,"
                      "size=64M,share=on -device nvdimm,memdev=mem0,id=nv0",
                      path);
    tables = read_tables(qts);
    nfit = find_table(tables, "NFIT");
    dsdt = find_table(tables, "DSDT");
    g_assert_nonnull(nfit);
    g_assert_cmpint(nfit->len, ==, 40 + 56 + 48 + 80);
    /* SPA range: the NVDIMM's address and size, at or above 4 GiB. */
    g_assert_cmpint(lduw_le_p(nfit->data + 40), ==, 0);
    g_assert_cmpint(ldq_le_p(nfit->data + 40 + 32), >=, 4 * GiB);
    g_assert_cmpint(ldq_le_p(nfit->data + 40 + 40), ==, 64 * MiB);
    /* Region mapping: handle 1 (slot 0), same SPA index. */
    g_assert_cmpint(lduw_le_p(nfit->data + 96), ==, 1);
    g_assert_cmphex((uint32_t)ldl_le_p(nfit->data + 96 + 4), ==, 1);
    g_assert_nonnull(memmem(dsdt->data, dsdt->len, "ACPI0012", 8));
    qtest_quit(qts);
    unlink(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    qtest_add_data_func("pc-lite/acpi/smp1", GINT_TO_POINTER(1),
                        test_acpi_tables);
    qtest_add_data_func("pc-lite/acpi/smp4", GINT_TO_POINTER(4),
                        test_acpi_tables);
    qtest_add_func("pc-lite/acpi/x2apic", test_x2apic);
    qtest_add_func("pc-lite/serial", test_serial);
    qtest_add_func("pc-lite/no-legacy", test_no_legacy);
    qtest_add_func("pc-lite/rtc", test_rtc);
    qtest_add_func("pc-lite/vmgenid", test_vmgenid);
    qtest_add_func("pc-lite/pm-timer", test_pm_timer);
    qtest_add_func("pc-lite/nfit", test_nfit);
    return g_test_run();
}
