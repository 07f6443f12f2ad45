#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined) into
# ./build-fuzz (or $FUZZ_BUILD_DIR) and fuzzes each one for $FUZZ_SECONDS (default 60)
# starting from its committed seed corpus (fuzz/corpus/<name>/, never written to; new
# inputs go to a scratch copy). Targets are the fuzz/corpus/* directories.
# A crash, leak, UB report or timeout fails the run; the input is left in
# build-fuzz/artifacts/<name>/: fix the bug, then commit the input to
# fuzz/regressions/<name>/ so that the replay unit test keeps it fixed.
# Targets run $FUZZ_JOBS (default: the number of cores) at a time.
# Usage: scripts/fuzz.sh [target...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$top/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for d in "$top"/fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi

cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPATHSTEER_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# One target per core at a time: each still gets its full $seconds of one core.
jobs=${FUZZ_JOBS:-$(nproc)}
fuzz_one() {  # fuzz_one TARGET: writes fuzz-TARGET.rc, 0 when nothing was found
  local t=$1 scratch artifacts rc=0
  scratch=$(mktemp -d)
  artifacts="$build/artifacts/$t"
  mkdir -p "$artifacts"
  "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=16384 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$scratch" "$top/fuzz/corpus/$t" >"$build/fuzz-$t.log" 2>&1 || rc=1
  echo "$(ls "$scratch" | wc -l)" >"$build/fuzz-$t.new"
  echo "$rc" >"$build/fuzz-$t.rc"
  rm -rf "$scratch"
}
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  echo "fuzz: $t for ${seconds} s (seeds: fuzz/corpus/$t)"
  rm -f "$build/fuzz-$t.rc"
  fuzz_one "$t" &
  running=$((running + 1))
done
wait
status=0
for t in "${targets[@]}"; do
  if [ "$(cat "$build/fuzz-$t.rc" 2>/dev/null)" = 0 ]; then
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" \
      "$build/fuzz-$t.log" || true
    echo "fuzz: $t: no crash ($(cat "$build/fuzz-$t.new") new corpus inputs, not kept)"
  else
    status=1
    tail -n 60 "$build/fuzz-$t.log"
    echo "fuzz: $t FAILED; inputs in $build/artifacts/$t: fix, then add them to fuzz/regressions/$t/" >&2
  fi
done
exit $status
