/*
 * pc-lite guest init: a container's environment, as an OCI runtime sets
 * it up (pc-lite-oci sends it on the command channel: 'C', 'M', 'H').
 *
 * The VM is the container's isolation, so there are no namespaces here:
 * the bundle's rootfs, shared from the host over virtio-9p (mount tag
 * "pclite-root"), is mounted under CONTAINER_ROOT together with the
 * config's mounts; bind mounts come from a second share ("pclite-binds")
 * into which the runtime put each source; the container's processes run
 * chrooted there with their own user, groups, rlimits and umask.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "container.h"

#define BINDS_DIR "/tmp/.pclite-binds"

static char error[512];

static int fail(const char *fmt, const char *what, int err)
{
    char msg[256];

    snprintf(msg, sizeof(msg), fmt, what);
    snprintf(error, sizeof(error), "%s: %s", msg, strerror(err));
    return -1;
}

/* The first set-up step that failed, and why ("" when none has). */
const char *container_error(void)
{
    return error;
}

/* A set-up frame that cannot be read: the set-up has failed. */
void container_bad_frame(const char *what)
{
    snprintf(error, sizeof(error), "%s", what);
}

/* mkdir -p path (mode 0755), the last component a file when @file. */
static int make_path(const char *path, int file)
{
    char buf[4096];
    char *p;

    if (strlen(path) >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(buf, path);
    for (p = strchr(buf + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
            return -1;
        }
        *p = '/';
    }
    if (file) {
        int fd = open(buf, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

        if (fd < 0 && errno != EISDIR) {
            return -1;
        }
        if (fd >= 0) {
            close(fd);
        }
        return 0;
    }
    return mkdir(buf, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

struct mount_opt {
    const char *name;
    int clear;
    unsigned long flag;
};

static const struct mount_opt mount_opts[] = {
    { "ro", 0, MS_RDONLY },          { "rw", 1, MS_RDONLY },
    { "nosuid", 0, MS_NOSUID },      { "suid", 1, MS_NOSUID },
    { "nodev", 0, MS_NODEV },        { "dev", 1, MS_NODEV },
    { "noexec", 0, MS_NOEXEC },      { "exec", 1, MS_NOEXEC },
    { "sync", 0, MS_SYNCHRONOUS },   { "async", 1, MS_SYNCHRONOUS },
    { "noatime", 0, MS_NOATIME },    { "atime", 1, MS_NOATIME },
    { "nodiratime", 0, MS_NODIRATIME },
    { "relatime", 0, MS_RELATIME },  { "norelatime", 1, MS_RELATIME },
    { "strictatime", 0, MS_STRICTATIME },
    { "bind", 0, MS_BIND },          { "rbind", 0, MS_BIND | MS_REC },
    /* Propagation: one VM per container, nothing to propagate to. */
    { "private", 0, 0 },             { "rprivate", 0, 0 },
    { "shared", 0, 0 },              { "rshared", 0, 0 },
    { "slave", 0, 0 },               { "rslave", 0, 0 },
    { "unbindable", 0, 0 },          { "runbindable", 0, 0 },
    /* podman's: not for the kernel */
    { "copy-symlink", 0, 0 },        { "notmpcopyup", 0, 0 },
    { "tmpcopyup", 0, 0 },           { "idmap", 0, 0 },
};

/* "opt,opt,..." into mount flags and the filesystem's own options. */
static unsigned long parse_options(const char *options, char *data,
                                   size_t len)
{
    char *copy = strdup(options), *save = NULL, *opt;
    unsigned long flags = 0;
    size_t i;

    data[0] = '\0';
    for (opt = strtok_r(copy, ",", &save); opt;
         opt = strtok_r(NULL, ",", &save)) {
        for (i = 0; i < sizeof(mount_opts) / sizeof(mount_opts[0]); i++) {
            if (!strcmp(opt, mount_opts[i].name)) {
                if (mount_opts[i].clear) {
                    flags &= ~mount_opts[i].flag;
                } else {
                    flags |= mount_opts[i].flag;
                }
                break;
            }
        }
        if (i == sizeof(mount_opts) / sizeof(mount_opts[0]) &&
            strlen(data) + strlen(opt) + 2 < len) {
            strcat(data, data[0] ? "," : "");
            strcat(data, opt);
        }
    }
    free(copy);
    return flags;
}

#define NINEP_OPTS "trans=virtio,version=9p2000.L,msize=262144,cache=mmap"

int container_mount_root(void)
{
    if (make_path(CONTAINER_ROOT, 0) < 0) {
        return fail("mkdir %s", CONTAINER_ROOT, errno);
    }
    if (mount(CONTAINER_ROOT_TAG, CONTAINER_ROOT, "9p", MS_NODEV,
              NINEP_OPTS) < 0) {
        return fail("mounting the container's root (9p tag %s)",
                    CONTAINER_ROOT_TAG, errno);
    }
    return 0;
}

int container_finish(uint32_t flags)
{
    /* Read-only once the mount points are made. */
    if ((flags & CHANNEL_ROOT_RO) &&
        mount(NULL, CONTAINER_ROOT, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY,
              NULL) < 0) {
        return fail("remounting %s read-only", CONTAINER_ROOT, errno);
    }
    return 0;
}

/* The binds share, mounted the first time a bind mount needs it. */
static int mount_binds(void)
{
    static int mounted;

    if (mounted) {
        return 0;
    }
    if (make_path(BINDS_DIR, 0) < 0 ||
        mount(CONTAINER_BINDS_TAG, BINDS_DIR, "9p", MS_NODEV,
              NINEP_OPTS) < 0) {
        return fail("mounting the bind-mount share (9p tag %s)",
                    CONTAINER_BINDS_TAG, errno);
    }
    mounted = 1;
    return 0;
}

/*
 * The default devices of an OCI container, in a /dev the config made a
 * tmpfs: null, zero, full, random, urandom, tty and the usual links.
 */
static int populate_dev(const char *dev)
{
    static const struct {
        const char *name;
        unsigned int major, minor;
    } nodes[] = {
        { "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 },
        { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
    };
    static const char *const links[][2] = {
        { "pts/ptmx", "ptmx" }, { "/proc/self/fd", "fd" },
        { "/proc/self/fd/0", "stdin" }, { "/proc/self/fd/1", "stdout" },
        { "/proc/self/fd/2", "stderr" },
    };
    char path[4200];
    size_t i;

    for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dev, nodes[i].name);
        if (mknod(path, S_IFCHR | 0666, makedev(nodes[i].major,
                                                nodes[i].minor)) < 0 &&
            errno != EEXIST) {
            return fail("mknod %s", path, errno);
        }
        chmod(path, 0666);
    }
    for (i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dev, links[i][1]);
        if (symlink(links[i][0], path) < 0 && errno != EEXIST) {
            return fail("symlink %s", path, errno);
        }
    }
    return 0;
}

int container_mount(const char *dest, const char *type, const char *source,
                    const char *options)
{
    char target[4096], src[4096], data[1024];
    unsigned long flags = parse_options(options, data, sizeof(data));
    int bind = (flags & MS_BIND) || !strcmp(type, "bind");
    struct stat st;

    if (dest[0] != '/' || strstr(dest, "/../") ||
        (strlen(dest) >= 3 && !strcmp(dest + strlen(dest) - 3, "/.."))) {
        errno = EINVAL;
        return fail("mount destination %s", dest, errno);
    }
    /* The guest kernel has no cgroups: resources are the VM's size. */
    if (!strcmp(type, "cgroup") || !strcmp(type, "cgroup2")) {
        return 0;
    }
    snprintf(target, sizeof(target), "%s%s", CONTAINER_ROOT, dest);
    if (bind) {
        if (mount_binds() < 0) {
            return -1;
        }
        snprintf(src, sizeof(src), "%s/%s", BINDS_DIR, source);
        if (stat(src, &st) < 0) {
            return fail("bind mount source for %s", dest, errno);
        }
        if (make_path(target, !S_ISDIR(st.st_mode)) < 0) {
            return fail("mount point %s", dest, errno);
        }
        if (mount(src, target, NULL, MS_BIND | MS_REC, NULL) < 0) {
            return fail("bind mount on %s", dest, errno);
        }
        flags &= ~(MS_BIND | MS_REC);
        if (flags && mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | flags,
                           NULL) < 0) {
            return fail("remounting %s", dest, errno);
        }
        return 0;
    }
    if (make_path(target, 0) < 0) {
        return fail("mount point %s", dest, errno);
    }
    if (mount(source, target, type, flags, data[0] ? data : NULL) < 0) {
        char what[300];

        snprintf(what, sizeof(what), "%s on %s", type, dest);
        return fail("mounting %s", what, errno);
    }
    if (!strcmp(dest, "/dev") && !strcmp(type, "tmpfs")) {
        return populate_dev(target);
    }
    return 0;
}

/* The loopback interface up, as in a container's network namespace. */
int container_loopback(void)
{
    struct ifreq ifr = { .ifr_name = "lo" };
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
        if (fd >= 0) {
            close(fd);
        }
        return fail("%s", "loopback", errno);
    }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
        close(fd);
        return fail("%s", "loopback up", errno);
    }
    close(fd);
    return 0;
}

