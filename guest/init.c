/*
 * pc-lite guest init: report what the guest sees, then power off.
 *
 * Prints one line that tests and the benchmark parse:
 *
 *   PCLITE-REPORT uptime_ms=N cpus=N memtotal_kb=N acpi=SIG,SIG,...
 *                 kernel=REL pmem=N virtio=N pci=N clocksource=NAME
 *                 rootdax=0|1 write=ok|ERRNO|none log_errors=N time=N
 *
 * time is the wall clock in seconds since 1970 as the kernel set it at
 * boot (the CMOS RTC; kvmclock under KVM).
 *
 * log_errors counts kernel log lines that a clean boot must not have
 * ("ACPI Error", "ACPI BIOS Error", "[Firmware Bug]").
 *
 * What follows the report is chosen on the kernel command line (whole
 * words only):
 *   pclite.channel       run one command given on the command channel, a
 *                        virtio-serial port named org.pclite.channel.0
 *                        (protocol: docs/pc-lite.rst, "The command
 *                        channel"), then power off
 *   pclite.shell         an interactive /bin/sh on the console, then power
 *                        off when it exits
 *   pclite.action=idle   stay up doing nothing (memory measurements)
 *   pclite.action=reboot reboot instead of powering off
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <linux/random.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/*
 * Boot-phase markers, 16-bit writes of MARKER_BASE + code to port 0x510:
 * 1 init started, 2 report printed ("ready"), 3 command done.  pc-lite
 * stamps each write with the host clock (trace event pc_lite_marker); on
 * q35 and microvm the port is fw_cfg's selector, whose trace event
 * fw_cfg_select stamps the same write (0xb001 and 0xb002 are not fw_cfg
 * keys), so that one guest measures every machine type.
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
 * The kernel command line's word NAME or NAME=VALUE: 1 when present (the
 * value, possibly empty, copied into val), 0 when absent.  Whole words
 * only: "xpclite.shell" or "pclite.shellx" are not "pclite.shell".
 */
static int cmdline_param(const char *cmdline, const char *name, char *val,
                         size_t len)
{
    size_t n = strlen(name);
    const char *p = cmdline + strspn(cmdline, " \t\n");

    while (*p) {
        const char *end = p + strcspn(p, " \t\n");

        if ((size_t)(end - p) >= n && !strncmp(p, name, n) &&
            (p + n == end || p[n] == '=')) {
            if (val) {
                const char *v = p + n + (p + n < end);
                size_t vlen = MIN((size_t)(end - v), len - 1);

                memcpy(val, v, vlen);
                val[vlen] = '\0';
            }
            return 1;
        }
        p = end + strspn(end, " \t\n");
    }
    return 0;
}

/*
 * "pclite.write=PATH" on the command line: write a line to PATH and fsync
 * it (data-safety tests).  Returns "ok", an errno name, or "none".
 */
static const char *test_write(const char *cmdline)
{
    static char path[256];
    const char data[] = "written by the pc-lite guest\n";
    int fd;

    if (!cmdline_param(cmdline, "pclite.write", path, sizeof(path)) ||
        !path[0]) {
        return "none";
    }
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

/*
 * The command channel (docs/pc-lite.rst, "The command channel"): frames of
 * an 8-byte header (type, three zero bytes, payload length as 32-bit
 * little-endian) and the payload, on a virtio-serial port.
 *
 * Host to guest: 'T' wall-clock time (int64 seconds, uint32 nanoseconds),
 * 'G' a clone's VM generation ID (16 bytes, mixed into the RNG), 'A' one
 * argument (the first is the program, looked up in PATH), 'V' one
 * environment entry NAME=VALUE, 'D' the working directory, 'S' start
 * (uint32 flags: CHANNEL_STDIN), then 'I' standard input (empty: end of
 * input), 'K' a signal for the command (uint32), 'Q' done (power off).
 * Guest to host: 'h' hello (protocol version, uint32), 'p' started (pid,
 * uint32), 'o' standard output, 'e' standard error, 'x' exit (uint32
 * status, uint32 signal or 0).  The command writes only to pipes that
 * init frames, so it cannot forge a frame.
 */
#define CHANNEL_NAME     "org.pclite.channel.0"
#define CHANNEL_VERSION  1
#define CHANNEL_MAX      (1 << 20)      /* largest payload */
#define CHANNEL_STDIN    1u             /* 'S' flag: stdin comes as 'I' */
#define STDIN_BUF_MAX    (1 << 20)      /* then stop reading the channel */

struct frame {
    uint8_t type;
    uint32_t len;
    char *data;                         /* len bytes + a NUL */
};

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= n;
    }
    return 0;
}

