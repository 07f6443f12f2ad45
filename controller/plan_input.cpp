#include "controller/plan_input.h"

#include "netlink/gateway.h"

namespace pathsteer {

namespace {

// What the planner sees of a path's probes (UplinkView and OverlayView alike).
template <typename View>
void fill_health(View& v, const UplinkHealth* h, HealthState state) {
  v.usable = state != HealthState::kDown;
  if (h == nullptr)
    return;
  v.degraded = state == HealthState::kDegraded;
  if (h->received > 0) {
    v.rtt_ms = h->rtt_ms;
    v.jitter_ms = h->jitter_ms;
    v.loss_pct = h->loss_pct;
  }
}

bool link_local(const IpAddr& a) {
  return a.is_v6() && a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80;
}

}  // namespace

HealthState planning_state(const std::string& path, const UplinkHealth* h,
                           const std::map<std::string, HealthState>& remembered) {
  HealthState state = h == nullptr ? HealthState::kUnknown : h->state;
  if (auto it = remembered.find(path); it != remembered.end() && state == HealthState::kUnknown)
    return it->second;
  return state;
}

PlanInput make_plan_input(const Policy& policy, const std::map<std::string, uint32_t>& ids,
                          const KernelView& kernel, const ProberPort& prober,
                          const std::map<std::string, HealthState>& remembered,
                          std::map<std::string, ClassOverride> overrides) {
  PlanInput in;
  in.policy = &policy;
  in.uplink_ids = &ids;
  for (const auto& w : policy.wans) {
    UplinkView v;
    if (const Link* link = kernel.link_named(w.interface)) {
      v.ifindex = link->ifindex;
      v.admin_up = link->admin_up;
    }
    const UplinkHealth* h = prober.health(w.name);
    fill_health(v, h, planning_state(w.name, h, remembered));
    if (v.ifindex != 0) {
      const auto& defaults = kernel.main_default_routes();
      const uint8_t proto = policy.ownership.route_protocol;
      v.learned_gateway4 = find_default_gateway(defaults, v.ifindex, AF_INET, proto);
      v.learned_gateway6 = find_default_gateway(defaults, v.ifindex, AF_INET6, proto);
    }
    in.uplinks[w.name] = v;
  }
  for (const auto& o : policy.overlays) {
    OverlayView v;
    if (const Link* link = kernel.link_named(o.interface)) {
      v.ifindex = link->ifindex;
      v.admin_up = link->admin_up && link->carrier;
    }
    const UplinkHealth* h = prober.health(o.name);
    fill_health(v, h, planning_state(o.name, h, remembered));
    // Routes only for the families the tunnel has an address of (IPv6: not
    // link-local): a tunnel that carries no IPv6 refuses an IPv6 route.
    v.ipv4 = v.ipv6 = false;
    if (v.ifindex != 0) {
      for (const auto& a : kernel.addresses_of(v.ifindex)) {
        v.ipv4 = v.ipv4 || a.is_v4();
        v.ipv6 = v.ipv6 || (a.is_v6() && !link_local(a));
      }
    }
    in.overlays[o.name] = v;
  }
  in.overrides = std::move(overrides);
  for (const auto& cls : policy.classes) {
    for (const auto& entry : cls.match) {
      for (const auto& name : entry.iif) {
        if (int ifindex = kernel.ifindex_of(name); ifindex != 0)
          in.interfaces[name] = ifindex;
      }
    }
  }
  return in;
}

}  // namespace pathsteer
