#!/usr/bin/env bash
# Proves scripts/check-layers.sh catches what it names: a planted crossing of
# each kind fails it, and the same tree with allowed includes passes.
set -euo pipefail
check=$(cd "$(dirname "$0")" && pwd)/check-layers.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{common,model,import,netlink,bpf,probes,controller,api,daemon}

plant() {  # plant FILE INCLUDE
  echo "#include $2" >"$tmp/$1"
}
plant common/a.h '"common/b.h"'
plant model/a.h '"common/net.h"'
plant bpf/a.h '"model/match.h"'
plant import/a.cpp '"import/uci.h"'
plant controller/a.h '"bpf/dataplane_port.h"'
plant api/a.cpp '"controller/service.h"'
plant api/http_client.cpp '<cpprest/http_client.h>'
plant daemon/main.cpp '"api/server.h"'
"$check" "$tmp" >/dev/null || { echo "selftest: a clean tree was refused" >&2; exit 1; }

expect_refused() {  # expect_refused FILE INCLUDE
  plant "$1" "$2"
  if "$check" "$tmp" >/dev/null 2>&1; then
    echo "selftest: $1 including $2 was not caught" >&2
    exit 1
  fi
  rm "$tmp/$1"
}
expect_refused probes/x.h '"controller/policy.h"'
expect_refused netlink/x.cpp '"api/http.h"'
expect_refused bpf/x.cpp '"probes/prober_port.h"'
expect_refused controller/x.cpp '"api/http.h"'
expect_refused controller/y.cpp '"bpf/datapath.h"'
expect_refused model/x.h '"netlink/types.h"'
expect_refused controller/z.cpp '<cpprest/json.h>'
expect_refused import/x.cpp '"controller/policy.h"'
echo "check-layers selftest: 8 planted crossings caught, the clean tree passes"
