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
#include "elf.h"
#include "acpi-utils.h"

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
    g_assert_null(find_table(tables, "SRAT"));

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

/* An AML integer constant at *p (ACPI 6.4, 20.2.3); *p moves past it. */
static uint64_t aml_integer(const uint8_t **p)
{
    const uint8_t *q = *p;

    switch (q[0]) {
    case 0x00:                                          /* ZeroOp */
    case 0x01:                                          /* OneOp */
        *p += 1;
        return q[0];
    case 0x0a:                                          /* BytePrefix */
        *p += 2;
        return q[1];
    case 0x0b:                                          /* WordPrefix */
        *p += 3;
        return lduw_le_p(q + 1);
    case 0x0c:                                          /* DWordPrefix */
        *p += 5;
        return ldl_le_p(q + 1);
    case 0x0e:                                          /* QWordPrefix */
        *p += 9;
        return ldq_le_p(q + 1);
    }
    g_assert_not_reached();
}

/* A PkgLength at *p (ACPI 6.4, 20.2.4); *p moves past it. */
static uint32_t aml_pkglength(const uint8_t **p)
{
    const uint8_t *q = *p;
    int n = q[0] >> 6, i;
    uint32_t len = n ? q[0] & 0x0f : q[0] & 0x3f;

    for (i = 1; i <= n; i++) {
        len |= q[i] << (4 + 8 * (i - 1));
    }
    *p += n + 1;
    return len;
}

typedef struct {
    uint32_t addr;      /* slot << 16 | 0xffff */
    uint8_t pin;        /* 0-3: INTA-INTD */
    uint64_t gsi;
} PrtEntry;

/* The PCIe host's _PRT: a package of packages {address, pin, 0, GSI}. */
static GArray *read_prt(Table *dsdt)
{
    GArray *prt = g_array_new(false, true, sizeof(PrtEntry));
    const uint8_t *p = memmem(dsdt->data, dsdt->len, "_PRT", 4);
    const uint8_t *end;
    int n, i;

    g_assert_nonnull(p);
    g_assert_null(memmem(p + 4, dsdt->data + dsdt->len - p - 4, "_PRT", 4));
    g_assert_cmphex(p[-1], ==, 0x08);                   /* NameOp */
    p += 4;
    g_assert_cmphex(*p++, ==, 0x12);                    /* PackageOp */
    end = p;
    end += aml_pkglength(&p);
    n = *p++;
    for (i = 0; i < n; i++) {
        PrtEntry e;

        g_assert_cmphex(*p++, ==, 0x12);
        aml_pkglength(&p);
        g_assert_cmpint(*p++, ==, 4);
        e.addr = aml_integer(&p);
        e.pin = aml_integer(&p);
        g_assert_cmpint(aml_integer(&p), ==, 0);        /* no link device */
        e.gsi = aml_integer(&p);
        g_array_append_val(prt, e);
    }
    g_assert_true(p == end);
    return prt;
}

/*
 * The _PRT: the four pins of each root-bus slot with a device (not the
 * host bridge's slot 0), GSIs given directly, as the GPEX wires INTx:
 * pin P of slot S on GSI 16 + (S + P) % 4.  No interrupt link devices,
 * no _DSM; an _OSC for native PCIe control.
 */
static void check_prt(const char *devices, const int *slots, int n)
{
    QTestState *qts = qtest_initf("-M pc-lite %s", devices);
    g_autoptr(GPtrArray) tables = read_tables(qts);
    Table *dsdt = find_table(tables, "DSDT");
    g_autoptr(GArray) prt = read_prt(dsdt);
    int i, pin;

    g_assert_cmpint(prt->len, ==, n * 4);
    for (i = 0; i < n; i++) {
        for (pin = 0; pin < 4; pin++) {
            PrtEntry *e = &g_array_index(prt, PrtEntry, i * 4 + pin);

            g_assert_cmphex(e->addr, ==, slots[i] << 16 | 0xffff);
            g_assert_cmpint(e->pin, ==, pin);
            g_assert_cmpint(e->gsi, ==, 16 + (slots[i] + pin) % 4);
        }
    }
    g_assert_null(memmem(dsdt->data, dsdt->len, "_DSM", 4));
    g_assert_nonnull(memmem(dsdt->data, dsdt->len, "_OSC", 4));
    /* PNP0C0F, the interrupt link device, as an EISA ID */
    g_assert_null(memmem(dsdt->data, dsdt->len, "\x0c\x41\xd0\x0c\x0f", 5));
    g_assert_null(memmem(dsdt->data, dsdt->len, "PNP0C0F", 7));
    qtest_quit(qts);
}

