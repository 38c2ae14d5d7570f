#!/usr/bin/env bash
# Builds the Rust driver's peer (rust_bench) in release and prints the binary's path on stdout
# (cargo's progress goes to stderr). Idempotent: cargo does nothing when it is up to date.
#   benchmarks/rust/build.sh   ->   .../benchmarks/rust/target/release/rust_bench
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PATH="$HOME/.cargo/bin:/root/.cargo/bin:$PATH"
command -v cargo >/dev/null || { echo "rust/build.sh: cargo not found (install rustup)" >&2; exit 1; }
# -j1: the machine's other jobs compile C++; the lock file pins the crates
cargo build --release -j1 --locked --manifest-path "$here/Cargo.toml" --target-dir "$here/target" >&2
echo "$here/target/release/rust_bench"
