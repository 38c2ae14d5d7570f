#!/usr/bin/env bash
# Soak test (not in CI): scripts/soak.sh [minutes]   (default 10)
# Starts a fresh FerretDB, runs tests/soak/soak.cpp against it through an in-process fault
# proxy that cuts a connection every few seconds, restarts FerretDB once halfway (same port,
# same data), and prints the counts taken on the server: lost, duplicated, and RSS over time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
minutes=${1:-10}
build=${MORM_BUILD_DIR:-$root/build}
bash "$root/scripts/deps.sh"
[[ -f $build/build.ninja ]] || bash "$root/scripts/build.sh"
cmake --build "$build" --target morm_soak >/dev/null
dir=$(mktemp -d)
trap 'bash "$root/scripts/ferretdb.sh" stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
bash "$root/scripts/ferretdb.sh" start "$dir" >/dev/null
uri=$(cat "$dir/uri"); hostport=${uri#mongodb://}; hostport=${hostport%%/*}; port=${hostport##*:}
seconds=$((minutes * 60))
echo "soak.sh: $minutes min against FerretDB at $hostport (restart after $((seconds / 2)) s)"
# Paced (4 workers, 25 objects per commit, 1 s apart: ~100 objects/s) so FerretDB's scans stay short.
"$build/tests/morm_soak" --upstream "$hostport" --seconds "$seconds" --workers 4 --batch 25 --pause-ms 1000 \
    --cut-ms 3000 ${MORM_SOAK_ARGS:-} &
pid=$!
sleep $((seconds / 2))
echo "soak.sh: restarting FerretDB"
bash "$root/scripts/ferretdb.sh" stop "$dir" >/dev/null
sleep 2
bash "$root/scripts/ferretdb.sh" start "$dir" "$port" >/dev/null
echo "soak.sh: FerretDB is back on port $port"
wait $pid
