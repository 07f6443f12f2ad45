#include "controller/explain.h"

#include <netinet/in.h>

#include <cstdio>

namespace pathsteer {

namespace {

using nlohmann::json;

std::variant<IpAddr, RequestError> address(const json& j, const char* key) {
  if (!j.contains(key))
    return malformed(std::string("'") + key + "' is required");
  if (!j[key].is_string())
    return malformed(std::string("'") + key + "' must be an address string");
  auto a = IpAddr::parse(j[key].get<std::string>());
  if (!a)
    return invalid(std::string("'") + key + "' is not an IP address: " + j[key].get<std::string>());
  return *a;
}

std::variant<uint32_t, RequestError> number(const json& v, const char* key, uint32_t max) {
  if (!v.is_number_unsigned() || v.get<uint64_t>() > max) {
    return malformed(std::string("'") + key + "' must be an integer 0.." + std::to_string(max));
  }
  return static_cast<uint32_t>(v.get<uint64_t>());
}

std::string proto_name(uint8_t p) {
  const char* name = ip_proto_name(p);
  return name != nullptr ? name : std::to_string(p);
}

}  // namespace

std::variant<ExplainRequest, RequestError> parse_explain_request(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return malformed("the body must be a JSON object");
  for (const auto& [key, v] : j.items()) {
    if (key != "src" && key != "dst" && key != "proto" && key != "sport" && key != "dport" &&
        key != "dscp" && key != "iif") {
      return malformed("unknown key '" + key + "'");
    }
  }
  testing::Frame f;
  auto src = address(j, "src");
  if (auto* e = std::get_if<RequestError>(&src))
    return *e;
  auto dst = address(j, "dst");
  if (auto* e = std::get_if<RequestError>(&dst))
    return *e;
  if (std::get<IpAddr>(src).family != std::get<IpAddr>(dst).family)
    return invalid("'src' and 'dst' are of different address families");
  f.src = std::get<IpAddr>(src).to_string();
  f.dst = std::get<IpAddr>(dst).to_string();
  f.sport = 0;
  f.dport = 0;
  f.proto = IPPROTO_TCP;
  if (j.contains("proto")) {
    const json& p = j["proto"];
    if (p.is_string()) {
      auto n = proto_from_name(p.get<std::string>());
      if (!n)
        return invalid("'proto' " + p.get<std::string>() + " is not tcp, udp, icmp or icmpv6");
      f.proto = *n;
    } else {
      auto n = number(p, "proto", 255);
      if (auto* e = std::get_if<RequestError>(&n))
        return *e;
      f.proto = static_cast<uint8_t>(std::get<uint32_t>(n));
    }
  }
  bool has_ports = f.proto == IPPROTO_TCP || f.proto == IPPROTO_UDP;
  for (const char* key : {"sport", "dport"}) {
    if (!j.contains(key))
      continue;
    if (!has_ports)
      return invalid(std::string("'") + key + "' needs proto tcp or udp");
    auto n = number(j[key], key, 65535);
    if (auto* e = std::get_if<RequestError>(&n))
      return *e;
    (key[0] == 's' ? f.sport : f.dport) = static_cast<uint16_t>(std::get<uint32_t>(n));
  }
  if (has_ports && f.sport == 0)
    f.sport = 40000;  // any ephemeral port: a client's
  if (j.contains("dscp")) {
    const json& d = j["dscp"];
    if (d.is_string()) {
      auto n = dscp_from_name(d.get<std::string>());
      if (!n)
        return invalid("'dscp' " + d.get<std::string>() + " is not a DSCP name (ef, afXY, csN)");
      f.dscp = *n;
    } else {
      auto n = number(d, "dscp", 63);
      if (auto* e = std::get_if<RequestError>(&n))
        return *e;
      f.dscp = static_cast<uint8_t>(std::get<uint32_t>(n));
    }
  }
  ExplainRequest req{.frame = f};
  if (j.contains("iif")) {
    if (!j["iif"].is_string() || j["iif"].get<std::string>().empty())
      return malformed("'iif' must be an interface name");
    req.iif = j["iif"].get<std::string>();
  }
  return req;
}

json explain_result(const ExplainRequest& req, const SimulateResult& sim, const DesiredState& plan,
                    uint32_t mark_mask) {
  const testing::Frame& in = req.frame;
  json j;
  json input = {
      {"src", in.src}, {"dst", in.dst}, {"proto", proto_name(in.proto)}, {"dscp", in.dscp}};
  if (in.proto == IPPROTO_TCP || in.proto == IPPROTO_UDP) {
    input["sport"] = in.sport;
    input["dport"] = in.dport;
  }
  if (!req.iif.empty())
    input["iif"] = req.iif;
  j["input"] = input;
  j["flow"] = sim.established ? "established" : "new";
  j["source"] = "classifier";  // computed by the loaded program, not by the planner
  uint32_t mark = sim.mark & mark_mask;
  j["mark"] = mark;
  std::vector<std::string> reasons;
  const PlannedClass* cls = nullptr;
  if (sim.class_id && *sim.class_id < plan.classes.size())
    cls = &plan.classes[*sim.class_id];
  const PlannedUplink* up = nullptr;
  for (const auto& u : plan.uplinks) {
    if (sim.uplink_id != 0 ? u.id == sim.uplink_id : (mark != 0 && u.mark == mark))
      up = &u;
  }
  j["uplink"] = up ? json(up->name) : json(nullptr);
  j["table"] = up ? json(up->table) : json(nullptr);
  if (cls == nullptr) {
    j["class"] = nullptr;
    j["strategy"] = nullptr;
    j["reason"] = nullptr;
    j["action"] = "unclassified";
    reasons.push_back("no class matches: the packet passes unmarked and the main table decides");
  } else {
    j["class"] = cls->name;
    j["strategy"] = to_string(cls->strategy);
    j["reason"] = cls->reason;
    j["intent"] = cls->intent;
    reasons.push_back("matches class " + cls->name + " (strategy " + to_string(cls->strategy) +
                      ")");
    if (up != nullptr) {
      j["action"] = sim.redirect_ifindex != 0 ? "redirect" : "mark";
      if (sim.established) {
        reasons.push_back("an established flow of this 5-tuple is pinned to uplink " + up->name +
                          " while it is live");
      } else {
        reasons.push_back("class " + cls->name + " sends new flows to uplink " + up->name +
                          " (reason " + cls->reason + ")");
      }
      if (!sim.fallback.empty())
        reasons.push_back("redirect fell back to marking: " + sim.fallback);
      char hex[16];
      std::snprintf(hex, sizeof(hex), "0x%x", mark);
      reasons.push_back(std::string("mark ") + hex + " leads to table " +
                        std::to_string(up->table));
    } else {
      j["action"] = "last_resort";
      reasons.push_back("class " + cls->name + " has no usable path (reason " + cls->reason +
                        "): last_resort applies");
    }
  }
  j["reasons"] = reasons;
  return j;
}

}  // namespace pathsteer
