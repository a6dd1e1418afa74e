/*
 * libpclite-host: the host side of pc-lite, under pc-lite-run (run/) and
 * the OCI runtime pc-lite-oci (oci/).  One module per job:
 *
 *   paths.c     where QEMU, the guest and the cache are; the accelerator
 *   image.c     the NVDIMM root image: checked, opened, locked
 *   vm.c        a VM's description and the QEMU command line made of it
 *   spawn.c     QEMU as a child process
 *   qmp.c       a QMP client on a socket
 *   template.c  the template store: key, manifest, check, creation under
 *               a lock, listing, removal, a clone's generation ID
 *   guest.c     the command channel's host end: guest frames, checked
 *   session.c   one command over the channel, with this process's streams
 *   trace.c     QEMU's trace log: the boot and clone phases
 *
 * The channel's protocol is proto/channel.h, shared with the guest.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef PCLITE_HOST_H
#define PCLITE_HOST_H

#include <glib.h>
#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#define PCL_ERROR pcl_error_quark()
GQuark pcl_error_quark(void);

#define PCL_MiB (1024 * 1024)

/* paths.c */
typedef struct {
    char *build;                /* the directory of the running binary */
    char *qemu;                 /* $PC_LITE_QEMU or build/qemu-system-... */
    char *kernel, *rootfs;      /* build/guest/vmlinux, rootfs.img */
    char *cache;                /* $PC_LITE_CACHE, ~/.cache/pc-lite, ... */
} PclPaths;

void pcl_paths_init(PclPaths *p);
void pcl_paths_clear(PclPaths *p);
/*
 * The accelerator: requested ("kvm", "tcg", "auto" or NULL: auto), auto
 * being KVM when /dev/kvm opens and KVM boots kernel, as recorded in
 * build/accel-probe.json; probe(kernel, opaque) boots it once under KVM
 * when there is no record.  NULL when requested is none of them.
 */
typedef gboolean (*PclKvmProbe)(const char *kernel, void *opaque);
char *pcl_accel_for_boot(const PclPaths *p, const char *requested,
                         const char *kernel, PclKvmProbe probe, void *opaque,
                         GError **errp);

/* image.c: the fsdax root image of scripts/pc-lite-image.py */
typedef enum {
    PCL_ROOT_COW,               /* mapped private: writes are dropped */
    PCL_ROOT_PERSIST,           /* mapped shared: writes reach the file */
    PCL_ROOT_READONLY,          /* mapped private and read-only */
    PCL_ROOT_SHARED_RO,         /* shared, read-only: templates, containers */
} PclRootMode;

gboolean pcl_image_check(const char *path, gsize *size, GError **errp);
int pcl_image_open(const char *path, PclRootMode mode, gsize *size,
                   GError **errp);

/* vm.c: a VM and its QEMU command line */
typedef struct {
    int tap_fd;                 /* a tap, or -1: a hub port (no network) */
    uint8_t mac[6];
} PclNic;

typedef struct {
    /* The machine: all of it goes into a template's key. */
    char *qemu, *kernel, *rootfs;
    gsize rootfs_size;
    PclRootMode root_mode;
    int cpus, mem_mib;
    char *accel;
    char **append;              /* more kernel command-line words */
    char *vmgenid;              /* "auto" (NULL) or a fixed UUID */
    char **share_tags;          /* virtio-9p shares, by mount tag */
    int nics;                   /* virtio-net interfaces */
    /* This run: not in the key. */
    char **share_paths;         /* the shares' host directories */
    PclNic *nic;                /* nics of them */
    char *ram;                  /* guest RAM in this file, or NULL */
    gboolean clone;             /* ... mapped copy-on-write, read-only */
    char *incoming;             /* start from this saved state */
    char *generation;           /* a clone's VM generation ID (UUID) */
    char *console;              /* console log, NULL: hvc0 on stdio */
    int channel_fd;             /* the command channel, -1: none */
    gboolean shell;             /* init gives a shell on the console */
    gboolean rng;
    gboolean sandbox;           /* QEMU's seccomp filter */
    char *user;                 /* "UID:GID" QEMU changes to, or NULL */
    gboolean no_reboot;
    char *trace;                /* QEMU's trace log of the phases' events */
    int qmp_fd;                 /* a QMP monitor on this socket, or -1 */
} PclVm;

