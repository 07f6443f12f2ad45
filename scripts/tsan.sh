#!/usr/bin/env bash
# Data-race check of the REST API (issue #7): builds pathsteerd and pathsteer with
# ThreadSanitizer into build-tsan (or $TSAN_BUILD_DIR) and runs the API's network-namespace
# tests against them: test_api, test_intents, test_openapi. cpprestsdk's worker threads
# receive the requests and the event loop answers them, so these drive every cross-thread
# hand-over there is.
#
# Any ThreadSanitizer report fails the stage: halt_on_error makes the process exit 66 at
# the first one (the test sees its daemon die, or exit non-zero on SIGTERM), and every
# report is also written to a log directory that must stay empty. scripts/tsan.supp lists
# the suppressions, each with its reason. Needs root like the other netns tests; without it
# the stage is skipped with a banner (and fails under CI=true).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${TSAN_BUILD_DIR:-$top/build-tsan}
tests=(test_api test_intents test_openapi)
started=$(date +%s)

if [ "$(id -u)" -ne 0 ]; then
  echo "##################################################################" >&2
  echo "# NOT ROOT: the ThreadSanitizer API tests are SKIPPED.            #" >&2
  echo "##################################################################" >&2
  [ "${CI:-}" = "true" ] && exit 1
  exit 0
fi

tsan=-fsanitize=thread
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS="$tsan" \
  -DCMAKE_CXX_FLAGS="$tsan" -DCMAKE_EXE_LINKER_FLAGS="$tsan" >/dev/null
cmake --build "$build" -j"$(nproc)" --target pathsteerd pathsteer

reports=$(mktemp -d /tmp/pathsteer-tsan.XXXXXX)
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 log_path=$reports/report \
suppressions=$top/scripts/tsan.supp"
export PATHSTEERD=$build/daemon/pathsteerd PATHSTEER=$build/cli/pathsteer
export PATHSTEER_SOURCE_DIR=$top PYTHONDONTWRITEBYTECODE=1

failed=()
for t in "${tests[@]}"; do
  echo "tsan: $t"
  (cd "$top/tests/netns" && /usr/bin/python3 "$t.py") || failed+=("$t")
done

# A process that ran clean writes no file; any file with a report fails the stage.
if grep -qs -e "WARNING: ThreadSanitizer" -e "ERROR: ThreadSanitizer" "$reports"/report.*; then
  echo "tsan: ThreadSanitizer reports:" >&2
  cat "$reports"/report.* >&2
  failed+=("reports in $reports")
else
  rm -rf "$reports"
fi
echo "tsan: ${#tests[@]} test files in $(($(date +%s) - started)) s (build included)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "tsan: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "tsan: clean"
