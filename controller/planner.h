// The planner: plan(input, memory, now) -> DesiredState (whose `memory` is fed
// to the next call). Pure: no I/O, no clock reads, no globals; the same inputs
// always give the same plan, so it is unit-tested without a kernel (DESIGN §1,
// §6). Per-class strategies (failover, balance, lowest-latency, sla) and their
// rules are in controller/strategy.h.
//
// Numbering (from the persisted UplinkIds, never from file order):
//   uplink n:  mark  = n << ctz(mark_mask)             (must fit in the mask)
//              table = table_base + n
//              rules = prio base+2n   fwmark mark/mask lookup main suppress_prefixlength 0
//                      prio base+2n+1 fwmark mark/mask lookup table
//   overlay n: numbered from the same UplinkIds (wans and overlays share one
//              namespace), with the same mark, table and two fwmark rules as an
//              uplink; its table holds `default dev <tunnel>` (no gateway: a
//              point-to-point device) for each family the tunnel carries.
//              Its outer packets ride on the chosen underlay through
//              prio base+520+n   to <remote>/32 (/128) lookup <underlay's table>
//              per family with a remote, only while an underlay is chosen: for
//              tunnels that route their outer packets unmarked (ipip, gre,
//              WireGuard: the tunnel's own fwmark, 0 by default). For tunnels
//              whose outer packets keep the inner packet's mark (VXLAN), the
//              overlay's table also holds `<remote>/32 via <underlay's
//              gateway> dev <underlay>` (when that gateway is known).
//   last_resort unreachable|blackhole: the mask's highest value, one rule of
//              that type at base+999.  last_resort main: the class clears our
//              mark bits, so the main table decides.
// The band [base, base+1000) thus holds base+2..base+2*max_id+1 (fwmark
// rules), base+521..base+520+max_id (overlay remotes), the gateway's own
// traffic from base+776 (controller/local_rules.h: after the remotes, so a
// tunnel's outer packets, which are locally generated, meet their remote rule
// first) and base+999; with the default 8-bit mask (max_id 254) they never
// meet.
// Rules are installed for IPv4 and IPv6; a table gets a default route for each
// family whose gateway is known (explicit or learned). An uplink or overlay
// whose interface does not exist gets its rules (so the plan is stable) but no
// routes.
//
// Path metrics come from the path graph (controller/path_graph.h): every
// class path's rtt/jitter/loss/cost/usable are composed along its route
// (gateway → uplink, or gateway → underlay → overlay), and sla classes pick
// with PathGraph::select_sla. An overlay is usable when its interface exists
// and is up, its own probes are not down and an underlay is chosen.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bpf/compile.h"
#include "controller/link_metrics.h"
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
  // Health quality (probes/prober.h UplinkHealth). A degraded uplink is still
  // usable; the strategies that look at quality see its metrics. nullopt: not
  // measured (no probes, or no reply yet): it never meets an SLA constraint
  // and sorts last for lowest-latency.
  bool degraded = false;
  std::optional<double> rtt_ms;
  std::optional<double> jitter_ms;
  std::optional<double> loss_pct;
  friend bool operator==(const UplinkView&, const UplinkView&) = default;
};

// What the controller observed of one overlay (its tunnel interface and the
// probes sent through it). The metrics are measured end to end through the
// tunnel, over the underlay the previous plan chose (the one the kernel used
// while they were gathered); nullopt = not measured. The planner turns them
// into the tunnel's increment over that underlay (tunnel_increment()), which
// it adds to the underlay chosen now. An overlay without probes adds nothing
// to its underlay's metrics.
struct OverlayView {
  int ifindex = 0;        // 0: the tunnel interface does not exist
  bool admin_up = true;   // and carrier: a tunnel without carrier is not up
  bool usable = true;     // its own probes' health: not down (unknown counts as usable)
  bool degraded = false;  // its own probes' health
  std::optional<double> rtt_ms;
  std::optional<double> jitter_ms;
  std::optional<double> loss_pct;
  // The families its table gets a default route for (the daemon: those the
  // interface has an address of).
  bool ipv4 = true;
  bool ipv6 = true;
  friend bool operator==(const OverlayView&, const OverlayView&) = default;
};

using PlanClock = std::chrono::steady_clock;
using PlanTime = PlanClock::time_point;

// An intent (DESIGN §6) as the planner sees it: each set field replaces the
// class's own for as long as the caller passes it. An `sla` makes the class
// plan with strategy sla. Moves an intent causes are never held down. The
// class's reason becomes kReasonIntent unless no path is usable (all-down).
// Paths naming no wan or overlay (or one without an id) are skipped.
struct ClassOverride {
  std::optional<std::vector<std::string>> paths;
  std::optional<SlaSpec> sla;
  friend bool operator==(const ClassOverride&, const ClassOverride&) = default;
};

struct PlanInput {
  const Policy* policy = nullptr;
  const std::map<std::string, uint32_t>* uplink_ids = nullptr;  // name -> n, from UplinkIds
  std::map<std::string, UplinkView> uplinks;                    // by wan name
  std::map<std::string, OverlayView> overlays;                  // by overlay name
  std::map<std::string, ClassOverride> overrides;               // by class name
  // `iif` names -> ifindexes of the interfaces present (DatapathPlan::interfaces);
  // a name not present matches nothing until it appears.
  std::map<std::string, int> interfaces;
};