static int send_frame(int fd, uint8_t type, const void *data, uint32_t len)
{
    uint8_t hdr[8] = { type, 0, 0, 0, len, len >> 8, len >> 16, len >> 24 };

    if (write_all(fd, hdr, sizeof(hdr)) < 0) {
        return -1;
    }
    return len ? write_all(fd, data, len) : 0;
}

static int send_u32s(int fd, uint8_t type, uint32_t a, uint32_t b, int n)
{
    uint8_t p[8] = { a, a >> 8, a >> 16, a >> 24, b, b >> 8, b >> 16, b >> 24 };

    return send_frame(fd, type, p, 4 * n);
}

static uint32_t get_u32(const char *p)
{
    const uint8_t *u = (const uint8_t *)p;

    return u[0] | u[1] << 8 | u[2] << 16 | (uint32_t)u[3] << 24;
}

/* Frames from a stream: bytes accumulate in buf until a frame is whole. */
struct reader {
    char *buf;
    size_t len, size;
};

/* 1: a frame in *f (valid until the next call), 0: need more, -1: bad. */
static int next_frame(struct reader *r, struct frame *f)
{
    static char *last;
    uint32_t len;

    free(last);
    last = NULL;
    if (r->len < 8) {
        return 0;
    }
    len = get_u32(r->buf + 4);
    if (len > CHANNEL_MAX || r->buf[1] || r->buf[2] || r->buf[3]) {
        return -1;
    }
    if (r->len < 8 + (size_t)len) {
        return 0;
    }
    f->type = r->buf[0];
    f->len = len;
    f->data = last = malloc(len + 1);
    memcpy(f->data, r->buf + 8, len);
    f->data[len] = '\0';
    memmove(r->buf, r->buf + 8 + len, r->len - 8 - len);
    r->len -= 8 + len;
    return 1;
}

/* Read what the channel has; 0 at end of stream, -1 on error. */
static int fill(struct reader *r, int fd)
{
    ssize_t n;

    if (r->size - r->len < 65536) {
        r->size = r->size * 2 + 65536;
        r->buf = realloc(r->buf, r->size);
    }
    do {
        n = read(fd, r->buf + r->len, r->size - r->len);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        r->len += n;
    }
    return n;
}

/* Wait for the next whole frame; 0 when the stream ended. */
static int read_frame(struct reader *r, int fd, struct frame *f)
{
    int ret;

    while (!(ret = next_frame(r, f))) {
        if (fill(r, fd) <= 0) {
            return 0;
        }
    }
    return ret;
}

/* The port named CHANNEL_NAME, waiting up to 10 s for it to appear. */
static int open_channel(void)
{
    int i;

    for (i = 0; i < 1000; i++) {
        DIR *d = opendir("/sys/class/virtio-ports");
        struct dirent *e;

        while (d && (e = readdir(d))) {
            char path[300], name[64];
            int fd;

            snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name",
                     e->d_name);
            if (e->d_name[0] == '.' ||
                read_file(path, name, sizeof(name)) <= 0) {
                continue;
            }
            name[strcspn(name, "\n")] = '\0';
            if (strcmp(name, CHANNEL_NAME)) {
                continue;
            }
            snprintf(path, sizeof(path), "/dev/%s", e->d_name);
            fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
            if (fd >= 0) {
                closedir(d);
                return fd;
            }
        }
        if (d) {
            closedir(d);
        }
        usleep(10000);
    }
    return -1;
}

