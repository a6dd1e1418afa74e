/*
 * pc-lite-oci: the runtime spec's hooks (config.md, "POSIX-platform
 * Hooks"), each run with the container's state on its standard input,
 * its own args and env, and its timeout.
 *
 * Where each kind runs, as runc runs them, with the VM as the container:
 *   prestart, createRuntime  create, in the runtime's namespaces, once
 *                            the monitor is in the container's network,
 *                            PID, UTS and IPC namespaces and its cgroup,
 *                            before the VM's network is taken (Docker's
 *                            libnetwork-setkey fills the namespace then)
 *   createContainer          the monitor, in the container's namespaces,
 *                            before it changes its root
 *   startContainer           start, inside the VM, as a process of the
 *                            container (its path is the container's)
 *   poststart                start, in the runtime's namespaces
 *   poststop                 delete, in the runtime's namespaces
 * A failed prestart, createRuntime, createContainer or startContainer hook
 * fails the command and the container is stopped; a failed poststart or
 * poststop hook is reported and the command goes on.
 *
 * Copyright (c) 2026 The pc-lite authors
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "oci.h"
#include "../proto/channel.h"

static const char *const kinds[] = {
    "prestart", "createRuntime", "createContainer", "startContainer",
    "poststart", "poststop",
};

static GQuark hook_quark(void)
{
    return g_quark_from_static_string("pc-lite-oci-hook");
}

gboolean oci_hook_kind_known(const char *kind)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(kinds); i++) {
        if (!strcmp(kinds[i], kind)) {
            return TRUE;
        }
    }
    return FALSE;
}

/* The state of the container (runtime.md, "State"), as a hook reads it. */
char *oci_hook_state(const char *id, const char *status, pid_t pid,
                     const char *bundle, json_t *annotations)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s}", "ociVersion",
                          OCI_VERSION, "id", id, "status", status,
                          "pid", (int)pid, "bundle", bundle);
    char *text;

    if (annotations) {
        json_object_set(o, "annotations", annotations);
    }
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* A string array member as a vector for exec; NULL when absent. */
static char **strv(json_t *a)
{
    size_t i, n = json_array_size(a);
    char **v;

    if (!json_is_array(a)) {
        return NULL;
    }
    v = g_new0(char *, n + 1);
    for (i = 0; i < n; i++) {
        v[i] = g_strdup(json_string_value(json_array_get(a, i)) ?: "");
    }
    return v;
}

/* Wait for pid until deadline_us (0: for ever); FALSE on timeout. */
static gboolean wait_until(pid_t pid, gint64 deadline_us, int *status)
{
    int pfd = syscall(SYS_pidfd_open, pid, 0);

    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        gint64 left;

        if (r == pid || (r < 0 && errno != EINTR)) {
            if (pfd >= 0) {
                close(pfd);
            }
            return TRUE;
        }
        left = deadline_us ? deadline_us - g_get_monotonic_time() : -1;
        if (deadline_us && left <= 0) {
            if (pfd >= 0) {
                close(pfd);
            }
            return FALSE;
        }
        if (pfd >= 0) {
            struct pollfd p = { .fd = pfd, .events = POLLIN };

            poll(&p, 1, left < 0 ? -1 : (int)MIN(left / 1000 + 1, 60000));
        } else {
            g_usleep(1000);
        }
    }
}

static gboolean run_one(json_t *h, const char *kind, size_t index,
                        const char *state, GError **errp)
{
    const char *path = json_string_value(json_object_get(h, "path"));
    json_t *timeout = json_object_get(h, "timeout");
    g_auto(GStrv) args = strv(json_object_get(h, "args"));
    g_auto(GStrv) env = strv(json_object_get(h, "env"));
    char *argv0[] = { (char *)path, NULL }, *noenv[] = { NULL };
    gint64 deadline = 0;
    int in[2], ex[2] = { -1, -1 }, status = 0, exec_errno = 0;
    pid_t pid;

    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(ex, O_CLOEXEC) < 0) {
        g_set_error(errp, hook_quark(), 1, "hook %s: pipe: %s", kind,
                    g_strerror(errno));
        return FALSE;
    }
    pid = fork();
    if (pid == 0) {
        sigset_t none;

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        dup2(in[0], 0);
        dup2(2, 1);
        execve(path, args && args[0] ? args : argv0, env ? env : noenv);
        /* Why not, to the parent (ex closes on a successful exec). */
        exec_errno = errno;
        chan_write_all(ex[1], &exec_errno, sizeof(exec_errno));
        _exit(127);
    }
    close(in[0]);
    close(ex[1]);
    if (pid < 0) {
        close(in[1]);
        close(ex[0]);
        g_set_error(errp, hook_quark(), 1, "hook %s: fork: %s", kind,
                    g_strerror(errno));
        return FALSE;
    }
    if (read(ex[0], &exec_errno, sizeof(exec_errno)) == sizeof(exec_errno)) {
        close(ex[0]);
        close(in[1]);
        waitpid(pid, NULL, 0);
        g_set_error(errp, hook_quark(), 1, "hook %s[%zu] %s: %s", kind,
                    index, path, g_strerror(exec_errno));
        return FALSE;
    }
    close(ex[0]);
    /* A hook need not read its input. */
    signal(SIGPIPE, SIG_IGN);
    chan_write_all(in[1], state, strlen(state));
    close(in[1]);
    if (json_is_integer(timeout)) {
        deadline = g_get_monotonic_time() +
                   json_integer_value(timeout) * G_USEC_PER_SEC;
    }
    if (!wait_until(pid, deadline, &status)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        g_set_error(errp, hook_quark(), 1, "hook %s[%zu] %s did not finish "
                    "within its timeout of %" JSON_INTEGER_FORMAT " s",
                    kind, index, path, json_integer_value(timeout));
        return FALSE;
    }
    if (WIFSIGNALED(status)) {
        g_set_error(errp, hook_quark(), 1, "hook %s[%zu] %s was killed by "
                    "signal %d", kind, index, path, WTERMSIG(status));
        return FALSE;
    }
    if (WEXITSTATUS(status)) {
        g_set_error(errp, hook_quark(), 1, "hook %s[%zu] %s exited with "
                    "status %d", kind, index, path, WEXITSTATUS(status));
        return FALSE;
    }
    return TRUE;
}

/* The hooks of kind, in order; the first that fails ends the run. */
gboolean oci_hooks_run(json_t *hooks, const char *kind, const char *state,
                       GError **errp)
{
    json_t *a = json_object_get(hooks, kind);
    size_t i;

    for (i = 0; i < json_array_size(a); i++) {
        if (!run_one(json_array_get(a, i), kind, i, state, errp)) {
            return FALSE;
        }
    }
    return TRUE;
}
