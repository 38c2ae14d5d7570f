#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang (build-fuzz/, MORM_FUZZ=ON) and
# runs each for N seconds (default 60), two at a time.
#   scripts/fuzz.sh [seconds] [harness...]     e.g. scripts/fuzz.sh 600 fuzz_bson
# Each harness runs on build-fuzz/corpus-work/<harness>, a working copy seeded from the
# committed tests/fuzz/corpus/<harness> (which is never written to), with the dictionary
# tests/fuzz/dict/<harness>.dict when there is one. Prints one line per harness (executions,
# exec/s, corpus growth) and exits 1 if any harness crashed, leaked or timed out; the
# reproducer stays in build-fuzz/artifacts/<harness>/ and its path and log are printed.
# Without clang it runs nothing and exits 0 (CI calls it only where clang is installed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || { echo "fuzz: seconds must be a positive integer" >&2; exit 2; }
build=${MORM_FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${MORM_FUZZ_JOBS:-2}

if ! command -v clang++ >/dev/null || ! command -v clang >/dev/null; then
    echo "fuzz: clang is not installed (scripts/deps.sh installs it); no harness was run"
    exit 0
fi

# Debian's clang installs libFuzzer and the sanitizer runtimes separately (libclang-rt-14-dev).
probe=$(mktemp -d)
printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' >"$probe/p.cpp"
if ! clang++ -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" >/dev/null 2>&1; then
    rm -rf "$probe"
    echo "fuzz: clang cannot link libFuzzer with ASan/UBSan (libclang-rt-14-dev missing? scripts/deps.sh installs it); no harness was run"
    exit 0
fi
rm -rf "$probe"

export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache} CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root} CCACHE_NOHASHDIR=1
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

if [[ ! -f $build/CMakeCache.txt ]]; then
    mkdir -p "$build"
    # -O1 -g without NDEBUG: asserts stay on, stacks stay readable.
    CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DMORM_FUZZ=ON -DMORM_BUILD_TESTS=OFF \
        -DMORM_BUILD_EXAMPLES=OFF -DMORM_BUILD_BENCHMARKS=OFF "${launcher[@]}" >"$build/configure.log" 2>&1 ||
        { cat "$build/configure.log" >&2; exit 1; }
fi
cmake --build "$build" --target morm_fuzz -j"$jobs" >"$build/build.log" 2>&1 || { tail -50 "$build/build.log" >&2; exit 1; }

harnesses=("$@")
if ((${#harnesses[@]} == 0)); then
    for src in "$root"/tests/fuzz/fuzz_*.cpp; do harnesses+=("$(basename "$src" .cpp)"); done
fi

# libFuzzer options per harness. fuzz_bson may grow inputs large enough for deep nesting.
extra_args() {
    case $1 in
        fuzz_bson) echo "-max_len=131072" ;;
        fuzz_model_decode | fuzz_op_msg) echo "-max_len=16384" ;;
        *) echo "" ;;
    esac
}

run_one() {
    local h=$1 work=$build/corpus-work/$1 art=$build/artifacts/$1/ log=$build/logs/$1.log
    mkdir -p "$work" "$art" "$(dirname "$log")"
    [[ -d $root/tests/fuzz/corpus/$h ]] && cp -n "$root"/tests/fuzz/corpus/"$h"/* "$work"/ 2>/dev/null || true
    local dict=()
    [[ -f $root/tests/fuzz/dict/$h.dict ]] && dict=(-dict="$root/tests/fuzz/dict/$h.dict")
    local rc=0
    # shellcheck disable=SC2046
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        "$build/tests/fuzz/$h" "$work" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$art" $(extra_args "$h") >"$log" 2>&1 || rc=$?
    echo "$rc" >"$log.rc"
}

pids=()
for h in "${harnesses[@]}"; do
    [[ -x $build/tests/fuzz/$h ]] || { echo "fuzz: no harness named $h" >&2; exit 2; }
    rm -f "$build/logs/$h.log.rc"
    run_one "$h" &
    pids+=($!)
    while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
done
wait

failed=0
stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }
for h in "${harnesses[@]}"; do
    log=$build/logs/$h.log
    rc=$(cat "$log.rc" 2>/dev/null || echo "?")
    execs=$(stat number_of_executed_units "$log")
    rate=$(stat average_exec_per_sec "$log")
    added=$(stat new_units_added "$log")
    corpus=$(find "$build/corpus-work/$h" -type f | wc -l)
    if [[ $rc == 0 ]]; then
        printf 'fuzz: %-18s ok    %10s execs  %6s exec/s  %4s new  corpus %s  (%ss)\n' \
            "$h" "${execs:-?}" "${rate:-?}" "${added:-?}" "$corpus" "$seconds"
    else
        failed=1
        artifact=$(grep -o "Test unit written to .*" "$log" | tail -1 | sed 's/Test unit written to //')
        kind=$(grep -m1 -oE "ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer): [a-zA-Z -]+|runtime error: .*|deadly signal" "$log" || echo "exit $rc")
        printf 'fuzz: %-18s FAIL  %10s execs  %6s exec/s  %s\n' "$h" "${execs:-?}" "${rate:-?}" "$kind"
        echo "fuzz:   reproducer: ${artifact:-none}  log: $log"
        echo "fuzz:   replay: $build/tests/fuzz/$h ${artifact:-<file>}"
    fi
done
exit $failed
