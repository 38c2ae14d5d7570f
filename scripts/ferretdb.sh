#!/usr/bin/env bash
# Test-server harness for FerretDB v1.24.2 (SQLite backend).
#
#   scripts/ferretdb.sh install            build the binary once (cached), print its path
#   scripts/ferretdb.sh start DIR [PORT] [-- extra ferretdb flags]
#                                          start on 127.0.0.1 (free port unless PORT given),
#                                          data + state in DIR, print the URI; DIR/uri holds it
#   scripts/ferretdb.sh stop DIR           stop the server started in DIR
#   scripts/ferretdb.sh run -- CMD...      start in a fresh temp dir, export MORM_TEST_URI,
#                                          run CMD, always stop the server and remove the dir
#
# The server started by `start` is watched by a small guard process: when the process that
# asked for it (its parent, e.g. ctest) dies, even by a crash, the server is killed too.
set -euo pipefail

FERRETDB_VERSION=v1.24.2
CACHE_DIR="${MORM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/morm}"
BIN="${MORM_FERRETDB_BIN:-$CACHE_DIR/bin/ferretdb-$FERRETDB_VERSION}"

log() { echo "ferretdb.sh: $*" >&2; }

# FerretDB 1.24 needs Go >= 1.24; Debian 12's golang-go is 1.19 (and predates toolchain
# switching). Without a new enough `go`, fetch the official toolchain from the Go module
# proxy (golang.org/toolchain, as GOTOOLCHAIN=auto would) into the cache.
GO_TOOLCHAIN=go1.24.3
ensure_go() {
    if command -v go >/dev/null; then
        local v; v=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
        local major=${v%%.*} minor=${v#*.}; minor=${minor%%.*}
        if [[ -n $v && $major -eq 1 && $minor -ge 21 ]]; then GO=go; return 0; fi
    fi
    local dir=$CACHE_DIR/go-$GO_TOOLCHAIN
    if [[ ! -x "$dir/go/bin/go" ]]; then
        command -v curl >/dev/null && command -v unzip >/dev/null || {
            log "need curl and unzip to fetch Go"; exit 1; }
        local arch; arch=$(uname -m); [[ $arch == x86_64 ]] && arch=amd64; [[ $arch == aarch64 ]] && arch=arm64
        local zip; zip=$(mktemp)
        log "fetching the Go toolchain $GO_TOOLCHAIN from the module proxy"
        curl -fsSL -o "$zip" "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-$GO_TOOLCHAIN.linux-$arch.zip"
        rm -rf "$dir"; mkdir -p "$dir"
        unzip -q "$zip" -d "$dir.tmp" && mv "$dir.tmp/golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-$arch" "$dir/go"
        rm -rf "$zip" "$dir.tmp"
        chmod +x "$dir/go/bin/"* "$dir/go/pkg/tool/"*/* 2>/dev/null || true
    fi
    GO=$dir/go/bin/go
}

install_ferretdb() {
    if [[ -x "$BIN" ]]; then echo "$BIN"; return 0; fi
    ensure_go
    mkdir -p "$(dirname "$BIN")"
    local src dir
    # `go install ...@v1.24.2` builds a binary that panics at start: the module zip lacks
    # build/version/version.txt (its release builds generate it). So fetch the same module
    # through the proxy and build it with that one file added.
    dir=$(GOTOOLCHAIN=local "$GO" mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" |
          sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [[ -d "$dir" ]] || { log "go mod download of FerretDB $FERRETDB_VERSION failed"; exit 1; }
    src=$(mktemp -d)
    cp -r "$dir/." "$src/"
    chmod -R u+w "$src"
    echo "$FERRETDB_VERSION" > "$src/build/version/version.txt"
    (cd "$src" && CGO_ENABLED=0 "$GO" build -trimpath -o "$BIN.tmp" ./cmd/ferretdb)
    mv "$BIN.tmp" "$BIN"
    rm -rf "$src"
    log "built $("$BIN" --version | head -1) at $BIN"
    echo "$BIN"
}

free_port() {
    python3 - <<'EOF' 2>/dev/null || echo $(( 20000 + RANDOM % 20000 ))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
EOF
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
    local dir=$1; shift
    local port=""
    if [[ $# -gt 0 && $1 != "--" ]]; then port=$1; shift; fi
    [[ ${1:-} == "--" ]] && shift
    install_ferretdb >/dev/null
    mkdir -p "$dir/data"
    dir=$(cd "$dir" && pwd)
    local attempt
    for attempt in 1 2 3 4 5; do
        local p=${port:-$(free_port)}
        "$BIN" --handler=sqlite --sqlite-url="file:$dir/data/" --state-dir="$dir" \
            --listen-addr="127.0.0.1:$p" --debug-addr=- --telemetry=disable \
            --log-level=warn "$@" >"$dir/server.log" 2>&1 &
        local pid=$!
        echo "$pid" > "$dir/pid"
        local i
        for i in $(seq 1 200); do
            if port_open "$p"; then
                echo "mongodb://127.0.0.1:$p/" > "$dir/uri"
                # Guard: kill the server when our parent (the test runner) goes away.
                local owner=$PPID
                ( trap '' HUP; while kill -0 "$owner" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
                  kill "$pid" 2>/dev/null || true ) </dev/null >/dev/null 2>&1 &
                echo $! > "$dir/guard.pid"
                cat "$dir/uri"
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill "$pid" 2>/dev/null || true
        [[ -n $port ]] && break
        log "attempt $attempt on port $p failed, retrying"
    done
    log "FerretDB did not start; log follows"; cat "$dir/server.log" >&2
    exit 1
}

stop() {
    local dir=$1
    if [[ -f "$dir/pid" ]]; then
        local pid; pid=$(cat "$dir/pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/pid"
    fi
    [[ -f "$dir/guard.pid" ]] && { kill "$(cat "$dir/guard.pid")" 2>/dev/null || true; rm -f "$dir/guard.pid"; }
    return 0
}

run() {
    [[ ${1:-} == "--" ]] && shift
    RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/morm-ferretdb.XXXXXX")
    trap 'stop "$RUN_DIR"; rm -rf "$RUN_DIR"' EXIT
    trap 'exit 130' INT TERM
    MORM_TEST_URI=$(start "$RUN_DIR")
    export MORM_TEST_URI
    log "FerretDB at $MORM_TEST_URI (data in $RUN_DIR)"
    "$@"
}

cmd=${1:-}; shift || true
case "$cmd" in
    install) install_ferretdb ;;
    start) start "$@" ;;
    stop) stop "$@" ;;
    run) run "$@" ;;
    *) echo "usage: $0 install | start DIR [PORT] [-- flags] | stop DIR | run -- CMD..." >&2; exit 2 ;;
esac
