#!/usr/bin/env bash
# HTTP throughput under wrk: GET /users/{id} of one seeded user at 1, 64 and 1,024
# connections, loopback only, bounded duration, against each available server with the same
# routes, all on the same database URI:
#   morm+beast     examples/http_server (Beast + morm)
#   go             benchmarks/go/bin/http_server (net/http + the Go driver)
#   node+mongoose  node benchmarks/node/http_server.js (node:http + mongoose)
# The runs are interleaved: for each connection count, each repetition runs every server in
# turn, so drift (other load, thermal) spreads over all of them alike.
#   benchmarks/suites/http_wrk.sh URI [--smoke]
# Env: MORM_BUILD_DIR (default build-release), MORM_HTTP_SERVER (the C++ binary),
#      MORM_HTTP_GO_SERVER (the Go binary), HTTP_WRK_IMPLS (comma list of impls to run,
#      default all), WRK_DURATION (s, default 5), WRK_REPS (default 3).
# Prints JSON lines (suite "http") on stdout; everything else goes to stderr. A server whose
# binary (or node / mongoose) is missing is skipped with a log line; with no server at all, or
# without wrk, exits 0 and prints nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
uri=${1:?usage: http_wrk.sh URI [--smoke]}
smoke=0; [[ ${2:-} == --smoke ]] && smoke=1
build=${MORM_BUILD_DIR:-$root/build-release}
beast_bin=${MORM_HTTP_SERVER:-$build/examples/http_server}
go_bin=${MORM_HTTP_GO_SERVER:-$root/benchmarks/go/bin/http_server}
node_js=$root/benchmarks/node/http_server.js
wanted=${HTTP_WRK_IMPLS:-morm+beast,go,node+mongoose}
duration=${WRK_DURATION:-5}; reps=${WRK_REPS:-3}; conns=(1 64 1024)
if ((smoke)); then duration=1; reps=1; conns=(1 64); fi

log() { echo "http_wrk: $*" >&2; }
command -v wrk >/dev/null || { log "wrk not installed (scripts/deps.sh --bench): skipped"; exit 0; }

# 1,024 connections need more than the default 1,024 descriptors (wrk and the servers).
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The command line of each server; an impl whose program is missing is left out.
declare -A cmd=() what=()
impls=()
add_impl() {  # IMPL DESCRIPTION CMD...
    local impl=$1 desc=$2; shift 2
    [[ ,$wanted, == *,$impl,* ]] || return 0
    impls+=("$impl"); what[$impl]=$desc
    cmd[$impl]=$(printf '%q ' "$@")
}
if [[ -x $beast_bin ]]; then
    # as many threads as the Go server's GOMAXPROCS (every core); node is single-threaded
    add_impl morm+beast "examples/http_server --threads $(nproc)" "$beast_bin" --port 0 --threads "$(nproc)" --uri "$uri"
else
    log "no http_server at $beast_bin (build with -DMORM_BUILD_EXAMPLES=ON): morm+beast skipped"
fi
if [[ -x $go_bin ]]; then
    add_impl go "benchmarks/go http_server" "$go_bin" --port 0 --uri "$uri"
else
    log "no Go http_server at $go_bin (built from benchmarks/go): go skipped"
fi
if ! command -v node >/dev/null; then
    log "node not installed: node+mongoose skipped"
elif [[ ! -d $root/benchmarks/node/node_modules/mongoose ]]; then
    log "mongoose not installed (cd benchmarks/node && npm ci): node+mongoose skipped"
else
    add_impl node+mongoose "benchmarks/node/http_server.js" node "$node_js" --port 0 --uri "$uri"
