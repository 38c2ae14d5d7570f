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
exit $rc
