// Local traffic (DESIGN §3): the gateway's own packets never pass the TC
// classifier on a LAN interface, so each class whose matches ip rules can
// express (protocol, port ranges, prefixes, DSCP, socket-owner uid ranges) is
// also compiled to native ip rules that only see locally originated traffic
// (`iif lo`). Entries with `iif` (a LAN interface) never match it and are
// skipped, as are entries with `domain` (their addresses are learned by the
// data plane, which sees forwarded traffic only); entries with `uid` exist only here (the data
// plane skips them).
//
// Layout, inside the owned band [base, base+1000): uplink pairs use
// base..base+2*max_id+1, overlay remotes base+521..base+520+max_id (they must
// come first: a tunnel's outer packets are locally generated too) and
// last_resort base+999, so local rules use [base + kLocalRuleOffset, base + 999). Every expanded
// selector (one src x one dst x one sport range x one dport range, per family) takes two
// priorities, in class order then entry order, so first-match holds:
//   p    iif lo <selector> lookup main suppress_prefixlength 0   (LAN, VPN routes win)
//   p+1  iif lo <selector> lookup <uplink table>
// A class on last_resort gets `p iif lo <selector> unreachable|blackhole`, or
// nothing for last_resort main. A class without `match` (everything) becomes
// one selector per family. balance steers local traffic to its `uplink` (ip
// rules cannot split per flow). Marked packets (our probes) meet the fwmark
// rules first, at lower priorities.
//
// A class that does not fit in the band is not steered locally at all (never
// half of its entries), nor is any class after it (first-match would break);
// PlannedClass::local says so.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "controller/planner.h"

namespace pathsteer {

inline constexpr uint32_t kLocalRuleOffset = 776;

// Local-steering status codes (PlannedClass::local; part of the status API).
inline constexpr const char* kLocalSteered = "steered";
inline constexpr const char* kLocalMain = "main";       // last_resort main: the main table decides
inline constexpr const char* kLocalNoRoom = "no-room";  // the band is full from here on
inline constexpr const char* kLocalLanOnly = "lan-only";  // every entry has `iif`: forwarded only

// Appends the local rules for `classes` (the plan's, policy order) to `rules`
// and sets each class's `local`.
void add_local_rules(const Policy& policy, const std::vector<PlannedPath>& uplinks,
                     std::vector<PlannedClass>& classes, std::vector<Rule>& rules);

}  // namespace pathsteer
