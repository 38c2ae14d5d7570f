#!/usr/bin/env bash
# The two commands of the README.
#   scripts/run.sh quickstart   install what is missing, build, make sure a server answers at
#                               $MORM_URI (default mongodb://127.0.0.1:27017/mydatabase; starts
#                               the embedded FerretDB there when nothing listens), run the quickstart
#   scripts/run.sh test         install, build, run every test (unit, integration against a fresh
#                               FerretDB or $MORM_TEST_URI, examples, the installed-package check),
#                               then the sanitizer stages (scripts/sanitize.sh) and the fuzzers
#                               (scripts/fuzz.sh, 30 s each; MORM_FUZZ_SECONDS sets it);
#                               the official-data tests run when $MORM_DATA_DIR is set (or
#                               ../shared/benchmarks/data exists: see scripts/data_dir.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
build=${MORM_BUILD_DIR:-$root/build}

default_uri=mongodb://127.0.0.1:27017/mydatabase

ensure_server() {
    local uri=$1 hostport host port
    hostport=${uri#*://}; hostport=${hostport#*@}; hostport=${hostport%%/*}; hostport=${hostport%%\?*}
    hostport=${hostport%%,*}
    host=${hostport%:*}; port=${hostport##*:}
    [[ $host == "$hostport" ]] && port=27017
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
    case $host in
        127.0.0.1|localhost) ;;
        *) echo "run.sh: nothing answers at $host:$port and it is not local; start your server first" >&2; exit 1 ;;
    esac
    local dir=$root/.morm/server
    mkdir -p "$dir"
    echo "run.sh: nothing listens at $host:$port: starting the embedded FerretDB (data in $dir)" >&2
    # setsid: the embedded server outlives this script (it is the developer's local server).
    setsid bash "$root/scripts/ferretdb.sh" start "$dir" "$port" </dev/null >/dev/null
    kill "$(cat "$dir/guard.pid")" 2>/dev/null || true  # no guard: it should keep running
    rm -f "$dir/guard.pid"
    echo "run.sh: FerretDB running at 127.0.0.1:$port (stop: bash scripts/ferretdb.sh stop $dir)" >&2
}

case $cmd in
    quickstart)
        bash "$root/scripts/deps.sh"
        bash "$root/scripts/build.sh"
        uri=${MORM_URI:-$default_uri}
        ensure_server "$uri"
        MORM_URI=$uri "$build/examples/quickstart"
        ;;
    test)
        bash "$root/scripts/deps.sh"
        bash "$root/scripts/build.sh"
        bash "$root/scripts/check_install.sh"
        source "$root/scripts/data_dir.sh"
        use_official_data_beside "$root" run.sh
        [[ -n ${MORM_DATA_DIR:-} ]] || echo "run.sh: MORM_DATA_DIR is not set: the tests that need the official" \
            "MongoDB benchmark data report Skipped (the others use the data generated in $build/data)" >&2
        t0=$(date +%s)
        (cd "$build" && ctest --output-on-failure -j"$(nproc)" --timeout 600)
        echo "run.sh: tests took $(( $(date +%s) - t0 )) s" >&2
        # The same unit and integration tests under ASan+UBSan, the threaded ones under TSan,
        # then every fuzz harness for 30 s (when clang is there). MORM_QUICK_TEST=1 skips them.
        if [[ ${MORM_QUICK_TEST:-0} != 1 ]]; then
            bash "$root/scripts/sanitize.sh" asan
            bash "$root/scripts/sanitize.sh" tsan
            bash "$root/scripts/fuzz.sh" "${MORM_FUZZ_SECONDS:-30}"
        fi
        ;;
    *)
        echo "usage: $0 quickstart|test" >&2
        exit 2
        ;;
esac