static int net_ioctl(unsigned long req, void *arg, const char *what,
                     const char *dev)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int ret = fd < 0 ? -1 : ioctl(fd, req, arg);
    int err = errno;

    if (fd >= 0) {
        close(fd);
    }
    if (ret < 0) {
        char msg[64];

        snprintf(msg, sizeof(msg), "%s %s", what, dev);
        return fail("%s", msg, err);
    }
    return 0;
}

static struct sockaddr_in inet(uint32_t addr)
{
    return (struct sockaddr_in){ .sin_family = AF_INET,
                                 .sin_addr.s_addr = addr };
}

static uint32_t netmask(int prefix)
{
    return prefix ? htonl(~0u << (32 - prefix)) : 0;
}

/* The VM's interface ethN as the container's: MAC, MTU, up. */
int container_net_link(int n, const uint8_t mac[6], uint32_t mtu)
{
    struct ifreq ifr = { 0 };

    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth%d", n);
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
    if (net_ioctl(SIOCSIFHWADDR, &ifr, "setting the MAC of",
                  ifr.ifr_name) < 0) {
        return -1;
    }
    ifr.ifr_mtu = mtu;
    if (net_ioctl(SIOCSIFMTU, &ifr, "setting the MTU of", ifr.ifr_name) < 0 ||
        net_ioctl(SIOCGIFFLAGS, &ifr, "the flags of", ifr.ifr_name) < 0) {
        return -1;
    }
    ifr.ifr_flags |= IFF_UP;
    return net_ioctl(SIOCSIFFLAGS, &ifr, "bringing up", ifr.ifr_name);
}

