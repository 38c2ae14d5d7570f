#!/usr/bin/env bash
# Proves the CMake package works: installs morm into a temp prefix and builds the tiny
# consumer project in tests/consumer against it with find_package(morm).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MORM_BUILD_DIR:-$root/build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Quiet on success, the full output on failure.
run() { local out; out=$("$@" 2>&1) || { echo "$out" >&2; echo "check_install: failed: $*" >&2; exit 1; }; }
run cmake --install "$build" --prefix "$tmp/prefix"
run cmake -S "$root/tests/consumer" -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix"
run cmake --build "$tmp/consumer"
"$tmp/consumer/consumer"
echo "check_install: find_package(morm) consumer built and ran against the installed tree"
