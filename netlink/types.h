// Typed value objects for the kernel state pathsteer reads and writes over
// rtnetlink: Link, Address, Route, Rule. Plain values with == (all fields) and
// to_string() (ip(8)-like, used in logs and error contexts).
//
// Encoding rules the codec follows (netlink/codec.h):
//  * table ids are u32 and always sent in RTA_TABLE / FRA_TABLE; the header's u8
//    table holds the id only when < 256, RT_TABLE_UNSPEC otherwise;
//  * protocol is rtm_protocol / FRA_PROTOCOL: it is how we recognise what we own;
//  * fields marked read-only are filled on dump and ignored when writing.
#pragma once

#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>

#include <cstdint>
#include <optional>
#include <string>

#include "common/net.h"

namespace pathsteer {

struct Link {
  int ifindex = 0;
  std::string name;
  bool admin_up = false;  // IFF_UP
  bool carrier = false;   // IFF_LOWER_UP
  uint32_t flags = 0;     // raw ifi_flags

  std::string to_string() const;
  friend bool operator==(const Link&, const Link&) = default;
};

struct Address {
  int ifindex = 0;
  int family = AF_UNSPEC;
  Prefix prefix;  // the on-link network: addr masked to the prefix length
  IpAddr addr;    // the local address (IFA_LOCAL, else IFA_ADDRESS)

  std::string to_string() const;
  friend bool operator==(const Address&, const Address&) = default;
};

struct Route {
  int family = AF_UNSPEC;
  uint32_t table = RT_TABLE_MAIN;
  Prefix dst;                     // 0.0.0.0/0 or ::/0 for a default route
  std::optional<IpAddr> gateway;  // RTA_GATEWAY (first hop of a multipath route on dump)
  int oif = 0;                    // RTA_OIF, 0 = none
  uint8_t protocol = RTPROT_UNSPEC;
  uint8_t type = RTN_UNICAST;  // RTN_UNICAST / RTN_UNREACHABLE / RTN_BLACKHOLE / ...
  uint8_t scope = RT_SCOPE_UNIVERSE;
  uint32_t priority = 0;  // metric (IPv6: the kernel stores 0 as 1024)
  bool linkdown = false;  // RTNH_F_LINKDOWN; read-only

  std::string to_string() const;
  friend bool operator==(const Route&, const Route&) = default;
};

// PortRange lives in common/net.h (shared with policy matches).
// UidRange lives in common/net.h (shared with policy matches).

struct Rule {
  int family = AF_UNSPEC;
  uint32_t priority = 0;
  uint32_t fwmark = 0;
  uint32_t fwmask = 0;  // kernel default for a non-zero mark without mask: 0xffffffff
  uint32_t table = 0;   // for FR_ACT_TO_TBL
  uint8_t action = FR_ACT_TO_TBL;
  int32_t suppress_prefixlen = -1;  // -1 = unset
  uint8_t protocol = RTPROT_UNSPEC;
  // Selectors we do not use for steering marks yet, but need to recognise
  // (and delete exactly) rules written by others or for local traffic.
  std::optional<Prefix> src;
  std::optional<Prefix> dst;
  std::string iifname;
  std::string oifname;
  uint8_t ip_proto = 0;  // 0 = any
  std::optional<PortRange> sport;
  std::optional<PortRange> dport;
  std::optional<UidRange> uid_range;
  uint8_t tos = 0;
  bool invert = false;  // FIB_RULE_INVERT ("not")

  std::string to_string() const;
  friend bool operator==(const Rule&, const Rule&) = default;
};

}  // namespace pathsteer