void pcl_vm_init(PclVm *vm);
void pcl_vm_clear(PclVm *vm);
char **pcl_vm_argv(const PclVm *vm);
/* "256M", "1G" or "512" (MiB): FALSE unless 1 MiB to 1 TiB */
gboolean pcl_parse_mib(const char *text, int *mib);
/* What makes the machine, as JSON (a template's inputs); NULL: errp */
json_t *pcl_vm_inputs(const PclVm *vm, GError **errp);

/* shape.c: a VM's shape from command-line options, for every tool */
#include <getopt.h>

enum {
    PCL_OPT_ROOTFS = 0x1000, PCL_OPT_KERNEL, PCL_OPT_CPUS, PCL_OPT_MEM,
    PCL_OPT_ACCEL, PCL_OPT_APPEND, PCL_OPT_VMGENID, PCL_OPT_QEMU_USER,
    PCL_OPT_KEEP_ROOT,
};

#define PCL_SHAPE_USAGE \
"  --rootfs IMG        fsdax root image (default build/guest/rootfs.img)\n" \
"  --kernel FILE       guest kernel (default build/guest/vmlinux)\n" \
"  --cpus N            vCPUs (default 1)\n" \
"  --mem SIZE          guest RAM besides the image (default 128M)\n" \
"  --accel kvm|tcg     default: KVM when it boots Linux here\n" \
"  --append WORD       more kernel command-line words\n" \
"  --vmgenid auto|UUID the VM generation ID of a template and its clones\n" \
"                      (auto: a new one for every clone)\n" \
"  --qemu-user USER    as root, QEMU changes to USER (a name or UID:GID)\n" \
"                      once it has opened its files (default nobody)\n" \
"  --keep-root         as root, QEMU stays root\n"

typedef struct {
    char *kernel, *rootfs, *accel;
    int cpus, mem_mib;
    GPtrArray *append;          /* more kernel command-line words */
    char *vmgenid;              /* NULL: auto */
    char *qemu_user;
    gboolean keep_root;
    char *user;                 /* "UID:GID" from pcl_shape_user() */
} PclShape;

extern const struct option pcl_shape_options[];
void pcl_shape_init(PclShape *s);
void pcl_shape_clear(PclShape *s);
/* getopt's opt: 1 taken, 0 not a shape option, -1 a bad value (errp) */
int pcl_shape_option(PclShape *s, int opt, const char *arg, GError **errp);
/* The kernel and root image of p unless given. */
void pcl_shape_defaults(PclShape *s, const PclPaths *p);
/* As root: the user QEMU changes to, into s->user. */
gboolean pcl_shape_user(PclShape *s, GError **errp);
/* The cold VM of the shape (root copy-on-write), and its template's. */
void pcl_shape_vm(const PclShape *s, const PclPaths *p, gsize size,
                  PclVm *vm);
void pcl_shape_template(const PclShape *s, const PclPaths *p, gsize size,
                        PclVm *vm);
/* A NULL-ended copy of a's strings. */
char **pcl_strv_of(GPtrArray *a);

/* spawn.c */
typedef struct {
    const int *keep;            /* descriptors QEMU inherits as they are */
    int nkeep;
    int in, out, err;           /* its stdin, stdout, stderr (-1: null) */
    gboolean limit_caps;        /* as root, keep only what 9p needs */
} PclSpawn;

pid_t pcl_spawn_qemu(char **argv, const PclSpawn *how, GError **errp);
/* rm -rf dir, made writable first (templates are read-only). */
void pcl_remove_tree(const char *dir);

/* qmp.c: one QMP monitor on a connected socket */
typedef struct {
    int fd;
    GString *buf;
    int timeout_ms;
} PclQmp;

gboolean pcl_qmp_open(PclQmp *q, int fd, int timeout_ms, GError **errp);
/* A command's return value (to json_decref()), NULL and errp on error. */
json_t *pcl_qmp_call(PclQmp *q, const char *cmd, json_t *args, int send_fd,
                     GError **errp);
void pcl_qmp_close(PclQmp *q);

/* template.c */
#define PCL_TEMPLATE_FORMAT 4

typedef struct {
    char *key;
    char *dir;
    json_t *manifest;
} PclTemplate;

char *pcl_template_key(const PclVm *vm, GError **errp);
char *pcl_template_top(const PclPaths *p);
/*
 * The template of vm (vm's run fields other than user are ignored),
 * checked; made now when there is none or when it is damaged.
 * remade_because is called with the reason before a remake.
 */
