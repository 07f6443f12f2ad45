// Tests only: value-object builders shared by the pure reconcile and sync
// tests. One slice and one protocol number (kOurs) for both; a rule or route
// built here is "ours" unless another protocol is passed.
#pragma once

#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstdint>

#include "common/net.h"
#include "netlink/reconcile.h"
#include "netlink/types.h"

namespace pathsteer::nltest {

inline constexpr uint8_t kOurs = 201;

inline const OwnedSlice kSlice{.rule_priority_lo = 10000,
                               .rule_priority_hi = 11000,
                               .table_lo = 200,
                               .table_hi = 456,
                               .protocol = kOurs};

inline Prefix pfx(const char* s) {
  return *Prefix::parse(s);
}

inline IpAddr addr(const char* s) {
  return *IpAddr::parse(s);
}

// A fwmark rule with our mask, looking up `table`.
inline Rule mark_rule(int family, uint32_t prio, uint32_t mark, uint32_t table,
                      uint8_t proto = kOurs) {
  return Rule{.family = family,
              .priority = prio,
              .fwmark = mark,
              .fwmask = 0x0ff00000,
              .table = table,
              .protocol = proto};
}

// A default route via gw on oif, with the metric the kernel reports (1024 for v6).
inline Route default_route(int family, uint32_t table, const char* gw, int oif,
                           uint8_t proto = kOurs) {
  return Route{.family = family,
               .table = table,
               .dst = Prefix::default_route(family),
               .gateway = addr(gw),
               .oif = oif,
               .protocol = proto,
               .priority = family == AF_INET6 ? 1024u : 0u};
}

}  // namespace pathsteer::nltest
