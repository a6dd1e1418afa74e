/*
 * pc-lite guest init: report what the guest sees, then power off.
 *
 * Prints one line that tests and the benchmark parse:
 *
 *   PCLITE-REPORT uptime_ms=N cpus=N memtotal_kb=N acpi=SIG,SIG,...
 *                 kernel=REL pmem=N virtio=N pci=N clocksource=NAME
 *                 rootdax=0|1 write=ok|ERRNO|none log_errors=N
 *
 * then powers the machine off (or reboots it when the kernel command line
 * holds "pclite.action=reboot").  log_errors counts kernel log lines that
 * a clean boot must not have ("ACPI Error", "ACPI BIOS Error",
 * "[Firmware Bug]").
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

/*
 * Boot-phase markers: pc-lite stamps each write to this port with the host
 * clock (trace event pc_lite_marker).  1: init started, 2: report printed.
 */
#define MARKER_PORT 0x510

static void marker(unsigned int code)
{
    static int ok = -1;

    if (ok < 0) {
        ok = ioperm(MARKER_PORT, 4, 1) == 0;
    }
    if (ok) {
        outl(code, MARKER_PORT);
    }
}

static int read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY);
    ssize_t n;

    if (fd < 0) {
        return -1;
    }
    n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0) {
        return -1;
    }
    buf[n] = '\0';
    return n;
}

/* Count CPUs in a kernel cpulist such as "0-3,6". */
static int count_cpulist(const char *s)
{
    int count = 0;

    while (*s && *s != '\n') {
        char *end;
        long a = strtol(s, &end, 10);
        long b = a;

        if (end == s) {
            break;
        }
        if (*end == '-') {
            s = end + 1;
            b = strtol(s, &end, 10);
        }
        count += b - a + 1;
        s = *end == ',' ? end + 1 : end;
    }
    return count;
}

static long meminfo_kb(const char *key)
{
    static char buf[8192];
    char *p;

    if (read_file("/proc/meminfo", buf, sizeof(buf)) < 0) {
        return -1;
    }
    p = strstr(buf, key);
    return p ? strtol(p + strlen(key) + 1, NULL, 10) : -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_acpi_tables(char *out, size_t len)
{
    char *names[64];
    int n = 0, i;
    DIR *d = opendir("/sys/firmware/acpi/tables");
    struct dirent *e;

    out[0] = '\0';
    if (!d) {
        snprintf(out, len, "none");
        return;
    }
    while ((e = readdir(d)) && n < 64) {
        if (e->d_name[0] == '.' || e->d_type == DT_DIR) {
            continue;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_str);
    for (i = 0; i < n; i++) {
        if (strlen(out) + strlen(names[i]) + 2 < len) {
            strcat(out, i ? "," : "");
            strcat(out, names[i]);
        }
        free(names[i]);
    }
    if (!n) {
        snprintf(out, len, "none");
    }
}

static int count_log_errors(void)
{
    static const char *const bad[] = {
        "ACPI Error", "ACPI BIOS Error", "[Firmware Bug]",
    };
    int size = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
    char *buf, *line;
    int n, count = 0;
    size_t i;

    if (size <= 0) {
        return -1;
    }
    buf = malloc(size + 1);
    n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, size);
    if (n < 0) {
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            if (strstr(line, bad[i])) {
                count++;
                break;
            }
        }
    }
    free(buf);
    return count;
}

static int count_pmem(void)
{
    char path[32];
    int n = 0;

    for (;;) {
        struct stat st;

        snprintf(path, sizeof(path), "/dev/pmem%d", n);
        if (stat(path, &st) < 0) {
            return n;
        }
        n++;
    }
}

/* 1 when / is mounted with DAX (ext4 shows "dax" or "dax=always"). */
static int root_dax(void)
{
    static char buf[8192];
    char *line;

    if (read_file("/proc/mounts", buf, sizeof(buf)) < 0) {
        return 0;
    }
    for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char dev[256], dir[256], type[64], opts[1024];

        if (sscanf(line, "%255s %255s %63s %1023s", dev, dir, type,
                   opts) == 4 && !strcmp(dir, "/")) {
            return strstr(opts, "dax") != NULL;
        }
    }
    return 0;
}

static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;

    if (!d) {
        return 0;
    }
    while ((e = readdir(d))) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

/*
 * "pclite.write=PATH" on the command line: write a line to PATH and fsync
 * it (data-safety tests).  Returns "ok", an errno name, or "none".
 */
static const char *test_write(const char *cmdline)
{
    static char path[256];
    const char *p = strstr(cmdline, "pclite.write=");
    const char data[] = "written by the pc-lite guest\n";
    int fd;

    if (!p) {
        return "none";
    }
    sscanf(p + strlen("pclite.write="), "%255s", path);
    fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0) {
        return strerrorname_np(errno);
    }
    if (write(fd, data, sizeof(data) - 1) != sizeof(data) - 1 ||
        fsync(fd) < 0) {
        close(fd);
        return strerrorname_np(errno);
    }
    return close(fd) < 0 ? strerrorname_np(errno) : "ok";
}

int main(void)
{
    static char buf[4096], acpi[1024], cmdline[4096], clock[64] = "none";
    struct utsname uts;
    double uptime = -1;
    int cpus = -1;

    marker(1);
    mount("proc", "/proc", "proc", 0, NULL);
    mount("sysfs", "/sys", "sysfs", 0, NULL);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);

    if (read_file("/proc/uptime", buf, sizeof(buf)) > 0) {
        uptime = strtod(buf, NULL);
    }
    if (read_file("/sys/devices/system/cpu/online", buf, sizeof(buf)) > 0) {
        cpus = count_cpulist(buf);
    }
    list_acpi_tables(acpi, sizeof(acpi));
    uname(&uts);
    if (read_file("/sys/devices/system/clocksource/clocksource0/"
                  "current_clocksource", clock, sizeof(clock)) > 0) {
        clock[strcspn(clock, "\n")] = '\0';
    }
    if (read_file("/proc/cmdline", cmdline, sizeof(cmdline)) < 0) {
        cmdline[0] = '\0';
    }

    printf("PCLITE-REPORT uptime_ms=%.0f cpus=%d memtotal_kb=%ld acpi=%s "
           "kernel=%s pmem=%d virtio=%d pci=%d clocksource=%s "
           "rootdax=%d write=%s log_errors=%d\n",
           uptime * 1000, cpus, meminfo_kb("MemTotal"), acpi, uts.release,
           count_pmem(), count_dir("/sys/bus/virtio/devices"),
           count_dir("/sys/bus/pci/devices"), clock, root_dax(),
           test_write(cmdline), count_log_errors());
    fflush(stdout);
    marker(2);
    sync();

    if (strstr(cmdline, "pclite.action=reboot")) {
        reboot(RB_AUTOBOOT);
    } else {
        reboot(RB_POWER_OFF);
    }
    fprintf(stderr, "pc-lite init: reboot: %s\n", strerror(errno));
    for (;;) {
        pause();
    }
}