gboolean pcl_template_get(const char *top, const PclVm *vm, int timeout_ms,
                          void (*remade_because)(const char *why),
                          PclTemplate *t, GError **errp);
/* Check the template in dir: its manifest, or NULL and why not. */
json_t *pcl_template_check(const char *dir, GError **errp);
gboolean pcl_template_remove(const char *top, const char *key);
/* The keys of every template in top, sorted. */
char **pcl_template_keys(const char *top);
void pcl_template_clear(PclTemplate *t);
/* A clone of t: vm's ram, clone, incoming and generation set. */
void pcl_template_clone(const PclTemplate *t, PclVm *vm,
                        uint8_t guid[16], gboolean *has_guid);
/* A new VM generation ID: its UUID string and the guest's 16 bytes. */
char *pcl_new_generation(uint8_t guid[16]);

/* guest.c: what the guest says on the channel, checked */
struct chan_reader;
typedef struct {
    char type;                  /* enum chan_frame_type */
    int session;
    const char *data;           /* the payload, NUL-ended: output, text */
    uint32_t len;
    uint32_t version, pid;      /* hello, started */
    uint32_t status, signal;    /* exit */
} PclGuestEvent;

int pcl_guest_next(struct chan_reader *r, PclGuestEvent *ev, GError **errp);
/* A frame into out. */
void pcl_frame(GByteArray *out, char type, uint8_t session,
               const void *data, uint32_t len);
/* The wall clock frame (T). */
void pcl_time_frame(GByteArray *out);

/* session.c: one command, this process's streams as its own */
typedef struct {
    char **argv, **env;
    const char *cwd;
    int in;                     /* stdin to stream, or -1 (/dev/null) */
    int out, err;               /* where its output goes */
    gboolean at_once;           /* init already waits (a clone) */
    const uint8_t *generation;  /* a clone's new generation ID, or NULL */
    int chan;                   /* our end of the channel */
    pid_t qemu;                 /* ended: the session fails */
    int qemu_err;               /* QEMU's stderr pipe (kept), or -1 */
    gint64 deadline_us;         /* monotonic limit, 0: none */
    int start_timeout_ms;       /* for the guest to start it */
    int signal_fd;              /* signals to forward (a signalfd), or -1 */
    gboolean pooled;            /* QEMU is not our child: */
    int qemu_pidfd;             /* ... its exit seen on this pidfd */
    /* Results */
    gboolean started;
    int interrupted;            /* a signal came before it started */
    gint64 t_first_output_us;   /* wall clock, 0: no output */
    int qemu_status;            /* QEMU's wait status once reaped, or -1 */
    GString *qemu_stderr;       /* QEMU's last 64 KiB of stderr */
} PclSession;

/* The command's status (128 + signal), or -1 and errp. */
int pcl_session_run(PclSession *s, GError **errp);

/* pool.c: pc-lite-pool's socket */
typedef struct {
    int chan;                   /* the VM's command channel */
    int pidfd;                  /* its QEMU (the pool's child) */
    pid_t pid;
    gboolean has_guid;          /* a new generation ID (vmgenid=auto): */
    uint8_t guid[16];           /* ... for the channel's G frame */
} PclPooled;

/* $PC_LITE_POOL, or the default socket; NULL when it is "off". */
char *pcl_pool_socket(void);
gboolean pcl_pool_take(const char *path, const char *key, PclPooled *vm,
                       GError **errp);
char *pcl_pool_status(const char *path, GError **errp);
gboolean pcl_pool_send(int fd, const char *text, const int *fds, int nfds);
ssize_t pcl_pool_recv(int fd, char *buf, size_t len, int *fds, int *nfds);

/* trace.c */
#define PCL_TRACE_EVENTS "vm_state_notify,pc_lite_cpu_entry,pc_lite_marker"

typedef struct {
    double start, entry, init, ready, done;     /* host clock, s; 0: none */
} PclStamps;

void pcl_trace_parse(const char *text, PclStamps *st);
/* The phases (ms) as JSON, NULL when a stamp is missing. */
json_t *pcl_boot_phases(const PclStamps *st, double t_exec, double t_exit);
json_t *pcl_clone_phases(const PclStamps *st, double t_exec,
                         double t_first_output, double t_exit);
char *pcl_phases_format(json_t *phases);

#endif
