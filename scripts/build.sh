#!/usr/bin/env bash
# Configures and builds pathsteer into ./build (or $BUILD_DIR).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
# Warnings are errors here (the test command and CI); a plain cmake build keeps them warnings.
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DPATHSTEER_WERROR="${PATHSTEER_WERROR:-ON}" >/dev/null
cmake --build "$build" -j"$(nproc)"