/* An IPv4 address (network byte order) with its prefix on ethN. */
int container_net_addr(int n, uint32_t addr, int prefix)
{
    struct ifreq ifr = { 0 };
    struct sockaddr_in sin = inet(addr);

    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "eth%d", n);
    memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
    if (net_ioctl(SIOCSIFADDR, &ifr, "setting the address of",
                  ifr.ifr_name) < 0) {
        return -1;
    }
    sin = inet(netmask(prefix));
    memcpy(&ifr.ifr_netmask, &sin, sizeof(sin));
    return net_ioctl(SIOCSIFNETMASK, &ifr, "setting the netmask of",
                     ifr.ifr_name);
}

/* A route to dst/prefix through gw on ethN (network byte order). */
int container_net_route(int n, uint32_t dst, int prefix, uint32_t gw)
{
    char dev[IFNAMSIZ];
    struct rtentry rt = { .rt_flags = RTF_UP | RTF_GATEWAY, .rt_dev = dev };
    struct sockaddr_in sin;

    snprintf(dev, sizeof(dev), "eth%d", n);
    sin = inet(dst);
    memcpy(&rt.rt_dst, &sin, sizeof(sin));
    sin = inet(netmask(prefix));
    memcpy(&rt.rt_genmask, &sin, sizeof(sin));
    sin = inet(gw);
    memcpy(&rt.rt_gateway, &sin, sizeof(sin));
    if (prefix == 32) {
        rt.rt_flags |= RTF_HOST;
    }
    return net_ioctl(SIOCADDRT, &rt, "adding a route on", dev);
}

int container_hostname(const char *name)
{
    if (sethostname(name, strlen(name)) < 0) {
        return fail("hostname %s", name, errno);
    }
    return 0;
}

/*
 * The program the container runs, looked up as execvp() will in the
 * container (PATH from its environment): 0 when it is there.
 */
int container_find_program(const char *prog, char *const *envp)
{
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                       "/sbin:/bin";
    char buf[4096], *copy, *dir, *save = NULL;
    int i, found = 0;

    if (strchr(prog, '/')) {
        snprintf(buf, sizeof(buf), "%s/%s", CONTAINER_ROOT, prog);
        if (access(buf, X_OK) == 0) {
            return 0;
        }
        snprintf(error, sizeof(error), "exec: \"%s\": %s", prog,
                 strerror(errno));
        return -1;
    }
    for (i = 0; envp && envp[i]; i++) {
        if (!strncmp(envp[i], "PATH=", 5)) {
            path = envp[i] + 5;
        }
    }
    copy = strdup(path);
    for (dir = strtok_r(copy, ":", &save); dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        struct stat st;

        snprintf(buf, sizeof(buf), "%s/%s/%s", CONTAINER_ROOT, dir, prog);
        found = stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
                access(buf, X_OK) == 0;
    }
    free(copy);
    if (!found) {
        snprintf(error, sizeof(error), "exec: \"%s\": executable file not "
                 "found in $PATH", prog);
        return -1;
    }
    return 0;
}

/* In a session's child: enter the container as @u.  -1 with errno. */
int container_enter(const struct container_user *u)
{
    int i;

    if (chroot(CONTAINER_ROOT) < 0 || chdir("/") < 0) {
        return -1;
    }
    for (i = 0; i < u->nrlimits; i++) {
        struct rlimit rl = { u->rlimits[i].soft, u->rlimits[i].hard };

        if (setrlimit(u->rlimits[i].type, &rl) < 0) {
            return -1;
        }
    }
    umask(u->umask);
    if (setgroups(u->ngroups, u->groups) < 0 || setgid(u->gid) < 0 ||
        setuid(u->uid) < 0) {
        return -1;
    }
    return 0;
}
