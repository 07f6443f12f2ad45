#include "controller/planner.h"

#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>

#include "controller/local_rules.h"
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

void add_uplink_kernel_state(const Ownership& own, const PlannedUplink& u, DesiredState& out) {
  for (int family : {AF_INET, AF_INET6}) {
    Rule suppress = fwmark_rule(family, own, own.rule_priority_base + 2 * u.id, u.mark);
    suppress.table = RT_TABLE_MAIN;
    suppress.suppress_prefixlen = 0;
    out.rules.push_back(suppress);

    Rule lookup = fwmark_rule(family, own, own.rule_priority_base + 2 * u.id + 1, u.mark);
    lookup.table = u.table;
    out.rules.push_back(lookup);

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

std::optional<IpAddr> effective_gateway(const Wan& wan, const UplinkView& view, int family) {
  if (!wan.gateway_auto)
    return family == AF_INET ? wan.gateway4 : wan.gateway6;
  return family == AF_INET ? view.learned_gateway4 : view.learned_gateway6;
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
    u.name = wan.name;
    u.id = id_it->second;
    u.mark = mark_for(own, u.id);
    u.table = own.table_base + u.id;
    u.ifindex = view.ifindex;
    u.admin_up = view.admin_up;
    u.usable = view.ifindex != 0 && view.admin_up && view.usable;
    u.gateway4 = effective_gateway(wan, view, AF_INET);
    u.gateway6 = effective_gateway(wan, view, AF_INET6);
    u.usable = u.usable && (u.gateway4 || u.gateway6);
    u.degraded = view.degraded;
    out.uplinks.push_back(u);
  }
  for (const auto& u : out.uplinks) {
    by_name[u.name] = &u;
    add_uplink_kernel_state(own, u, out);
  }

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
  for (const auto& u : out.uplinks) {
    out.datapath.uplinks.push_back(DatapathUplink{
        .id = u.id, .mark = u.mark, .table = u.table, .ifindex = u.ifindex, .live = u.usable});
  }
  for (const auto& cls : policy.classes) {
    auto override_it = in.overrides.find(cls.name);
    const ClassOverride* ov = override_it == in.overrides.end() ? nullptr : &override_it->second;
    ClassRequest req;
    req.strategy = ov && ov->sla ? Strategy::kSla : cls.strategy;
    req.sla = ov && ov->sla ? ov->sla : cls.sla;
    req.hold_down_s = ov ? 0 : cls.hold_down_s;  // an operator's intent is not held down
    for (const auto& name : ov && ov->paths ? *ov->paths : cls.paths) {
      auto it = by_name.find(name);
      const Wan* wan = policy.find_wan(name);
      if (it == by_name.end() || wan == nullptr)
        continue;
      auto view = in.uplinks.find(name);
      bool seen = view != in.uplinks.end();
      req.paths.push_back(PathState{
          .name = name,
          .usable = it->second->usable,
          .rtt_ms = seen ? view->second.rtt_ms : std::nullopt,
          .jitter_ms = seen ? view->second.jitter_ms : std::nullopt,
          .loss_pct = seen ? view->second.loss_pct : std::nullopt,
          .weight = wan->weight,
          .cost = wan->cost,
      });
    }
    auto mem_it = prev.classes.find(cls.name);
    ClassChoice choice = choose(req, mem_it == prev.classes.end() ? nullptr : &mem_it->second, now);

    PlannedClass pc;
    pc.name = cls.name;
    pc.strategy = req.strategy;
    pc.uplink = choice.uplink;
    pc.mark = choice.uplink ? by_name.at(*choice.uplink)->mark : last_resort_mark;
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
    // New flows: balance spreads them over its weighted members; the other
    // strategies send them to their one chosen uplink.
    if (pc.strategy == Strategy::kBalance && !pc.members.empty()) {
      for (const auto& m : pc.members)
        dc.members.push_back(
            DatapathMember{.uplink_id = by_name.at(m.uplink)->id, .weight = m.weight});
    } else if (pc.uplink) {
      dc.members.push_back(DatapathMember{.uplink_id = by_name.at(*pc.uplink)->id, .weight = 1});
    }
    out.datapath.classes.push_back(std::move(dc));
    out.classes.push_back(std::move(pc));
  }
  add_local_rules(policy, out.uplinks, out.classes, out.rules);
  return out;
}

}  // namespace pathsteer
