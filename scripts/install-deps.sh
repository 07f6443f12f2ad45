#!/usr/bin/env bash
# Installs the Debian 12 packages that pathsteer's build, lab and tests need.
# Idempotent: when every package is present it changes nothing and exits 0.
set -euo pipefail

packages=(
  # build
  cmake make g++ pkg-config clang llvm clang-format clang-tidy ccache
  libbpf-dev bpftool linux-libc-dev
  libmnl-dev
  libboost-graph-dev libcpprest-dev libssl-dev
  libyaml-dev nlohmann-json3-dev libgtest-dev libgmock-dev
  # lab and tests
  iproute2 nftables conntrack iperf3 procps python3 curl openssl
  prometheus  # promtool, to check GET /metrics and the Grafana dashboard's PromQL
  scdoc groff-base man-db  # the man pages (docs/man) and their test
  chromium    # the dashboard's browser tests (tests/ui, headless)
  dnsmasq-base  # a real resolver for the domain-class tests (the binary only: no service)
  etcd-server etcd-client  # the fleet tests' 3-member cluster and etcdctl
  # packaging tests: systemd-analyze, a clean Debian root, the package build (debian/),
  # a booted Debian root (systemd-nspawn)
  systemd debootstrap dpkg-dev debhelper lintian fakeroot systemd-container
)

# Node.js runs the OpenAPI check's pinned validators (tests/openapi). A Node.js from
# elsewhere (with its own npm) will do, so ask for Debian's only when there is none.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root (or with sudo) to install them" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The npm packages, exactly as each package-lock.json pins them (the OpenAPI check's
# validators, the browser tests' puppeteer-core and axe-core, the dashboard's uPlot); again
# only when a lock changed since its last install.
for dir in tests/openapi tests/ui ui; do
  pkg=$(cd "$(dirname "$0")/../$dir" && pwd)
  if ! cmp -s "$pkg/package-lock.json" "$pkg/node_modules/.installed-lock.json"; then
    echo "install-deps: npm ci in $pkg"
    npm ci --prefix "$pkg" --ignore-scripts --no-audit --no-fund --loglevel=error
    cp "$pkg/package-lock.json" "$pkg/node_modules/.installed-lock.json"
  fi
done