static void test_prt(void)
{
    static const int some[] = { 1, 2, 3, 4, 0x1e, 0x1f };

    check_prt("", NULL, 0);
    check_prt("-device virtio-rng-pci,addr=1 -device virtio-rng-pci,addr=2 "
              "-device virtio-rng-pci,addr=3 -device virtio-rng-pci,addr=4 "
              "-device pcie-root-port,id=rp,chassis=1,addr=0x1e "
              "-device virtio-rng-pci,bus=rp "
              "-device virtio-rng-pci,addr=0x1f.0,multifunction=on "
              "-device virtio-rng-pci,addr=0x1f.1", some, ARRAY_SIZE(some));
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

/*
 * -device isa-serial (libvirt's <serial>) on the machine's ISA bus: COM1's
 * port alone, COM2's after the machine's own UART; the DSDT has each.
 */
static void check_isa_serial(const char *args, const char *names,
                             uint16_t port)
{
    QTestState *qts = qtest_initf("-M pc-lite %s -chardev null,id=c "
                                  "-device isa-serial,chardev=c", args);
    g_autoptr(GPtrArray) tables = read_tables(qts);
    Table *dsdt = find_table(tables, "DSDT");
    g_auto(GStrv) name = g_strsplit(names, ",", -1);
    size_t i;

    for (i = 0; name[i]; i++) {
        g_assert_nonnull(memmem(dsdt->data, dsdt->len, name[i], 4));
    }
    g_assert_cmpint(i, ==, 1 + !!*args);
    qtest_outb(qts, port + 7, 0x5a);
    g_assert_cmpint(qtest_inb(qts, port + 7), ==, 0x5a);
    qtest_quit(qts);
}

static void test_isa_serial(void)
{
    check_isa_serial("", "COM1", 0x3f8);
    check_isa_serial("-serial null", "COM0,COM2", 0x2f8);
}

/*
 * The MP table: its floating pointer in base memory's last KiB (after the
 * VM generation ID), where a kernel's scan finds it at once, pointing to a
 * configuration table with the vCPUs, the IOAPIC and the interrupts that
 * the MADT has; none when an APIC ID needs x2APIC.
 */
static uint8_t sum_bytes(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;

    while (len--) {
        sum += *p++;
    }
    return sum;
}

static void test_mptable(void)
{
    QTestState *qts = qtest_init("-M pc-lite -smp 3,maxcpus=4");
    uint8_t mpf[16], hdr[44], *mpc, *e;
    uint32_t addr;
    unsigned i, cpus = 0, ioapics = 0, irqs = 0, lints = 0;

    qtest_memread(qts, 0x9fc10, mpf, sizeof(mpf));
    g_assert_cmpmem(mpf, 4, "_MP_", 4);
    g_assert_cmpint(sum_bytes(mpf, sizeof(mpf)), ==, 0);
    g_assert_cmpint(mpf[8], ==, 1);
    g_assert_cmpint(mpf[9], ==, 4);
    addr = ldl_le_p(mpf + 4);
    g_assert_cmphex(addr, >=, 0xe0000);
    g_assert_cmphex(addr, <, 0x100000);

    qtest_memread(qts, addr, hdr, sizeof(hdr));
    g_assert_cmpmem(hdr, 4, "PCMP", 4);
    g_assert_cmphex((uint32_t)ldl_le_p(hdr + 36), ==, 0xfee00000);
    g_assert_cmphex(addr + lduw_le_p(hdr + 4), <=, 0x100000);
    mpc = g_malloc(lduw_le_p(hdr + 4));
    qtest_memread(qts, addr, mpc, lduw_le_p(hdr + 4));
    g_assert_cmpint(sum_bytes(mpc, lduw_le_p(hdr + 4)), ==, 0);
    e = mpc + sizeof(hdr);
    for (i = 0; i < lduw_le_p(hdr + 34); i++) {
        switch (e[0]) {
        case 0:     /* processor: APIC ID i, enabled unless absent, BSP 0 */
            g_assert_cmpint(e[1], ==, cpus);
            g_assert_cmpint(e[3], ==, (cpus < 3 ? 1 : 0) | (!cpus ? 2 : 0));
            cpus++;
            e += 20;
            continue;
        case 2:     /* the IOAPIC, as in the MADT */
            g_assert_cmpint(e[1], ==, 0);
            g_assert_cmphex((uint32_t)ldl_le_p(e + 4), ==, 0xfec00000);
            ioapics++;
            break;
        case 3:     /* ISA IRQ n on IOAPIC pin n */
            g_assert_cmpint(e[5], ==, irqs);
            g_assert_cmpint(e[7], ==, irqs);
            irqs++;
            break;
        case 4:
            lints++;
            break;
        }
        e += 8;
    }
    g_assert_true(e == mpc + lduw_le_p(hdr + 4));
    g_assert_cmpint(cpus, ==, 4);
    g_assert_cmpint(ioapics, ==, 1);
    g_assert_cmpint(irqs, ==, 16);
    g_assert_cmpint(lints, ==, 2);
    g_free(mpc);
    qtest_quit(qts);

    /* APIC IDs above 254: no MP table can describe them. */
    qts = qtest_init("-M pc-lite -smp 300");
    qtest_memread(qts, 0x9fc10, mpf, sizeof(mpf));
    g_assert_cmpmem(mpf, 4, "\0\0\0\0", 4);
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

/*
 * The boot-marker port takes writes of every size, and a guest's read of
 * it returns 0 (it once called a NULL read callback: generic-fuzz found it).
 */
static void test_marker_port(void)
{
    QTestState *qts = qtest_init("-M pc-lite");

    qtest_outb(qts, 0x510, 1);
    qtest_outl(qts, 0x510, 0x12345678);
    g_assert_cmpint(qtest_inb(qts, 0x510), ==, 0);
    g_assert_cmpint(qtest_inw(qts, 0x510), ==, 0);
    g_assert_cmpint(qtest_inl(qts, 0x510), ==, 0);
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

/*
 * A running machine takes a new generation (pc-lite-pool's hand-out):
 * written where the guest reads it, and the GED's GSI raised for the
 * VGEN notification; a bad value changes nothing.
 */
static void test_vmgenid_runtime(void)
{
    static const uint8_t expected[16] = {
        0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66,
        0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
    };
    uint8_t a[16], b[16];
    QTestState *qts = qtest_init("-M pc-lite");
    QDict *rsp;

    qtest_memread(qts, 0x9fc00, a, sizeof(a));
    rsp = qtest_qmp(qts, "{'execute': 'qom-set', 'arguments': {"
                    "'path': '/machine', 'property': 'vmgenid', "
                    "'value': '00112233-4455-6677-8899-aabbccddeeff'}}");
    g_assert_false(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    qtest_memread(qts, 0x9fc00, b, sizeof(b));
    g_assert_cmpmem(b, sizeof(b), expected, sizeof(expected));
    g_assert_true(memcmp(a, b, sizeof(a)));
    rsp = qtest_qmp(qts, "{'execute': 'qom-set', 'arguments': {"
                    "'path': '/machine', 'property': 'vmgenid', "
                    "'value': 'not-a-uuid'}}");
    g_assert_true(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    qtest_memread(qts, 0x9fc00, a, sizeof(a));
    g_assert_cmpmem(a, sizeof(a), expected, sizeof(expected));
    rsp = qtest_qmp(qts, "{'execute': 'qom-set', 'arguments': {"
                    "'path': '/machine', 'property': 'vmgenid', "
                    "'value': 'auto'}}");
    g_assert_false(qdict_haskey(rsp, "error"));
    qobject_unref(rsp);
    qtest_memread(qts, 0x9fc00, a, sizeof(a));
    g_assert_true(memcmp(a, expected, sizeof(a)));
    qtest_quit(qts);
}

static void check_pm_timer(const char *machine, bool on)
{
    QTestState *qts = qtest_initf("-M pc-lite%s", machine);
    g_autoptr(GPtrArray) tables = read_tables(qts);
    Table *fadt = find_table(tables, "FACP");
    static const uint8_t none[12];
    uint32_t t0, t1;
    QDict *rsp;

    rsp = qtest_qmp(qts, "{ 'execute': 'qom-get', 'arguments': "
                    "{ 'path': '/machine', 'property': 'pm-timer' } }");
    g_assert_cmpstr(qdict_get_str(rsp, "return"), ==, on ? "on" : "off");
    qobject_unref(rsp);

    /* 3.579545 MHz: 10 ms of virtual time is about 35795 ticks. */
    t0 = qtest_inl(qts, 0x608);
    qtest_clock_step(qts, 10 * 1000 * 1000);
    t1 = qtest_inl(qts, 0x608);
    if (on) {
        g_assert_cmpint(t1 - t0, >=, 35790);
        g_assert_cmpint(t1 - t0, <=, 35800);
        g_assert_cmphex((uint32_t)ldl_le_p(fadt->data + 76), ==, 0x608);
        g_assert_cmpint(fadt->data[91], ==, 4);             /* PM_TMR_LEN */
        g_assert_true(ldl_le_p(fadt->data + 112) & (1 << 8)); /* 32-bit */
        g_assert_cmpint(fadt->data[208], ==, 1);            /* System I/O */
        g_assert_cmphex(ldq_le_p(fadt->data + 212), ==, 0x608);
    } else {
        g_assert_cmphex(t1, ==, t0);
        g_assert_cmphex((uint32_t)ldl_le_p(fadt->data + 76), ==, 0);
        g_assert_cmpint(fadt->data[91], ==, 0);
        g_assert_false(ldl_le_p(fadt->data + 112) & (1 << 8));
        g_assert_cmpmem(fadt->data + 208, 12, none, 12);   /* X_PM_TMR_BLK */
    }
    qtest_quit(qts);
}

/* pm-timer: auto is on without kvmclock (qtest, TCG). */
static void test_pm_timer(void)
{
    check_pm_timer("", true);
    check_pm_timer(",pm-timer=on", true);
    check_pm_timer(",pm-timer=off", false);
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

/*
 * -numa: the SRAT's vCPU and memory affinities.  @want lists the RAM
 * ranges in guest-physical order with their nodes; @cpu_node[i] is the
 * node of the vCPU with APIC ID i.  Memory ranges flagged hot-pluggable or
 * non-volatile (device memory, NVDIMMs) are checked by the caller.
 */
typedef struct {
    uint64_t base, len;
    uint32_t node;
} SratMem;

#define SRAT_MEM_ENABLED        (1 << 0)
#define SRAT_MEM_HOTPLUGGABLE   (1 << 1)
#define SRAT_MEM_NON_VOLATILE   (1 << 2)

static void check_srat(Table *srat, const SratMem *want, int n_mem,
                       const uint32_t *cpu_node, int n_cpu)
{
    uint32_t off, node, id, flags;
    int mem = 0, cpus = 0;

    g_assert_nonnull(srat);
    g_assert_cmpint(srat->data[8], ==, 1);                  /* revision */
    for (off = 48; off + 2 <= srat->len; off += srat->data[off + 1]) {
        const uint8_t *e = srat->data + off;

        g_assert_cmpint(e[1], >, 0);
        g_assert_cmpint(off + e[1], <=, srat->len);
        switch (e[0]) {
        case 0:                                 /* local APIC affinity */
            g_assert_cmpint(e[1], ==, 16);
            node = e[2] | e[9] << 8 | e[10] << 16 | e[11] << 24;
            id = e[3];
            flags = ldl_le_p(e + 4);
            break;
        case 2:                                 /* x2APIC affinity */
            g_assert_cmpint(e[1], ==, 24);
            node = ldl_le_p(e + 4);
            id = ldl_le_p(e + 8);
            flags = ldl_le_p(e + 12);
            break;
        case 1:                                 /* memory affinity */
            g_assert_cmpint(e[1], ==, 40);
            flags = ldl_le_p(e + 28);
            g_assert_true(flags & SRAT_MEM_ENABLED);
            if (flags & (SRAT_MEM_HOTPLUGGABLE | SRAT_MEM_NON_VOLATILE)) {
                continue;
            }
            g_assert_cmpint(mem, <, n_mem);
            g_assert_cmphex(ldq_le_p(e + 8), ==, want[mem].base);
            g_assert_cmphex(ldq_le_p(e + 16), ==, want[mem].len);
            g_assert_cmpuint(ldl_le_p(e + 2), ==, want[mem].node);
            mem++;
            continue;
        default:
            g_assert_not_reached();
        }
        g_assert_cmpuint(flags & 1, ==, 1);                /* enabled */
        g_assert_cmpuint(id, <, n_cpu);
        g_assert_cmpuint(node, ==, cpu_node[id]);
        cpus++;
    }
    g_assert_cmpint(mem, ==, n_mem);
    g_assert_cmpint(cpus, ==, n_cpu);
}

/* The SRAT's memory affinity entry with @flags at @base (NULL: none). */
static const uint8_t *srat_find_mem(Table *srat, uint32_t flags,
                                    uint64_t base)
{
    uint32_t off;

    for (off = 48; off + 2 <= srat->len; off += srat->data[off + 1]) {
        const uint8_t *e = srat->data + off;

        if (e[0] == 1 && ldl_le_p(e + 28) == flags &&
            ldq_le_p(e + 8) == base) {
            return e;
        }
    }
    return NULL;
}

/* One node with all the RAM (-m given or the default 128M). */
static void test_numa_one_node(void)
{
    static const SratMem want[] = { { 0, 128 * MiB, 0 } };
    static const uint32_t cpu_node[] = { 0, 0 };
    static const char *const mem[] = { "-m 128M", "" };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(mem); i++) {
        QTestState *qts = qtest_initf("-M pc-lite -smp 2 %s -object "
                                      "memory-backend-ram,id=r0,size=128M "
                                      "-numa node,memdev=r0", mem[i]);
        g_autoptr(GPtrArray) tables = read_tables(qts);

        check_srat(find_table(tables, "SRAT"), want, 1, cpu_node, 2);
        g_assert_null(find_table(tables, "SLIT"));
        qtest_quit(qts);
    }
}

/* Two nodes, a vCPU each: the RAM split at the nodes' boundary. */
static void test_numa_two_nodes(void)
{
    static const SratMem want[] = {
        { 0, 128 * MiB, 0 }, { 128 * MiB, 128 * MiB, 1 },
    };
    static const uint32_t cpu_node[] = { 0, 1 };
    QTestState *qts = qtest_init("-M pc-lite -smp 2 -m 256M "
                                 "-object memory-backend-ram,id=r0,size=128M "
                                 "-object memory-backend-ram,id=r1,size=128M "
                                 "-numa node,memdev=r0,cpus=0 "
                                 "-numa node,memdev=r1,cpus=1 "
                                 "-numa dist,src=0,dst=1,val=21");
    g_autoptr(GPtrArray) tables = read_tables(qts);
    Table *slit = find_table(tables, "SLIT");

    check_srat(find_table(tables, "SRAT"), want, 2, cpu_node, 2);
    /* SLIT: 2 localities, 10 to itself, 21 to the other. */
    g_assert_nonnull(slit);
    g_assert_cmpint(ldq_le_p(slit->data + 36), ==, 2);
    g_assert_cmpmem(slit->data + 44, 4, "\x0a\x15\x15\x0a", 4);
    qtest_quit(qts);
}

/*
 * RAM above 3 GiB: node 1 is split at the top of low memory and goes on
 * at 4 GiB.  The vCPUs in the other order (APIC ID 0 on node 1).
 */
static void test_numa_high(void)
{
    static const SratMem want[] = {
        { 0, 2 * GiB, 0 }, { 2 * GiB, 1 * GiB, 1 }, { 4 * GiB, 2 * GiB, 1 },
    };
    static const uint32_t cpu_node[] = { 1, 0 };
    QTestState *qts = qtest_init("-M pc-lite -smp 2 -m 5G "
                                 "-object memory-backend-ram,id=r0,size=2G "
                                 "-object memory-backend-ram,id=r1,size=3G "
                                 "-numa node,memdev=r0,cpus=1 "
                                 "-numa node,memdev=r1,cpus=0");
    g_autoptr(GPtrArray) tables = read_tables(qts);

    check_srat(find_table(tables, "SRAT"), want, 3, cpu_node, 2);
    /* The RAM at 4 GiB is node 1's from byte 1 GiB on. */
    qtest_writeq(qts, 4 * GiB, 0x1122334455667788ULL);
    g_assert_cmphex(qtest_readq(qts, 4 * GiB), ==, 0x1122334455667788ULL);
    qtest_quit(qts);
}

/* More than 255 vCPUs: x2APIC affinities for APIC IDs above 254. */
static void test_numa_x2apic(void)
{
    static const SratMem want[] = {
        { 0, 128 * MiB, 0 }, { 128 * MiB, 128 * MiB, 1 },
    };
    uint32_t cpu_node[300];
    QTestState *qts = qtest_init("-M pc-lite -smp 300 -m 256M "
                                 "-object memory-backend-ram,id=r0,size=128M "
                                 "-object memory-backend-ram,id=r1,size=128M "
                                 "-numa node,memdev=r0,cpus=0-149 "
                                 "-numa node,memdev=r1,cpus=150-299");
    g_autoptr(GPtrArray) tables = read_tables(qts);
    int i;

    for (i = 0; i < 300; i++) {
        cpu_node[i] = i >= 150;
    }
    check_srat(find_table(tables, "SRAT"), want, 2, cpu_node, 300);
    qtest_quit(qts);
}

/* NVDIMMs under -numa: a non-volatile range each, and device memory. */
static void test_numa_nvdimm(void)
{
    static const SratMem want[] = { { 0, 128 * MiB, 0 } };
    static const uint32_t cpu_node[] = { 0 };
    g_autofree char *path = NULL;
    int fd = g_file_open_tmp("pc-lite-nvdimm-XXXXXX", &path, NULL);
    g_autoptr(GPtrArray) tables = NULL;
    const uint8_t *nv, *hot;
    QTestState *qts;
    QDict *rsp;
    Table *srat;
    uint64_t addr;

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, 64 * MiB), ==, 0);
    close(fd);
    qts = qtest_initf("-M pc-lite,nvdimm=on -m 128M,slots=2,maxmem=1G "
                      "-object memory-backend-ram,id=r0,size=128M "
                      "-numa node,memdev=r0 "
                      "-object memory-backend-file,id=mem0,mem-path=%s,"
                      "size=64M,share=on -device nvdimm,memdev=mem0,id=nv0",
                      path);
    tables = read_tables(qts);
    srat = find_table(tables, "SRAT");
    check_srat(srat, want, 1, cpu_node, 1);
    rsp = qtest_qmp(qts, "{ 'execute': 'qom-get', 'arguments': "
                    "{ 'path': '/machine/peripheral/nv0', "
                    "'property': 'addr' } }");
    addr = qdict_get_int(rsp, "return");
    qobject_unref(rsp);
    nv = srat_find_mem(srat, SRAT_MEM_ENABLED | SRAT_MEM_NON_VOLATILE, addr);
    g_assert_nonnull(nv);
    g_assert_cmphex(ldq_le_p(nv + 16), ==, 64 * MiB);
    /* Device memory: from the first NVDIMM's address, maxmem - RAM long */
    hot = srat_find_mem(srat, SRAT_MEM_ENABLED | SRAT_MEM_HOTPLUGGABLE, addr);
    g_assert_nonnull(hot);
    g_assert_cmphex(ldq_le_p(hot + 16), >=, 1 * GiB - 128 * MiB);
    qtest_quit(qts);
    unlink(path);
}

/*
 * A NUMA configuration that does not add up: QEMU exits with status 1
 * and one error line, before the machine is built (no -kernel needed).
 */
static void test_numa_bad(void)
{
    static const struct {
        const char *args;
        const char *error;
    } cases[] = {
        { "-m 256M -object memory-backend-ram,id=r0,size=128M "
          "-numa node,memdev=r0",
          "total memory for NUMA nodes (0x8000000) should equal RAM size "
          "(0x10000000)" },
        { "-m 128M -object memory-backend-ram,id=r0,size=128M "
          "-object memory-backend-ram,id=r1,size=128M "
          "-numa node,memdev=r0 -numa node,memdev=r1",
          "total memory for NUMA nodes (0x10000000) should equal RAM size "
          "(0x8000000)" },
        { "-object memory-backend-ram,id=r0,size=256M -numa node,memdev=r0",
          "total memory for NUMA nodes (0x10000000) should equal RAM size "
          "(0x8000000)" },
        { "-m 128M -object memory-backend-ram,id=r0,size=128M "
          "-machine memory-backend=r0 -numa node,memdev=r0",
          "'-machine memory-backend' and '-numa memdev' properties are "
          "mutually exclusive" },
    };
    const char *qemu = getenv("QTEST_QEMU_BINARY");
    size_t i;

    g_assert_nonnull(qemu);
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *cmd = g_strdup_printf("%s -M pc-lite -display none "
                                               "-nodefaults %s", qemu,
                                               cases[i].args);
        g_autofree char *out = NULL, *err = NULL;
        g_auto(GStrv) argv = NULL;
        int status;

        g_assert_true(g_shell_parse_argv(cmd, NULL, &argv, NULL));
        g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL,
                                   NULL, &out, &err, &status, NULL));
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 1);
        g_assert_nonnull(strstr(err, cases[i].error));
        g_assert_nonnull(strchr(err, '\n'));
        g_assert_cmpstr(strchr(err, '\n') + 1, ==, "");    /* one line */
    }
}

