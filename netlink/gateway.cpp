#include "netlink/gateway.h"

namespace pathsteer {

std::optional<IpAddr> find_default_gateway(const std::vector<Route>& routes, int ifindex,
                                           int family, uint8_t own_protocol) {
  const Route* best = nullptr;
  for (const Route& r : routes) {
    if (r.family != family || r.table != RT_TABLE_MAIN || r.type != RTN_UNICAST || r.dst.len != 0 ||
        r.oif != ifindex || !r.gateway || r.protocol == own_protocol) {
      continue;
    }
    if (best == nullptr || r.priority < best->priority)
      best = &r;
  }
  if (best == nullptr)
    return std::nullopt;
  return best->gateway;
}

}  // namespace pathsteer
