// The planner: plan(policy, observed, now) -> DesiredState. Pure: no I/O, no
// clock reads, no globals; the same inputs always give the same plan, so it is
// unit-tested without a kernel (DESIGN §1, §6).
//
// Numbering (from the persisted UplinkIds, never from file order):
//   uplink n:  mark  = n << ctz(mark_mask)             (must fit in the mask)
//              table = table_base + n
//              rules = prio base+2n   fwmark mark/mask lookup main suppress_prefixlength 0
//                      prio base+2n+1 fwmark mark/mask lookup table
//   last_resort unreachable|blackhole: the mask's highest value, one rule of
//              that type at base+999.  last_resort main: the class clears our
//              mark bits, so the main table decides.
// Rules are installed for IPv4 and IPv6; a table gets a default route for each
// family whose gateway is known (explicit or learned). An uplink whose
// interface does not exist gets its rules (so the plan is stable) but no routes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bpf/datapath.h"
#include "controller/policy.h"
#include "netlink/types.h"

namespace pathsteer {

// What the controller observed of one uplink.
struct UplinkView {
  int ifindex = 0;                         // 0: the interface does not exist
  bool admin_up = true;                    // false: the kernel refuses routes via it
  bool usable = true;                      // health: not down (unknown counts as usable)
  std::optional<IpAddr> learned_gateway4;  // for `gateway: auto`
  std::optional<IpAddr> learned_gateway6;
};

struct PlanInput {
  const Policy* policy = nullptr;
  const std::map<std::string, uint32_t>* uplink_ids = nullptr;  // name -> n, from UplinkIds
  std::map<std::string, UplinkView> uplinks;                    // by wan name
};

struct PlannedUplink {
  std::string name;
  uint32_t id = 0;
  uint32_t mark = 0;
  uint32_t table = 0;
  int ifindex = 0;
  bool admin_up = false;
  bool usable = false;
  std::optional<IpAddr> gateway4;  // effective (explicit or learned)
  std::optional<IpAddr> gateway6;
};

// Stable reason codes; part of the status API.
inline constexpr const char* kReasonPreferred = "preferred";
inline constexpr const char* kReasonPreferredDown = "preferred-down";
inline constexpr const char* kReasonAllDown = "all-down";

struct PlannedClass {
  std::string name;
  std::optional<std::string> uplink;  // nullopt: last_resort applies
  uint32_t mark = 0;
  std::string reason;
};

struct DesiredState {
  std::vector<PlannedUplink> uplinks;  // policy order
  std::vector<PlannedClass> classes;   // policy order
  std::vector<Rule> rules;
  std::vector<Route> routes;
  DatapathPlan datapath;
};

// The mark value and rule priority layout for uplink number n.
uint32_t mark_shift(uint32_t mark_mask);
uint32_t mark_for(const Ownership& own, uint32_t n);
uint32_t max_uplink_id(const Ownership& own);  // highest n usable for an uplink

DesiredState plan(const PlanInput& in);

}  // namespace pathsteer