/*
 * Expected tables, the upstream way (tests/qtest/bios-tables-test.c):
 * tests/data/acpi/x86/pc-lite/SIG holds the table SIG as the guest finds
 * it with one vCPU, SIG.VARIANT the table of another configuration where
 * it differs.  The DSDT and every table of the XSDT are compared (not the
 * RSDP and XSDT, which only hold addresses).  TEST_ACPI_REBUILD_AML=y
 * rewrites the files instead ("make rebuild-acpi" in pc-lite), into
 * $PC_LITE_ACPI_DATA (default: tests/data/acpi of the build tree).
 */
typedef struct {
    const char *variant;
    const char *args;
    bool nvdimm;
    const char *machine;
} AcpiVariant;

static const AcpiVariant acpi_variants[] = {
    { "", "-smp 1 -m 256M" },
    { ".pci", "-smp 1 -m 256M -device virtio-rng-pci,addr=3 "
      "-device pcie-root-port,id=rp,chassis=1,addr=4 "
      "-device virtio-rng-pci,bus=rp" },
    { ".nopmtimer", "-smp 1 -m 256M", false, ",pm-timer=off" },
    { ".smp4", "-smp 4 -m 256M" },
    { ".nvdimm", "-m 128M,slots=2,maxmem=1G", true },
    { ".numa", "-smp 2 -m 256M -object memory-backend-ram,id=r0,size=128M "
      "-object memory-backend-ram,id=r1,size=128M "
      "-numa node,memdev=r0,cpus=0 -numa node,memdev=r1,cpus=1 "
      "-numa dist,src=0,dst=1,val=21" },
};

