# Sourced by scripts/run.sh and benchmarks/run.sh: where the optional official data is.
# The MongoDB benchmark data sets carry a non-commercial licence, so they are never in the
# repository: tests and benchmarks read them from $MORM_DATA_DIR, and use the data generated at
# build time otherwise. The development checkout keeps them beside the repository, in
# ../shared/benchmarks/data: that folder is used when MORM_DATA_DIR is unset and it exists.
#   use_official_data_beside ROOT CALLER
use_official_data_beside() {
    local dir="$1/../shared/benchmarks/data"
    [[ -z ${MORM_DATA_DIR:-} && -d $dir ]] || return 0
    MORM_DATA_DIR=$(cd "$dir" && pwd)
    export MORM_DATA_DIR
    echo "$2: MORM_DATA_DIR is not set: using the official data beside the repository, $MORM_DATA_DIR" >&2
}
