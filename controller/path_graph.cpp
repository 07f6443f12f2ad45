#include "controller/path_graph.h"

#include <algorithm>
#include <boost/graph/r_c_shortest_paths.hpp>
#include <limits>
#include <tuple>

#include "controller/strategy.h"

namespace pathsteer {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::optional<double> add(const std::optional<double>& a, const std::optional<double>& b) {
  if (!a || !b)
    return std::nullopt;
  return *a + *b;
}

// a + b - ab/100 is 100(1 - (1-a/100)(1-b/100)), and exact when either is 0.
std::optional<double> compound_loss(const std::optional<double>& a,
                                    const std::optional<double>& b) {
  if (!a || !b)
    return std::nullopt;
  return *a + *b - *a * *b / 100.0;
}

double or_inf(const std::optional<double>& v) {
  return v.value_or(kInf);
}

// The search's resource container: the composed metrics so far and the
// candidate rank, set on the edge into the sink.
struct Label {
  LinkMetrics m = zero_metrics();
  size_t rank = 0;
  // Boost orders its label queue with these; any strict weak order will do.
  [[maybe_unused]] friend bool operator==(const Label& a, const Label& b) {
    return a.m == b.m && a.rank == b.rank;
  }
  friend bool operator<(const Label& a, const Label& b) {
    return std::tuple(a.m.cost, a.rank, or_inf(a.m.rtt_ms), or_inf(a.m.jitter_ms),
                      or_inf(a.m.loss_pct)) < std::tuple(b.m.cost, b.rank, or_inf(b.m.rtt_ms),
                                                         or_inf(b.m.jitter_ms),
                                                         or_inf(b.m.loss_pct));
  }
};

}  // namespace

LinkMetrics compose(const LinkMetrics& a, const LinkMetrics& b) {
  return LinkMetrics{
      .up = a.up && b.up,
      .rtt_ms = add(a.rtt_ms, b.rtt_ms),
      .jitter_ms = add(a.jitter_ms, b.jitter_ms),
      .loss_pct = compound_loss(a.loss_pct, b.loss_pct),
      .cost = a.cost + b.cost,
  };
}

LinkMetrics tunnel_increment(const LinkMetrics& through_tunnel, const LinkMetrics& underlay) {
  auto minus = [](const std::optional<double>& t, const std::optional<double>& u) {
    return t ? std::optional(std::max(0.0, *t - u.value_or(0.0))) : std::nullopt;
  };
  LinkMetrics inc;
  inc.rtt_ms = minus(through_tunnel.rtt_ms, underlay.rtt_ms);
  inc.jitter_ms = minus(through_tunnel.jitter_ms, underlay.jitter_ms);
  if (through_tunnel.loss_pct) {
    // Solves u + x - ux/100 = t for x; an underlay losing everything leaves nothing to add.
    double t = *through_tunnel.loss_pct;
    double u = underlay.loss_pct.value_or(0.0);
    inc.loss_pct = u >= 100.0 ? 0.0 : std::max(0.0, (t - u) / (1.0 - u / 100.0));
  }
  return inc;
}

PathGraph::PathGraph() {
  gateway_ = add_vertex("", Kind::kGateway);
  sink_ = add_vertex("", Kind::kSink);
  by_name_.clear();  // the gateway and sink have no names
}

PathGraph::Vertex PathGraph::add_vertex(const std::string& name, Kind kind) {
  Vertex v = boost::add_vertex(VertexProps{.name = name, .kind = kind}, g_);
  by_name_[name] = v;
  return v;
}

void PathGraph::add_edge(Vertex from, Vertex to, const LinkMetrics& metrics, bool active) {
  boost::add_edge(from, to, EdgeProps{.metrics = metrics, .active = active, .index = edges_++}, g_);
}

std::optional<PathGraph::Vertex> PathGraph::find(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end())
    return std::nullopt;
  return it->second;
}

bool PathGraph::add_uplink(const std::string& name, const LinkMetrics& edge) {
  if (find(name))
    return false;
  Vertex v = add_vertex(name, Kind::kUplink);
  add_edge(gateway_, v, edge, /*active=*/true);
  add_edge(v, sink_, LinkMetrics{.up = true}, /*active=*/true);
  return true;
}

bool PathGraph::add_overlay(const std::string& name, const std::vector<std::string>& underlays) {
  if (find(name))
    return false;
  Vertex v = add_vertex(name, Kind::kOverlay);
  for (const auto& u : underlays) {
    auto uv = find(u);
    if (uv && g_[*uv].kind == Kind::kUplink)
      add_edge(*uv, v, LinkMetrics{.up = false}, /*active=*/false);
  }
  add_edge(v, sink_, LinkMetrics{.up = true}, /*active=*/true);
  return true;
}

void PathGraph::set_underlay(const std::string& overlay, const std::optional<std::string>& underlay,
                             const LinkMetrics& edge) {
  auto v = find(overlay);
  if (!v || g_[*v].kind != Kind::kOverlay)
    return;
  for (auto [it, end] = boost::edges(g_); it != end; ++it) {
    if (boost::target(*it, g_) != *v)
      continue;
    bool chosen = underlay && g_[boost::source(*it, g_)].name == *underlay;
    g_[*it].active = chosen;
    if (chosen)
      g_[*it].metrics = edge;
  }
}

