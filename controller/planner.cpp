#include "controller/planner.h"

#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>

#include "controller/local_rules.h"
#include "controller/path_graph.h"
#include "controller/strategy.h"

namespace pathsteer {

uint32_t mark_shift(uint32_t mark_mask) {
  return mark_mask == 0 ? 0 : static_cast<uint32_t>(__builtin_ctz(mark_mask));
}

uint32_t mark_for(const Ownership& own, uint32_t n) {
  return (n << mark_shift(own.mark_mask)) & own.mark_mask;
}

uint32_t max_uplink_id(const Ownership& own) {
  uint32_t field_max = own.mark_mask >> mark_shift(own.mark_mask);
  return field_max - 1;  // the top value is reserved for last_resort
}

uint32_t overlay_remote_priority(const Ownership& own, uint32_t n) {
  return own.rule_priority_base + 520 + n;
}

namespace {

constexpr uint32_t kLastResortRuleOffset = 999;

Rule fwmark_rule(int family, const Ownership& own, uint32_t priority, uint32_t mark) {
  Rule r;
  r.family = family;
  r.priority = priority;
  r.fwmark = mark;
  r.fwmask = own.mark_mask;
  r.protocol = own.route_protocol;
  return r;
}

// The two fwmark rules of uplink or overlay number `id`.
void add_mark_rules(const Ownership& own, int family, uint32_t id, uint32_t mark, uint32_t table,
                    DesiredState& out) {
  Rule suppress = fwmark_rule(family, own, own.rule_priority_base + 2 * id, mark);
  suppress.table = RT_TABLE_MAIN;
  suppress.suppress_prefixlen = 0;
  out.rules.push_back(suppress);

  Rule lookup = fwmark_rule(family, own, own.rule_priority_base + 2 * id + 1, mark);
  lookup.table = table;
  out.rules.push_back(lookup);
}

void add_uplink_kernel_state(const Ownership& own, const PlannedUplink& u, DesiredState& out) {
  for (int family : {AF_INET, AF_INET6}) {
    add_mark_rules(own, family, u.id, u.mark, u.table, out);

    const auto& gw = family == AF_INET ? u.gateway4 : u.gateway6;
    if (u.ifindex == 0 || !u.admin_up || !gw)
      continue;
    Route route;
    route.family = family;
    route.table = u.table;
    route.dst = Prefix::default_route(family);
    route.gateway = *gw;
    route.oif = u.ifindex;
    route.protocol = own.route_protocol;
    route.type = RTN_UNICAST;
    route.scope = RT_SCOPE_UNIVERSE;
    out.routes.push_back(route);
  }
}

void add_overlay_kernel_state(const Ownership& own, const Overlay& spec, const OverlayView& view,
                              const PlannedOverlay& o, const PlannedUplink* underlay,
                              DesiredState& out) {
  for (int family : {AF_INET, AF_INET6}) {
    add_mark_rules(own, family, o.id, o.mark, o.table, out);

    const auto& remote = family == AF_INET ? spec.remote4 : spec.remote6;
    if (underlay != nullptr && remote) {
      Prefix remote_prefix{.addr = *remote, .len = static_cast<uint8_t>(remote->size() * 8)};
      Rule r;
      r.family = family;
      r.priority = overlay_remote_priority(own, o.id);
      r.dst = remote_prefix;
      r.table = underlay->table;
      r.protocol = own.route_protocol;
      out.rules.push_back(r);

      // Outer packets that keep the inner packet's mark (VXLAN routes them
      // with skb->mark) meet the overlay's own fwmark rule first: its table
      // sends them to the remote over the underlay too.
      const auto& underlay_gw = family == AF_INET ? underlay->gateway4 : underlay->gateway6;
      if (underlay->ifindex != 0 && underlay->admin_up && underlay_gw) {
        Route route;
        route.family = family;
        route.table = o.table;
        route.dst = remote_prefix;
        route.gateway = *underlay_gw;
        route.oif = underlay->ifindex;
        route.protocol = own.route_protocol;
        route.type = RTN_UNICAST;
        route.scope = RT_SCOPE_UNIVERSE;
        out.routes.push_back(route);
      }
    }

    bool carried = family == AF_INET ? view.ipv4 : view.ipv6;
    if (o.ifindex == 0 || !o.admin_up || !carried)
      continue;
    Route route;
    route.family = family;
    route.table = o.table;
    route.dst = Prefix::default_route(family);
    route.oif = o.ifindex;
    route.protocol = own.route_protocol;
    route.type = RTN_UNICAST;
    // As ip(8) installs a gateway-less IPv4 route; IPv6 routes have no scope.
    route.scope = family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
    out.routes.push_back(route);
  }
}

// The part an uplink or overlay number fixes, with its interface as observed.
template <typename View>
PlannedPath numbered(const Ownership& own, const std::string& name, uint32_t id, const View& view) {
  return PlannedPath{.name = name,
                     .id = id,
                     .mark = mark_for(own, id),
                     .table = own.table_base + id,
                     .ifindex = view.ifindex,
                     .admin_up = view.admin_up};
}

// What an uplink's probes see, as the gateway→uplink edge.
LinkMetrics uplink_edge(const PlannedUplink& u, const UplinkView& view, uint32_t cost) {
  return LinkMetrics{.up = u.usable,
                     .rtt_ms = view.rtt_ms,
                     .jitter_ms = view.jitter_ms,
                     .loss_pct = view.loss_pct,
                     .cost = cost};
}

std::optional<IpAddr> effective_gateway(const Wan& wan, const UplinkView& view, int family) {
  if (!wan.gateway_auto)
    return family == AF_INET ? wan.gateway4 : wan.gateway6;
  return family == AF_INET ? view.learned_gateway4 : view.learned_gateway6;
}

// Numbers each overlay, chooses its underlay (failover with hold-down, from
// the overlay's memory), puts it into `graph` with the tunnel's increment on
// the active edge, and adds its rules and routes.
void plan_overlays(const PlanInput& in, const PlannerMemory& prev, PlanTime now, PathGraph& graph,
                   const std::map<std::string, const PlannedUplink*>& uplinks, DesiredState& out) {
  const Ownership& own = in.policy->ownership;
  for (const auto& spec : in.policy->overlays) {
    auto id_it = in.uplink_ids->find(spec.name);
    if (id_it == in.uplink_ids->end() || !graph.add_overlay(spec.name, spec.underlays))
      continue;
    auto view_it = in.overlays.find(spec.name);
    OverlayView view = view_it == in.overlays.end() ? OverlayView{} : view_it->second;
    auto mem_it = prev.overlays.find(spec.name);
    ClassChoice choice =
        choose_underlay(graph, spec.underlays, spec.hold_down_s,
                        mem_it == prev.overlays.end() ? nullptr : &mem_it->second, now);
    out.memory.overlays[spec.name] = choice.memory;
    if (choice.wake_at && (!out.next_plan_at || *choice.wake_at < *out.next_plan_at))
      out.next_plan_at = choice.wake_at;

    const PlannedUplink* underlay = choice.uplink ? uplinks.at(*choice.uplink) : nullptr;
    // The tunnel's figures were gathered over the underlay the previous plan
    // chose; its increment over that one, added to the new one, predicts the
    // tunnel over the new one until fresh figures arrive.
    const PlannedUplink* measured_over = underlay;
    if (mem_it != prev.overlays.end() && mem_it->second.uplink) {
      if (auto it = uplinks.find(*mem_it->second.uplink); it != uplinks.end())
        measured_over = it->second;
    }
    LinkMetrics edge = zero_metrics();
    if (!spec.probes.empty() && measured_over != nullptr) {
      LinkMetrics measured{
          .rtt_ms = view.rtt_ms, .jitter_ms = view.jitter_ms, .loss_pct = view.loss_pct};
      edge = tunnel_increment(measured, graph.path_metrics(measured_over->name));
    }
    edge.up = view.ifindex != 0 && view.admin_up && view.usable;
    edge.cost = spec.cost;
    graph.set_underlay(spec.name, choice.uplink, edge);

    PlannedOverlay o;
    static_cast<PlannedPath&>(o) = numbered(own, spec.name, id_it->second, view);
    o.underlay = choice.uplink;
    o.reason = choice.reason;
    o.metrics = graph.path_metrics(spec.name);
    o.usable = o.metrics.up;
    o.degraded = view.degraded || (underlay != nullptr && underlay->degraded);
    o.route = graph.route(spec.name);
    add_overlay_kernel_state(own, spec, view, o, underlay, out);
    out.overlays.push_back(std::move(o));
  }
}

}  // namespace

DesiredState plan(const PlanInput& in) {
  return plan(in, PlannerMemory{}, PlanTime{});
}

DesiredState plan(const PlanInput& in, const PlannerMemory& prev, PlanTime now) {
  const Policy& policy = *in.policy;
  const Ownership& own = policy.ownership;
  DesiredState out;
  std::map<std::string, const PlannedUplink*> by_name;

  out.uplinks.reserve(policy.wans.size());
  for (const auto& wan : policy.wans) {
    auto id_it = in.uplink_ids->find(wan.name);
    if (id_it == in.uplink_ids->end())
      continue;  // caller assigns ids first
    auto view_it = in.uplinks.find(wan.name);
    UplinkView view = view_it == in.uplinks.end() ? UplinkView{} : view_it->second;
    PlannedUplink u;
    static_cast<PlannedPath&>(u) = numbered(own, wan.name, id_it->second, view);
    u.usable = view.ifindex != 0 && view.admin_up && view.usable;
    u.gateway4 = effective_gateway(wan, view, AF_INET);
    u.gateway6 = effective_gateway(wan, view, AF_INET6);
    u.usable = u.usable && (u.gateway4 || u.gateway6);
    u.degraded = view.degraded;
    out.uplinks.push_back(u);
  }
  PathGraph graph;
  std::map<std::string, uint32_t> mark_of;
  for (const auto& u : out.uplinks) {
    by_name[u.name] = &u;
    add_uplink_kernel_state(own, u, out);
    auto view = in.uplinks.find(u.name);
    graph.add_uplink(u.name, uplink_edge(u, view == in.uplinks.end() ? UplinkView{} : view->second,
                                         policy.find_wan(u.name)->cost));
    mark_of[u.name] = u.mark;
  }
  plan_overlays(in, prev, now, graph, by_name, out);
  for (const auto& o : out.overlays)
    mark_of[o.name] = o.mark;

  uint32_t last_resort_mark = 0;
  if (policy.last_resort != LastResort::kMain) {
    last_resort_mark = mark_for(own, max_uplink_id(own) + 1);
    for (int family : {AF_INET, AF_INET6}) {
      Rule r = fwmark_rule(family, own, own.rule_priority_base + kLastResortRuleOffset,
                           last_resort_mark);
      r.action =
          policy.last_resort == LastResort::kUnreachable ? FR_ACT_UNREACHABLE : FR_ACT_BLACKHOLE;
      out.rules.push_back(r);
    }
  }

  out.datapath.mark_mask = own.mark_mask;
  out.datapath.mode = policy.mode;
  if (policy.flow_quota)
    out.datapath.flow_quota = *policy.flow_quota;
  // Overlays are paths like uplinks for the data plane: a mark and a table.
  std::map<std::string, uint32_t> id_of;
  std::vector<PlannedPath> paths(out.uplinks.begin(), out.uplinks.end());  // then overlays
  for (const auto& u : out.uplinks) {
    out.datapath.uplinks.push_back(DatapathUplink{
        .id = u.id, .mark = u.mark, .table = u.table, .ifindex = u.ifindex, .live = u.usable});
    id_of[u.name] = u.id;
  }
  for (const auto& o : out.overlays) {
    out.datapath.uplinks.push_back(DatapathUplink{
        .id = o.id, .mark = o.mark, .table = o.table, .ifindex = o.ifindex, .live = o.usable});
    id_of[o.name] = o.id;
    paths.push_back(o);
  }
  for (const auto& cls : policy.classes) {
    if (cls.action) {
      // Never an uplink: main clears our mark bits (the main table decides),
      // the others take last_resort's mark (the parser made them equal).
      PlannedClass pc{.name = cls.name, .reason = kReasonAction};
      pc.mark = *cls.action == LastResort::kMain ? 0 : last_resort_mark;
      out.datapath.classes.push_back(
          DatapathClass{.name = cls.name, .match = cls.match, .mark = pc.mark});
      out.classes.push_back(std::move(pc));
      continue;
    }
    auto override_it = in.overrides.find(cls.name);
    const ClassOverride* ov = override_it == in.overrides.end() ? nullptr : &override_it->second;
    ClassRequest req;
    req.strategy = ov && ov->sla ? Strategy::kSla : cls.strategy;
    req.sla = ov && ov->sla ? ov->sla : cls.sla;
    req.hold_down_s = ov ? 0 : cls.hold_down_s;  // an operator's intent is not held down
    const bool own_paths = !(ov && ov->paths);   // an intent's paths are one tier
    const auto& names = own_paths ? cls.paths : *ov->paths;
    for (size_t i = 0; i < names.size(); ++i) {
      const std::string& name = names[i];
      if (!mark_of.count(name))
        continue;  // no such wan or overlay, or no id
      const Wan* wan = policy.find_wan(name);
      const Overlay* overlay = policy.find_overlay(name);
      LinkMetrics m = graph.path_metrics(name);
      req.paths.push_back(PathState{
          .name = name,
          .usable = m.up,
          .rtt_ms = m.rtt_ms,
          .jitter_ms = m.jitter_ms,
          .loss_pct = m.loss_pct,
          .weight = wan != nullptr ? wan->weight : overlay->weight,
          .cost = m.cost,
          .tier = own_paths && i < cls.tiers.size() ? cls.tiers[i] : 0,
      });
    }
    if (req.strategy == Strategy::kSla) {
      std::vector<std::string> names;
      bool by_cost = false;
      for (const auto& p : req.paths) {
        names.push_back(p.name);
        by_cost = by_cost || p.cost != 0;
      }
      req.sla_pick = graph.select_sla(names, req.sla, by_cost);
    }
    auto mem_it = prev.classes.find(cls.name);
    ClassChoice choice = choose(req, mem_it == prev.classes.end() ? nullptr : &mem_it->second, now);

    PlannedClass pc;
    pc.name = cls.name;
    pc.strategy = req.strategy;
    pc.uplink = choice.uplink;
    pc.mark = choice.uplink ? mark_of.at(*choice.uplink) : last_resort_mark;
    pc.reason = choice.uplink && ov ? kReasonIntent : choice.reason;
    pc.members = std::move(choice.members);
    pc.sla_met = choice.sla_met;
    pc.intent = ov != nullptr;
    out.memory.classes[cls.name] = std::move(choice.memory);
    if (choice.wake_at && (!out.next_plan_at || *choice.wake_at < *out.next_plan_at))
      out.next_plan_at = choice.wake_at;
    DatapathClass dc;
    dc.name = cls.name;
    dc.match = cls.match;
    dc.mark = pc.mark;  // used by the data plane only without members (last_resort)
    if (pc.strategy == Strategy::kBalance)
      dc.source_affinity_s = cls.source_affinity_s;
    // New flows: balance spreads them over its weighted members; the other
    // strategies send them to their one chosen uplink.
    if (pc.strategy == Strategy::kBalance && !pc.members.empty()) {
      for (const auto& m : pc.members)
        dc.members.push_back(DatapathMember{.uplink_id = id_of.at(m.uplink), .weight = m.weight});
    } else if (pc.uplink) {
      dc.members.push_back(DatapathMember{.uplink_id = id_of.at(*pc.uplink), .weight = 1});
    }
    out.datapath.classes.push_back(std::move(dc));
    out.classes.push_back(std::move(pc));
  }
  add_local_rules(policy, paths, out.classes, out.rules);
  out.datapath.interfaces = in.interfaces;
  out.datapath.dns = policy.dns;
  return out;
}

}  // namespace pathsteer