fi
((${#impls[@]})) || { log "no HTTP server to measure: skipped"; exit 0; }

tmp=$(mktemp -d)
declare -A pid=() port=()
cleanup() {
    local p
    for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

http() {  # PORT METHOD PATH [BODY] -> prints the status code
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
        "$2" "$3" "${#4}" "$4" >&3
    head -1 <&3 | awk '{print $2}'
    exec 3<&-
}

# Starts IMPL, waits for `listening on PORT` (node and Go connect to the database first).
start_server() {
    local impl=$1 out=$tmp/$1.out err=$tmp/$1.err p=""
    bash -c "exec ${cmd[$impl]}" >"$out" 2>"$err" &
    pid[$impl]=$!
    for _ in $(seq 300); do
        p=$(sed -n 's/^listening on \([0-9]\+\).*/\1/p' "$out" | head -1)
        [[ -n $p ]] && break
        kill -0 "${pid[$impl]}" 2>/dev/null || { log "$impl exited: $(cat "$err")"; return 1; }
        sleep 0.1
    done
    [[ -n $p ]] || { log "$impl did not print 'listening on PORT'"; return 1; }
    port[$impl]=$p
    log "$impl (${what[$impl]}) pid ${pid[$impl]} on port $p"
}

# Every server seeds the same user through its own POST (201, or 409 when another server or a
# previous run stored it already: both fine), then must answer GET with 200.
id="wrk-bench-user"
body="{\"id\":\"$id\",\"name\":\"Bench User\",\"email\":\"bench@example.com\"}"
for impl in "${impls[@]}"; do
    start_server "$impl" || exit 1
    st=$(http "${port[$impl]}" POST /users "$body")
    [[ $st == 201 || $st == 409 ]] || { log "$impl: seeding POST /users gave $st"; exit 1; }
    st=$(http "${port[$impl]}" GET "/users/$id" "")
    [[ $st == 200 ]] || { log "$impl: GET /users/$id gave $st"; exit 1; }
done

for c in "${conns[@]}"; do
    threads=$(( c < 2 ? 1 : 2 ))
    for impl in "${impls[@]}"; do : >"$tmp/runs.$impl"; done
    for ((r = 0; r < reps; r++)); do
        for impl in "${impls[@]}"; do
            wrk -t "$threads" -c "$c" -d "${duration}s" --timeout 10s -s "$here/http_wrk.lua" \
                "http://127.0.0.1:${port[$impl]}/users/$id" >"$tmp/wrk.out" 2>&1 ||
                { log "wrk on $impl failed: $(cat "$tmp/wrk.out")"; exit 1; }
            kill -0 "${pid[$impl]}" 2>/dev/null || { log "$impl died: $(tail -5 "$tmp/$impl.err")"; exit 1; }
            sed -n 's/^WRKJSON //p' "$tmp/wrk.out" >>"$tmp/runs.$impl"
            log "$impl c=$c rep $r: $(sed -n 's/^WRKJSON //p' "$tmp/wrk.out")"
        done
    done
    for impl in "${impls[@]}"; do
        python3 - "$tmp/runs.$impl" "$c" "$duration" "$smoke" "$impl" "${what[$impl]}" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
c, dur, smoke, impl, what = sys.argv[2], sys.argv[3], sys.argv[4] == "1", sys.argv[5], sys.argv[6]
rps = [r["rps"] for r in runs]
med = lambda k: statistics.median(r[k] for r in runs)
errors = sum(r["errors"] for r in runs); non2xx = sum(r["non2xx"] for r in runs)
note = f"wrk GET /users/{{id}} on {what}, {c} connection(s), {dur} s x {len(runs)} runs, loopback"
note += "; servers interleaved per run; latency percentiles: median over runs"
if errors or non2xx: note += f"; socket errors {errors}, non-2xx {non2xx}"
if smoke: note += "; SMOKE counts"
print(json.dumps({"suite": "http", "task": f"get_user_c{c}", "impl": impl, "unit": "req/s",
                  "median": statistics.median(rps), "min": min(rps), "max": max(rps), "n": len(rps),
                  "p50": med("p50"), "p99": med("p99"), "p999": med("p999"), "note": note}, separators=(",", ":")), flush=True)
PY
    done
done
