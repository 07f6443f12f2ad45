#include <algorithm>
#include <set>

#include "controller/policy_parse.h"

namespace pathsteer {

namespace {

constexpr uint16_t kStampPort = 862;

constexpr std::string_view kWanKeys[] = {"interface", "gateway", "weight",
                                         "cost",      "probes",  "health"};
constexpr std::string_view kOverlayKeys[] = {"interface", "remote",      "underlays", "weight",
                                             "cost",      "hold_down_s", "probes",    "health"};
constexpr std::string_view kProbeKeys[] = {"method", "target", "port"};
constexpr std::string_view kHealthKeys[] = {"interval_ms", "timeout_ms",  "down_after", "up_after",
                                            "reliability", "degraded_if", "recover_if"};
constexpr std::string_view kDegradedKeys[] = {"rtt_ms", "jitter_ms", "loss_pct"};

}  // namespace

void PolicyParser::parse_wans(const Field& f, Policy& p) {
  if (!expect_map(f, Keys{}))
    return;
  if (f.value.size() == 0)
    error(f, "wans must define at least one wan");
  for (const auto& wf : entries(f)) {
    Wan w{.name = wf.key.scalar()};
    if (!check_name(wf, "wan"))
      continue;
    parse_wan(wf, w);
    if (!w.interface.empty()) {
      auto iface = get(wf, "interface");
      auto other = std::find_if(p.wans.begin(), p.wans.end(),
                                [&](const Wan& o) { return o.interface == w.interface; });
      if (other != p.wans.end()) {
        error(*iface, "wans '" + other->name + "' and '" + w.name + "' both use interface '" +
                          w.interface + "'");
      } else if (std::find(p.lan_interfaces.begin(), p.lan_interfaces.end(), w.interface) !=
                 p.lan_interfaces.end()) {
        error(*iface,
              "interface '" + w.interface + "' of wan '" + w.name + "' is also in lan_interfaces");
      }
    }
    // Keep the wan even if its body had errors, so that paths naming it
    // do not add a second, misleading error.
    p.wans.push_back(std::move(w));
  }
}

void PolicyParser::parse_wan(const Field& f, Wan& w) {
  if (!expect_map(f, kWanKeys))
    return;
  if (auto i = require(f, "interface")) {
    if (auto name = string(*i); name && check_ifname(*i, *name, i->path))
      w.interface = *name;
  }
  if (auto g = get(f, "gateway")) {
    parse_gateway(*g, w);
  } else {
    w.gateway_auto = true;
  }
  set_u32(f, "weight", w.weight, 1);
  set_u32(f, "cost", w.cost, 0);
  parse_probes_and_health(f, w.probes, w.health);
}

// `probes` and `health` of a wan or an overlay.
void PolicyParser::parse_probes_and_health(const Field& f, std::vector<ProbeSpec>& probes,
                                           HealthSpec& h) {
  if (auto pf = get(f, "probes"); pf && expect_list(*pf, /*allow_empty=*/true)) {
    for (const auto& item : items(*pf)) {
      if (auto probe = parse_probe(item))
        probes.push_back(*probe);
    }
  }
  std::set<std::string> given;
  std::optional<Field> hf = get(f, "health");
  if (hf)
    parse_health(*hf, h, given);
  if (hf && given.count("reliability") && h.reliability > probes.size()) {
    error(*get(*hf, "reliability"), hf->path + ".reliability " + std::to_string(h.reliability) +
                                        " exceeds the number of probes (" +
                                        std::to_string(probes.size()) + ")");
  }
}

void PolicyParser::parse_gateway(const Field& f, Wan& w) {
  if (f.value.is_scalar() && f.value.scalar() == "auto") {
    w.gateway_auto = true;
    return;
  }
  parse_per_family(f, "gateway",
                   "'auto', an IP address, or a list of one IPv4 and one IPv6 address", w.gateway4,
                   w.gateway6);
}

// One address, or a list of at most one per family (a wan's gateway, an overlay's remote).
void PolicyParser::parse_per_family(const Field& f, std::string_view noun,
                                    std::string_view expected, std::optional<IpAddr>& v4,
                                    std::optional<IpAddr>& v6) {
  const std::string bad = " (expected " + std::string(expected) + ")";
  const std::string n(noun);
  auto add = [&](const Field& item) {
    auto s = string(item);
    if (!s)
      return;
    auto a = IpAddr::parse(*s);
    if (!a || a->is_unspecified()) {
      error(item, "invalid " + n + " '" + *s + "' in " + item.path + bad);
      return;
    }
    auto& slot = a->is_v4() ? v4 : v6;
    if (slot) {
      error(item, "two " + family_name(a->family) + " " + n + "s in " + f.path + bad);
      return;
    }
    slot = *a;
  };
  if (f.value.is_sequence()) {
    if (!expect_list(f))
      return;
    if (f.value.size() > 2) {
      error(f, "too many " + n + "s in " + f.path + bad);
      return;
    }
    for (const auto& item : items(f))
      add(item);
  } else {
    add(f);
  }
}

// A wan's or overlay's `interface`: valid, and not taken by a wan, the LAN or
// an overlay already parsed. `owner` is e.g. "overlay 'tun0'".
std::optional<std::string> PolicyParser::parse_interface(const Field& f, const Policy& p,
                                                         const std::string& owner) {
  auto i = require(f, "interface");
  if (!i)
    return std::nullopt;
  auto name = string(*i);
  if (!name)
    return std::nullopt;
  if (!check_ifname(*i, *name, i->path))
    return std::nullopt;
  std::string clash;
  for (const auto& w : p.wans) {
    if (w.interface == *name && clash.empty())
      clash = "wan '" + w.name + "'";
  }
  for (const auto& o : p.overlays) {
    if (o.interface == *name && clash.empty())
      clash = "overlay '" + o.name + "'";
  }
  if (!clash.empty()) {
    error(*i, owner + " and " + clash + " both use interface '" + *name + "'");
  } else if (std::find(p.lan_interfaces.begin(), p.lan_interfaces.end(), *name) !=
             p.lan_interfaces.end()) {
    error(*i, "interface '" + *name + "' of " + owner + " is also in lan_interfaces");
  }
  return name;
}

void PolicyParser::parse_overlays(const Field& f, Policy& p) {
  if (!expect_map(f, Keys{}))
    return;
  for (const auto& of : entries(f)) {
    Overlay o{.name = of.key.scalar()};
    if (!check_name(of, "overlay"))
      continue;
    if (p.find_wan(o.name)) {
      error_at(
          of.key.mark(),
          "overlay '" + o.name + "' has the name of a wan (wans and overlays share one namespace)");
      continue;
    }
    parse_overlay(of, o, p);
    // Kept even with errors in its body, so that paths naming it add no second error.
    p.overlays.push_back(std::move(o));
  }
}

void PolicyParser::parse_overlay(const Field& f, Overlay& o, const Policy& p) {
  if (!expect_map(f, kOverlayKeys))
    return;
  if (auto name = parse_interface(f, p, "overlay '" + o.name + "'"))
    o.interface = *name;
  if (auto r = require(f, "remote")) {
    parse_per_family(*r, "remote", "an IP address, or a list of one IPv4 and one IPv6 address",
                     o.remote4, o.remote6);
    for (const auto& other : p.overlays) {
      bool same4 = o.remote4 && other.remote4 == o.remote4;
      bool same6 = o.remote6 && other.remote6 == o.remote6;
      if (same4 || same6) {
        error(*r, "overlays '" + other.name + "' and '" + o.name + "' both have remote " +
                      (same4 ? o.remote4 : o.remote6)->to_string() +
                      " (its outer packets can ride on only one underlay)");
        break;
      }
    }
  }
  if (auto u = require(f, "underlays"); u && expect_list(*u)) {
    for (const auto& item : items(*u)) {
      auto name = string(item);
      if (!name)
        continue;
      if (p.find_overlay(*name) || *name == o.name) {
        error(item, "overlay '" + o.name + "' underlays: '" + *name +
                        "' is an overlay (an overlay rides on wans only)");
      } else if (!p.find_wan(*name)) {
        error(item, "overlay '" + o.name + "' underlays: unknown wan '" + *name + "'");
      } else if (std::find(o.underlays.begin(), o.underlays.end(), *name) != o.underlays.end()) {
        error(item, "overlay '" + o.name + "' underlays: wan '" + *name + "' is listed twice");
      } else {
        o.underlays.push_back(*name);
      }
    }
  }
  set_u32(f, "weight", o.weight, 1);
  set_u32(f, "cost", o.cost, 0);
  set_u32(f, "hold_down_s", o.hold_down_s, 0);
  parse_probes_and_health(f, o.probes, o.health);
}

std::optional<ProbeSpec> PolicyParser::parse_probe(const Field& f) {
  if (!expect_map(f, kProbeKeys))
    return std::nullopt;
  ProbeSpec probe;
  bool ok = true;
  if (auto m = get(f, "method")) {
    auto i = choice(*m, kProbeMethodNames);
    if (i) {
      probe.method = static_cast<ProbeMethod>(*i);
    } else {
      ok = false;
    }
  }
  if (auto t = require(f, "target")) {
    auto s = string(*t);
    auto a = s ? IpAddr::parse(*s) : std::nullopt;
    if (s && (!a || a->is_unspecified())) {
      error(*t, "invalid probe target '" + *s + "' in " + t->path + " (expected an IP address)");
    }
    if (a && !a->is_unspecified()) {
      probe.target = *a;
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }
  auto port = get(f, "port");
  if (port) {
    if (probe.method == ProbeMethod::kIcmp) {
      error_at(port->key.mark(), "'port' in " + f.path + " is only valid for udp and tcp probes");
      ok = false;
    } else if (auto v = integer(*port, 1, 65535)) {
      probe.port = static_cast<uint16_t>(*v);
    } else {
      ok = false;
    }
  } else if (probe.method == ProbeMethod::kUdp) {
    probe.port = kStampPort;
  } else if (probe.method == ProbeMethod::kTcp) {
    error(f, "missing required key 'port' in " + f.path + " (tcp probes need a port)");
    ok = false;
  }
  if (!ok)
    return std::nullopt;
  return probe;
}

void PolicyParser::parse_health(const Field& f, HealthSpec& h, std::set<std::string>& given) {
  if (!expect_map(f, kHealthKeys))
    return;
  for (const auto& e : entries(f))
    given.insert(e.key.scalar());
  set_u32(f, "interval_ms", h.interval_ms, 10);
  set_u32(f, "timeout_ms", h.timeout_ms, 10);
  set_u32(f, "down_after", h.down_after, 1);
  set_u32(f, "up_after", h.up_after, 1);
  set_u32(f, "reliability", h.reliability, 1);
  parse_thresholds(f, "degraded_if", h.degraded_if);
  std::optional<Field> r = get(f, "recover_if");
  if (!r || !parse_thresholds(f, "recover_if", h.recover_if))
    return;
  // Hysteresis needs the recovery bar at or below the degraded one, and a
  // recovery bar without a degraded one would never be used.
  auto check = [&](const char* key, auto recover, auto degraded) {
    if (!recover)
      return;
    auto field = get(*r, key);
    if (!degraded) {
      error(*field, r->path + "." + key + " needs degraded_if." + key);
    } else if (*recover > *degraded) {
      error(*field, r->path + "." + key + " must not exceed degraded_if." + key + " (" +
                        format_number(static_cast<double>(*degraded)) + "), got " +
                        field->value.scalar());
    }
  };
  check("rtt_ms", h.recover_if.rtt_ms, h.degraded_if.rtt_ms);
  check("jitter_ms", h.recover_if.jitter_ms, h.degraded_if.jitter_ms);
  check("loss_pct", h.recover_if.loss_pct, h.degraded_if.loss_pct);
}

bool PolicyParser::parse_thresholds(const Field& health, const char* key, DegradedIf& t) {
  auto d = get(health, key);
  if (!d || !expect_map(*d, kDegradedKeys))
    return false;
  if (auto r = get(*d, "rtt_ms")) {
    if (auto v = integer(*r, 1, kU32Max))
      t.rtt_ms = static_cast<uint32_t>(*v);
  }
  if (auto j = get(*d, "jitter_ms")) {
    if (auto v = integer(*j, 1, kU32Max))
      t.jitter_ms = static_cast<uint32_t>(*v);
  }
  if (auto l = get(*d, "loss_pct")) {
    if (auto v = number(*l, 0, 100))
      t.loss_pct = *v;
  }
  return true;
}

}  // namespace pathsteer
