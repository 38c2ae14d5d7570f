#!/usr/bin/env bash
# Runs CMD against a fresh instant server: with_instant.sh INSTANT_SERVER_BINARY CMD ARGS...
# Every "{uri}" in ARGS becomes the server's URI. Fails if CMD fails or if the server
# refused a command (its stderr names it): a smoke run must stay inside what it implements.
set -euo pipefail
bin=$1; shift
dir=$(mktemp -d)
"$bin" --port 0 >"$dir/out" 2>"$dir/err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
port=""
for _ in $(seq 100); do
    port=$(sed -n 's/^listening on \([0-9]\+\).*/\1/p' "$dir/out" | head -1)
    [[ -n $port ]] && break
    sleep 0.05
done
[[ -n $port ]] || { echo "with_instant: the server did not start: $(cat "$dir/err")" >&2; exit 1; }
uri="mongodb://127.0.0.1:$port/"
args=()
for a in "$@"; do args+=("${a//\{uri\}/$uri}"); done
"${args[@]}"
if [[ -s $dir/err ]]; then echo "with_instant: the instant server logged:" >&2; cat "$dir/err" >&2; exit 1; fi