static char *expected_file(const char *sig, const char *variant)
{
    const char *dir = getenv("PC_LITE_ACPI_DATA") ?: "tests/data/acpi";

    return g_strdup_printf("%s/x86/pc-lite/%.4s%s", dir, sig, variant);
}

/* Compare one table with its expected file; false (and why) if it differs */
static bool check_expected(const uint8_t *aml, uint32_t len,
                           const char *variant)
{
    g_autofree char *base = expected_file((const char *)aml, "");
    g_autofree char *file = expected_file((const char *)aml, variant);
    g_autofree char *tmpdir = NULL, *got = NULL, *exp = NULL;
    g_autofree char *want = NULL;
    gsize want_len = 0;
    uint32_t off;

    if (getenv("TEST_ACPI_REBUILD_AML")) {
        /* No variant file where the table is the same as the base one. */
        if (*variant && g_file_get_contents(base, &want, &want_len, NULL) &&
            want_len == len && !memcmp(want, aml, len)) {
            unlink(file);
        } else {
            g_assert_true(g_file_set_contents(file, (const char *)aml, len,
                                              NULL));
            fprintf(stderr, "pc-lite-test: wrote %s\n", file);
        }
        return true;
    }
    if (!g_file_test(file, G_FILE_TEST_EXISTS)) {
        g_free(file);
        file = g_strdup(base);
    }
    if (g_file_get_contents(file, &want, &want_len, NULL) &&
        want_len == len && !memcmp(want, aml, len)) {
        return true;
    }
    /* Both tables side by side, named for iasl -d (which drops ".aml"). */
    tmpdir = g_dir_make_tmp("pc-lite-acpi-XXXXXX", NULL);
    got = g_strdup_printf("%s/actual-%.4s.aml", tmpdir, aml);
    exp = g_strdup_printf("%s/expected-%.4s.aml", tmpdir, aml);
    g_assert_true(g_file_set_contents(got, (const char *)aml, len, NULL));
    g_assert_true(g_file_set_contents(exp, want ?: "", want_len, NULL));
    for (off = 0; off < MIN(len, want_len) &&
         (uint8_t)want[off] == aml[off]; off++) {
        /* first difference */
    }
    fprintf(stderr, "pc-lite-test: ACPI table %.4s (variant '%s') differs "
            "from %s: %u bytes, expected %" G_GSIZE_FORMAT ", first "
            "difference at offset %u.\n"
            "  Compare: cd %s && iasl -d expected-%.4s.aml actual-%.4s.aml"
            " && diff -u expected-%.4s.dsl actual-%.4s.dsl\n"
            "  If the change is intended, regenerate the expected tables "
            "with 'make rebuild-acpi' and commit them.\n",
            aml, variant, file, len, want_len, off, tmpdir, aml, aml, aml,
            aml);
    return false;
}

