/*
 * pc-lite-oci: an OCI runtime that runs each container in a pc-lite VM.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef PCLITE_OCI_H
#define PCLITE_OCI_H

#include <glib.h>
#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "../host/host.h"

#define OCI_VERSION "1.0.2"
#define PC_LITE_OCI_VERSION "0.1"

/* A resource limit of process.rlimits. */
typedef struct {
    uint32_t type;
    uint64_t soft, hard;
} OciRlimit;

/* process (config.json) or an exec's --process file. */
typedef struct {
    gboolean terminal;
    char **args;
    char **env;
    char *cwd;
    uint32_t uid, gid, umask;
    GArray *groups;             /* uint32_t */
    GArray *rlimits;            /* OciRlimit */
    uint32_t rows, cols;        /* consoleSize, 0 when not given */
} OciProcess;

/* A mount of config.json; source is the host's path for binds. */
typedef struct {
    char *dest, *type, *source, *options;
    gboolean bind;
} OciMount;

/* An IPv4 route through a gateway (network byte order). */
typedef struct {
    uint32_t dst, gw;
    uint8_t prefix;
} OciRoute;

/* An interface of the container's network namespace, and its tap. */
typedef struct {
    char name[16], tap[16];
    uint8_t mac[6];
    uint32_t mtu;
    uint32_t addr;              /* IPv4, network byte order; 0: none */
    uint8_t prefix;
    GArray *routes;             /* OciRoute */
    int tap_fd;
} OciNic;

/* What pc-lite-oci takes from config.json. */
typedef struct {
    char *bundle;
    char *root;                 /* absolute path of the rootfs */
    gboolean root_readonly;
    char *hostname;
    OciProcess *process;
    GPtrArray *mounts;          /* OciMount */
    int cpus;
    int mem_mib;
    gboolean template;          /* start from a template (default) */
    char *netns;                /* the network namespace's path, "": new */
    char *cgroups_path;         /* linux.cgroupsPath, NULL when not given */
    json_t *hooks;              /* the config's hooks (hooks.c), or NULL */
    json_t *annotations;        /* or NULL */
    GPtrArray *nics;            /* OciNic, once create has set them up */
} OciSpec;

/* spec.c */
json_t *oci_json_load(const char *path, GError **errp);
OciSpec *oci_spec_load(const char *bundle, GError **errp);
OciSpec *oci_spec_parse(json_t *o, const char *bundle, const char *path,
                        GError **errp);
OciProcess *oci_process_load(const char *path, GError **errp);
void oci_spec_free(OciSpec *spec);
void oci_process_free(OciProcess *p);
int oci_signal_parse(const char *name);

/* hooks.c: the runtime spec's hooks, run with the container's state */
gboolean oci_hook_kind_known(const char *kind);
gboolean oci_hooks_run(json_t *hooks, const char *kind, const char *state,
                       GError **errp);
char *oci_hook_state(const char *id, const char *status, pid_t pid,
                     const char *bundle, json_t *annotations);

/* cgroup.c: the container's cgroup, which its monitor and QEMU join */
char **oci_cgroup_dirs(const char *cgroups_path, const char *id);
gboolean oci_cgroup_join(char **dirs, pid_t pid, GError **errp);
void oci_cgroup_remove(char **dirs);
gboolean oci_cgroup_v2(void);
gboolean oci_cgroup_write_cpu(char **dirs, const char *v1, const char *v2,
                              const char *value, GError **errp);

/* Channel frames that describe a process, for session 0 of the channel. */
void oci_process_frames(const OciProcess *p, GByteArray *out);

/* vm.c: a container's VM, described for host/ */
typedef struct {
    PclPaths paths;             /* QEMU, the guest, the template store */
    char *accel;
} OciHost;

typedef struct {
    char **argv;                /* QEMU's command line */
    gboolean clone;             /* from a template: init already waits */
    gboolean has_generation;
    uint8_t generation[16];     /* a clone's VM generation ID (GUID) */
} OciVm;

void oci_host_init(OciHost *host, const char *accel);
gboolean oci_vm_prepare(const OciHost *host, const OciSpec *spec,
                        const char *state_dir, int channel_fd, OciVm *vm,
                        GError **errp);
void oci_vm_clear(OciVm *vm);

/* net.c */
gboolean oci_net_check(const char *netns, GError **errp);
GPtrArray *oci_net_setup(const char *id, GError **errp);
void oci_net_teardown(const char *netns, char **names);
void oci_net_frames(GPtrArray *nics, GByteArray *out);
void oci_nic_free(gpointer data);

/* ns.c: the monitor's namespaces */
pid_t oci_ns_clone(int flags);
gboolean oci_ns_join_net(const char *path, GError **errp);
gboolean oci_ns_mounts(const char *rootfs, GError **errp);
gboolean oci_ns_pivot(const char *rootfs, int dirfd, GError **errp);

/* monitor.c: the process that lives as long as the container */
typedef struct {
    const OciHost *host;
    OciSpec *spec;
    const char *id;
    char *dir;                  /* the container's state directory */
    int in, out, err;           /* the container process's streams */
    gboolean tty;
    int ready_fd;               /* create's socket: "ns", "go", "ok" */
} OciMonitorArgs;

void oci_monitor_main(OciMonitorArgs *args) G_GNUC_NORETURN;

/* util.c: logs, state files, rootless, the control socket's client */
typedef struct {
    char *log, *log_format;     /* --log, --log-format */
    char *cpu_log;              /* --cpu-log */
    const char *command, *id;
    long long cpu_at_main;      /* exec and loading, before main() */
} OciLogOpts;
extern OciLogOpts oci_log_opts;

void oci_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
long long oci_cpu_us(void);
void oci_cpu_log(const char *what);
void oci_cpu_log_us(const char *what, long long us);
void oci_cpu_log_at_exit(void);
void oci_logs_keep_open(void);
gboolean oci_rootless(void);
gboolean oci_write_file(const char *path, const char *data, gssize len,
                        GError **errp);
int oci_ctl_connect(const char *dir, GError **errp);
gboolean oci_ctl_send(int fd, const void *data, size_t len, const int *fds,
                      int nfds, GError **errp);

#endif
