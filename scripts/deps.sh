#!/usr/bin/env bash
# Installs what morm needs on Debian 12, skipping whatever is already there:
# apt packages (compiler, Boost 1.81, libbson, fmt, Catch2 v2, OpenSSL, the benchmark
# peers), FerretDB v1.24.2 (built from the Go module proxy), and the Python test peers.
#   scripts/deps.sh            build + test dependencies
#   scripts/deps.sh --bench    also the benchmark peers (Python ODMs incl. Beanie, Node mongoose,
#                              the Rust and Go drivers' peers when cargo / go are there)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

log() { echo "deps: $*" >&2; }

# Go itself is not here: Debian's golang-go (1.19) is too old for FerretDB 1.24, so
# scripts/ferretdb.sh uses the Go on PATH when it is >= 1.21, else fetches the toolchain
# from the Go module proxy (hence curl and unzip).
# libc-ares-dev: the DNS resolver behind mongodb+srv://. dnsmasq-base: the throwaway DNS
# server of the [dns]/[srv] tests; it is the bare binary, where the dnsmasq package would
# also install and start a system-wide DNS service on port 53.
# clang (14) builds the libFuzzer harnesses (scripts/fuzz.sh); libclang-rt-14-dev holds
# libFuzzer and the sanitizer runtimes (only a Recommends of clang, so named here), and
# llvm-14 the llvm-symbolizer that puts file:line into sanitizer stacks.
APT_PACKAGES=(g++ cmake ninja-build pkg-config git python3 python3-pip curl unzip ca-certificates
              libboost1.81-dev libbson-dev libfmt-dev catch2 libssl-dev openssl
              libmongoc-dev libc-ares-dev dnsmasq-base clang libclang-rt-14-dev llvm-14)
APT_BENCH=(wrk gnuplot-nox)

want=("${APT_PACKAGES[@]}")
[[ ${1:-} == --bench ]] && want+=("${APT_BENCH[@]}")

missing=()
for p in "${want[@]}"; do
    # A tool already on PATH (e.g. a newer Go or Python) counts as installed.
    case $p in
        curl) command -v curl >/dev/null && continue ;;
        unzip) command -v unzip >/dev/null && continue ;;
        python3) command -v python3 >/dev/null && continue ;;
        python3-pip) python3 -m pip --version >/dev/null 2>&1 && continue ;;
        g++) command -v g++ >/dev/null && continue ;;
        cmake) command -v cmake >/dev/null && continue ;;
        git) command -v git >/dev/null && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

bash "$here/ferretdb.sh" install >/dev/null

pip_install() {
    # Debian's Python refuses system-wide pip installs (PEP 668); pyenv/venv Pythons do not.
    python3 -m pip install -q "$@" 2>/dev/null || python3 -m pip install -q --break-system-packages "$@"
}
python3 -c "import pymongo" 2>/dev/null || { log "installing pymongo"; pip_install "pymongo>=4,<5"; }

if [[ ${1:-} == --bench ]]; then
    python3 -c "import mongoengine" 2>/dev/null || { log "installing mongoengine"; pip_install "mongoengine>=0.27"; }
    python3 -c "import beanie" 2>/dev/null || { log "installing beanie"; pip_install "beanie>=2,<3"; }
    # The Rust and Go driver peers are built, not installed (their build scripts are
    # idempotent). They need a current toolchain (Debian's cargo and golang are too old for
    # the drivers): without one the peer is skipped with a line in the benchmark log.
    for peer in rust go; do
        tool=cargo; [[ $peer == go ]] && tool=go
        if command -v $tool >/dev/null || [[ -x /usr/local/go/bin/go && $peer == go ]] || [[ -x $HOME/.cargo/bin/cargo && $peer == rust ]]; then
            log "building the $peer driver peer"
            bash "$here/../benchmarks/$peer/build.sh" >/dev/null || log "the $peer peer did not build: it is skipped"
        else
            log "no $tool on PATH: the $peer driver peer is skipped (install rustup / Go >= 1.22)"
        fi
    done
    if [[ ! -d "$here/../benchmarks/node/node_modules/mongoose" ]]; then
        command -v npm >/dev/null || { log "npm is required for the mongoose peer"; exit 1; }
        log "installing mongoose"
        (cd "$here/../benchmarks/node" && npm install --silent --no-audit --no-fund >/dev/null)
    fi
fi
