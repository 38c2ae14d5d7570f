#!/usr/bin/env bash
# The ODM, BSON/codec and JSON-lines import suites: prints JSON lines on stdout (human output
# on stderr), like every benchmarks/suites/*.sh that benchmarks/run.sh runs.
#   benchmarks/suites/odm_suites.sh URI [--smoke]
# Environment: MORM_BENCH_BUILD (build dir, default build-release), MORM_BENCH_ITERATIONS
# (default 3), MORM_BENCH_SCALE (operations relative to the spec's 10,000, default 0.02),
# MORM_BENCH_SMOKE=1 (tiny counts, one iteration).
# Each ODM/import implementation runs once per iteration, in a rotating order, so that noise
# and server warm-up hit all of them alike; run.sh takes the median of the iterations.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "$here/.." && pwd)
uri=${1:?usage: odm_suites.sh URI [--smoke]}
[[ ${2:-} == --smoke ]] && export MORM_BENCH_SMOKE=1
build=${MORM_BENCH_BUILD:-$root/build-release}
iterations=${MORM_BENCH_ITERATIONS:-3}
scale=${MORM_BENCH_SCALE:-0.02}
data=${MORM_BENCH_DATA:-$(cd "$root/../shared/benchmarks/data" && pwd)}
common=(--scale "$scale")
if [[ ${MORM_BENCH_SMOKE:-0} == 1 ]]; then iterations=1; common=(--smoke); fi
log() { echo "odm_suites: $*" >&2; }

# URI with a database path: mongodb://h:p/ + db (options kept)
uri_with_db() {
    local base=${uri%%\?*} opts=""
    [[ $uri == *\?* ]] && opts="?${uri#*\?}"
    base=${base%/}
    local hostpart=${base#*://}
    [[ $hostpart == */* ]] && base=${base%/*}
    echo "$base/$1$opts"
}

have_py_me() { python3 -c "import mongoengine" 2>/dev/null; }
have_node() { command -v node >/dev/null && [[ -d $here/node/node_modules/mongoose ]]; }

run_impl() {
    case $1 in
        morm) "$build/benchmarks/odm_bench" --uri "$uri" --data "$data" "${common[@]}" ;;
        libmongoc) "$build/benchmarks/mongoc_bench" --uri "$uri" --data "$data" "${common[@]}" 2> >(grep -v endSessions >&2) ;;
        pymongo) python3 "$here/python/odm_bench.py" --uri "$uri" --data "$data" --impl pymongo "${common[@]}" ;;
        mongoengine) python3 "$here/python/odm_bench.py" --uri "$uri" --data "$data" --impl mongoengine "${common[@]}" ;;
        mongoose) node "$here/node/odm_bench.js" --uri "$uri" --data "$data" "${common[@]}" ;;
    esac
}

# ---- BSON/codec (no server) ----
log "bson suite"
if [[ ${MORM_BENCH_SMOKE:-0} == 1 ]]; then "$build/benchmarks/bson_bench" --smoke --data "$data"
else "$build/benchmarks/bson_bench" --iterations "$iterations" --data "$data"; fi

# ---- ODM ----
impls=(morm)
[[ -x $build/benchmarks/mongoc_bench ]] && impls+=(libmongoc) || log "mongoc_bench not built: libmongoc peer skipped"
python3 -c "import pymongo" 2>/dev/null && impls+=(pymongo) || log "pymongo missing: skipped"
have_py_me && impls+=(mongoengine) || log "mongoengine missing: skipped"
have_node && impls+=(mongoose) || log "mongoose missing (scripts/deps.sh --bench): skipped"
for ((it = 0; it < iterations; ++it)); do
    log "odm iteration $((it + 1))/$iterations"
    n=${#impls[@]}
    for ((j = 0; j < n; ++j)); do
        impl=${impls[$(((j + it) % n))]}
        run_impl "$impl" || log "$impl failed (iteration $((it + 1)))"
    done
done

# ---- JSON-lines import ----
ldjson=$data/ldjson/tweets-5000.ldjson
import_once() {
    case $1 in
        morm)
            local out mbs
            out=$("$build/examples/bulk_import" "$ldjson" --uri "$(uri_with_db bench_import_morm)" --collection tweets) || return 1
            # "imported N documents (M bytes) in S s: X docs/s, Y MB/s"
            mbs=$(sed -n 's/.*docs\/s, \([0-9.eE+-]*\) MB\/s.*/\1/p' <<<"$out" | tail -1)
            [[ -n $mbs ]] || { log "bulk_import printed no MB/s: $out"; return 1; }
            printf '{"suite":"import","task":"ldjson tweets","impl":"morm","unit":"MB/s","median":%s,"min":%s,"max":%s,"n":1,"note":"examples/bulk_import (session, commit every 1000 lines)"}\n' "$mbs" "$mbs" "$mbs"
            ;;
        libmongoc) "$build/benchmarks/mongoc_bench" --uri "$uri" --import "$ldjson" 2> >(grep -v endSessions >&2) ;;
        pymongo) python3 "$here/python/odm_bench.py" --uri "$uri" --import "$ldjson" ;;
    esac
}
imports=()
[[ -x $build/examples/bulk_import ]] && imports+=(morm) || log "examples/bulk_import not built: morm import skipped"
[[ -x $build/benchmarks/mongoc_bench ]] && imports+=(libmongoc)
python3 -c "import pymongo" 2>/dev/null && imports+=(pymongo)
import_iterations=$iterations
[[ ${MORM_BENCH_SMOKE:-0} == 1 ]] && import_iterations=1
for ((it = 0; it < import_iterations; ++it)); do
    log "import iteration $((it + 1))/$import_iterations"
    n=${#imports[@]}
    for ((j = 0; j < n; ++j)); do
        impl=${imports[$(((j + it) % n))]}
        import_once "$impl" || log "$impl import failed (iteration $((it + 1)))"
    done
done
