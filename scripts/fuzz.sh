#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined) into
# ./build-fuzz (or $FUZZ_BUILD_DIR) and fuzzes each one for $FUZZ_SECONDS (default 60)
# starting from its committed seed corpus (fuzz/corpus/<name>/, never written to; new
# inputs go to a scratch copy). Targets are the fuzz/corpus/* directories.
# A crash, leak, UB report or timeout fails the run; the input is left in
# build-fuzz/artifacts/<name>/: fix the bug, then commit the input to
# fuzz/regressions/<name>/ so that the replay unit test keeps it fixed.
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
status=0
for t in "${targets[@]}"; do
  scratch=$(mktemp -d)
  artifacts="$build/artifacts/$t"
  mkdir -p "$artifacts"
  echo "fuzz: $t for ${seconds} s (seeds: fuzz/corpus/$t)"
  if "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=16384 -print_final_stats=1 -artifact_prefix="$artifacts/" \
      "$scratch" "$top/fuzz/corpus/$t" >"$build/fuzz-$t.log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" \
      "$build/fuzz-$t.log" || true
    echo "fuzz: $t: no crash ($(ls "$scratch" | wc -l) new corpus inputs, not kept)"
  else
    status=1
    tail -n 60 "$build/fuzz-$t.log"
    echo "fuzz: $t FAILED; inputs in $artifacts: fix, then add them to fuzz/regressions/$t/" >&2
  fi
  rm -rf "$scratch"
done
exit $status
