#!/usr/bin/env bash
# The client-overhead, pipelining, concurrency, HTTP and memory suites, in order.
#   benchmarks/suites/perf_suites.sh URI [--smoke]
# Env: MORM_BUILD_DIR (default build-release: the programs are in $MORM_BUILD_DIR/benchmarks).
# Prints only JSON lines on stdout (see benchmarks/perf/perf_common.hpp); progress on stderr.
# Full run: about 3-5 minutes on 2 cores (concurrency against FerretDB dominates).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
uri=${1:?usage: perf_suites.sh URI [--smoke]}
smoke=(); [[ ${2:-} == --smoke ]] && smoke=(--smoke)
export MORM_BUILD_DIR=${MORM_BUILD_DIR:-$root/build-release}
bin=$MORM_BUILD_DIR/benchmarks

rc=0
run() {
    local name=$1; shift
    echo "perf_suites: $name" >&2
    if [[ ! -x $bin/$name ]]; then echo "perf_suites: $bin/$name missing (build it)" >&2; rc=1; return; fi
    "$bin/$name" "$@" "${smoke[@]}" || { echo "perf_suites: $name failed" >&2; rc=1; }
}
run sink_bench
run pipeline_bench --uri "$uri"
run memory_bench
run concurrency_bench --uri "$uri"
echo "perf_suites: http_wrk" >&2
bash "$here/http_wrk.sh" "$uri" "${smoke[@]}" || { echo "perf_suites: http_wrk failed" >&2; rc=1; }

# ---- against the instant server (benchmarks/instant/): the client is the cost ----
instant=${MORM_BENCH_INSTANT_URI:-}
if [[ -z $instant ]]; then
    echo "perf_suites: MORM_BENCH_INSTANT_URI unset: instant-server suites skipped" >&2
    exit $rc
fi
bench=$root/benchmarks
rust_bin=$bench/rust/target/release/rust_bench
go_bin=$bench/go/bin/go_bench
count=10000; [[ ${#smoke[@]} -gt 0 ]] && count=500
# The same pool for every driver (the Rust driver's default is 10, Go's 100, morm's 100).
pool=64
conc_uri="${instant%/}/?maxPoolSize=$pool"
rename() { sed "s/\"suite\": *\"$1\"/\"suite\":\"$2\"/"; }
for threads in 1 2; do
    for impl in morm rust go; do
        echo "perf_suites: concurrency against the instant server: $impl, $threads thread(s)" >&2
        case $impl in
            morm) cmd=("$bin/concurrency_bench" --uri "$conc_uri" --pool "$pool" --threads "$threads" --count "$count") ;;
            rust) [[ -x $rust_bin ]] || { echo "perf_suites: $rust_bin missing: skipped" >&2; continue; }
                  cmd=("$rust_bin" concurrency --uri "$conc_uri" --threads "$threads" --count "$count") ;;
            go) [[ -x $go_bin ]] || { echo "perf_suites: $go_bin missing: skipped" >&2; continue; }
                cmd=("$go_bin" concurrency --uri "$conc_uri" --threads "$threads" --count "$count") ;;
        esac
        "${cmd[@]}" --reps 3 | rename concurrency concurrency-instant ||
            { echo "perf_suites: $impl concurrency failed" >&2; rc=1; }
    done
done
echo "perf_suites: http_wrk against the instant server" >&2
bash "$here/http_wrk.sh" "$instant" "${smoke[@]}" | rename http http-instant ||
    { echo "perf_suites: http_wrk (instant) failed" >&2; rc=1; }
exit $rc
