#!/usr/bin/env bash
# The sanitizer stages of the test command (scripts/run.sh test runs both):
#   scripts/sanitize.sh asan   unit + integration tests (not the examples) built with AddressSanitizer and
#                              UndefinedBehaviorSanitizer (build-asan/), against a fresh FerretDB
#   scripts/sanitize.sh tsan   the pool, scriptable-server, concurrency and HTTP tests built with
#                              ThreadSanitizer (build-tsan/)
# Debug builds without benchmarks; any sanitizer report fails the test that triggered it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:-}
jobs=$(nproc)

configure() {
    local dir=$1; shift
    [[ -f $dir/build.ninja ]] && return 0
    # -g1: line tables only. Sanitizer reports still name file:line, and the two builds
    # compile minutes faster than with full debug info (the CI budget).
    cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 \
        -DMORM_BUILD_BENCHMARKS=OFF "$@" >/dev/null
}

stage() {  # stage NAME SECONDS_SINCE: one timing line per stage, for the CI budget
    echo "sanitize.sh: $1 took $(( $(date +%s) - $2 )) s" >&2
}

case $kind in
    asan)
        dir=${MORM_ASAN_BUILD_DIR:-$root/build-asan}
        t0=$(date +%s)
        configure "$dir" -DMORM_SANITIZE=ON
        # The examples run (and are checked) in the main ctest stage and http_server under TSan;
        # building seven more programs here would cost minutes of the CI budget for code the
        # integration tests already drive through the same library paths. The two
        # 10,000-coroutine pool tests (40 s each here) run in the main stage and under TSan.
        cmake --build "$dir" -j"$jobs" --target morm_unit_tests morm_integration_tests
        stage "asan build" "$t0"; t0=$(date +%s)
        # Leaks are findings too; a UBSan report aborts the test (-fno-sanitize-recover).
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0
        export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
        (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 900 -R '^(unit|integration):' \
            -E '^integration: ?(quickstart runs|http_server (serves|answers)|bulk_import (imports|skips)|replica_set runs|orders: |pool: 10,000 concurrent)')
        stage "asan tests" "$t0"
        ;;
    tsan)
        dir=${MORM_TSAN_BUILD_DIR:-$root/build-tsan}
        t0=$(date +%s)
        configure "$dir" -DMORM_TSAN=ON
        cmake --build "$dir" -j"$jobs" --target morm_unit_tests morm_integration_tests http_server
        stage "tsan build" "$t0"; t0=$(date +%s)
        export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
        (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 900 \
            -R '^unit:|^integration: ?(pool|tokens|http_server)')
        stage "tsan tests" "$t0"
        ;;
    *) echo "usage: $0 asan|tsan" >&2; exit 2 ;;
esac