struct command {
    char **argv, **envp;
    int argc, envc;
    char *cwd;
    uint32_t flags;
    char generation[16];        /* a clone's VM generation ID */
    int has_generation;
};

static void add_string(char ***list, int *n, const char *s)
{
    *list = realloc(*list, (*n + 2) * sizeof(**list));
    (*list)[(*n)++] = strdup(s);
    (*list)[*n] = NULL;
}

/* Read frames up to 'S'; 0 when the command is complete. */
static int read_command(struct reader *r, int fd, struct command *c)
{
    struct frame f;

    while (read_frame(r, fd, &f) > 0) {
        switch (f.type) {
        case 'T':
            if (f.len == 12) {
                struct timespec ts = {
                    .tv_sec = (int64_t)((uint64_t)get_u32(f.data + 4) << 32 |
                                        get_u32(f.data)),
                    .tv_nsec = get_u32(f.data + 8),
                };

                if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
                    perror("pc-lite init: clock_settime");
                }
            }
            break;
        case 'G':
            if (f.len == sizeof(c->generation)) {
                memcpy(c->generation, f.data, f.len);
                c->has_generation = 1;
            }
            break;
        case 'A':
            add_string(&c->argv, &c->argc, f.data);
            break;
        case 'V':
            add_string(&c->envp, &c->envc, f.data);
            break;
        case 'D':
            free(c->cwd);
            c->cwd = strdup(f.data);
            break;
        case 'S':
            c->flags = f.len >= 4 ? get_u32(f.data) : 0;
            return c->argc ? 0 : -1;
        default:
            break;              /* unknown frames are skipped */
        }
    }
    return -1;
}

/*
 * Reseed the kernel's RNG now, with @data mixed in first (may be NULL).
 * A template reseeds before it is saved, so that no reseed falls due in
 * its clones' first second; a clone reseeds with its new VM generation ID
 * before the command runs.  The kernel's vmgenid driver does the same
 * when the ACPI notification comes, but asynchronously: this is what
 * guarantees that the command's first random bytes are already the
 * clone's own.
 */
static void reseed(const void *data, size_t len)
{
    int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);

    if (fd < 0) {
        perror("pc-lite init: /dev/urandom");
        return;
    }
    if ((data && write(fd, data, len) != (ssize_t)len) ||
        ioctl(fd, RNDRESEEDCRNG) < 0) {
        perror("pc-lite init: reseeding the RNG");
    }
    close(fd);
}

/* In the child: become the command.  Never returns. */
static void exec_command(struct command *c, int in, int out, int err)
{
    static char *default_env[] = {
        "PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/root", "TERM=linux",
        NULL,
    };

    setsid();
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    if (chdir(c->cwd ? c->cwd : "/root") < 0 && (c->cwd || chdir("/") < 0)) {
        fprintf(stderr, "pc-lite init: cd %s: %s\n", c->cwd ? c->cwd : "/",
                strerror(errno));
        _exit(126);
    }
    environ = c->envp ? c->envp : default_env;
    signal(SIGPIPE, SIG_DFL);
    execvp(c->argv[0], c->argv);
    fprintf(stderr, "pc-lite init: %s: %s\n", c->argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
}

/* Copy one pipe's data into frames of @type; -1 when it is at its end. */
static int forward_output(int pipe_fd, int chan, uint8_t type)
{
    static char buf[65536];
    ssize_t n;

    do {
        n = read(pipe_fd, buf, sizeof(buf));
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        return send_frame(chan, type, buf, n) < 0 ? -1 : 0;
    }
    return n < 0 && errno == EAGAIN ? 0 : -1;
}

/* Forward what a pipe holds now, without waiting for more. */
static void drain_output(int pipe_fd, int chan, uint8_t type)
{
    struct pollfd p = { .fd = pipe_fd, .events = POLLIN };

    while (pipe_fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & POLLIN)) {
        if (forward_output(pipe_fd, chan, type) < 0) {
            return;
        }
    }
}

/*
 * The frames already read from the channel: stdin data into *buf (when
 * the command has a stdin pipe), its end, signals.  -1 on a bad frame.
 */
