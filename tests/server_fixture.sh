#!/usr/bin/env bash
# ctest fixture: start/stop FerretDB for the integration tests unless MORM_TEST_URI
# already names a server.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ -n "${MORM_TEST_URI:-}" ]]; then echo "using MORM_TEST_URI=$MORM_TEST_URI"; exit 0; fi
case "$1" in
  start) rm -rf "$2"; mkdir -p "$2"; exec bash "$here/../scripts/ferretdb.sh" start "$2" ;;
  stop) bash "$here/../scripts/ferretdb.sh" stop "$2"; rm -rf "$2" ;;
esac
