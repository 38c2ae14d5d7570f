#!/usr/bin/env bash
# Configures (once) and builds morm into build/ (or $MORM_BUILD_DIR). Extra arguments go
# to the first cmake configure, e.g. scripts/build.sh -DMORM_SANITIZE=ON.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MORM_BUILD_DIR:-$root/build}
if [[ ! -f "$build/build.ninja" ]]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${MORM_BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
fi
cmake --build "$build" -j"$(nproc)"