static void test_acpi_expected(gconstpointer data)
{
    const AcpiVariant *v = data;
    g_autofree char *nvdimm = NULL;
    g_autofree char *path = NULL;
    QTestState *qts;
    uint8_t rsdp[36];
    g_autofree uint8_t *xsdt = NULL;
    uint32_t xsdt_len, i;
    bool same = true;

    if (v->nvdimm) {
        int fd = g_file_open_tmp("pc-lite-nvdimm-XXXXXX", &path, NULL);

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(ftruncate(fd, 64 * MiB), ==, 0);
        close(fd);
        nvdimm = g_strdup_printf(",nvdimm=on -object memory-backend-file,"
                                 "id=mem0,mem-path=%s,size=64M,share=on "
                                 "-device nvdimm,memdev=mem0,id=nv0", path);
    }
    qts = qtest_initf("-M pc-lite%s%s %s", v->machine ?: "", nvdimm ?: "",
                      v->args);
    acpi_fetch_rsdp_table(qts, find_rsdp(qts), rsdp);
    acpi_fetch_table(qts, &xsdt, &xsdt_len, rsdp + 24, 8, "XSDT", true);
    for (i = 36; i + 8 <= xsdt_len; i += 8) {
        g_autofree uint8_t *aml = NULL, *dsdt = NULL;
        uint32_t len, dsdt_len;

        acpi_fetch_table(qts, &aml, &len, xsdt + i, 8, NULL, true);
        same &= check_expected(aml, len, v->variant);
        if (!memcmp(aml, "FACP", 4)) {
            acpi_fetch_table(qts, &dsdt, &dsdt_len, aml + 140, 8, "DSDT",
                             true);
            same &= check_expected(dsdt, dsdt_len, v->variant);
        }
    }
    qtest_quit(qts);
    if (path) {
        unlink(path);
    }
    g_assert_true(same);
}

/*
 * Boot data: what the loader writes for a kernel, read back from guest
 * memory after reset, and the boot CPU's registers.  The expected values
 * are spelled out from the Intel SDM and the Linux boot protocol, not
 * computed with the loader's helpers (hw/i386/x86-boot-data.h).
 */
#define KERNEL_PADDR    0x100000
#define KERNEL_ENTRY    (KERNEL_PADDR + 0x200)
#define GDT_ADDR        0x500
#define START_INFO_ADDR 0x6000
#define ZERO_PAGE_ADDR  0x7000
#define PGTABLE_ADDR    0x9000
#define CMDLINE_ADDR    0x20000

