/*
 * The pc-lite command channel's protocol: frame types, flags, sizes and
 * version, and the framing, in one header for both C ends, the guest's
 * init (guest/init.c) and the host tools (oci/: the OCI runtime's
 * monitor).  python/pclite/channel.py, the runner's end, has the same
 * constants; tests/unit/test_channel_proto.py checks them against this
 * file.  Specification: docs/pc-lite.rst, "The command channel".
 *
 * A frame is an 8-byte header (type, session, two zero bytes, payload
 * length as 32-bit little-endian) and the payload.  Session 0 is the
 * command (a container's process); sessions 1-255 are further commands
 * started beside it (pc-lite-oci exec, a startContainer hook).
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef PCLITE_CHANNEL_H
#define PCLITE_CHANNEL_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHANNEL_NAME     "org.pclite.channel.0"
#define CHANNEL_VERSION  2
#define CHANNEL_MAX      (1 << 20)      /* largest payload */
#define CHANNEL_SESSIONS 256

/* 'S' flags */
#define CHANNEL_STDIN    1u             /* stdin comes as 'I' frames */
#define CHANNEL_TTY      2u             /* a terminal (output as 'o' only) */

/* 'K' flags */
#define CHANNEL_KILL_ALL 1u             /* every process of the container */

/* 'C' flags */
#define CHANNEL_ROOT_RO  1u             /* the container's root read-only */

/* Frame types: upper case from the host, lower case from the guest. */
enum chan_frame_type {
    /* Host to guest, session 0: the VM and the container's set-up. */
    FRAME_TIME      = 'T',  /* wall clock: int64 s, uint32 ns */
    FRAME_GENID     = 'G',  /* a clone's VM generation ID, 16 bytes */
    FRAME_CONTAINER = 'C',  /* a container: uint32 flags (CHANNEL_ROOT_RO) */
    FRAME_MOUNT     = 'M',  /* dest, type, source, options, NUL-ended */
    FRAME_NIC       = 'N',  /* an interface: MAC, 2 pad bytes, uint32 MTU */
    FRAME_ADDR      = 'L',  /* its IPv4 address: prefix, 3 pad, address */
    FRAME_ROUTE     = 'O',  /* a route: prefix, 3 pad, destination, gw */
    FRAME_HOSTNAME  = 'H',
    FRAME_SETUP     = 'P',  /* set the container up now (-> 'r') */
    FRAME_LIST      = 'Y',  /* list the processes (-> 'y') */
    FRAME_QUIT      = 'Q',  /* done: power off */
    /* Host to guest, per session: a command. */
    FRAME_ARG       = 'A',  /* one argument; the first is the program */
    FRAME_ENV       = 'V',  /* one NAME=VALUE */
    FRAME_CWD       = 'D',
    FRAME_USER      = 'U',  /* uint32 uid, gid, umask, then groups */
    FRAME_RLIMIT    = 'R',  /* uint32 resource, uint64 soft, uint64 hard */
    FRAME_WINSIZE   = 'W',  /* uint32 rows, uint32 columns */
    FRAME_START     = 'S',  /* uint32 flags (CHANNEL_STDIN, CHANNEL_TTY) */
    FRAME_INPUT     = 'I',  /* standard input; empty: its end */
    FRAME_SIGNAL    = 'K',  /* uint32 signal, uint32 flags (KILL_ALL) */
    /* Guest to host. */
    FRAME_HELLO     = 'h',  /* uint32 protocol version */
    FRAME_READY     = 'r',  /* the container is ready (empty) or why not */
    FRAME_STARTED   = 'p',  /* a session's command started: uint32 pid */
    FRAME_OUTPUT    = 'o',  /* its standard output */
    FRAME_ERROR     = 'e',  /* its standard error */
    FRAME_EXIT      = 'x',  /* uint32 status, uint32 signal or 0 */
    FRAME_PROCESSES = 'y',  /* "PID UID COMMAND" lines */
};

struct chan_frame {
    uint8_t type;
    uint8_t session;
    uint32_t len;
    char *data;                         /* len bytes and a NUL */
};

