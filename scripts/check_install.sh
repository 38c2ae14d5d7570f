#!/usr/bin/env bash
# Proves the CMake package works: installs morm into a temp prefix and builds the tiny
# consumer project in tests/consumer against it with find_package(morm).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MORM_BUILD_DIR:-$root/build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$root/tests/consumer" -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
"$tmp/consumer/consumer"
echo "check_install: find_package(morm) consumer built and ran against the installed tree"
