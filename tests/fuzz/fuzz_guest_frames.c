/*
 * libFuzzer target: the command channel's host end (host/guest.c) fed what
 * a guest may write.  The input is cut into the pieces a stream may bring
 * (its first byte seeds the cut sizes); every event that comes out must
 * be one the protocol allows, with its payload whole and NUL-ended, and
 * a protocol error must end the reading.  ASan and UBSan catch the rest.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../oci/oci.h"
#include "../../proto/channel.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_guest_frames: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct chan_reader r = { 0 };
    unsigned int seed = size ? data[0] : 1;
    size_t off = size ? 1 : 0;
    int ret = 0;

    while (off < size && ret >= 0) {
        size_t n = 1 + (seed = seed * 1103515245u + 12345u) % 4096;
        PclGuestEvent ev;
        GError *err = NULL;

        n = MIN(n, size - off);
        check(chan_feed(&r, data + off, n) == 0, "feed");
        off += n;
        while ((ret = pcl_guest_next(&r, &ev, &err)) > 0) {
            check(ev.len <= CHANNEL_MAX, "payload too long");
            check(ev.data && ev.data[ev.len] == '\0', "payload not ended");
            check(ev.session >= 0 && ev.session < CHANNEL_SESSIONS,
                  "session");
            check(g_ascii_islower(ev.type), "a host's frame type");
            if (ev.type == FRAME_EXIT) {
                check(ev.status <= 255 && ev.signal <= 64, "exit");
            }
        }
        check((ret < 0) == (err != NULL), "error and status disagree");
        g_clear_error(&err);
    }
    free(r.buf);
    free(r.last);
    return 0;
}
