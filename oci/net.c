/*
 * pc-lite-oci: the engine's network namespace carried into the VM, as
 * Kata Containers does it.  For each interface the engine put in the
 * container's namespace (podman's eth0, a veth on its bridge), create
 * gives QEMU a tap made in that namespace, joined to the interface by tc
 * redirects in both directions (ingress qdisc, u32 match-all, mirred
 * egress redirect: no bridge, no NAT of our own), and the guest's init
 * gives the VM's virtio-net interface the interface's MAC, MTU, IPv4
 * address and routes (frames 'N', 'L', 'O').  The monitor does it from
 * inside the namespace (monitor.c), after the hooks that fill it (Docker's
 * libnetwork-setkey moves its veth in then).  The tap goes away with
 * QEMU, the rules with the namespace; delete removes the rules at once
 * when the namespace is still there.
 *
 * Never the host's network: a namespace that is the host's (PID 1's) or
 * the runtime's own (Docker's --network host, a CRI container given a
 * host process's namespace, any path that resolves to one of them) is
 * refused before anything is made, as Kata Containers refuses host
 * networking: redirecting its interfaces into a VM would cut the host
 * off.  Tap names carry a hash of the container's ID, so that two
 * containers in one namespace do not collide.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "oci.h"
#include "../proto/channel.h"

/* A tap's name: the prefix, 6 hex digits of the container ID's hash, k. */
#define TAP_PREFIX "pclite"

static GQuark net_quark(void)
{
    return g_quark_from_static_string("pc-lite-oci-net");
}

void oci_nic_free(gpointer data)
{
    OciNic *n = data;

    if (n->tap_fd >= 0) {
        close(n->tap_fd);
    }
    g_array_unref(n->routes);
    g_free(n);
}

