#include "controller/strategy.h"

#include "controller/path_graph.h"

#include <algorithm>
#include <limits>
#include <map>
#include <tuple>

namespace pathsteer {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::optional<size_t> index_of(const ClassRequest& req, const std::optional<std::string>& name) {
  if (!name)
    return std::nullopt;
  for (size_t i = 0; i < req.paths.size(); ++i) {
    if (req.paths[i].name == *name)
      return i;
  }
  return std::nullopt;
}

// Carries each good path's run start over from the previous plan.
std::map<std::string, PlanTime> track_good(const ClassRequest& req, const ClassMemory* prev,
                                           PlanTime now, const std::vector<bool>& good) {
  std::map<std::string, PlanTime> out;
  for (size_t i = 0; i < req.paths.size(); ++i) {
    if (!good[i])
      continue;
    const auto& name = req.paths[i].name;
    out[name] = now;
    if (prev == nullptr)
      continue;
    if (auto it = prev->good_since.find(name); it != prev->good_since.end())
      out[name] = it->second;
  }
  return out;
}

// When a voluntary move to `target` may happen under the hold-down rule.
PlanTime hold_down_until(const ClassRequest& req, const ClassMemory& prev,
                         const std::map<std::string, PlanTime>& good_since,
                         const std::string& target, bool target_must_be_good) {
  auto hold = std::chrono::seconds(req.hold_down_s);
  PlanTime ready{};
  if (target_must_be_good)
    ready = good_since.at(target) + hold;
  if (prev.last_switch)
    ready = std::max(ready, *prev.last_switch + hold);
  return ready;
}

double rtt_or_inf(const PathState& p) {
  return p.rtt_ms.value_or(kInf);
}

bool beats_by_margin(const PathState& p, const PathState& current) {
  if (!p.rtt_ms)
    return false;
  if (!current.rtt_ms)
    return true;
  return *current.rtt_ms - *p.rtt_ms > latency_margin_ms(*current.rtt_ms);
}

// The usable path with the lowest rtt among `candidates` (ties: path order).
std::optional<size_t> lowest_rtt(const ClassRequest& req, const std::vector<size_t>& candidates) {
  std::optional<size_t> best;
  for (size_t i : candidates) {
    if (!best || rtt_or_inf(req.paths[i]) < rtt_or_inf(req.paths[*best]))
      best = i;
  }
  return best;
}

void choose_failover(const ClassRequest& req, const ClassMemory* prev, PlanTime now,
                     ClassChoice& out) {
  std::vector<bool> good;
  for (const auto& p : req.paths)
    good.push_back(p.usable);
  out.memory.good_since = track_good(req, prev, now, good);

  auto target = std::find(good.begin(), good.end(), true) - good.begin();
  if (static_cast<size_t>(target) == req.paths.size())
    return;
  auto chosen = static_cast<size_t>(target);
  auto current = prev ? index_of(req, prev->uplink) : std::nullopt;
  if (current && good[*current] && *current != chosen) {
    PlanTime ready = hold_down_until(req, *prev, out.memory.good_since, req.paths[chosen].name,
                                     /*target_must_be_good=*/true);
    if (now < ready) {
      out.uplink = req.paths[*current].name;
      out.reason = kReasonHoldDown;
      out.wake_at = ready;
      return;
    }
  }
  out.uplink = req.paths[chosen].name;
  out.reason = chosen == 0 ? kReasonPreferred : kReasonPreferredDown;
}

void choose_balance(const ClassRequest& req, ClassChoice& out) {
  std::optional<uint32_t> tier;  // the lowest with a usable weighted path
  for (const auto& p : req.paths) {
    if (p.usable && p.weight != 0 && (!tier || p.tier < *tier))
      tier = p.tier;
  }
  std::optional<size_t> heaviest;
  for (size_t i = 0; i < req.paths.size(); ++i) {
    const auto& p = req.paths[i];
    if (!p.usable || p.weight == 0 || p.tier != tier)
      continue;
    out.members.push_back(PlannedMember{.uplink = p.name, .weight = p.weight});
    if (!heaviest || p.weight > req.paths[*heaviest].weight)
      heaviest = i;
  }
  if (!heaviest)
    return;
  out.uplink = req.paths[*heaviest].name;
  out.reason = kReasonBalance;
}

void choose_lowest_latency(const ClassRequest& req, const ClassMemory* prev, PlanTime now,
                           ClassChoice& out) {
  std::vector<size_t> usable;
  for (size_t i = 0; i < req.paths.size(); ++i) {
    if (req.paths[i].usable)
      usable.push_back(i);
  }
  if (usable.empty())
    return;
  out.reason = kReasonLowestLatency;
  auto current = prev ? index_of(req, prev->uplink) : std::nullopt;
  if (!current || !req.paths[*current].usable) {
    out.uplink = req.paths[*lowest_rtt(req, usable)].name;
    return;
  }
  std::vector<size_t> ready;
  for (size_t i : usable) {
    if (i == *current || !beats_by_margin(req.paths[i], req.paths[*current]))
      continue;
    const auto& name = req.paths[i].name;
    auto it = prev->better_since.find(name);
    PlanTime since = it != prev->better_since.end() ? it->second : now;
    out.memory.better_since[name] = since;
    if (now - since >= kLatencySustain) {
      ready.push_back(i);
    } else if (!out.wake_at || since + kLatencySustain < *out.wake_at) {
      out.wake_at = since + kLatencySustain;
    }
  }
  if (ready.empty()) {
    out.uplink = req.paths[*current].name;
    return;
  }
  out.uplink = req.paths[*lowest_rtt(req, ready)].name;
  out.memory.better_since.clear();  // relative to the old uplink
  out.wake_at.reset();
}

void choose_sla(const ClassRequest& req, const ClassMemory* prev, PlanTime now, ClassChoice& out) {
  std::vector<bool> good;
  std::vector<size_t> usable;
  bool costed = false;
  for (size_t i = 0; i < req.paths.size(); ++i) {
    const auto& p = req.paths[i];
    good.push_back(p.usable && meets_sla(p, req.sla));
    if (p.usable)
      usable.push_back(i);
    costed = costed || p.cost != 0;
  }
  out.memory.good_since = track_good(req, prev, now, good);
  if (usable.empty())
    return;

  // Ranking key: (breaks the SLA, cost if costed / violation, path index).
  auto key = [&](size_t i) {
    const auto& p = req.paths[i];
    double second =
        good[i] ? (costed ? static_cast<double>(p.cost) : 0.0) : sla_violation(p, req.sla);
    return std::tuple(!good[i], second, i);
  };
  size_t target = *std::min_element(usable.begin(), usable.end(),
                                    [&](size_t a, size_t b) { return key(a) < key(b); });
  // The path graph's constrained search decides among the paths meeting the SLA.
  if (req.sla_pick && *req.sla_pick < good.size() && good[*req.sla_pick])
    target = *req.sla_pick;
  size_t chosen = target;
  auto current = prev ? index_of(req, prev->uplink) : std::nullopt;
  if (current && req.paths[*current].usable && *current != target) {
    bool voluntary = good[*current] || !good[target];
    PlanTime ready = hold_down_until(req, *prev, out.memory.good_since, req.paths[target].name,
                                     /*target_must_be_good=*/good[*current]);
    if (voluntary && now < ready) {
      chosen = *current;
      out.reason = kReasonHoldDown;
      out.wake_at = ready;
    }
  }
  out.uplink = req.paths[chosen].name;
  out.sla_met = good[chosen];
  if (out.reason.empty())
    out.reason = good[chosen] ? kReasonSlaMet : kReasonSlaUnmet;
}

}  // namespace

