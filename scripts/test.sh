#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: unit tests, BPF
# program tests and the network-namespace end-to-end tests. Run as root (the
# netns and BPF tests need it; without root they are skipped with a banner,
# and under CI=true they fail instead).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}

"$top/scripts/install-deps.sh"
if [ "$(id -u)" -ne 0 ]; then
  echo "##################################################################" >&2
  echo "# NOT ROOT: the BPF and network-namespace tests will be SKIPPED.  #" >&2
  echo "# Run as root to test pathsteer against the kernel.              #" >&2
  echo "##################################################################" >&2
fi
"$top/scripts/build.sh"
cd "$build"
# Unit tests in parallel; the netns tests one at a time (they measure timing).
ctest --output-on-failure -L unit -j"$(nproc)"
ctest --output-on-failure -L netns

# ThreadSanitizer over the REST API's netns tests, in its own build dir (scripts/tsan.sh).
"$top/scripts/tsan.sh"