/* A minimal x86_64 ELF kernel, with the PVH entry note if @pvh. */
static char *write_kernel(bool pvh)
{
    struct QEMU_PACKED {
        Elf64_Ehdr eh;
        Elf64_Phdr ph[2];
        Elf64_Nhdr nh;
        char name[4];
        uint32_t desc;
    } k = {};
    g_autofree uint8_t *file = g_malloc0(4 * KiB);
    char *path;
    int fd = g_file_open_tmp("pc-lite-kernel-XXXXXX", &path, NULL);

    g_assert_cmpint(fd, >=, 0);
    memcpy(k.eh.e_ident, ELFMAG, SELFMAG);
    k.eh.e_ident[EI_CLASS] = ELFCLASS64;
    k.eh.e_ident[EI_DATA] = ELFDATA2LSB;
    k.eh.e_ident[EI_VERSION] = EV_CURRENT;
    k.eh.e_type = cpu_to_le16(ET_EXEC);
    k.eh.e_machine = cpu_to_le16(EM_X86_64);
    k.eh.e_version = cpu_to_le32(EV_CURRENT);
    k.eh.e_entry = cpu_to_le64(KERNEL_ENTRY);
    k.eh.e_phoff = cpu_to_le64(offsetof(typeof(k), ph));
    k.eh.e_ehsize = cpu_to_le16(sizeof(k.eh));
    k.eh.e_phentsize = cpu_to_le16(sizeof(Elf64_Phdr));
    k.eh.e_phnum = cpu_to_le16(pvh ? 2 : 1);
    k.ph[0].p_type = cpu_to_le32(PT_LOAD);
    k.ph[0].p_flags = cpu_to_le32(PF_R | PF_X);
    /* Linked at a kernel address and loaded at a physical one, as vmlinux */
    k.ph[0].p_paddr = cpu_to_le64(KERNEL_PADDR);
    k.ph[0].p_vaddr = cpu_to_le64(KERNEL_PADDR + 0xffffffff80000000ULL);
    k.ph[0].p_filesz = k.ph[0].p_memsz = cpu_to_le64(4 * KiB);
    k.ph[1].p_type = cpu_to_le32(PT_NOTE);
    k.ph[1].p_offset = cpu_to_le64(offsetof(typeof(k), nh));
    k.ph[1].p_filesz = cpu_to_le64(sizeof(k) - offsetof(typeof(k), nh));
    k.nh.n_namesz = cpu_to_le32(4);
    k.nh.n_descsz = cpu_to_le32(4);
    k.nh.n_type = cpu_to_le32(18);      /* XEN_ELFNOTE_PHYS32_ENTRY */
    memcpy(k.name, "Xen", 4);
    k.desc = cpu_to_le32(KERNEL_ENTRY);
    memcpy(file, &k, sizeof(k));
    g_assert_cmpint(write(fd, file, 4 * KiB), ==, 4 * KiB);
    close(fd);
    return path;
}

static void assert_regs(const char *regs, const char *const *want)
{
    for (; *want; want++) {
        if (!strstr(regs, *want)) {
            g_error("'%s' not in info registers:\n%s", *want, regs);
        }
    }
}

/* The e820 map pc-lite gives a 256 MiB guest: type per range. */
static void assert_e820(uint64_t addr, uint64_t size, uint32_t type, int i)
{
    static const struct {
        uint64_t addr, size;
        uint32_t type;
    } want[] = {
        { 0, 0x9fc00, 1 },                  /* E820_RAM */
        { 0x9fc00, 0xa0000 - 0x9fc00, 2 },  /* E820_RESERVED */
        { 0xe0000, 0x20000, 2 },            /* ACPI tables, reserved */
        { 0x100000, 256 * MiB - 0x100000, 1 },
        { ECAM_BASE, ECAM_SIZE, 2 },        /* PCIe ECAM, reserved */
    };

    g_assert_cmpint(i, <, G_N_ELEMENTS(want));
    g_assert_cmphex(addr, ==, want[i].addr);
    g_assert_cmphex(size, ==, want[i].size);
    g_assert_cmpuint(type, ==, want[i].type);
}

static void test_boot_data_64(void)
{
    g_autofree char *kernel = write_kernel(false);
    QTestState *qts = qtest_initf("-M pc-lite -m 256M -kernel %s "
                                  "-append console=ttyS0", kernel);
    g_autofree uint64_t *pt = g_new(uint64_t, 6 * 512);
    g_autofree uint8_t *zp = g_malloc(4 * KiB);
    g_autofree char *regs = qtest_hmp(qts, "info registers");
    static const char *const want_regs[] = {
        "RIP=0000000000100200", "RSI=0000000000007000",
        "CS =0010 0000000000000000 ffffffff 00a09b00 DPL=0 CS64 [-RA]",
        "DS =0018 0000000000000000 ffffffff 00c09300 DPL=0 DS   [-WA]",
        "SS =0018 0000000000000000 ffffffff 00c09300 DPL=0 DS   [-WA]",
        "TR =0000 0000000000000000 00000067 00008b00 DPL=0 TSS64-busy",
        "GDT=     0000000000000500 0000001f",
        "CR0=80000011", "CR3=0000000000009000", "CR4=00000020",
        "EFER=0000000000000500", NULL,
    };
    char cmdline[16];
    int i, n;

    /* GDT: null, unused, __BOOT_CS (64-bit code), __BOOT_DS (flat data) */
    g_assert_cmphex(qtest_readq(qts, GDT_ADDR), ==, 0);
    g_assert_cmphex(qtest_readq(qts, GDT_ADDR + 8), ==, 0);
    g_assert_cmphex(qtest_readq(qts, GDT_ADDR + 16), ==, 0x00af9b000000ffffULL);
    g_assert_cmphex(qtest_readq(qts, GDT_ADDR + 24), ==, 0x00cf93000000ffffULL);

    /* PML4 -> PDPT -> 4 page directories of 2 MiB pages: 0-4 GiB 1:1. */
    qtest_memread(qts, PGTABLE_ADDR, pt, 6 * 512 * sizeof(uint64_t));
    for (i = 0; i < 512; i++) {
        g_assert_cmphex(le64_to_cpu(pt[i]), ==, i ? 0 : PGTABLE_ADDR + 0x1003);
        g_assert_cmphex(le64_to_cpu(pt[512 + i]), ==,
                        i < 4 ? PGTABLE_ADDR + 0x2003 + i * 0x1000 : 0);
    }
    for (i = 0; i < 4 * 512; i++) {
        /* present, writable, 2 MiB page */
        g_assert_cmphex(le64_to_cpu(pt[1024 + i]), ==,
                        (uint64_t)i * 2 * MiB + 0x83);
    }

    /* boot_params: the header of a 2.15 loader, the command line, e820. */
    qtest_memread(qts, ZERO_PAGE_ADDR, zp, 4 * KiB);
    g_assert_cmphex(lduw_le_p(zp + 0x1fe), ==, 0xaa55);
    g_assert_cmphex((uint32_t)ldl_le_p(zp + 0x202), ==, 0x53726448);
    g_assert_cmphex(lduw_le_p(zp + 0x206), ==, 0x020f);
    g_assert_cmphex(zp[0x210], ==, 0xff);           /* type_of_loader */
    g_assert_cmphex(zp[0x211] & 1, ==, 1);          /* LOADED_HIGH */
    g_assert_cmphex((uint32_t)ldl_le_p(zp + 0x228), ==, CMDLINE_ADDR);
    g_assert_cmphex(ldq_le_p(zp + 0x070), >=, 0xe0000);    /* RSDP */
    qtest_memread(qts, CMDLINE_ADDR, cmdline, sizeof(cmdline));
    g_assert_cmpstr(cmdline, ==, "console=ttyS0");
    n = zp[0x1e8];
    g_assert_cmpint(n, ==, 5);
    for (i = 0; i < n; i++) {
        uint8_t *e = zp + 0x2d0 + i * 20;

        assert_e820(ldq_le_p(e), ldq_le_p(e + 8), ldl_le_p(e + 16), i);
    }

    assert_regs(regs, want_regs);
    qtest_quit(qts);
    unlink(kernel);
}