// What one class's plan remembers for the next (all times are `now`s passed
// to plan()). Continuity ("usable for 2 s") is judged from the plans the
// caller makes: it must re-plan whenever an UplinkView changes.
struct ClassMemory {
  std::optional<std::string> uplink;    // the chosen uplink (nullopt: last_resort)
  PlanTime since{};                     // when `uplink` was chosen
  std::optional<PlanTime> last_switch;  // the last change of `uplink` (not the first plan)
  // Per path: start of its current run of being good (failover: usable; sla:
  // usable and meeting every constraint). Paths not good now are absent.
  std::map<std::string, PlanTime> good_since;
  // lowest-latency: per path, since when it has beaten `uplink` by the margin.
  std::map<std::string, PlanTime> better_since;
  friend bool operator==(const ClassMemory&, const ClassMemory&) = default;
};

struct PlannerMemory {
  std::map<std::string, ClassMemory> classes;  // by class name; only the policy's classes
  // By overlay name: its underlay choice (`uplink` is the underlay).
  std::map<std::string, ClassMemory> overlays;
  friend bool operator==(const PlannerMemory&, const PlannerMemory&) = default;
};

// What uplinks and overlays have in common once planned: a stable number, the
// mark and table it fixes, and the interface as observed.
struct PlannedPath {
  std::string name;
  uint32_t id = 0;
  uint32_t mark = 0;
  uint32_t table = 0;
  int ifindex = 0;
  bool admin_up = false;
};

struct PlannedUplink : PlannedPath {
  bool usable = false;
  bool degraded = false;
  std::optional<IpAddr> gateway4;  // effective (explicit or learned)
  std::optional<IpAddr> gateway6;
};

// An overlay as planned. Its underlay is chosen like a failover class over the
// overlay's `underlays` (reason preferred / preferred-down / hold-down /
// all-down, the same codes); `metrics` are composed along `route`.
struct PlannedOverlay : PlannedPath {
  std::optional<std::string> underlay;  // nullopt: every underlay is down
  std::string reason;                   // of the underlay choice
  bool usable = false;                  // metrics.up
  bool degraded = false;                // its own probes' or its underlay's
  LinkMetrics metrics;                  // composed: underlay + the tunnel's increment
  std::vector<std::string> route;       // e.g. {"wan2", "tun0"}; empty when down
};

// Stable reason codes; part of the status API. Why a class is where it is:
inline constexpr const char* kReasonPreferred = "preferred";           // failover: first path
inline constexpr const char* kReasonPreferredDown = "preferred-down";  // failover: a later path
inline constexpr const char* kReasonHoldDown = "hold-down";  // a better path waits out hold_down_s
inline constexpr const char* kReasonBalance = "balance";     // balance: flows split over members
inline constexpr const char* kReasonLowestLatency = "lowest-latency";
inline constexpr const char* kReasonSlaMet = "sla-met";      // sla: the uplink meets the SLA
inline constexpr const char* kReasonSlaUnmet = "sla-unmet";  // sla: best effort, none meets it
inline constexpr const char* kReasonAllDown = "all-down";    // no usable path: last_resort
inline constexpr const char* kReasonIntent = "intent";       // an override decided the paths/sla
inline constexpr const char* kReasonAction = "action";       // `action:` main/unreachable/blackhole

// A balance member: a live path and its wan's weight (weight 0 is never a member).
struct PlannedMember {
  std::string uplink;
  uint32_t weight = 0;
  friend bool operator==(const PlannedMember&, const PlannedMember&) = default;
};

struct PlannedClass {
  std::string name;
  Strategy strategy = Strategy::kFailover;  // effective (an override's sla makes it kSla)
  std::optional<std::string> uplink;        // nullopt: last_resort applies
  uint32_t mark = 0;
  std::string reason;
  // balance: the weighted live set, in path order; the data plane spreads new
  // flows over it by weight (`uplink`, the heaviest, is what status shows).
  std::vector<PlannedMember> members;
  std::optional<bool> sla_met;  // sla only: whether `uplink` meets every constraint
  bool intent = false;          // an override was applied
  // Local (the gateway's own) traffic: controller/local_rules.h's codes.
  std::string local;
};

struct DesiredState {
  std::vector<PlannedUplink> uplinks;    // policy order
  std::vector<PlannedOverlay> overlays;  // policy order
  std::vector<PlannedClass> classes;     // policy order
  std::vector<Rule> rules;
  std::vector<Route> routes;
  DatapathPlan datapath;
  PlannerMemory memory;  // pass to the next plan()
  // The earliest time at which this plan would change with unchanged input (a
  // hold-down or a lowest-latency sustain running out): re-plan then.
  std::optional<PlanTime> next_plan_at;
};

// The mark value and rule priority layout for uplink number n.
uint32_t mark_shift(uint32_t mark_mask);
uint32_t mark_for(const Ownership& own, uint32_t n);
uint32_t max_uplink_id(const Ownership& own);  // highest n usable for an uplink
uint32_t overlay_remote_priority(const Ownership& own, uint32_t n);  // base+520+n

// `prev` is the previous plan's `memory` (empty at start: every class then
// takes its best path at once). `now` must not go backwards between calls.
DesiredState plan(const PlanInput& in, const PlannerMemory& prev, PlanTime now);
// No memory, now = epoch: every class as if planned for the first time.
DesiredState plan(const PlanInput& in);

}  // namespace pathsteer