double latency_margin_ms(double current_rtt_ms) {
  return std::max(kLatencyMarginFraction * current_rtt_ms, kLatencyMarginMs);
}

bool meets_sla(const PathState& p, const std::optional<SlaSpec>& sla) {
  return sla_violation(p, sla) <= 0;
}

double sla_violation(const PathState& p, const std::optional<SlaSpec>& sla) {
  if (!sla)
    return -kInf;  // no constraints: met by anything
  double worst = -kInf;
  auto check = [&](const std::optional<double>& value, std::optional<double> max) {
    if (!max)
      return;
    worst = std::max(worst, value ? (*value - *max) / std::max(*max, 1.0) : kInf);
  };
  auto as_double = [](const std::optional<uint32_t>& v) -> std::optional<double> {
    return v ? std::optional<double>(*v) : std::nullopt;
  };
  check(p.rtt_ms, as_double(sla->max_rtt_ms));
  check(p.jitter_ms, as_double(sla->max_jitter_ms));
  check(p.loss_pct, sla->max_loss_pct);
  return worst;
}

ClassChoice choose_underlay(const PathGraph& graph, const std::vector<std::string>& underlays,
                            uint32_t hold_down_s, const ClassMemory* prev, PlanTime now) {
  ClassRequest req{.strategy = Strategy::kFailover, .hold_down_s = hold_down_s};
  for (const auto& u : underlays)
    req.paths.push_back(PathState{.name = u, .usable = graph.path_metrics(u).up});
  return choose(req, prev, now);
}

ClassChoice choose(const ClassRequest& req, const ClassMemory* prev, PlanTime now) {
  ClassChoice out;
  switch (req.strategy) {
    case Strategy::kFailover:
      choose_failover(req, prev, now, out);
      break;
    case Strategy::kBalance:
      choose_balance(req, out);
      break;
    case Strategy::kLowestLatency:
      choose_lowest_latency(req, prev, now, out);
      break;
    case Strategy::kSla:
      choose_sla(req, prev, now, out);
      break;
  }
  if (!out.uplink) {
    out.reason = kReasonAllDown;
    out.sla_met.reset();
    out.wake_at.reset();
  }
  out.memory.uplink = out.uplink;
  bool first = prev == nullptr;
  bool same = !first && prev->uplink == out.uplink;
  out.memory.since = same ? prev->since : now;
  out.memory.last_switch = first ? std::nullopt : same ? prev->last_switch : std::optional(now);
  return out;
}

}  // namespace pathsteer
