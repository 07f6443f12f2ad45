#!/usr/bin/env bash
# Fails on an #include that crosses pathsteer's layers (docs/ARCHITECTURE.md
# "Layers"). A folder is a module; it may include only from the modules below it:
#
#   common                    <- everything
#   model                     <- common
#   import                    <- common, model (the UCI reader and converters write
#                                policy text; they know no policy object)
#   netlink | bpf | probes    <- common, model (never each other, never above)
#   controller                <- the above; of bpf/ and probes/ only their ports
#                                (bpf/dataplane_port.h, bpf/compile.h, bpf/packet_builder.h,
#                                probes/prober_port.h, probes/health.h), never a loader
#   api                       <- the above (cpprestsdk: api/http_client.cpp alone)
#   fleet                     <- common, model, netlink, bpf, probes, controller (its etcd
#                                client speaks HTTP on Boost.Beast itself; never api/)
#   daemon | cli | tests | bench | fuzz  <- anything
#
# Usage: check-layers.sh [ROOT]   (default: the checkout this script is in)
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

modules="common model import netlink bpf probes controller api fleet daemon cli"
declare -A allowed=(
  [common]="common"
  [model]="common model"
  [import]="common model import"
  [netlink]="common model netlink"
  [bpf]="common model bpf"
  [probes]="common model probes"
  [controller]="common model netlink bpf probes controller"
  [api]="common model netlink bpf probes controller api"
  [fleet]="common model netlink bpf probes controller fleet"
)
# Headers of an allowed module that a layer still may not use (the concrete
# kernel-facing implementations behind the controller's ports).
declare -A forbidden=(
  [controller]="bpf/datapath.h probes/prober.h probes/icmp.h probes/stamp.h probes/reflector.h
    probes/session.h probes/probe_socket.h probes/datagram_session.h probes/icmp_session.h
    probes/stamp_session.h probes/tcp_session.h"
  [fleet]="bpf/datapath.h probes/prober.h"
)

bad=0
report() {
  echo "layer crossing: $1" >&2
  bad=$((bad + 1))
}

for mod in "${!allowed[@]}"; do
  [ -d "$mod" ] || continue
  while IFS= read -r hit; do
    file=${hit%%:*}
    rest=${hit#*:}
    line=${rest%%:*}
    inc=$(sed -E 's/.*#include +"([^"]+)".*/\1/' <<<"$rest")
    top=${inc%%/*}
    [ "$top" = "$inc" ] && continue  # same-folder or generated header ("x.skel.h")
    case " $modules " in *" $top "*) ;; *) continue ;; esac
    case " ${allowed[$mod]} " in
      *" $top "*) ;;
      *)
        report "$file:$line includes $inc ($mod/ may include only: ${allowed[$mod]})"
        continue
        ;;
    esac
    for f in ${forbidden[$mod]:-}; do
      [ "$inc" = "$f" ] && report "$file:$line includes $inc (a loader; $mod/ uses its port)"
    done
  done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include +"' "$mod" --include='*.h' --include='*.cpp' --include='*.c' || true)
done

# cpprestsdk stays replaceable: one file includes it.
while IFS= read -r hit; do
  case "${hit%%:*}" in api/http_client.cpp) ;; *) report "$hit (cpprestsdk outside api/http_client.cpp)" ;; esac
done < <(grep -rnE '#[[:space:]]*include +[<"]cpprest/' $modules tests bench fuzz 2>/dev/null || true)

if [ "$bad" -gt 0 ]; then
  echo "check-layers: $bad crossing(s)" >&2
  exit 1
fi
echo "check-layers: no crossings"
