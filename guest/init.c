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
 * While init waits (a command, the shell, idle), the ACPI power button
 * (QMP system_powerdown, virsh shutdown) ends every process and powers
 * off as init does: file systems synced, the root remounted read-only.
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
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/random.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "../proto/channel.h"
#include "container.h"

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
        long a, b;
        int n;

        if (sscanf(s, "%ld%n", &a, &n) != 1) {
            break;
        }
        s += n;
        b = a;
        if (*s == '-' && sscanf(s + 1, "%ld%n", &b, &n) == 1) {
            s += 1 + n;
        }
        count += b - a + 1;
        s += *s == ',';
    }
    return count;
}

static long meminfo_kb(const char *key)
{
    static char buf[8192];
    long kb = -1;
    char *p;

    if (read_file("/proc/meminfo", buf, sizeof(buf)) < 0) {
        return -1;
    }
    p = strstr(buf, key);
    if (p && sscanf(p + strlen(key) + 1, "%ld", &kb) != 1) {
        kb = -1;
    }
    return kb;
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

/* The symbol of an errno value the data-safety tests expect, or E<n>. */
static const char *errno_name(int err)
{
    static const struct {
        int err;
        const char *name;
    } names[] = {
        { EROFS, "EROFS" }, { EACCES, "EACCES" }, { EPERM, "EPERM" },
        { ENOSPC, "ENOSPC" }, { EIO, "EIO" }, { ENOENT, "ENOENT" },
        { EDQUOT, "EDQUOT" }, { EFBIG, "EFBIG" },
    };
    static char buf[16];
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].err == err) {
            return names[i].name;
        }
    }
    snprintf(buf, sizeof(buf), "E%d", err);
    return buf;
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
        return errno_name(errno);
    }
    if (write(fd, data, sizeof(data) - 1) != sizeof(data) - 1 ||
        fsync(fd) < 0) {
        close(fd);
        return errno_name(errno);
    }
    return close(fd) < 0 ? errno_name(errno) : "ok";
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
 * The command channel (docs/pc-lite.rst, "The command channel"; the
 * framing is in channel.h, shared with pc-lite-oci's monitor).
 *
 * Host to guest: 'T' wall-clock time (int64 seconds, uint32 nanoseconds),
 * 'G' a clone's VM generation ID (16 bytes, mixed into the RNG); for a
 * container 'C' (flags) its root, 'M' a mount, 'H' the hostname, 'P'
 * set it up now (answered by 'r'); per session 'A' one argument (the
 * first is the program, looked up in PATH), 'V' one environment entry
 * NAME=VALUE, 'D' the working directory, 'U' user, groups and umask, 'R'
 * an rlimit, 'W' a terminal's size, 'S' start (uint32 flags:
 * CHANNEL_STDIN, CHANNEL_TTY), then 'I' standard input (empty: end of
 * input), 'K' a signal (uint32, uint32 flags); 'Y' list the processes;
 * 'Q' done (power off).
 * Guest to host: 'h' hello (protocol version, uint32), 'r' the container
 * is ready (empty) or why not, and per session 'p' started (pid,
 * uint32), 'o' standard output, 'e' standard error, 'x' exit (uint32
 * status, uint32 signal or 0); 'y' the processes ("PID UID COMMAND"
 * lines: every process but init and the kernel's threads).  Commands
 * write only to pipes (or a terminal) that init frames, so they cannot
 * forge a frame.  The types' names are proto/channel.h's.
 */
#define STDIN_BUF_MAX    (1 << 20)      /* then stop reading the channel */

struct session {
    char **argv, **envp;
    int argc, envc;
    char *cwd;
    uint32_t flags;
    struct container_user user;
    struct winsize ws;
    pid_t pid;                  /* > 0 once started */
    int done;
    int in, out, err;           /* our ends: -1 when closed */
    char *stdin_buf;
    size_t stdin_len;
    int stdin_eof;
};

static struct session sessions[CHANNEL_SESSIONS];
static int container;           /* 'C' came: commands run in the container */
static int nics;                /* 'N' frames so far */
static uint32_t container_flags;

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

static void add_string(char ***list, int *n, const char *s)
{
    *list = realloc(*list, (*n + 2) * sizeof(**list));
    (*list)[(*n)++] = strdup(s);
    (*list)[*n] = NULL;
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

/* In the child: become session s's command.  Never returns. */
static void exec_command(struct session *s, int in, int out, int err,
                         const char *tty)
{
    static char *default_env[] = {
        "PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/root", "TERM=linux",
        NULL,
    };
    const char *cwd = s->cwd ? s->cwd : container ? "/" : "/root";

    setsid();
    if (tty) {
        /*
         * The terminal's other end from its master (s->out), whichever
         * devpts instance it is in; by name on kernels without it.
         */
        in = ioctl(s->out, TIOCGPTPEER, O_RDWR);
        if (in < 0) {
            in = open(tty, O_RDWR);
        }
        if (in < 0 || ioctl(in, TIOCSCTTY, 0) < 0) {
            _exit(126);
        }
        out = err = in;
    }
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    if (container && container_enter(&s->user) < 0) {
        fprintf(stderr, "pc-lite init: entering the container: %s\n",
                strerror(errno));
        _exit(126);
    }
    if (chdir(cwd) < 0 && (s->cwd || chdir("/") < 0)) {
        fprintf(stderr, "pc-lite init: cd %s: %s\n", cwd, strerror(errno));
        _exit(126);
    }
    environ = s->envp ? s->envp : default_env;
    signal(SIGPIPE, SIG_DFL);
    execvp(s->argv[0], s->argv);
    fprintf(stderr, "pc-lite init: %s: %s\n", s->argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
}

/* Copy what fd holds into frames of @type; -1 when it is at its end. */
static int forward_output(int fd, int chan, uint8_t type, int id)
{
    static char buf[65536];
    ssize_t n;

    do {
        n = read(fd, buf, sizeof(buf));
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        return chan_send(chan, type, id, buf, n) < 0 ? -1 : 0;
    }
    return n < 0 && errno == EAGAIN ? 0 : -1;
}

/* Forward what fd holds now, without waiting for more. */
static void drain_output(int fd, int chan, uint8_t type, int id)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };

    while (fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & POLLIN)) {
        if (forward_output(fd, chan, type, id) < 0) {
            return;
        }
    }
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void session_failed(int chan, int id, const char *what)
{
    char msg[300];
    uint32_t x[2] = { 126, 0 };

    snprintf(msg, sizeof(msg), "pc-lite init: %s: %s\n", what,
             strerror(errno));
    chan_send(chan, FRAME_ERROR, id, msg, strlen(msg));
    chan_send_u32s(chan, FRAME_EXIT, id, x, 2);
    sessions[id].done = 1;
}

/* Start session id's command: pipes or a terminal, then fork. */
static void start_session(int chan, int id)
{
    struct session *s = &sessions[id];
    int out[2] = { -1, -1 }, err[2] = { -1, -1 }, in[2] = { -1, -1 };
    const char *tty = NULL;
    uint32_t pid;

    s->in = s->out = s->err = -1;
    if (!s->argc) {
        errno = EINVAL;
        session_failed(chan, id, "no command");
        return;
    }
    if (s->flags & CHANNEL_TTY) {
        /*
         * In a container with a /dev/pts of its own (engines mount a new
         * devpts instance), its terminal comes from there, so that the
         * command finds it by name (tty, ttyname()).
         */
        int m = container ? open(CONTAINER_ROOT "/dev/pts/ptmx",
                                 O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;

        if (m < 0) {
            m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
            if (m >= 0 && grantpt(m) < 0) {
                close(m);
                m = -1;
            }
        }
        if (m < 0 || unlockpt(m) < 0) {
            session_failed(chan, id, "a terminal");
            return;
        }
        if (s->ws.ws_row) {
            ioctl(m, TIOCSWINSZ, &s->ws);
        }
        tty = ptsname(m);
        s->out = m;
        s->in = fcntl(m, F_DUPFD_CLOEXEC, 0);
        s->stdin_eof = !(s->flags & CHANNEL_STDIN);
    } else {
        int ok = pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0;

        if (ok && (s->flags & CHANNEL_STDIN)) {
            ok = pipe2(in, O_CLOEXEC) == 0;
        } else if (ok) {
            in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
            ok = in[0] >= 0;
        }
        if (!ok) {
            session_failed(chan, id, "pipe");
            return;
        }
        s->out = out[0];
        s->err = err[0];
        s->in = in[1];
        s->stdin_eof = !(s->flags & CHANNEL_STDIN);
    }
    s->pid = fork();
    if (s->pid == 0) {
        sigset_t none;

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        exec_command(s, in[0], out[1], err[1], tty);
    }
    close_fd(&out[1]);
    close_fd(&err[1]);
    close_fd(&in[0]);
    if (s->pid < 0) {
        close_fd(&s->in);
        close_fd(&s->out);
        close_fd(&s->err);
        session_failed(chan, id, "fork");
        return;
    }
    if (s->in >= 0) {
        fcntl(s->in, F_SETFL, O_NONBLOCK);
    }
    fcntl(s->out, F_SETFL, O_NONBLOCK);
    if (s->err >= 0) {
        fcntl(s->err, F_SETFL, O_NONBLOCK);
    }
    pid = s->pid;
    chan_send_u32s(chan, FRAME_STARTED, id, &pid, 1);
}

/* Session id's command ended with @status: its output, then 'x'. */
static void end_session(int chan, int id, int status)
{
    struct session *s = &sessions[id];
    int i;
    uint32_t x[2] = { WIFEXITED(status) ? WEXITSTATUS(status) : 0,
                      WIFSIGNALED(status) ? WTERMSIG(status) : 0 };

    /*
     * What it wrote before it exited is in the pipes: forward it (without
     * waiting for processes it left behind, which may hold them).
     */
    drain_output(s->out, chan, FRAME_OUTPUT, id);
    drain_output(s->err, chan, FRAME_ERROR, id);
    chan_send_u32s(chan, FRAME_EXIT, id, x, 2);
    s->done = 1;
    close_fd(&s->in);
    close_fd(&s->out);
    close_fd(&s->err);
    free(s->stdin_buf);
    s->stdin_buf = NULL;
    s->stdin_len = 0;
    if (id == 0) {
        /* A container ends with its process: nothing else outlives it. */
        if (container) {
            kill(-1, SIGKILL);
        }
        return;
    }
    /* The host may start another command on this session now. */
    for (i = 0; i < s->argc; i++) {
        free(s->argv[i]);
    }
    for (i = 0; i < s->envc; i++) {
        free(s->envp[i]);
    }
    free(s->argv);
    free(s->envp);
    free(s->cwd);
    memset(s, 0, sizeof(*s));
    s->in = s->out = s->err = -1;
}

/* 'M': dest, type, source and options, each ended by a NUL. */
static void container_mount_frame(const struct chan_frame *f)
{
    const char *field[4];
    const char *p = f->data, *end = f->data + f->len;
    int i;

    for (i = 0; i < 4; i++) {
        const char *nul = memchr(p, '\0', end - p);

        if (!nul) {
            container_bad_frame("a bad mount frame");
            return;
        }
        field[i] = p;
        p = nul + 1;
    }
    container_mount(field[0], field[1], field[2], field[3]);
}

/* 'U': uid, gid, umask, then the additional groups (uint32 each). */
static void user_frame(struct session *s, const struct chan_frame *f)
{
    uint32_t i, n = f->len / 4;

    if (n < 3) {
        return;
    }
    s->user.uid = chan_u32(f->data);
    s->user.gid = chan_u32(f->data + 4);
    s->user.umask = chan_u32(f->data + 8) & 0777;
    s->user.ngroups = 0;
    for (i = 3; i < n && s->user.ngroups < 64; i++) {
        s->user.groups[s->user.ngroups++] = chan_u32(f->data + 4 * i);
    }
}

static void signal_session(struct session *s, const struct chan_frame *f)
{
    int sig = chan_u32(f->data);

    /* As runc: the command alone, or every process but init. */
    if (f->len >= 8 && (chan_u32(f->data + 4) & CHANNEL_KILL_ALL)) {
        kill(-1, sig);
    } else if (s->pid > 0 && !s->done) {
        kill(s->pid, sig);
    }
}

static int setup_failed(void)
{
    return container_error()[0] != '\0';
}

/* 'y': a line per process, for the runtime's ps; one frame at most. */
static void list_processes(int chan)
{
    static char out[65536];
    size_t len = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;

    while (d && (e = readdir(d))) {
        char path[64], cmd[256], line[400], status[1024];
        long pid = 0;
        unsigned int uid = 0;
        ssize_t n, i;
        char *u;
        int fd;

        if (sscanf(e->d_name, "%ld", &pid) != 1 || pid <= 1) {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        n = fd >= 0 ? read(fd, cmd, sizeof(cmd) - 1) : -1;
        if (fd >= 0) {
            close(fd);
        }
        if (n <= 0) {
            continue;           /* a kernel thread, or gone */
        }
        for (i = 0; i < n - 1; i++) {
            cmd[i] = cmd[i] ? cmd[i] : ' ';
        }
        cmd[n] = '\0';
        snprintf(path, sizeof(path), "/proc/%ld/status", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        n = fd >= 0 ? read(fd, status, sizeof(status) - 1) : -1;
        if (fd >= 0) {
            close(fd);
        }
        status[n > 0 ? n : 0] = '\0';
        u = strstr(status, "\nUid:");
        if (u && sscanf(u + 5, "%u", &uid) != 1) {
            uid = 0;
        }
        n = snprintf(line, sizeof(line), "%ld %u %s\n", pid, uid, cmd);
        if (n > 0 && len + n <= sizeof(out)) {
            memcpy(out + len, line, n);
            len += n;
        }
    }
    if (d) {
        closedir(d);
    }
    chan_send(chan, FRAME_PROCESSES, 0, out, len);
}

/* One frame from the host; 1 when it says 'Q'. */
static int handle_frame(int chan, const struct chan_frame *f)
{
    struct session *s = &sessions[f->session];
    int unstarted = s->pid == 0 && !s->done;

    switch (f->type) {
    case FRAME_TIME:
        if (f->len == 12) {
            struct timespec ts = {
                .tv_sec = (int64_t)chan_u64(f->data),
                .tv_nsec = chan_u32(f->data + 8),
            };

            if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
                perror("pc-lite init: clock_settime");
            }
        }
        break;
    case FRAME_GENID:
        if (f->len == 16) {
            reseed(f->data, f->len);
        }
        break;
    /*
     * The container's set-up: the first failure is kept, as
     * container_error(), and the frames after it are not acted on; 'P'
     * answers with it (empty: ready).
     */
    case FRAME_CONTAINER:
        container = 1;
        container_flags = f->len >= 4 ? chan_u32(f->data) : 0;
        if (container_mount_root() == 0) {
            container_loopback();
        }
        break;
    case FRAME_MOUNT:
        if (container && !setup_failed()) {
            container_mount_frame(f);
        }
        break;
    case FRAME_NIC:
        /* The container's next interface: MAC, two pad bytes, MTU. */
        if (f->len == 12 && !setup_failed()) {
            container_net_link(++nics - 1, (const uint8_t *)f->data,
                               chan_u32(f->data + 8));
        }
        break;
    case FRAME_ADDR:
        /* Its IPv4 address: prefix length, three pad bytes, address. */
        if (f->len == 8 && nics && !setup_failed()) {
            container_net_addr(nics - 1, chan_raw32(f->data + 4),
                               (uint8_t)f->data[0]);
        }
        break;
    case FRAME_ROUTE:
        /* A route: prefix length, three pad bytes, destination, gateway. */
        if (f->len == 12 && nics && !setup_failed()) {
            container_net_route(nics - 1, chan_raw32(f->data + 4),
                                (uint8_t)f->data[0], chan_raw32(f->data + 8));
        }
        break;
    case FRAME_HOSTNAME:
        if (!setup_failed()) {
            container_hostname(f->data);
        }
        break;
    case FRAME_SETUP:
        if (!setup_failed() && container &&
            container_finish(container_flags) == 0 && sessions[0].argc) {
            container_find_program(sessions[0].argv[0], sessions[0].envp);
        }
        chan_send(chan, FRAME_READY, 0, container_error(),
                  strlen(container_error()));
        break;
    case FRAME_ARG:
        if (unstarted) {
            add_string(&s->argv, &s->argc, f->data);
        }
        break;
    case FRAME_ENV:
        if (unstarted) {
            add_string(&s->envp, &s->envc, f->data);
        }
        break;
    case FRAME_CWD:
        if (unstarted) {
            free(s->cwd);
            s->cwd = strdup(f->data);
        }
        break;
    case FRAME_USER:
        user_frame(s, f);
        break;
    case FRAME_RLIMIT:
        if (f->len == 20 && s->user.nrlimits < CONTAINER_MAX_RLIMITS) {
            int i = s->user.nrlimits++;

            s->user.rlimits[i].type = chan_u32(f->data);
            s->user.rlimits[i].soft = chan_u64(f->data + 4);
            s->user.rlimits[i].hard = chan_u64(f->data + 12);
        }
        break;
    case FRAME_WINSIZE:
        if (f->len == 8) {
            s->ws.ws_row = chan_u32(f->data);
            s->ws.ws_col = chan_u32(f->data + 4);
            if (s->pid > 0 && !s->done && (s->flags & CHANNEL_TTY)) {
                ioctl(s->out, TIOCSWINSZ, &s->ws);
            }
        }
        break;
    case FRAME_START:
        if (unstarted) {
            s->flags = f->len >= 4 ? chan_u32(f->data) : 0;
            start_session(chan, f->session);
        }
        break;
    case FRAME_INPUT:
        if (s->pid <= 0 || s->done || s->in < 0 || s->stdin_eof) {
            break;
        }
        if (!f->len) {
            s->stdin_eof = !(s->flags & CHANNEL_TTY);
        } else {
            s->stdin_buf = realloc(s->stdin_buf, s->stdin_len + f->len);
            memcpy(s->stdin_buf + s->stdin_len, f->data, f->len);
            s->stdin_len += f->len;
        }
        break;
    case FRAME_SIGNAL:
        if (f->len >= 4) {
            signal_session(s, f);
        }
        break;
    case FRAME_LIST:
        list_processes(chan);
        break;
    case FRAME_QUIT:
        return 1;
    default:
        break;              /* unknown frames are skipped */
    }
    return 0;
}

static void write_stdin(struct session *s)
{
    ssize_t n = write(s->in, s->stdin_buf, s->stdin_len);

    if (n > 0) {
        memmove(s->stdin_buf, s->stdin_buf + n, s->stdin_len - n);
        s->stdin_len -= n;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        s->stdin_len = 0;       /* the command closed its stdin */
        s->stdin_eof = 1;
    }
}

static void reap(int chan)
{
    int status, id;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (id = 0; id < CHANNEL_SESSIONS; id++) {
            if (sessions[id].pid == pid && !sessions[id].done) {
                end_session(chan, id, status);
                break;
            }
        }
    }
}

/*
 * Serve the channel: commands start, their output goes out as frames,
 * their input and signals come in, until the host says 'Q' after the
 * first command (session 0) ended, or goes away.
 */
static void serve(int chan, int sfd)
{
    struct chan_reader r = { 0 };
    struct chan_frame f;
    struct pollfd p[1 + 2 + 3 * CHANNEL_SESSIONS];
    struct session *who[3 * CHANNEL_SESSIONS];
    int chan_open = 1, quit = 0, id, i, n, ret;

    while (!quit && (chan_open || (sessions[0].pid > 0 &&
                                   !sessions[0].done))) {
        size_t buffered = 0;

        n = 0;
        for (id = 0; id < CHANNEL_SESSIONS; id++) {
            struct session *s = &sessions[id];

            if (s->pid <= 0 || s->done) {
                continue;
            }
            if (s->stdin_eof && !s->stdin_len && s->in >= 0 &&
                !(s->flags & CHANNEL_TTY)) {
                close_fd(&s->in);
            }
            buffered += s->stdin_len;
            if (s->out >= 0) {
                who[n] = s;
                p[2 + n++] = (struct pollfd){ .fd = s->out, .events = POLLIN };
            }
            if (s->err >= 0) {
                who[n] = s;
                p[2 + n++] = (struct pollfd){ .fd = s->err, .events = POLLIN };
            }
            if (s->in >= 0 && s->stdin_len) {
                who[n] = s;
                p[2 + n++] = (struct pollfd){ .fd = s->in, .events = POLLOUT };
            }
        }
        p[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
        p[1] = (struct pollfd){
            .fd = chan_open && buffered < STDIN_BUF_MAX ? chan : -1,
            .events = POLLIN,
        };
        if (poll(p, 2 + n, -1) < 0) {
            continue;
        }
        for (i = 0; i < n; i++) {
            struct session *s = who[i];
            int sid = s - sessions;

            if (!p[2 + i].revents || s->done) {
                continue;
            }
            if (p[2 + i].fd == s->in && (p[2 + i].events & POLLOUT)) {
                if (p[2 + i].revents & POLLOUT) {
                    write_stdin(s);
                } else {
                    s->stdin_len = 0;
                    s->stdin_eof = 1;
                }
            } else if (p[2 + i].fd == s->out &&
                       forward_output(s->out, chan, FRAME_OUTPUT, sid) < 0) {
                close_fd(&s->out);
            } else if (p[2 + i].fd == s->err &&
                       forward_output(s->err, chan, FRAME_ERROR, sid) < 0) {
                close_fd(&s->err);
            }
        }
        if (p[1].revents && chan_fill(&r, chan) <= 0) {
            chan_open = 0;      /* the host went away: let the command end */
        }
        while ((ret = chan_next_frame(&r, &f)) > 0) {
            quit |= handle_frame(chan, &f);
        }
        if (ret < 0) {
            fprintf(stderr, "pc-lite init: bad frame on the channel\n");
            chan_open = 0;
        }
        if (p[0].revents) {
            struct signalfd_siginfo si;

            if (read(sfd, &si, sizeof(si)) > 0) {
                reap(chan);
            }
        }
    }
    free(r.buf);
    free(r.last);
}

/*
 * Say hello, then serve commands.  A template is saved while init waits
 * here for its command: each clone resumes in poll().
 */
static void channel_main(void)
{
    struct statvfs vfs;
    sigset_t mask;
    int chan = open_channel(), sfd;

    if (chan < 0) {
        fprintf(stderr, "pc-lite init: no %s port\n", CHANNEL_NAME);
        return;
    }
    /* A read-only root (templates and their clones): /tmp in RAM. */
    if (statvfs("/", &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
        mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    }
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    /*
     * Commands get a seeded RNG (the VM has a virtio-rng), and so does a
     * template: its clones then differ by their VM generation ID alone.
     */
    if (getrandom(&vfs, 1, 0) < 0) {
        perror("pc-lite init: getrandom");
    }
    reseed(NULL, 0);
    chan_send_u32s(chan, FRAME_HELLO, 0, (uint32_t[]){ CHANNEL_VERSION }, 1);
    serve(chan, sfd);
    close(sfd);
    close(chan);
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
}

/*
 * The end of every run: let the console drain, sync, and leave a clean
 * journal, so that the next boot can mount the image read-only (no
 * replay; the remount fails harmlessly on an initramfs root).
 */
static void power_off(const char *action)
{
    fflush(stdout);
    /* hvc consoles write from a kernel thread: let them drain first. */
    tcdrain(STDOUT_FILENO);
    sync();
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

/*
 * The ACPI power button.  Linux's button driver sends each press as an
 * "acpi_event" generic-netlink message of class "button/power" (what
 * acpid reads), so that no input device (evdev) is needed.  Names and
 * struct as in the kernel's drivers/acpi/event.c.
 */
#define ACPI_GENL_FAMILY     "acpi_event"
#define ACPI_GENL_GROUP      "acpi_mc_group"
#define ACPI_GENL_ATTR_EVENT 1

struct acpi_genl_event {
    char device_class[20];
    char bus_id[15];
    uint32_t type;
    uint32_t data;
};

/* Netlink attributes in [a, end): whole ones only. */
#define NL_ATTR_OK(a, end) \
    ((char *)(end) - (char *)(a) >= (long)sizeof(struct nlattr) && \
     (a)->nla_len >= sizeof(struct nlattr) && \
     (a)->nla_len <= (char *)(end) - (char *)(a))
#define NL_ATTR_NEXT(a) \
    ((struct nlattr *)((char *)(a) + NLA_ALIGN((a)->nla_len)))
#define NL_ATTR_END(a)  ((char *)(a) + (a)->nla_len)

/* The first attribute of this type in [a, end) with min_len bytes. */
static struct nlattr *nl_attr(struct nlattr *a, void *end, int type,
                              size_t min_len)
{
    for (; NL_ATTR_OK(a, end); a = NL_ATTR_NEXT(a)) {
        if ((a->nla_type & NLA_TYPE_MASK) == type &&
            a->nla_len >= NLA_HDRLEN + min_len) {
            return a;
        }
    }
    return NULL;
}

#define NL_PAYLOAD(a)   ((void *)((char *)(a) + NLA_HDRLEN))

/* A netlink socket in the ACPI events' multicast group, or -1. */
static int acpi_event_socket(void)
{
    static uint32_t buf[1024];
    struct {
        struct nlmsghdr n;
        struct genlmsghdr g;
        struct nlattr a;
        char name[sizeof(ACPI_GENL_FAMILY)];
    } req = {
        .n = { .nlmsg_len = sizeof(req), .nlmsg_type = GENL_ID_CTRL,
               .nlmsg_flags = NLM_F_REQUEST },
        .g = { .cmd = CTRL_CMD_GETFAMILY, .version = 1 },
        .a = { .nla_len = NLA_HDRLEN + sizeof(ACPI_GENL_FAMILY),
               .nla_type = CTRL_ATTR_FAMILY_NAME },
        .name = ACPI_GENL_FAMILY,
    };
    struct nlmsghdr *n = (struct nlmsghdr *)buf;
    struct nlattr *groups, *g;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
    ssize_t len = -1;

    if (fd >= 0 && send(fd, &req, sizeof(req), 0) == sizeof(req)) {
        len = recv(fd, buf, sizeof(buf), 0);
    }
    if (len < 0) {
        goto fail;
    }
    /* An NLMSG_ERROR instead: the kernel has no such family. */
    errno = ENOENT;
    if (!NLMSG_OK(n, len) || n->nlmsg_type != GENL_ID_CTRL ||
        n->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN)) {
        goto fail;
    }
    groups = nl_attr((struct nlattr *)((char *)NLMSG_DATA(n) + GENL_HDRLEN),
                     (char *)n + n->nlmsg_len, CTRL_ATTR_MCAST_GROUPS, 0);
    /* One nested attribute per group: its name and its id. */
    for (g = groups ? NL_PAYLOAD(groups) : NULL;
         g && NL_ATTR_OK(g, NL_ATTR_END(groups)); g = NL_ATTR_NEXT(g)) {
        struct nlattr *name = nl_attr(NL_PAYLOAD(g), NL_ATTR_END(g),
                                      CTRL_ATTR_MCAST_GRP_NAME,
                                      sizeof(ACPI_GENL_GROUP));
        struct nlattr *id = nl_attr(NL_PAYLOAD(g), NL_ATTR_END(g),
                                    CTRL_ATTR_MCAST_GRP_ID,
                                    sizeof(uint32_t));

        if (name && id && !strcmp(NL_PAYLOAD(name), ACPI_GENL_GROUP)) {
            if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP,
                           NL_PAYLOAD(id), sizeof(uint32_t)) < 0) {
                goto fail;
            }
            return fd;
        }
    }
fail:
    fprintf(stderr, "pc-lite init: ACPI events: %s\n", strerror(errno));
    if (fd >= 0) {
        close(fd);
    }
    return -1;
}

/* Wait for a press of the power button. */
static void wait_power_button(int fd)
{
    static uint32_t buf[1024];

    for (;;) {
        ssize_t len = recv(fd, buf, sizeof(buf), 0);
        struct nlmsghdr *n = (struct nlmsghdr *)buf;

        for (; len > 0 && NLMSG_OK(n, len); n = NLMSG_NEXT(n, len)) {
            struct acpi_genl_event *e;
            struct nlattr *a;

            if (n->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN)) {
                continue;
            }
            a = nl_attr((struct nlattr *)((char *)NLMSG_DATA(n) +
                                          GENL_HDRLEN),
                        (char *)n + n->nlmsg_len, ACPI_GENL_ATTR_EVENT,
                        sizeof(*e));
            e = a ? NL_PAYLOAD(a) : NULL;
            if (e && !strncmp(e->device_class, "button/power",
                              sizeof(e->device_class))) {
                return;
            }
        }
    }
}

/* Whether a process other than init, us and kernel threads is alive. */
static int others_alive(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int alive = 0;

    while (d && !alive && (e = readdir(d))) {
        char path[64], stat[256], state;
        const char *p;
        int pid = atoi(e->d_name), ppid;

        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        if (pid <= 2 || pid == getpid() ||
            read_file(path, stat, sizeof(stat)) <= 0) {
            continue;
        }
        p = strrchr(stat, ')');
        if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2) {
            continue;
        }
        alive = state != 'Z' && ppid != 2;
    }
    if (d) {
        closedir(d);
    }
    return alive;
}

