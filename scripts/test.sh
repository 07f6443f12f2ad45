#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test, in stages:
#   unit      unit tests (GoogleTest, BPF program tests, install layout + systemd-analyze)
#   tidy      clang-tidy (.clang-tidy, warnings are errors) on the product sources
#             (scripts/tidy.py): a TU is re-checked only when its preprocessed text, flags,
#             .clang-tidy or clang-tidy changed since it was last found clean (cache in
#             /var/cache/pathsteer/tidy, shared by every checkout on the machine). Cold, it
#             costs 11-14 CPU-minutes (6-7 min on 2 idle cores, 10-12 min on a busy
#             machine); warm, ~15 CPU-seconds of preprocessing plus the TUs that changed
#   sanitize  the unit tests again, built with AddressSanitizer + UBSan (./build-asan)
#   fuzz      every libFuzzer target for $FUZZ_SECONDS (default 60) from its corpus, one
#             target per core at a time
#   netns     the network-namespace end-to-end tests, one at a time (they measure timing)
#   package   the .deb built from debian/ (scripts/build-deb.sh: dpkg-buildpackage, lintian
#             without errors) and installed into a clean Debian 12 root
#   systemd   that .deb under a real systemd: a Debian 12 root booted with systemd-nspawn
#             (cached under /var/cache/pathsteer/systemd-root; ~70 s cold debootstrap)
#             installs it with apt and drives the shipped unit (tests/systemd/)
#   tsan      the REST API's netns tests against a ThreadSanitizer build (scripts/tsan.sh)
# TEST_STAGES="unit netns" runs only those. Run as root (the netns, BPF and package tests
# need it; without root they are skipped with a banner, and under CI=true they fail instead;
# likewise tidy without clang-tidy).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
asan_build=${ASAN_BUILD_DIR:-$top/build-asan}
stages=${TEST_STAGES:-unit tidy sanitize fuzz netns package systemd tsan}
jobs=$(nproc)

"$top/scripts/install-deps.sh"
# Compiles go through ccache (CMakeLists.txt) with one cache for every checkout on the
# machine: CI's fresh clone rebuilds what did not change from it. base_dir makes the
# clone's paths relative, so another clone's objects are hits.
if [ -z "${CCACHE_DIR:-}" ] && mkdir -p /var/cache/pathsteer/ccache 2>/dev/null; then
  export CCACHE_DIR=/var/cache/pathsteer/ccache
fi
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$top} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
if [ "$(id -u)" -ne 0 ]; then
  echo "##################################################################" >&2
  echo "# NOT ROOT: the BPF and network-namespace tests will be SKIPPED.  #" >&2
  echo "# Run as root to test pathsteer against the kernel.              #" >&2
  echo "##################################################################" >&2
fi

timings=()
stage() {  # stage <name> <command...>: runs it if selected, records its duration
  local name=$1
  shift
  case " $stages " in *" $name "*) ;; *) return 0 ;; esac
  local t0=$SECONDS
  echo "=== stage $name"
  "$@"
  timings+=("$name $((SECONDS - t0)) s")
}

build_all() { "$top/scripts/build.sh"; }
unit() { ctest --test-dir "$build" --output-on-failure -L unit -j"$jobs"; }
# -O0 -g1 keeps the sanitizer build quick to compile (2-3x faster than -O1 for our
# template-heavy files); only the unit-test targets are built. Not
# here: format (already run), package.install, docs.man and completion.bash (they need
# the daemon, the CLI or the man pages, which are not built here).
# GCC's -Wmaybe-uninitialized misfires on instrumented code (boost::optional in Boost.Graph);
# the normal build keeps it as an error.
sanitize() {
  local san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
  san+=" -Wno-maybe-uninitialized"
  cmake -S "$top" -B "$asan_build" -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS_DEBUG="-O0 -g1" -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1" \
    -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" >/dev/null
  cmake --build "$asan_build" -j"$jobs" --target unit_tests
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$asan_build" --output-on-failure -L unit -E '^(format|package\.|docs\.man|completion\.)' -j"$jobs"
}
# Our code as clang-tidy sees it, TUs whose input is unchanged since found clean skipped.
tidy() { BUILD_DIR="$build" "$top/scripts/tidy.py"; }
# 30 s a target here (7 targets, two at a time): a smoke run on every change; longer
# campaigns: scripts/fuzz.sh with FUZZ_SECONDS.
fuzz() { FUZZ_SECONDS=${FUZZ_SECONDS:-30} "$top/scripts/fuzz.sh"; }
netns() { ctest --test-dir "$build" --output-on-failure -L netns; }
# The .deb is built once (scripts/build-deb.sh skips it when no file changed) for both.
package() {
  "$top/scripts/build-deb.sh" "$build/deb"
  ctest --test-dir "$build" --output-on-failure -L package
}
systemd() {
  "$top/scripts/build-deb.sh" "$build/deb"
  ctest --test-dir "$build" --output-on-failure -L systemd
}
# ThreadSanitizer over the REST API's netns tests, in its own build dir (scripts/tsan.sh).
tsan() { "$top/scripts/tsan.sh"; }

# The tracked files' state (empty outside a git checkout).
tracked_state() {
  if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$top" diff HEAD --binary | sha1sum
  fi
}
tracked_before=$(tracked_state)

t0=$SECONDS
stages="build $stages"  # the build always runs
stage build build_all
stage unit unit
stage tidy tidy
stage sanitize sanitize
stage fuzz fuzz
stage netns netns
stage package package
stage systemd systemd
stage tsan tsan

# Tests must leave the checkout as they found it (a test once edited the
# repository's own policies/two-wan.yaml, the fixture's default policy).
if [[ -n "$tracked_before" && "$(tracked_state)" != "$tracked_before" ]]; then
  echo "*** the tests changed tracked files of the checkout:" >&2
  git -C "$top" status --short --untracked-files=no >&2
  exit 1
fi
echo "=== stage times: ${timings[*]/%/;} total $((SECONDS - t0)) s"
