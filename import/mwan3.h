// The mwan3 converter behind `pathsteer import mwan3` (DESIGN §12): an
// OpenWrt mwan3 UCI package (and, for devices and lan_interfaces, the netifd
// `network` package) in, a version 1 policy's YAML text out, with one Note for
// every option that could not be carried over exactly. Depends on the UCI
// reader and common/ only; the YAML it writes is checked by the policy parser
// in the tests, not here.
//
// The mapping (docs/MIGRATING.md has the option-by-option table):
//  - globals mmx_mask: pathsteer's ownership is chosen clear of mwan3's mark
//    bits, rule priorities (1001-3254) and tables (1..), so both can run at once.
//  - interface (enabled, the default being disabled as in mwan3) -> a wan:
//    the device from the network package (`device`, `ifname`, a bridge's
//    br-NAME, ppp protocols' PROTO-NAME, `@alias`), gateway auto, one probe per
//    track_ip, interval/timeout in seconds -> *_ms, down/up -> down_after/
//    up_after, reliability, check_quality -> degraded_if/recover_if (an
//    approximation: degraded is not down). An ipv6 interface on the same device
//    as an ipv4 one (mwan3's IPv6 pair) is merged into that wan.
//  - policy -> the strategy of every class that uses it: members grouped by
//    metric; one tier of one member or one member per metric -> failover in
//    metric order; one tier of several -> balance; several tiers, some with
//    several members -> balance with tiers (`paths: [[a, b], c]`). Member
//    weights become wan weights (a wan given two different weights is noted).
//  - rule -> a class, in order: proto, src_ip, src_port, dest_ip, dest_port
//    ("80,443", "1000:2000"), family, src_iface (-> iif, the device), sticky +
//    timeout -> source_affinity_s; use_policy default -> `action: main`,
//    unreachable/blackhole -> that action when it is the policy's last_resort.
//    Rules that pathsteer cannot express (ipset, another unreachable/blackhole,
//    a policy without a live member) are written as comments and noted.
//  - last_resort (per policy in mwan3) -> the policy's last_resort; differing
//    values are noted.
// mwan4 naming is read the same way: route = member, strategy = policy,
// use_route = use_member, use_strategy = use_policy, `family` a list.
// Unknown sections and options are noted, never dropped silently.
#pragma once

#include <string>
#include <vector>

#include "import/uci.h"

namespace pathsteer::mwan3 {

// One option (or section, when `option` is empty) not carried over exactly.
struct Note {
  std::string file;
  int line = 0;              // 0: not tied to a line (e.g. a missing network file)
  std::string section_type;  // as written: rule, interface, route, ...
  std::string section;       // its name (@type[N] for anonymous sections)
  std::string option;        // empty: the section as a whole
  std::string why;
  // "FILE:LINE: option 'X' of rule 'Y': why" (DESIGN §12).
  std::string to_string() const;
  friend bool operator==(const Note&, const Note&) = default;
};

struct Conversion {
  std::string yaml;         // a version 1 policy, commented with where each part came from
  std::vector<Note> notes;  // empty: every option was carried over exactly
};

// `network` may be null (devices are then the netifd names, and noted).
Conversion convert(const uci::Package& mwan3, const uci::Package* network);

}  // namespace pathsteer::mwan3
