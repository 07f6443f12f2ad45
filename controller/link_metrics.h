// Path metrics (docs/PATH_MODEL.md): what one edge of the path graph
// measured, or what a path composes to along its route. Plain values, apart
// from the graph itself (controller/path_graph.h) so that the plan's types
// (controller/planner.h) need no Boost.Graph.
#pragma once

#include <cstdint>
#include <optional>

namespace pathsteer {

// Measured figures of one edge, or composed along a path. nullopt = not
// measured: it composes to nullopt, never meets a constraint on it and sorts
// as infinitely bad.
struct LinkMetrics {
  bool up = true;
  std::optional<double> rtt_ms{};
  std::optional<double> jitter_ms{};
  std::optional<double> loss_pct{};  // 0..100
  uint32_t cost = 0;
  friend bool operator==(const LinkMetrics&, const LinkMetrics&) = default;
};

// The identity of compose(): up, zero delay, no loss, no cost.
inline LinkMetrics zero_metrics() {
  return LinkMetrics{.up = true, .rtt_ms = 0.0, .jitter_ms = 0.0, .loss_pct = 0.0, .cost = 0};
}

// a then b. compose(zero_metrics(), x) == x exactly (so a one-edge path's
// metrics are its edge's, bit for bit).
LinkMetrics compose(const LinkMetrics& a, const LinkMetrics& b);

// The uplink→overlay edge's metrics: what the tunnel adds to `underlay`, given
// what probes through the tunnel measured end to end (`through_tunnel`, over
// that same underlay). Per metric the inverse of compose(), floored at 0 (a
// tunnel probe's target may be nearer than the uplink's): so composing the
// underlay with the increment gives max(through_tunnel, underlay) per metric.
// An unmeasured underlay metric counts as 0; an unmeasured tunnel metric stays
// unmeasured. The result is up with cost 0 (the caller sets both).
LinkMetrics tunnel_increment(const LinkMetrics& through_tunnel, const LinkMetrics& underlay);

}  // namespace pathsteer
