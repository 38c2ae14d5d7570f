#!/usr/bin/env bash
# The one benchmark command:
#   benchmarks/run.sh [--smoke] [--iterations N] [--scale F] [--no-deps] [--no-build]
# installs the benchmark peers (scripts/deps.sh --bench), builds in Release into build-release/,
# starts a fresh FerretDB (or uses $MORM_BENCH_URI), runs every benchmarks/suites/*_suites.sh, and
# writes benchmarks/results/{latest.jsonl,latest.csv,summary.md,ratios.png}. Prints the table.
# The FerretDB it started is always stopped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
results=$here/results
build=${MORM_BENCH_BUILD:-$root/build-release}
deps=1 do_build=1
orig_args=("$@")
while (($#)); do
    case $1 in
        --smoke) export MORM_BENCH_SMOKE=1 ;;
        --iterations) export MORM_BENCH_ITERATIONS=$2; shift ;;
        --scale) export MORM_BENCH_SCALE=$2; shift ;;
        --no-deps) deps=0 ;;
        --no-build) do_build=0 ;;
        *) echo "usage: $0 [--smoke] [--iterations N] [--scale F] [--no-deps] [--no-build]" >&2; exit 2 ;;
    esac
    shift
done
export MORM_BENCH_BUILD=$build MORM_BUILD_DIR=$build
log() { echo "run.sh: $*" >&2; }

((deps)) && bash "$root/scripts/deps.sh" --bench
if ((do_build)); then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMORM_BUILD_TESTS=OFF \
          -DMORM_BUILD_EXAMPLES=ON -DMORM_BUILD_BENCHMARKS=ON >/dev/null
    cmake --build "$build" -j"$(nproc)"
fi

server_dir=""
cleanup() { [[ -n $server_dir ]] && { bash "$root/scripts/ferretdb.sh" stop "$server_dir"; rm -rf "$server_dir"; }; return 0; }
trap cleanup EXIT
trap 'exit 130' INT TERM
if [[ -n ${MORM_BENCH_URI:-} ]]; then
    uri=$MORM_BENCH_URI
    log "using the server at $uri"
else
    server_dir=$(mktemp -d "${TMPDIR:-/tmp}/morm-bench.XXXXXX")
    uri=$(bash "$root/scripts/ferretdb.sh" start "$server_dir")
    log "started FerretDB at $uri (data in $server_dir)"
fi
export MORM_BENCH_URI=$uri

mkdir -p "$results"
: > "$results/latest.jsonl"
failed=()
suite_args=()
[[ ${MORM_BENCH_SMOKE:-0} == 1 ]] && suite_args=(--smoke)
# A suite is benchmarks/suites/*_suites.sh URI [--smoke] printing JSON lines (other scripts
# there are their helpers).
for suite in "$here"/suites/*_suites.sh; do
    [[ -f $suite ]] || continue
    name=$(basename "$suite")
    log "suite $name"
    # Only JSON lines are results; anything else on stdout goes to the terminal.
    if ! bash "$suite" "$uri" "${suite_args[@]}" | tee >(grep '^{' >> "$results/latest.jsonl") | { grep -v '^{' >&2 || true; }; then
        failed+=("$name")
    fi
done
sleep 0.2  # let the tee'd process substitution finish writing

python3 "$here/tools/report.py" "$results" --command "benchmarks/run.sh ${orig_args[*]:-}"
log "results in $results (latest.jsonl, latest.csv, summary.md, ratios.png)"
if ((${#failed[@]})); then log "suites with failures: ${failed[*]}"; exit 1; fi
