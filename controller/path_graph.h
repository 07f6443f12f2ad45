// The path model (DESIGN §6, docs/PATH_MODEL.md): a Boost.Graph of
//
//     gateway ──► uplink ──► overlay ──► sink
//                   │   (one edge per       ▲
//                   │    underlay; one      │
//                   │    active at a time)  │
//                   └───────────────────────┘
//
// Edges carry measured metrics (LinkMetrics): gateway→uplink what the
// uplink's probes see; uplink→overlay the tunnel's increment over that
// underlay (tunnel_increment()); every uplink and overlay has an edge to one
// sink vertex, with no metrics, which the constrained search ends on. Probe
// targets are where the figures are measured, not vertices: the prober
// aggregates them into the edge entering the uplink or overlay (see
// docs/PATH_MODEL.md for why). A path's metrics compose along its active
// route from the gateway: rtt and jitter add, loss compounds
// (1-(1-a)(1-b)), cost adds, up is the conjunction.
//
// Pure values, no I/O; not thread-safe for concurrent mutation. Names are
// unique across uplinks and overlays (the policy's shared namespace).
#pragma once

#include <boost/graph/adjacency_list.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "controller/link_metrics.h"
#include "controller/policy.h"

namespace pathsteer {

class PathGraph {
 public:
  enum class Kind { kGateway, kUplink, kOverlay, kSink };

  PathGraph();

  // gateway → `name`. False (nothing added) if the name is taken.
  bool add_uplink(const std::string& name, const LinkMetrics& edge);
  // One edge per known underlay (unknown names are skipped), all inactive
  // until set_underlay(). False if the name is taken.
  bool add_overlay(const std::string& name, const std::vector<std::string>& underlays);
  // Makes `underlay`'s edge into `overlay` the active one, with `edge`'s
  // metrics; nullopt (or a name that is not one of its underlays)
  // deactivates all: the overlay is unreachable.
  void set_underlay(const std::string& overlay, const std::optional<std::string>& underlay,
                    const LinkMetrics& edge);

  bool contains(const std::string& name) const;
  std::optional<Kind> kind(const std::string& name) const;
  std::vector<std::string> underlays(const std::string& overlay) const;   // declared order
  std::optional<std::string> underlay(const std::string& overlay) const;  // the active one

  // The active route from the gateway, e.g. {"wan1"} or {"wan2", "tun0"};
  // empty for an unknown name or an overlay without an active underlay.
  std::vector<std::string> route(const std::string& name) const;
  // Metrics composed along route(name), starting from zero_metrics(); for an
  // empty route: down and unmeasured.
  LinkMetrics path_metrics(const std::string& name) const;

  // SLA-constrained selection: a resource-constrained shortest-path search
  // (boost::r_c_shortest_paths) from the gateway to the sink over active, up
  // edges, leaving the graph only through `candidates` (class paths in
  // preference order; rank = index). Resources: rtt, jitter, loss (compounded)
  // and cost as composed above, plus rank. Feasible: every edge up and the
  // composed metrics meet every set constraint of `sla` (strategy.h
  // meets_sla(), the same predicate the strategies use). Objective: lowest
  // (cost, rank) when `by_cost`, else lowest rank. Returns the winning
  // candidate's index, or nullopt when no candidate is feasible (the caller
  // falls back to best effort).
  std::optional<size_t> select_sla(const std::vector<std::string>& candidates,
                                   const std::optional<SlaSpec>& sla, bool by_cost) const;

 private:
  struct VertexProps {
    std::string name;
    Kind kind = Kind::kGateway;
  };
  struct EdgeProps {
    LinkMetrics metrics;
    bool active = true;
    size_t index = 0;  // for the search's edge index map
  };
  using Graph =
      boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, VertexProps, EdgeProps>;
  using Vertex = boost::graph_traits<Graph>::vertex_descriptor;
  using Edge = boost::graph_traits<Graph>::edge_descriptor;

  Vertex add_vertex(const std::string& name, Kind kind);
  void add_edge(Vertex from, Vertex to, const LinkMetrics& metrics, bool active);
  std::optional<Vertex> find(const std::string& name) const;
  std::optional<Edge> active_in_edge(Vertex v) const;  // the edge a route enters `v` by

  Graph g_;
  Vertex gateway_{};
  Vertex sink_{};
  std::map<std::string, Vertex> by_name_;
  size_t edges_ = 0;
};

}  // namespace pathsteer
