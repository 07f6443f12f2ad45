#!/usr/bin/env bash
# Runs the netns stage N times and reports each test's pass rate: a test that fails one run
# in ten is a test that cries wolf (issue 15), and one run of scripts/test.sh will not show it.
#
#   scripts/soak.sh [N] [--hog K] [-R REGEX] [--no-build]
#     N          rounds (default 3)
#     --hog K    K busy processes (one shell loop each) beside the tests, for the whole soak:
#                the timing tests must hold on a loaded machine too
#     -R REGEX   only the netns tests whose ctest name matches (e.g. -R 'steering|failover')
#     --no-build use $BUILD_DIR (default ./build) as it is
#
# Prints a table (test, passed/runs, rate, the rounds it failed in) and exits 1 unless every
# test passed every round. Each round's ctest output is kept in $BUILD_DIR/soak/round-<i>.log
# and its JUnit report in round-<i>.xml. Needs root, like the netns stage.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
rounds=3 hog=0 regex="" do_build=1
while [ $# -gt 0 ]; do
  case $1 in
    --hog) hog=$2; shift 2 ;;
    -R) regex=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *[!0-9]*|'') echo "soak: unknown argument $1 (see --help)" >&2; exit 2 ;;
    *) rounds=$1; shift ;;
  esac
done
case $hog in *[!0-9]*|'') echo "soak: --hog wants a number" >&2; exit 2 ;; esac

if [ "$do_build" = 1 ]; then
  BUILD_DIR="$build" "$top/scripts/build.sh"
fi
out=$build/soak
rm -rf "$out"
mkdir -p "$out"

hogs=()
stop_hogs() {
  if [ ${#hogs[@]} -gt 0 ]; then
    kill "${hogs[@]}" 2>/dev/null || true
    wait "${hogs[@]}" 2>/dev/null || true
  fi
  hogs=()
}
trap stop_hogs EXIT
for ((i = 0; i < hog; i++)); do
  sh -c 'while :; do :; done' &
  hogs+=($!)
done
[ "$hog" -gt 0 ] && echo "soak: $hog busy processes beside the tests (pids ${hogs[*]})"

filter=()
[ -n "$regex" ] && filter=(-R "$regex")
t0=$SECONDS
for ((r = 1; r <= rounds; r++)); do
  echo "=== soak round $r/$rounds"
  rt=$SECONDS
  # A failing round is recorded, not fatal: the table is the result.
  ctest --test-dir "$build" -L netns "${filter[@]}" --output-on-failure \
    --output-junit "$out/round-$r.xml" >"$out/round-$r.log" 2>&1 || true
  tail -n 3 "$out/round-$r.log" | sed 's/^/    /'
  echo "    ($((SECONDS - rt)) s)"
done
stop_hogs

python3 - "$out" "$rounds" "$hog" "$((SECONDS - t0))" <<'EOF'
import os, sys, xml.etree.ElementTree as ET
out, rounds, hog, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
results = {}  # test -> list of (round, status)
for r in range(1, rounds + 1):
    path = os.path.join(out, f"round-{r}.xml")
    if not os.path.exists(path):
        print(f"round {r}: no JUnit report (ctest did not run; see {out}/round-{r}.log)")
        continue
    for case in ET.parse(path).getroot().iter("testcase"):
        status = case.get("status", "run")
        if case.find("failure") is not None or status == "fail":
            status = "fail"
        elif case.find("skipped") is not None or status in ("notrun", "disabled"):
            status = "skip"
        else:
            status = "pass"
        results.setdefault(case.get("name"), []).append((r, status))
if not results:
    print("soak: no test ran")
    sys.exit(1)
width = max(len(n) for n in results)
print(f"\nsoak: {rounds} rounds, {hog} hog processes, {secs} s\n")
print(f"{'test':<{width}}  passed/runs  rate   failed in rounds")
bad = False
for name in sorted(results):
    runs = results[name]
    passed = sum(1 for _, s in runs if s == "pass")
    failed = [str(r) for r, s in runs if s == "fail"]
    skipped = sum(1 for _, s in runs if s == "skip")
    counted = len(runs) - skipped
    rate = f"{100 * passed / counted:.0f}%" if counted else "-"
    note = ", ".join(failed) + (f" ({skipped} skipped)" if skipped else "")
    print(f"{name:<{width}}  {passed:>6}/{counted:<4}  {rate:>5}  {note}")
    bad |= passed != len(runs) or len(runs) != rounds
sys.exit(1 if bad else 0)
EOF
