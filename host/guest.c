/*
 * The command channel's host end, what the guest says.  The
 * guest is the untrusted side of the channel: every frame it sends is
 * checked here (its framing, its session, the length its type has)
 * before a tool acts on it, and a frame that breaks the protocol ends
 * the VM's session.  Frame types of a later protocol are skipped.
 * tests/unit (cases) and tests/fuzz/fuzz_guest_frames.c (libFuzzer) feed
 * it guest-written bytes.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <time.h>

#include "host.h"
#include "../proto/channel.h"

static int bad(GError **errp, const struct chan_frame *f, const char *why)
{
    g_set_error(errp, PCL_ERROR, 1, "the VM sent a bad frame ('%c', "
                "session %u, %u bytes): %s", g_ascii_isprint(f->type) ?
                f->type : '?', f->session, f->len, why);
    return -1;
}

int pcl_guest_next(struct chan_reader *r, PclGuestEvent *ev, GError **errp)
{
    struct chan_frame f;

    for (;;) {
        int ret = chan_next_frame(r, &f);

        if (ret < 0) {
            g_set_error(errp, PCL_ERROR, 1, "the VM sent bytes that are "
                        "not a frame");
            return -1;
        }
        if (ret == 0) {
            return 0;
        }
        *ev = (PclGuestEvent){ .type = f.type, .session = f.session,
                               .data = f.data, .len = f.len };
        switch (f.type) {
        case FRAME_HELLO:
            if (f.len != 4 || f.session) {
                return bad(errp, &f, "a hello is a version on session 0");
            }
            ev->version = chan_u32(f.data);
            return 1;
        case FRAME_STARTED:
            if (f.len != 4) {
                return bad(errp, &f, "a start is a PID");
            }
            ev->pid = chan_u32(f.data);
            return 1;
        case FRAME_EXIT:
            if (f.len != 8) {
                return bad(errp, &f, "an exit is a status and a signal");
            }
            ev->status = chan_u32(f.data);
            ev->signal = chan_u32(f.data + 4);
            if (ev->status > 255 || ev->signal > 64) {
                return bad(errp, &f, "no such exit status or signal");
            }
            return 1;
        case FRAME_READY:
        case FRAME_PROCESSES:
            if (f.session) {
                return bad(errp, &f, "only session 0 answers this");
            }
            return 1;
        case FRAME_OUTPUT:
        case FRAME_ERROR:
            return 1;
        default:
            break;              /* a later protocol's: skipped */
        }
    }
}

void pcl_frame(GByteArray *out, char type, uint8_t session,
               const void *data, uint32_t len)
{
    uint8_t hdr[8] = { type, session, 0, 0 };

    chan_put_u32(hdr + 4, len);
    g_byte_array_append(out, hdr, sizeof(hdr));
    if (len) {
        g_byte_array_append(out, data, len);
    }
}

void pcl_time_frame(GByteArray *out)
{
    struct timespec ts;
    uint8_t v[12];

    clock_gettime(CLOCK_REALTIME, &ts);
    chan_put_u64(v, ts.tv_sec);
    chan_put_u32(v + 8, ts.tv_nsec);
    pcl_frame(out, FRAME_TIME, 0, v, sizeof(v));
}
