#!/usr/bin/env bash
# pathsteer's main job, for a newcomer: installs what is missing, builds, then
# builds a lab of network namespaces (a LAN, a gateway running pathsteerd, two
# uplinks), shows which uplink each class of traffic takes, pulls one uplink's
# cable and shows the failover. Run as root. Everything it creates is removed
# at the end.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
if [ "$(id -u)" -ne 0 ]; then
  echo "lab: run as root (it creates network namespaces and loads BPF programs)" >&2
  exit 1
fi
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" >/dev/null
PATHSTEERD="$build/daemon/pathsteerd" PATHSTEER="$build/cli/pathsteer" \
  exec python3 "$top/tests/netns/lab.py" "$@"