/* Bytes read from a stream, until a frame is whole. */
struct chan_reader {
    char *buf;
    size_t len, size;
    char *last;                         /* the payload last returned */
};

static inline uint32_t chan_u32(const void *p)
{
    const uint8_t *u = p;

    return u[0] | u[1] << 8 | u[2] << 16 | (uint32_t)u[3] << 24;
}

/* Four bytes as they are (an address in network byte order). */
static inline uint32_t chan_raw32(const void *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t chan_u64(const void *p)
{
    return chan_u32(p) | (uint64_t)chan_u32((const uint8_t *)p + 4) << 32;
}

static inline void chan_put_u32(void *p, uint32_t v)
{
    uint8_t *u = p;

    u[0] = v;
    u[1] = v >> 8;
    u[2] = v >> 16;
    u[3] = v >> 24;
}

static inline void chan_put_u64(void *p, uint64_t v)
{
    chan_put_u32(p, v);
    chan_put_u32((uint8_t *)p + 4, v >> 32);
}

static inline int chan_write_all(int fd, const void *buf, size_t len)
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

/* One frame; -1 when the stream is gone. */
static inline int chan_send(int fd, uint8_t type, uint8_t session,
                            const void *data, uint32_t len)
{
    uint8_t hdr[8] = { type, session, 0, 0 };

    chan_put_u32(hdr + 4, len);
    if (chan_write_all(fd, hdr, sizeof(hdr)) < 0) {
        return -1;
    }
    return len ? chan_write_all(fd, data, len) : 0;
}

/* A frame of n uint32 numbers (n <= 4). */
static inline int chan_send_u32s(int fd, uint8_t type, uint8_t session,
                                 const uint32_t *v, int n)
{
    uint8_t p[16];
    int i;

    for (i = 0; i < n; i++) {
        chan_put_u32(p + 4 * i, v[i]);
    }
    return chan_send(fd, type, session, p, 4 * n);
}

/*
 * 1: a frame in *f (its payload valid until the next call), 0: more bytes
 * needed, -1: not a frame.
 */
static inline int chan_next_frame(struct chan_reader *r, struct chan_frame *f)
{
    uint32_t len;

    free(r->last);
    r->last = NULL;
    if (r->len < 8) {
        return 0;
    }
    len = chan_u32(r->buf + 4);
    if (len > CHANNEL_MAX || r->buf[2] || r->buf[3]) {
        return -1;
    }
    if (r->len < 8 + (size_t)len) {
        return 0;
    }
    f->type = r->buf[0];
    f->session = r->buf[1];
    f->len = len;
    f->data = r->last = malloc(len + 1);
    if (!f->data) {
        return -1;
    }
    memcpy(f->data, r->buf + 8, len);
    f->data[len] = '\0';
    memmove(r->buf, r->buf + 8 + len, r->len - 8 - len);
    r->len -= 8 + len;
    return 1;
}

/* Room for @len more bytes in the reader; -1 when there is none. */
static inline int chan_reserve(struct chan_reader *r, size_t len)
{
    if (r->size - r->len < len) {
        size_t size = r->size * 2 + len;
        char *buf = realloc(r->buf, size);

        if (!buf) {
            return -1;
        }
        r->buf = buf;
        r->size = size;
    }
    return 0;
}

/* Bytes that came some other way than chan_fill (a test, a fuzzer). */
static inline int chan_feed(struct chan_reader *r, const void *data,
                            size_t len)
{
    if (chan_reserve(r, len) < 0) {
        return -1;
    }
    memcpy(r->buf + r->len, data, len);
    r->len += len;
    return 0;
}

/* Read what the stream has: > 0 bytes read, 0 at its end, -1 on error. */
static inline ssize_t chan_fill(struct chan_reader *r, int fd)
{
    ssize_t n;

    if (chan_reserve(r, 65536) < 0) {
        return -1;
    }
    do {
        n = read(fd, r->buf + r->len, r->size - r->len);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        r->len += n;
    }
    return n;
}

#endif
