// Internal to netlink/: rtnetlink <-> value-object encoding (libmnl). Parsers
// take one message as nlio::message_ok() accepted it (nlmsg_len within the
// received bytes) and read nothing outside it: every attribute is bounded by
// nlmsg_len, every nested length (RTA_MULTIPATH's rtnexthops and their
// attributes) by what encloses it, and an attribute shorter than its type or
// a string without its NUL makes the message malformed. They return nullopt
// for messages of another type or a malformed payload; builders write one
// complete request at `buf`, which must have kMaxRequestSize bytes.
#pragma once

#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <optional>

#include "netlink/types.h"

namespace pathsteer::nlcodec {

inline constexpr size_t kMaxRequestSize = 512;

std::optional<Link> parse_link(const nlmsghdr* nlh);
std::optional<Address> parse_address(const nlmsghdr* nlh);
std::optional<Route> parse_route(const nlmsghdr* nlh);
std::optional<Rule> parse_rule(const nlmsghdr* nlh);

// type: RTM_NEWRULE / RTM_DELRULE; flags are OR'ed with NLM_F_REQUEST.
nlmsghdr* put_rule(void* buf, uint16_t type, uint16_t flags, uint32_t seq, const Rule& rule);
// type: RTM_NEWROUTE / RTM_DELROUTE. A delete is sent with scope NOWHERE (any
// scope matches, as ip(8) does) and carries protocol, gateway and oif, so it
// can only remove the exact route it names.
nlmsghdr* put_route(void* buf, uint16_t type, uint16_t flags, uint32_t seq, const Route& route);

}  // namespace pathsteer::nlcodec
