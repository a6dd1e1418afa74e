#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run pc-lite's qtest and the generic qtests that walk every machine type
# (so pc-lite too, qmp-cmd-test through query-qmp-schema), and the unit
# tests of the series' QOM and QAPI introspection patches,
# through QEMU's own meson/qtest harness.
set -euo pipefail
build=$1
tests=(pc-lite-test qom-test device-introspect-test test-hmp qmp-test
       qmp-cmd-test machine-none-test readconfig-test)
units=(check-qom-interface check-qom-proplist test-qobject-input-visitor)
targets=()
for t in "${tests[@]}"; do
    targets+=("tests/qtest/$t")
done
for t in "${units[@]}"; do
    targets+=("tests/unit/$t")
done
ninja -C "$build" "${targets[@]}" > "$build/../qtest-build.log" 2>&1 ||
    { tail -30 "$build/../qtest-build.log"; exit 1; }
suites=()
for t in "${tests[@]}"; do
    suites+=("qtest-x86_64/$t")
done
suites+=("${units[@]}")
cd "$build"
exec ./pyvenv/bin/meson test --no-rebuild --print-errorlogs \
    --num-processes "$(nproc)" "${suites[@]}"