/* Signal every process but init and us; wait up to ms for them to end. */
static void end_processes(int sig, int ms)
{
    kill(-1, sig);
    for (; ms > 0 && others_alive(); ms -= 10) {
        usleep(10000);
    }
}

/*
 * A child of init waits for the power button, then ends every other
 * process (SIGTERM, SIGKILL after 2 s) and powers off as init does.
 * Init goes on with what it was doing until then.
 */
static void watch_power_button(void)
{
    int fd = acpi_event_socket();
    pid_t pid;

    if (fd < 0) {
        return;
    }
    pid = fork();
    if (pid) {
        if (pid < 0) {
            perror("pc-lite init: fork");
        }
        close(fd);
        return;
    }
    wait_power_button(fd);
    printf("pc-lite init: power button: powering off\n");
    end_processes(SIGTERM, 2000);
    end_processes(SIGKILL, 1000);
    power_off("poweroff");
}

/* An interactive shell with the console's tty as its controlling tty. */
static int run_shell(void)
{
    char tty[64] = "console", path[80];
    pid_t pid;

    if (read_file("/sys/class/tty/console/active", tty, sizeof(tty)) > 0) {
        tty[strcspn(tty, "\n ")] = '\0';
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
    /* Terminals for commands that ask for one (CHANNEL_TTY). */
    mkdir("/dev/pts", 0755);
    mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
          "ptmxmode=0666,mode=0620");
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

    /*
     * Listening for the power button before the report: whoever sees the
     * report may press it at once.
     */
    cmdline_param(cmdline, "pclite.action", action, sizeof(action));
    if (!strcmp(action, "idle") ||
        cmdline_param(cmdline, "pclite.channel", NULL, 0) ||
        cmdline_param(cmdline, "pclite.shell", NULL, 0)) {
        watch_power_button();
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

    if (cmdline_param(cmdline, "pclite.channel", NULL, 0)) {
        channel_main();
        marker(3);
    } else if (cmdline_param(cmdline, "pclite.shell", NULL, 0)) {
        printf("pc-lite init: the shell exited with status %d\n",
               run_shell());
    }
    if (!strcmp(action, "idle")) {
        fflush(stdout);
        tcdrain(STDOUT_FILENO);
        sync();
        for (;;) {
            pause();
        }
    }
    power_off(action);
}
