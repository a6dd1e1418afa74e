/*
 * QEMU's trace log (-msg timestamp=on -D FILE -d trace:...): the host
 * clock's stamps of the events pc-lite's phases are made of, and the
 * phases of a boot and of a clone.  docs/pc-lite.rst, "Measuring boot
 * time", defines them; python/pclite/trace.py computes the same phases
 * for the benchmark's other machines, and tests/unit checks both
 * against one log (tests/data/trace-sample.log).
 *
 *   exec   just before QEMU is spawned
 *   start  vm_state_notify "running 1": the vCPUs are released (pc-lite
 *          puts the boot CPU on the kernel's entry before: the entry)
 *   init, ready, done
 *          the guest init's writes of 0xb001, 0xb002, 0xb003 to pc-lite's
 *          marker port (trace pc_lite_marker)
 *   exit   QEMU has exited
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"

static void stamp(double *slot, double t)
{
    if (!*slot) {
        *slot = t;              /* the first of each */
    }
}

void pcl_trace_parse(const char *text, PclStamps *st)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    int i;

    memset(st, 0, sizeof(*st));
    for (i = 0; lines[i]; i++) {
        unsigned long long sec, usec;
        unsigned marker;
        const char *ev;
        double t;
        int n = 0;

        /* PID@SEC.USEC:EVENT ... */
        ev = strchr(lines[i], '@');
        if (!ev || sscanf(ev, "@%llu.%llu:%n", &sec, &usec, &n) != 2 || !n) {
            continue;
        }
        ev += n;
        t = sec + usec / 1e6;
        if (g_str_has_prefix(ev, "vm_state_notify running 1")) {
            stamp(&st->start, t);
        } else if (g_str_has_prefix(ev, "pc_lite_cpu_entry")) {
            stamp(&st->entry, t);
        } else if (sscanf(ev, "pc_lite_marker boot marker 0x%x", &marker)
                   == 1) {
            stamp(marker == 0xb001 ? &st->init : marker == 0xb002 ?
                  &st->ready : marker == 0xb003 ? &st->done : &t, t);
        }
    }
}

static double ms(double a, double b)
{
    double us = (b - a) * 1e6;

    /* rounded to the microsecond, as the stamps are */
    return (double)(gint64)(us + (us < 0 ? -0.5 : 0.5)) / 1000;
}

json_t *pcl_boot_phases(const PclStamps *st, double t_exec, double t_exit)
{
    double last = st->ready;
    json_t *o;

    /* No firmware: the kernel's entry is the start. */
    if (!st->start || !st->init || !st->ready) {
        return NULL;
    }
    o = json_pack("{s:f, s:f, s:f, s:f, s:f}",
                  "vmm_init", ms(t_exec, st->start), "firmware", 0.0,
                  "kernel", ms(st->start, st->init),
                  "userspace", ms(st->init, st->ready),
                  "total", ms(t_exec, st->ready));
    if (st->done) {
        json_object_set_new(o, "command", json_real(ms(st->ready, st->done)));
        last = st->done;
    }
    json_object_set_new(o, "shutdown", t_exit ? json_real(ms(last, t_exit)) :
                        json_null());
    return o;
}

json_t *pcl_clone_phases(const PclStamps *st, double t_exec,
                         double t_first_output, double t_exit)
{
    if (!st->start) {
        return NULL;
    }
    return json_pack("{s:f, s:o, s:o}", "restore", ms(t_exec, st->start),
                     "first_output", t_first_output ?
                     json_real(ms(t_exec, t_first_output)) : json_null(),
                     "exit", t_exit ? json_real(ms(t_exec, t_exit)) :
                     json_null());
}

char *pcl_phases_format(json_t *phases)
{
    static const char *const order[][2] = {
        { "vmm_init", "VMM init" }, { "firmware", "firmware" },
        { "kernel", "kernel" }, { "userspace", "userspace" },
        { "total", "total" }, { "command", "command" },
        { "shutdown", "shutdown" }, { "restore", "restore" },
        { "first_output", "output" }, { "exit", "exit" },
    };
    GString *s = g_string_new(NULL);
    guint i;

    for (i = 0; i < G_N_ELEMENTS(order); i++) {
        json_t *v = json_object_get(phases, order[i][0]);

        if (json_is_number(v)) {
            g_string_append_printf(s, "%s  %-10s %9.1f", s->len ? "\n" : "",
                                   order[i][1], json_number_value(v));
        }
    }
    return g_string_free(s, FALSE);
}
