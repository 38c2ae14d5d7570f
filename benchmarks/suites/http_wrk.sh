#!/usr/bin/env bash
# HTTP throughput of examples/http_server (Beast + morm) under wrk: GET /users/{id} of one
# seeded user at 1, 64 and 1,024 connections, loopback only, bounded duration.
#   benchmarks/suites/http_wrk.sh URI [--smoke]
# Env: MORM_BUILD_DIR (default build-release), WRK_DURATION (s, default 5), WRK_REPS (default 3).
# Prints JSON lines (suite "http") on stdout; everything else goes to stderr. Skips (exit 0,
# no lines) when wrk or the http_server binary is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
uri=${1:?usage: http_wrk.sh URI [--smoke]}
smoke=0; [[ ${2:-} == --smoke ]] && smoke=1
build=${MORM_BUILD_DIR:-$root/build-release}
server_bin=${MORM_HTTP_SERVER:-$build/examples/http_server}
duration=${WRK_DURATION:-5}; reps=${WRK_REPS:-3}; conns=(1 64 1024)
if ((smoke)); then duration=1; reps=1; conns=(1 64); fi

log() { echo "http_wrk: $*" >&2; }
command -v wrk >/dev/null || { log "wrk not installed (scripts/deps.sh --bench): skipped"; exit 0; }
[[ -x $server_bin ]] || { log "no http_server at $server_bin (build with -DMORM_BUILD_EXAMPLES=ON): skipped"; exit 0; }

# 1,024 connections need more than the default 1,024 descriptors (wrk and the server).
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

tmp=$(mktemp -d)
server_pid=""
cleanup() {
    if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

"$server_bin" --port 0 --uri "$uri" >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
port=""
for _ in $(seq 100); do
    port=$(sed -n 's/^listening on \([0-9]\+\).*/\1/p' "$tmp/server.out" | head -1)
    [[ -n $port ]] && break
    kill -0 "$server_pid" 2>/dev/null || { log "http_server exited: $(cat "$tmp/server.err")"; exit 1; }
    sleep 0.1
done
[[ -n $port ]] || { log "http_server did not print 'listening on PORT'"; exit 1; }
log "http_server pid $server_pid on port $port"

# Seed the user (201, or 409 when a previous run left it: both fine), then check GET.
id="wrk-bench-user"
body="{\"id\":\"$id\",\"name\":\"Bench User\",\"email\":\"bench@example.com\"}"
http() {  # METHOD PATH [BODY] -> prints the status code
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
        "$1" "$2" "${#3}" "$3" >&3
    head -1 <&3 | awk '{print $2}'
    exec 3<&-
}
st=$(http POST /users "$body"); [[ $st == 201 || $st == 409 ]] || { log "seeding POST /users gave $st"; exit 1; }
st=$(http GET "/users/$id" ""); [[ $st == 200 ]] || { log "GET /users/$id gave $st"; exit 1; }

for c in "${conns[@]}"; do
    threads=$(( c < 2 ? 1 : 2 ))
    : >"$tmp/runs"
    for ((r = 0; r < reps; r++)); do
        wrk -t "$threads" -c "$c" -d "${duration}s" --timeout 10s -s "$here/http_wrk.lua" \
            "http://127.0.0.1:$port/users/$id" >"$tmp/wrk.out" 2>&1 || { log "wrk failed: $(cat "$tmp/wrk.out")"; exit 1; }
        sed -n 's/^WRKJSON //p' "$tmp/wrk.out" >>"$tmp/runs"
        log "c=$c rep $r: $(sed -n 's/^WRKJSON //p' "$tmp/wrk.out")"
    done
    python3 - "$tmp/runs" "$c" "$duration" "$smoke" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
c, dur, smoke = sys.argv[2], sys.argv[3], sys.argv[4] == "1"
rps = [r["rps"] for r in runs]
med = lambda k: statistics.median(r[k] for r in runs)
errors = sum(r["errors"] for r in runs); non2xx = sum(r["non2xx"] for r in runs)
note = f"wrk GET /users/{{id}} on examples/http_server, {c} connection(s), {dur} s x {len(runs)} runs, loopback"
note += "; latency percentiles: median over runs"
if errors or non2xx: note += f"; socket errors {errors}, non-2xx {non2xx}"
if smoke: note += "; SMOKE counts"
print(json.dumps({"suite": "http", "task": f"get_user_c{c}", "impl": "morm+beast", "unit": "req/s",
                  "median": statistics.median(rps), "min": min(rps), "max": max(rps), "n": len(rps),
                  "p50": med("p50"), "p99": med("p99"), "p999": med("p999"), "note": note}, separators=(",", ":")), flush=True)
PY
done