static int take_frames(struct reader *r, pid_t pid, int has_stdin,
                       char **buf, size_t *len, int *eof)
{
    struct frame f;
    int ret;

    while ((ret = next_frame(r, &f)) > 0) {
        if (f.type == 'I' && !f.len) {
            *eof = 1;
        } else if (f.type == 'I' && has_stdin) {
            *buf = realloc(*buf, *len + f.len);
            memcpy(*buf + *len, f.data, f.len);
            *len += f.len;
        } else if (f.type == 'K' && f.len == 4) {
            /* The command leads its own process group. */
            if (kill(-pid, get_u32(f.data)) < 0) {
                kill(pid, get_u32(f.data));
            }
        }
    }
    return ret;
}

/*
 * Run the command: stdout and stderr forwarded as frames, stdin and
 * signals from frames, until the command exits.  Returns after 'x'.
 */
static void run_session(int chan, struct reader *r, struct command *c)
{
    int out[2], err[2], in[2] = { -1, -1 }, sfd, status = 0, exited = 0;
    char *stdin_buf = NULL;
    size_t stdin_len = 0;
    int stdin_eof = !(c->flags & CHANNEL_STDIN), chan_open = 1;
    sigset_t mask;
    pid_t pid;

    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (!(c->flags & CHANNEL_STDIN)) {
        in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
        (c->flags & CHANNEL_STDIN ? pipe2(in, O_CLOEXEC) : in[0]) < 0) {
        perror("pc-lite init: pipe");
        send_u32s(chan, 'x', 126, 0, 2);
        return;
    }
    pid = fork();
    if (pid == 0) {
        sigprocmask(SIG_UNBLOCK, &mask, NULL);
        exec_command(c, in[0], out[1], err[1]);
    }
    close(out[1]);
    close(err[1]);
    close(in[0]);
    if (pid < 0) {
        perror("pc-lite init: fork");
        send_u32s(chan, 'x', 126, 0, 2);
        return;
    }
    if (in[1] >= 0) {
        fcntl(in[1], F_SETFL, O_NONBLOCK);
    }
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(err[0], F_SETFL, O_NONBLOCK);
    send_u32s(chan, 'p', pid, 0, 1);
    /* Input may have come with the command, read along with it. */
    take_frames(r, pid, in[1] >= 0, &stdin_buf, &stdin_len, &stdin_eof);

    while (!exited) {
        struct pollfd p[5];

        if (stdin_eof && !stdin_len && in[1] >= 0) {
            close(in[1]);
            in[1] = -1;
        }
        p[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
        p[1] = (struct pollfd){ .fd = out[0], .events = POLLIN };
        p[2] = (struct pollfd){ .fd = err[0], .events = POLLIN };
        p[3] = (struct pollfd){
            .fd = chan_open && stdin_len < STDIN_BUF_MAX ? chan : -1,
            .events = POLLIN,
        };
        p[4] = (struct pollfd){ .fd = stdin_len ? in[1] : -1,
                                .events = POLLOUT };
        if (poll(p, 5, -1) < 0) {
            continue;
        }
        if (p[1].revents && forward_output(out[0], chan, 'o') < 0) {
            close(out[0]);
            out[0] = -1;
        }
        if (p[2].revents && forward_output(err[0], chan, 'e') < 0) {
            close(err[0]);
            err[0] = -1;
        }
        if (p[3].revents && fill(r, chan) <= 0) {
            chan_open = 0;      /* the host went away: let the command end */
        }
        if (take_frames(r, pid, in[1] >= 0, &stdin_buf, &stdin_len,
                        &stdin_eof) < 0) {
            fprintf(stderr, "pc-lite init: bad frame on the channel\n");
            chan_open = 0;
        }
        if (p[4].revents & POLLOUT) {
            ssize_t n = write(in[1], stdin_buf, stdin_len);

            if (n > 0) {
                memmove(stdin_buf, stdin_buf + n, stdin_len - n);
                stdin_len -= n;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                stdin_len = 0;  /* the command closed its stdin */
                stdin_eof = 1;
            }
        } else if (p[4].revents) {
            stdin_len = 0;
            stdin_eof = 1;
        }
        if (p[0].revents) {
            struct signalfd_siginfo si;

            if (read(sfd, &si, sizeof(si)) < 0) {
                continue;
            }
            exited = waitpid(pid, &status, WNOHANG) == pid;
        }
    }
    /*
     * What the command wrote before it exited is in the pipes: forward it
     * (without waiting for processes it left behind, which may hold them).
     */
    drain_output(out[0], chan, 'o');
    drain_output(err[0], chan, 'e');
    send_u32s(chan, 'x', WIFEXITED(status) ? WEXITSTATUS(status) : 0,
              WIFSIGNALED(status) ? WTERMSIG(status) : 0, 2);
    free(stdin_buf);
    close(sfd);
    if (in[1] >= 0) {
        close(in[1]);
    }
    if (out[0] >= 0) {
        close(out[0]);
    }
    if (err[0] >= 0) {
        close(err[0]);
    }
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
}

/*
 * Say hello, take one command, run it, and wait for the host's 'Q' (all
 * output received) before init powers the VM off.  A template is saved
 * while init waits here for its command: each clone resumes in read().
 */
static void channel_main(void)
{
    struct reader r = { 0 };
    struct command c = { 0 };
    struct frame f;
    struct statvfs vfs;
    int chan = open_channel();

    if (chan < 0) {
        fprintf(stderr, "pc-lite init: no %s port\n", CHANNEL_NAME);
        return;
    }
    /* A read-only root (templates and their clones): /tmp in RAM. */
    if (statvfs("/", &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
        mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    }
    /*
     * Commands get a seeded RNG (the VM has a virtio-rng), and so does a
     * template: its clones then differ by their VM generation ID alone.
     */
    if (getrandom(&vfs, 1, 0) < 0) {
        perror("pc-lite init: getrandom");
    }
    reseed(NULL, 0);
    send_u32s(chan, 'h', CHANNEL_VERSION, 0, 1);
    if (read_command(&r, chan, &c) < 0) {
        fprintf(stderr, "pc-lite init: no command on the channel\n");
        return;
    }
    if (c.has_generation) {
        reseed(c.generation, sizeof(c.generation));
    }
    run_session(chan, &r, &c);
    do {
        if (read_frame(&r, chan, &f) <= 0) {
            break;
        }
    } while (f.type != 'Q');
    close(chan);
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
    int cpus = -1;
    char action[32] = "";

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
           "rootdax=%d write=%s log_errors=%d time=%lld\n",
           uptime * 1000, cpus, meminfo_kb("MemTotal"), acpi, uts.release,
           count_pmem(), count_dir("/sys/bus/virtio/devices"),
           count_dir("/sys/bus/pci/devices"), clock, root_dax(),
           test_write(cmdline), count_log_errors(), (long long)time(NULL));
    fflush(stdout);
    marker(2);

    cmdline_param(cmdline, "pclite.action", action, sizeof(action));
    if (cmdline_param(cmdline, "pclite.channel", NULL, 0)) {
        channel_main();
        marker(3);
    } else if (cmdline_param(cmdline, "pclite.shell", NULL, 0)) {
        printf("pc-lite init: the shell exited with status %d\n",
               run_shell());
    }
    fflush(stdout);
    /* hvc consoles write from a kernel thread: let them drain first. */
    tcdrain(STDOUT_FILENO);
    sync();
    /*
     * A clean journal, so that the next boot can mount the image
     * read-only (no replay); fails harmlessly on an initramfs root.
     */
    if (!strcmp(action, "idle")) {
        for (;;) {
            pause();
        }
    }
    mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL);
    if (!strcmp(action, "reboot")) {
        reboot(RB_AUTOBOOT);
    } else {
        reboot(RB_POWER_OFF);
    }
    fprintf(stderr, "pc-lite init: reboot: %s\n", strerror(errno));
    for (;;) {
        pause();
    }
}
