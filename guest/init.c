/*
 * pc-lite guest init: report what the guest sees, then power off.
 *
 * Prints one line that tests and the benchmark parse:
 *
 *   PCLITE-REPORT uptime_ms=N cpus=N memtotal_kb=N acpi=SIG,SIG,...
 *                 kernel=REL pmem=N virtio=N pci=N clocksource=NAME
 *                 rootdax=0|1 write=ok|ERRNO|none log_errors=N
 *
 * log_errors counts kernel log lines that a clean boot must not have
 * ("ACPI Error", "ACPI BIOS Error", "[Firmware Bug]").
 *
 * What follows the report is chosen on the kernel command line:
 *   pclite.cmd=HEX       run "/bin/sh -c CMD" (CMD hex-encoded, so that it
 *                        survives the command line's quoting), its stdout
 *                        on /dev/hvc1 and stderr on /dev/hvc2 when those
 *                        exist (else the console), then print
 *                        "PCLITE-EXIT status=N" and power off
 *   pclite.shell         an interactive /bin/sh on the console, then power
 *                        off when it exits
 *   pclite.action=idle   stay up doing nothing (memory measurements)
 *   pclite.action=reboot reboot instead of powering off
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/*
 * Boot-phase markers, 16-bit writes of MARKER_BASE + code to port 0x510:
 * 1 init started, 2 report printed ("ready"), 3 command done.  pc-lite stamps each write
 * with the host clock (trace event pc_lite_marker); on q35 and microvm the
 * port is fw_cfg's selector, whose trace event fw_cfg_select stamps the
 * same write (0xb001 and 0xb002 are not fw_cfg keys), so that one guest
 * measures every machine type.
 */
#define MARKER_PORT 0x510
#define MARKER_BASE 0xb000

static void marker(unsigned int code)
{
    static int ok = -1;

    if (ok < 0) {
        ok = ioperm(MARKER_PORT, 2, 1) == 0;
    }
    if (ok) {
        outw(MARKER_BASE + code, MARKER_PORT);
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

/*
 * The kernel opens /dev/console for init before a virtio console (hvc0)
 * may have registered: the ports appear asynchronously.  Wait for it.
 */
static void open_console(void)
{
    int i, fd;

    if (fcntl(STDOUT_FILENO, F_GETFD) >= 0) {
        return;
    }
    for (i = 0; i < 500; i++) {
        fd = open("/dev/console", O_RDWR | O_NOCTTY);
        if (fd >= 0) {
            dup2(fd, STDIN_FILENO);
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            if (fd > STDERR_FILENO) {
                close(fd);
            }
            return;
        }
        usleep(10000);
    }
}

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

/*
 * "pclite.cmd=HEX" on the command line, decoded into buf.  Returns 1 when
 * present, 0 when absent and -1 when malformed or too long.
 */
static int command_arg(const char *cmdline, char *buf, size_t len)
{
    const char *p = strstr(cmdline, "pclite.cmd=");
    size_t n = 0;

    if (!p) {
        return 0;
    }
    for (p += strlen("pclite.cmd="); isxdigit(p[0]) && isxdigit(p[1]);
         p += 2) {
        if (n + 1 >= len) {
            return -1;
        }
        buf[n++] = hexval(p[0]) << 4 | hexval(p[1]);
    }
    buf[n] = '\0';
    return n && (!*p || isspace(*p)) ? 1 : -1;
}

/* A virtio console port for the command's output, else @fallback. */
static int open_output(const char *dev, int fallback)
{
    int fd = open(dev, O_WRONLY | O_NOCTTY);

    return fd < 0 ? dup(fallback) : fd;
}

static int wait_child(pid_t pid)
{
    int status;

    if (pid < 0) {
        fprintf(stderr, "pc-lite init: fork: %s\n", strerror(errno));
        return 126;
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return 126;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void shell_env(void)
{
    setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin", 1);
    setenv("HOME", "/root", 1);
    setenv("TERM", "linux", 0);
    if (chdir("/root") < 0 && chdir("/") < 0) {
        perror("pc-lite init: chdir");
    }
}

/* Run "/bin/sh -c cmd"; its exit status (128 + signal when killed). */
static int run_command(const char *cmd)
{
    pid_t pid = fork();

    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open_output("/dev/hvc1", STDOUT_FILENO);
        int err = open_output("/dev/hvc2", STDERR_FILENO);

        dup2(in, STDIN_FILENO);
        dup2(out, STDOUT_FILENO);
        dup2(err, STDERR_FILENO);
        shell_env();
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        fprintf(stderr, "pc-lite init: /bin/sh: %s\n", strerror(errno));
        _exit(127);
    }
    return wait_child(pid);
}

/* An interactive shell with the console's tty as its controlling tty. */
static int run_shell(void)
{
    char tty[64] = "console", path[80];
    pid_t pid;

    if (read_file("/sys/class/tty/console/active", tty, sizeof(tty)) > 0) {
        tty[strcspn(tty, " \n")] = '\0';
    }
    snprintf(path, sizeof(path), "/dev/%s", tty);
    pid = fork();
    if (pid == 0) {
        int fd;

        setsid();
        fd = open(path, O_RDWR);
        if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) < 0) {
            fprintf(stderr, "pc-lite init: %s: %s\n", path, strerror(errno));
            _exit(126);
        }
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        shell_env();
        execl("/bin/sh", "-sh", (char *)NULL);
        fprintf(stderr, "pc-lite init: /bin/sh: %s\n", strerror(errno));
        _exit(127);
    }
    return wait_child(pid);
}

int main(void)
{
    static char buf[4096], acpi[1024], cmdline[4096], clock[64] = "none";
    struct utsname uts;
    double uptime = -1;
    int cpus = -1, status;

    marker(1);
    mount("proc", "/proc", "proc", 0, NULL);
    mount("sysfs", "/sys", "sysfs", 0, NULL);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    open_console();

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

    switch (command_arg(cmdline, buf, sizeof(buf))) {
    case 1:
        status = run_command(buf);
        marker(3);
        printf("PCLITE-EXIT status=%d\n", status);
        break;
    case -1:
        printf("pc-lite init: pclite.cmd= is not a hex string\n");
        printf("PCLITE-EXIT status=%d\n", 125);
        break;
    default:
        if (strstr(cmdline, "pclite.shell")) {
            printf("PCLITE-EXIT status=%d\n", run_shell());
        }
    }
    fflush(stdout);
    /* hvc consoles write from a kernel thread: let them drain first. */
    tcdrain(STDOUT_FILENO);
    sync();
    /*
     * A clean journal, so that the next boot can mount the image
     * read-only (no replay); fails harmlessly on an initramfs root.
     */
    if (!strstr(cmdline, "pclite.action=idle")) {
        mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL);
    }

    if (strstr(cmdline, "pclite.action=idle")) {
        for (;;) {
            pause();
        }
    }
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