static void test_boot_data_pvh(void)
{
    g_autofree char *kernel = write_kernel(true);
    QTestState *qts = qtest_initf("-M pc-lite -m 256M -kernel %s", kernel);
    g_autofree char *regs = qtest_hmp(qts, "info registers");
    static const char *const want_regs[] = {
        "EIP=00100200", "EBX=00006000",
        "CS =0010 00000000 ffffffff 00c09b00 DPL=0 CS32 [-RA]",
        "DS =0018 00000000 ffffffff 00c09300 DPL=0 DS   [-WA]",
        "TR =0000 00000000 00000067 00008b00 DPL=0 TSS32-busy",
        "CR0=00000011", NULL,
    };
    uint64_t map;
    int i, n;

    /* hvm_start_info: magic, version 1, command line, memory map. */
    g_assert_cmphex(qtest_readl(qts, START_INFO_ADDR), ==, 0x336ec578);
    g_assert_cmpint(qtest_readl(qts, START_INFO_ADDR + 4), ==, 1);
    g_assert_cmphex(qtest_readq(qts, START_INFO_ADDR + 24), ==, CMDLINE_ADDR);
    map = qtest_readq(qts, START_INFO_ADDR + 40);
    n = qtest_readl(qts, START_INFO_ADDR + 48);
    g_assert_cmpint(n, ==, 5);
    for (i = 0; i < n; i++) {
        assert_e820(qtest_readq(qts, map + i * 24),
                    qtest_readq(qts, map + i * 24 + 8),
                    qtest_readl(qts, map + i * 24 + 16), i);
    }
    assert_regs(regs, want_regs);
    qtest_quit(qts);
    unlink(kernel);
}

/*
 * share-kernel: a kernel segment whose file offset and address are
 * page-aligned is mapped from the file copy-on-write (whole pages; the
 * rest copied), and the guest sees exactly the loaded image either way.
 */
#define SK_PADDR        0x1000000
#define SK_FILESZ       (3 * 4 * KiB + 100)
#define SK_MEMSZ        (6 * 4 * KiB)

/* A vmlinux-like ELF whose one segment is at file offset 4 KiB + @skew. */
static char *write_shared_kernel(unsigned skew, mode_t mode)
{
    size_t off = 4 * KiB + skew, i;
    g_autofree uint8_t *file = g_malloc0(off + SK_FILESZ + 4 * KiB);
    Elf64_Ehdr *eh = (Elf64_Ehdr *)file;
    Elf64_Phdr *ph = (Elf64_Phdr *)(file + sizeof(*eh));
    char *path;
    int fd = g_file_open_tmp("pc-lite-kernel-XXXXXX", &path, NULL);

    g_assert_cmpint(fd, >=, 0);
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_ident[EI_VERSION] = EV_CURRENT;
    eh->e_type = cpu_to_le16(ET_EXEC);
    eh->e_machine = cpu_to_le16(EM_X86_64);
    eh->e_version = cpu_to_le32(EV_CURRENT);
    eh->e_entry = cpu_to_le64(SK_PADDR);
    eh->e_phoff = cpu_to_le64(sizeof(*eh));
    eh->e_ehsize = cpu_to_le16(sizeof(*eh));
    eh->e_phentsize = cpu_to_le16(sizeof(*ph));
    eh->e_phnum = cpu_to_le16(1);
    ph->p_type = cpu_to_le32(PT_LOAD);
    ph->p_offset = cpu_to_le64(off);
    ph->p_paddr = cpu_to_le64(SK_PADDR);
    ph->p_vaddr = cpu_to_le64(SK_PADDR + 0xffffffff80000000ULL);
    ph->p_filesz = cpu_to_le64(SK_FILESZ);
    ph->p_memsz = cpu_to_le64(SK_MEMSZ);
    /* The segment's bytes, and other data after it in the file. */
    for (i = off; i < off + SK_FILESZ + 4 * KiB; i++) {
        file[i] = i * 7 + 1;
    }
    g_assert_cmpint(write(fd, file, off + SK_FILESZ + 4 * KiB), ==,
                    off + SK_FILESZ + 4 * KiB);
    g_assert_cmpint(fchmod(fd, mode), ==, 0);
    close(fd);
    return path;
}

/* Guest RAM at SK_PADDR holds the segment, then zeros up to its memsz. */
static void check_shared_kernel_image(QTestState *qts, const char *path,
                                      unsigned skew)
{
    g_autofree uint8_t *ram = g_malloc(SK_MEMSZ);
    g_autofree gchar *file = NULL;
    gsize len;
    size_t i;

    g_assert_true(g_file_get_contents(path, &file, &len, NULL));
    /* The file is as written: guest writes never reach it. */
    for (i = 4 * KiB + skew; i < len; i++) {
        g_assert_cmpint((uint8_t)file[i], ==, (uint8_t)(i * 7 + 1));
    }
    qtest_memread(qts, SK_PADDR, ram, SK_MEMSZ);
    g_assert_cmpmem(ram, SK_FILESZ, file + 4 * KiB + skew, SK_FILESZ);
    for (i = SK_FILESZ; i < SK_MEMSZ; i++) {
        g_assert_cmpint(ram[i], ==, 0);
    }
}

/* Whether QEMU maps @path (its /proc/PID/maps). */
static bool qemu_maps(QTestState *qts, const char *path)
{
    g_autofree char *file = g_strdup_printf("/proc/%d/maps", qtest_pid(qts));
    g_autofree gchar *maps = NULL;

    g_assert_true(g_file_get_contents(file, &maps, NULL, NULL));
    return strstr(maps, path) != NULL;
}

