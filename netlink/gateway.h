// Gateway discovery for `gateway: auto` (DESIGN.md §4): the next hop DHCP/RA
// installed for an uplink.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/net.h"
#include "netlink/types.h"

namespace pathsteer {

// The gateway of the main table's unicast default route of `family` whose oif
// is `ifindex` (first hop of a multipath route); lowest metric wins, ties go to
// the first seen. Routes with protocol `own_protocol` are ignored (we must never
// learn from ourselves). nullopt if there is none.
std::optional<IpAddr> find_default_gateway(const std::vector<Route>& routes, int ifindex,
                                           int family, uint8_t own_protocol);

}  // namespace pathsteer
