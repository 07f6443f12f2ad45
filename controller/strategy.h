// Per-class strategies: which uplink one class uses, given its paths as
// observed now and what the previous plan remembered. Pure, like the planner.
//
// Terms. A path is usable when its PlannedUplink is usable (degraded counts as
// usable). A move is forced when the current uplink is no longer usable (or no
// longer a path, or the class has no memory yet): it happens at once. Any
// other move is voluntary and is gated as each strategy says. A "switch" is a
// change of the chosen uplink after the class's first plan.
//
// failover   the first usable path in preference order; degraded uplinks are
//            used like up ones (use sla or lowest-latency to act on quality).
//            Failing back (voluntary) waits until the earlier path has been
//            usable continuously for hold_down_s AND hold_down_s have passed
//            since the last switch, so flapping inputs give at most one
//            voluntary switch per hold-down window. Reason preferred (path 0),
//            preferred-down (a later one), hold-down while waiting.
// balance    members = usable paths with weight > 0 of the lowest tier that
//            has any (one tier unless the class groups its paths), in path
//            order, with their wan's weight; the data plane's flow table
//            spreads new flows over them by weight. `uplink` is the heaviest member (ties: path
//            order): status, and the gateway's own traffic. No hold-down.
//            Reason balance.
// lowest-latency  the usable path with the lowest rtt_ms (unmeasured = worst,
//            ties: path order). A voluntary move needs another path better than
//            the current one by more than max(kLatencyMarginFraction * current,
//            kLatencyMarginMs) continuously for kLatencySustain; then the
//            lowest-rtt such path wins. Reason lowest-latency.
// sla        a path meets the SLA when every set constraint is measured and at
//            or below its maximum. Ranking of usable paths: those meeting it
//            first — by preference order, or, when any path's cost is nonzero,
//            by lowest cost then preference order (the planner computes this
//            pick with the path graph's constrained search and passes it as
//            `sla_pick`; without one the ranking is computed here) — then the
//            others by their worst normalised violation max_c((value_c - max_c) /
//            max(max_c, 1)) (unmeasured = infinite), ties by preference order.
//            Moving off an uplink that breaks the SLA to one that meets it is
//            immediate; moving off one that still meets it (fail-back after an
//            SLA break, or to a cheaper one) follows failover's hold-down rule
//            with "good" = usable and meeting the SLA; moving between two that
//            both break it waits hold_down_s since the last switch. Reason
//            sla-met / sla-unmet (sla_met says which), hold-down while waiting.
// No usable path: no uplink, reason all-down.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "controller/planner.h"
#include "controller/policy.h"

namespace pathsteer {

class PathGraph;  // controller/path_graph.h

inline constexpr double kLatencyMarginFraction = 0.10;
inline constexpr double kLatencyMarginMs = 5.0;
inline constexpr std::chrono::milliseconds kLatencySustain{1500};

// One path of a class, in preference order.
struct PathState {
  std::string name;
  bool usable = false;  // degraded uplinks are usable; their metrics say how good
  std::optional<double> rtt_ms;
  std::optional<double> jitter_ms;
  std::optional<double> loss_pct;
  uint32_t weight = 1;
  uint32_t cost = 0;
  uint32_t tier = 0;  // balance: fail over between tiers, balance within one
};

struct ClassChoice {
  std::optional<std::string> uplink;  // nullopt: all-down
  std::string reason;
  std::vector<PlannedMember> members;  // balance only
  std::optional<bool> sla_met;         // sla only, when an uplink was chosen
  ClassMemory memory;                  // for the next plan
  std::optional<PlanTime> wake_at;     // a pending move's earliest time
};

struct ClassRequest {
  Strategy strategy = Strategy::kFailover;
  std::vector<PathState> paths;  // preference order
  std::optional<SlaSpec> sla;    // kSla; nullopt = no constraints
  uint32_t hold_down_s = 0;
  // kSla: the index of the path the path graph's SLA-constrained search chose
  // among those meeting the SLA (PathGraph::select_sla); it is used when that
  // path meets the SLA by meets_sla(). nullopt (none met it, or no graph): the
  // ranking above is computed here (the same order).
  std::optional<size_t> sla_pick;
};

// `prev` is nullptr on the class's first plan.
ClassChoice choose(const ClassRequest& req, const ClassMemory* prev, PlanTime now);

// The underlay an overlay rides on: failover over `underlays` (preference
// order, usable = the uplink's path in `graph` is up) with `hold_down_s`,
// exactly as a failover class (reasons preferred / preferred-down / hold-down
// / all-down). `prev` is nullptr on the overlay's first plan.
ClassChoice choose_underlay(const PathGraph& graph, const std::vector<std::string>& underlays,
                            uint32_t hold_down_s, const ClassMemory* prev, PlanTime now);

// The margin a path must beat `current_rtt_ms` by (lowest-latency).
double latency_margin_ms(double current_rtt_ms);
// Whether the path meets every set constraint, and how far it is from doing so (sla).
bool meets_sla(const PathState& p, const std::optional<SlaSpec>& sla);
double sla_violation(const PathState& p, const std::optional<SlaSpec>& sla);

}  // namespace pathsteer
