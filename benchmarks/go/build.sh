#!/usr/bin/env bash
# Builds the Go driver peer (go_bench, http_server) into benchmarks/go/bin/ (gitignored).
# Idempotent: `go build` rebuilds only what changed. Modules come through the Go module
# proxy go is configured with (GOPROXY), pinned by go.mod / go.sum.
#   benchmarks/go/build.sh          prints the bin directory on stdout
# Env: GO (default: go on PATH, else /usr/local/go/bin/go).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[[ -x $GO ]] || { echo "go/build.sh: no go toolchain (set GO=...)" >&2; exit 1; }
cd "$here"
mkdir -p bin
# One package at a time on one core: the machine is shared with C++ builds.
export GOMAXPROCS=1 GOFLAGS="${GOFLAGS:-} -buildvcs=false"
"$GO" mod download
for cmd in go_bench http_server; do
    "$GO" build -p 1 -trimpath -o "bin/$cmd" "./cmd/$cmd"
done
echo "$here/bin"
