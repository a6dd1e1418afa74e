/*
 * libFuzzer target: the OCI runtime's config.json parser (oci/spec.c),
 * the input an engine hands the runtime, as JSON text.  A config either
 * parses into a spec that holds together or fails with a message; the
 * process frames a spec gives the guest are built too.  The bundle is a
 * directory made once, with a rootfs, so that root.path can resolve.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib/gstdio.h>

#include "../../oci/oci.h"

static char *bundle;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    bundle = g_dir_make_tmp("fuzz-oci-config-XXXXXX", NULL);
    g_autofree char *rootfs = g_build_filename(bundle, "rootfs", NULL);

    g_mkdir(rootfs, 0755);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *o = json_loadb((const char *)data, size, 0, NULL);
    GError *err = NULL;
    OciSpec *spec;

    if (!json_is_object(o)) {
        json_decref(o);
        return 0;
    }
    spec = oci_spec_parse(o, bundle, "config.json", &err);
    json_decref(o);
    if (!spec) {
        if (!err || !err->message || !*err->message) {
            fprintf(stderr, "fuzz_oci_config: a failure without a message\n");
            abort();
        }
        g_error_free(err);
        return 0;
    }
    if (!spec->process || !spec->process->args || !spec->process->args[0] ||
        !spec->root || spec->cpus < 1 || spec->mem_mib < 64 || !spec->netns) {
        fprintf(stderr, "fuzz_oci_config: a spec that does not hold\n");
        abort();
    }
    {
        GByteArray *frames = g_byte_array_new();

        oci_process_frames(spec->process, frames);
        g_byte_array_unref(frames);
    }
    oci_spec_free(spec);
    return 0;
}
