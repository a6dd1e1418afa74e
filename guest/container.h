/*
 * pc-lite guest init: a container's environment (guest/container.c).
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef PCLITE_CONTAINER_H
#define PCLITE_CONTAINER_H

#include <stdint.h>
#include <sys/types.h>

#include "../proto/channel.h"

#define CONTAINER_ROOT      "/tmp/.pclite-root"
#define CONTAINER_ROOT_TAG  "pclite-root"
#define CONTAINER_BINDS_TAG "pclite-binds"
#define CONTAINER_MAX_RLIMITS 16

/* Who a container process runs as ('U' and 'R' frames). */
struct container_user {
    uid_t uid;
    gid_t gid;
    mode_t umask;
    int ngroups;
    gid_t groups[64];
    int nrlimits;
    struct {
        int type;
        uint64_t soft, hard;
    } rlimits[CONTAINER_MAX_RLIMITS];
};

/* Each returns 0, or -1 with container_error() saying what failed. */
int container_mount_root(void);
int container_mount(const char *dest, const char *type, const char *source,
                    const char *options);
int container_finish(uint32_t flags);
int container_hostname(const char *name);
int container_loopback(void);
int container_net_link(int n, const uint8_t mac[6], uint32_t mtu);
int container_net_addr(int n, uint32_t addr, int prefix);
int container_net_route(int n, uint32_t dst, int prefix, uint32_t gw);
int container_find_program(const char *prog, char *const *envp);
const char *container_error(void);
void container_bad_frame(const char *what);

/* In a session's child: chroot into the container, become the user. */
int container_enter(const struct container_user *u);

#endif