static void test_shared_kernel(void)
{
    static const struct {
        const char *opt;
        unsigned skew;
        mode_t mode;
        bool mapped;
    } cases[] = {
        { "on", 0, 0644, true },
        { "auto", 0, 0444, true },      /* nobody may write the file */
        { "auto", 0, 0644, false },
        { "off", 0, 0444, false },
        { "on", 16, 0444, false },      /* offset not page-aligned: copy */
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *kernel = write_shared_kernel(cases[i].skew,
                                                      cases[i].mode);
        QTestState *qts = qtest_initf("-M pc-lite,share-kernel=%s -m 256M "
                                      "-kernel %s", cases[i].opt, kernel);

        g_assert_cmpint(qemu_maps(qts, kernel), ==, cases[i].mapped);
        check_shared_kernel_image(qts, kernel, cases[i].skew);
        /* Guest writes stay in the VM and a reset loads the image again. */
        qtest_writeq(qts, SK_PADDR, 0x1122334455667788ULL);
        qtest_writeq(qts, SK_PADDR + SK_FILESZ + 8, 0x1122334455667788ULL);
        qtest_system_reset(qts);
        check_shared_kernel_image(qts, kernel, cases[i].skew);
        qtest_quit(qts);
        g_assert_cmpint(unlink(kernel), ==, 0);
    }
}

/*
 * -numa: guest RAM is a container of the nodes' backends, not one RAM
 * block.  The kernel is copied (never mapped from its file, even with
 * share-kernel=on) through the address space, here across the boundary of
 * two nodes (node 0 ends 8 KiB into the segment), at boot and at reset.
 */
static void test_numa_kernel(void)
{
    g_autofree char *kernel = write_shared_kernel(0, 0444);
    QTestState *qts = qtest_initf("-M pc-lite,share-kernel=on -m 256M "
                                  "-object memory-backend-ram,id=r0,"
                                  "size=%" PRIu64 " "
                                  "-object memory-backend-ram,id=r1,"
                                  "size=%" PRIu64 " "
                                  "-numa node,memdev=r0 -numa node,memdev=r1 "
                                  "-kernel %s",
                                  SK_PADDR + 8 * KiB,
                                  256 * MiB - SK_PADDR - 8 * KiB, kernel);

    g_assert_false(qemu_maps(qts, kernel));
    check_shared_kernel_image(qts, kernel, 0);
    qtest_writeq(qts, SK_PADDR + 8 * KiB, 0x1122334455667788ULL);
    qtest_system_reset(qts);
    check_shared_kernel_image(qts, kernel, 0);
    qtest_quit(qts);
    g_assert_cmpint(unlink(kernel), ==, 0);
}

/* The 64-bit boot protocol's kernel and boot data with two NUMA nodes. */
static void test_numa_boot_data(void)
{
    g_autofree char *kernel = write_kernel(false);
    g_autofree gchar *file = NULL;
    g_autofree uint8_t *ram = g_malloc(4 * KiB);
    QTestState *qts;
    gsize len;

    g_assert_true(g_file_get_contents(kernel, &file, &len, NULL));
    g_assert_cmpint(len, ==, 4 * KiB);
    qts = qtest_initf("-M pc-lite -m 256M -smp 2 "
                      "-object memory-backend-ram,id=r0,size=128M "
                      "-object memory-backend-ram,id=r1,size=128M "
                      "-numa node,memdev=r0,cpus=0 "
                      "-numa node,memdev=r1,cpus=1 -kernel %s", kernel);
    qtest_memread(qts, KERNEL_PADDR, ram, 4 * KiB);
    g_assert_cmpmem(ram, 4 * KiB, file, 4 * KiB);
    g_assert_cmphex(qtest_readq(qts, GDT_ADDR + 16), ==, 0x00af9b000000ffffULL);
    g_assert_cmphex(qtest_readw(qts, ZERO_PAGE_ADDR + 0x1fe), ==, 0xaa55);
    qtest_quit(qts);
    unlink(kernel);
}

int main(int argc, char **argv)
{
    int i;

    g_test_init(&argc, &argv, NULL);

    qtest_add_data_func("pc-lite/acpi/smp1", GINT_TO_POINTER(1),
                        test_acpi_tables);
    qtest_add_data_func("pc-lite/acpi/smp4", GINT_TO_POINTER(4),
                        test_acpi_tables);
    for (i = 0; i < G_N_ELEMENTS(acpi_variants); i++) {
        g_autofree char *name =
            g_strdup_printf("pc-lite/acpi/expected/%s",
                            acpi_variants[i].variant[0] ?
                            acpi_variants[i].variant + 1 : "base");

        qtest_add_data_func(name, &acpi_variants[i], test_acpi_expected);
    }
    qtest_add_func("pc-lite/acpi/x2apic", test_x2apic);
    qtest_add_func("pc-lite/acpi/prt", test_prt);
    qtest_add_func("pc-lite/serial", test_serial);
    qtest_add_func("pc-lite/isa-serial", test_isa_serial);
    qtest_add_func("pc-lite/no-legacy", test_no_legacy);
    qtest_add_func("pc-lite/mptable", test_mptable);
    qtest_add_func("pc-lite/marker-port", test_marker_port);
    qtest_add_func("pc-lite/rtc", test_rtc);
    qtest_add_func("pc-lite/vmgenid", test_vmgenid);
    qtest_add_func("pc-lite/vmgenid-runtime", test_vmgenid_runtime);
    qtest_add_func("pc-lite/pm-timer", test_pm_timer);
    qtest_add_func("pc-lite/nfit", test_nfit);
    qtest_add_func("pc-lite/boot-data/64-bit", test_boot_data_64);
    qtest_add_func("pc-lite/boot-data/pvh", test_boot_data_pvh);
    qtest_add_func("pc-lite/shared-kernel", test_shared_kernel);
    qtest_add_func("pc-lite/numa/one-node", test_numa_one_node);
    qtest_add_func("pc-lite/numa/two-nodes", test_numa_two_nodes);
    qtest_add_func("pc-lite/numa/high", test_numa_high);
    qtest_add_func("pc-lite/numa/x2apic", test_numa_x2apic);
    qtest_add_func("pc-lite/numa/nvdimm", test_numa_nvdimm);
    qtest_add_func("pc-lite/numa/bad", test_numa_bad);
    qtest_add_func("pc-lite/numa/kernel", test_numa_kernel);
    qtest_add_func("pc-lite/numa/boot-data", test_numa_boot_data);
    return g_test_run();
}