static gboolean ifreq_ioctl(int sock, unsigned long req, struct ifreq *ifr,
                            const char *what, GError **errp)
{
    if (ioctl(sock, req, ifr) < 0) {
        g_set_error(errp, net_quark(), 1, "%s %s: %s", what, ifr->ifr_name,
                    g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

/* MAC, MTU and IPv4 address of interface name (in this namespace). */
static OciNic *read_nic(int sock, const char *name, GError **errp)
{
    OciNic *n = g_new0(OciNic, 1);
    struct ifreq ifr = { 0 };

    n->tap_fd = -1;
    n->routes = g_array_new(FALSE, FALSE, sizeof(OciRoute));
    g_strlcpy(n->name, name, sizeof(n->name));
    g_strlcpy(ifr.ifr_name, name, sizeof(ifr.ifr_name));
    if (!ifreq_ioctl(sock, SIOCGIFHWADDR, &ifr, "the MAC of", errp)) {
        goto fail;
    }
    memcpy(n->mac, ifr.ifr_hwaddr.sa_data, 6);
    if (!ifreq_ioctl(sock, SIOCGIFMTU, &ifr, "the MTU of", errp)) {
        goto fail;
    }
    n->mtu = ifr.ifr_mtu;
    if (ioctl(sock, SIOCGIFADDR, &ifr) == 0) {
        n->addr = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr;
        if (ioctl(sock, SIOCGIFNETMASK, &ifr) == 0) {
            n->prefix = __builtin_popcount(
                ((struct sockaddr_in *)&ifr.ifr_netmask)->sin_addr.s_addr);
        }
    }
    return n;

fail:
    oci_nic_free(n);
    return NULL;
}

/* The IPv4 routes through a gateway, from /proc/net/route. */
static void read_routes(GPtrArray *nics)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    guint i, k;

    if (!g_file_get_contents("/proc/net/route", &text, NULL, NULL)) {
        return;
    }
    lines = g_strsplit(text, "\n", -1);
    /* Line 0 is the header; a namespace without IPv4 may have none. */
    for (i = 0; lines[i]; i++) {
        char iface[IFNAMSIZ + 1];
        unsigned int dst, gw, flags, mask;
        OciRoute r;

        if (sscanf(lines[i], "%16s %x %x %x %*d %*d %*d %x", iface, &dst,
                   &gw, &flags, &mask) != 5 || !gw) {
            continue;
        }
        for (k = 0; k < nics->len; k++) {
            OciNic *n = g_ptr_array_index(nics, k);

            if (!strcmp(n->name, iface)) {
                r.dst = dst;
                r.gw = gw;
                r.prefix = __builtin_popcount(mask);
                g_array_append_val(n->routes, r);
            }
        }
    }
}

/* A tap named name, up, with mtu: its fd. */
static int make_tap(int sock, const char *name, uint32_t mtu, GError **errp)
{
    struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

    g_strlcpy(ifr.ifr_name, name, sizeof(ifr.ifr_name));
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
        g_set_error(errp, net_quark(), 1, "a tap device: %s",
                    g_strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    ifr.ifr_mtu = mtu;
    if (!ifreq_ioctl(sock, SIOCSIFMTU, &ifr, "setting the MTU of", errp) ||
        !ifreq_ioctl(sock, SIOCGIFFLAGS, &ifr, "the flags of", errp)) {
        close(fd);
        return -1;
    }
    ifr.ifr_flags |= IFF_UP;
    if (!ifreq_ioctl(sock, SIOCSIFFLAGS, &ifr, "bringing up", errp)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* tc (iproute2) with batch commands, in this network namespace. */
static gboolean run_tc(const char *batch, gboolean quiet, GError **errp)
{
    int in[2], status;
    pid_t pid;

    if (pipe2(in, O_CLOEXEC) < 0) {
        g_set_error(errp, net_quark(), 1, "pipe: %s", g_strerror(errno));
        return FALSE;
    }
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        dup2(in[0], 0);
        if (quiet) {
            dup2(null, 2);
        }
        dup2(null, 1);
        execlp("tc", "tc", "-force", "-batch", "-", (char *)NULL);
        dprintf(2, "pc-lite-oci: tc: %s\n", g_strerror(errno));
        _exit(127);
    }
    close(in[0]);
    chan_write_all(in[1], batch, strlen(batch));
    close(in[1]);
    if (pid > 0) {
        /* tc works for us: its CPU time is counted with ours (--cpu-log). */
        siginfo_t si;
        g_autofree char *path = g_strdup_printf("/proc/%d/schedstat", pid);
        g_autofree char *text = NULL;

        if (waitid(P_PID, pid, &si, WEXITED | WNOWAIT) == 0 &&
            g_file_get_contents(path, &text, NULL, NULL)) {
            oci_cpu_log_us("tc", g_ascii_strtoull(text, NULL, 10) / 1000);
        }
    }
    if (pid < 0 || waitpid(pid, &status, 0) < 0 ||
        !WIFEXITED(status) || WEXITSTATUS(status)) {
        g_set_error(errp, net_quark(), 1, "tc could not redirect the "
                    "container's interface to the VM's tap");
        return FALSE;
    }
    return TRUE;
}

/* Run fn(arg) in the network namespace at path; FALSE with errp set. */
static gboolean in_netns(const char *path,
                         gboolean (*fn)(void *, GError **), void *arg,
                         GError **errp)
{
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int ns = open(path, O_RDONLY | O_CLOEXEC);
    gboolean ok = FALSE;

    if (self < 0 || ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
        g_set_error(errp, net_quark(), 1, "network namespace %s: %s", path,
                    g_strerror(errno));
    } else {
        ok = fn(arg, errp);
        if (setns(self, CLONE_NEWNET) < 0) {
            g_error("pc-lite-oci: back to our network namespace: %s",
                    g_strerror(errno));
        }
    }
    if (self >= 0) {
        close(self);
    }
    if (ns >= 0) {
        close(ns);
    }
    return ok;
}

/*
 * The namespace at @path is the host's or ours: the same namespace
 * (device and inode of its nsfs file) as PID 1's or this process's.
 */
static gboolean is_host_netns(const char *path, GError **errp)
{
    static const char *const own[] = { "/proc/1/ns/net", "/proc/self/ns/net" };
    struct stat ns, other;
    unsigned i;

    if (stat(path, &ns) < 0) {
        g_set_error(errp, net_quark(), 1, "network namespace %s: %s", path,
                    g_strerror(errno));
        return TRUE;
    }
    for (i = 0; i < G_N_ELEMENTS(own); i++) {
        if (stat(own[i], &other) == 0 && other.st_dev == ns.st_dev &&
            other.st_ino == ns.st_ino) {
            g_set_error(errp, net_quark(), 1, "network namespace %s is the "
                        "%s's own (host networking): a VM does not take the "
                        "host's interfaces; give the container a network "
                        "namespace of its own (or --network none)", path,
                        i ? "runtime" : "host");
            return TRUE;
        }
    }
    return FALSE;
}

typedef struct {
    GPtrArray *nics;
    const char *id;
} NetSetup;

static gboolean setup(void *arg, GError **errp)
{
    NetSetup *ns = arg;
    GPtrArray *nics = ns->nics;
    g_autoptr(GString) batch = g_string_new(NULL);
    struct if_nameindex *names = if_nameindex(), *i;
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    gboolean ok = FALSE;
    guint k;

    if (!names || sock < 0) {
        g_set_error(errp, net_quark(), 1, "the container's interfaces: %s",
                    g_strerror(errno));
        goto out;
    }
    for (i = names; i->if_index; i++) {
        OciNic *n;

        if (!strcmp(i->if_name, "lo")) {
            continue;
        }
        n = read_nic(sock, i->if_name, errp);
        if (!n) {
            goto out;
        }
        g_ptr_array_add(nics, n);
    }
    read_routes(nics);
    for (k = 0; k < nics->len; k++) {
        OciNic *n = g_ptr_array_index(nics, k);

        g_snprintf(n->tap, sizeof(n->tap), TAP_PREFIX "%06x%u",
                   g_str_hash(ns->id) & 0xffffff, k);
        n->tap_fd = make_tap(sock, n->tap, n->mtu, errp);
        if (n->tap_fd < 0) {
            goto out;
        }
        g_string_append_printf(batch,
            "qdisc add dev %s ingress\n"
            "filter add dev %s parent ffff: protocol all u32 match u32 0 0 "
            "action mirred egress redirect dev %s\n"
            "qdisc add dev %s ingress\n"
            "filter add dev %s parent ffff: protocol all u32 match u32 0 0 "
            "action mirred egress redirect dev %s\n",
            n->name, n->name, n->tap, n->tap, n->tap, n->name);
    }
    ok = !batch->len || run_tc(batch->str, FALSE, errp);
out:
    if (!ok) {
        g_ptr_array_set_size(nics, 0);
    }
    if (names) {
        if_freenameindex(names);
    }
    if (sock >= 0) {
        close(sock);
    }
    return ok;
}

/* FALSE, with errp set, when netns (a path) must not be taken. */
gboolean oci_net_check(const char *netns, GError **errp)
{
    return !netns || !*netns || !is_host_netns(netns, errp);
}

/* The interfaces of this process's network namespace, into taps. */
GPtrArray *oci_net_setup(const char *id, GError **errp)
{
    GPtrArray *nics = g_ptr_array_new_with_free_func(oci_nic_free);
    NetSetup arg = { nics, id };

    if (!setup(&arg, errp)) {
        g_ptr_array_unref(nics);
        return NULL;
    }
    return nics;
}

static gboolean teardown(void *arg, GError **errp)
{
    g_autoptr(GString) batch = g_string_new(NULL);
    char **names = arg;
    int k;

    for (k = 0; names[k]; k++) {
        g_string_append_printf(batch, "qdisc del dev %s ingress\n", names[k]);
    }
    return run_tc(batch->str, TRUE, errp);
}

void oci_net_teardown(const char *netns, char **names)
{
    g_autoptr(GError) err = NULL;

    if (netns && *netns && names && names[0] &&
        g_file_test(netns, G_FILE_TEST_EXISTS)) {
        in_netns(netns, teardown, names, &err);
    }
}

void oci_net_frames(GPtrArray *nics, GByteArray *out)
{
    guint k, j;

    for (k = 0; k < nics->len; k++) {
        OciNic *n = g_ptr_array_index(nics, k);
        uint8_t v[12] = { 0 };

        memcpy(v, n->mac, 6);
        chan_put_u32(v + 8, n->mtu);
        pcl_frame(out, FRAME_NIC, 0, v, 12);
        if (n->addr) {
            v[0] = n->prefix;
            memcpy(v + 4, &n->addr, 4);
            pcl_frame(out, FRAME_ADDR, 0, v, 8);
        }
        for (j = 0; j < n->routes->len; j++) {
            OciRoute *r = &g_array_index(n->routes, OciRoute, j);

            memset(v, 0, sizeof(v));
            v[0] = r->prefix;
            memcpy(v + 4, &r->dst, 4);
            memcpy(v + 8, &r->gw, 4);
            pcl_frame(out, FRAME_ROUTE, 0, v, 12);
        }
    }
}