bool PathGraph::contains(const std::string& name) const {
  return find(name).has_value();
}

std::optional<PathGraph::Kind> PathGraph::kind(const std::string& name) const {
  auto v = find(name);
  if (!v)
    return std::nullopt;
  return g_[*v].kind;
}

std::vector<std::string> PathGraph::underlays(const std::string& overlay) const {
  std::vector<std::string> out;
  auto v = find(overlay);
  if (!v || g_[*v].kind != Kind::kOverlay)
    return out;
  // Edges were added in declared order and carry increasing indexes.
  std::vector<std::pair<size_t, std::string>> in;
  for (auto [it, end] = boost::edges(g_); it != end; ++it) {
    if (boost::target(*it, g_) == *v)
      in.emplace_back(g_[*it].index, g_[boost::source(*it, g_)].name);
  }
  std::sort(in.begin(), in.end());
  for (auto& [index, name] : in)
    out.push_back(std::move(name));
  return out;
}

std::optional<std::string> PathGraph::underlay(const std::string& overlay) const {
  auto v = find(overlay);
  if (!v || g_[*v].kind != Kind::kOverlay)
    return std::nullopt;
  auto e = active_in_edge(*v);
  if (!e)
    return std::nullopt;
  return g_[boost::source(*e, g_)].name;
}

std::optional<PathGraph::Edge> PathGraph::active_in_edge(Vertex v) const {
  for (auto [it, end] = boost::edges(g_); it != end; ++it) {
    if (boost::target(*it, g_) == v && g_[*it].active)
      return *it;
  }
  return std::nullopt;
}

std::vector<std::string> PathGraph::route(const std::string& name) const {
  std::vector<std::string> out;
  auto v = find(name);
  if (!v)
    return out;
  Vertex cur = *v;
  while (cur != gateway_) {
    auto e = active_in_edge(cur);
    if (!e)
      return {};
    out.push_back(g_[cur].name);
    cur = boost::source(*e, g_);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

LinkMetrics PathGraph::path_metrics(const std::string& name) const {
  auto hops = route(name);
  if (hops.empty())
    return LinkMetrics{.up = false};
  LinkMetrics m = zero_metrics();
  for (const auto& hop : hops)
    m = compose(m, g_[*active_in_edge(*find(hop))].metrics);
  return m;
}

std::optional<size_t> PathGraph::select_sla(const std::vector<std::string>& candidates,
                                            const std::optional<SlaSpec>& sla, bool by_cost) const {
  // Which vertices may enter the sink, and with which rank.
  std::vector<std::optional<size_t>> rank_of(boost::num_vertices(g_));
  for (size_t i = 0; i < candidates.size(); ++i) {
    auto v = find(candidates[i]);
    if (v && !rank_of[*v])
      rank_of[*v] = i;
  }
  auto feasible = [&](const LinkMetrics& m) {
    PathState p{.name = "",
                .usable = m.up,
                .rtt_ms = m.rtt_ms,
                .jitter_ms = m.jitter_ms,
                .loss_pct = m.loss_pct};
    return m.up && meets_sla(p, sla);
  };
  // Metrics never improve along a path, so a partial path that breaks the SLA
  // is pruned at once.
  auto extend = [&](const Graph& g, Label& next, const Label& prev, Edge e) {
    const EdgeProps& ep = g[e];
    if (!ep.active || !ep.metrics.up)
      return false;
    Vertex to = boost::target(e, g);
    if (to == sink_) {
      const auto& rank = rank_of[boost::source(e, g)];
      if (!rank)
        return false;
      next = prev;
      next.rank = *rank;
      return true;
    }
    next.m = compose(prev.m, ep.metrics);
    next.rank = 0;
    return feasible(next.m);
  };
  // a dominates b when it is no worse in every resource.
  auto dominates = [&](const Label& a, const Label& b) {
    return a.m.cost <= b.m.cost && a.rank <= b.rank && or_inf(a.m.rtt_ms) <= or_inf(b.m.rtt_ms) &&
           or_inf(a.m.jitter_ms) <= or_inf(b.m.jitter_ms) &&
           or_inf(a.m.loss_pct) <= or_inf(b.m.loss_pct);
  };

  std::vector<std::vector<Edge>> paths;
  std::vector<Label> labels;
  boost::r_c_shortest_paths(g_, boost::get(boost::vertex_index, g_),
                            boost::get(&EdgeProps::index, g_), gateway_, sink_, paths, labels,
                            Label{}, extend, dominates);
  if (labels.empty())
    return std::nullopt;
  auto objective = [&](const Label& l) { return std::tuple(by_cost ? l.m.cost : 0u, l.rank); };
  auto best = std::min_element(labels.begin(), labels.end(), [&](const Label& a, const Label& b) {
    return objective(a) < objective(b);
  });
  return best->rank;
}

}  // namespace pathsteer
