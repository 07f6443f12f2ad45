// Request bodies (api/json_map.h): explain's 5-tuple and PUT /v1/policy's text.
// POST /v1/intents shares the intents file's record form (controller/intents.h).
#include <netinet/in.h>

#include "api/json_map.h"

namespace pathsteer {

namespace {

using nlohmann::json;

Result<IpAddr> address(const json& j, const char* key) {
  if (!j.contains(key))
    return malformed_error(std::string("'") + key + "' is required");
  if (!j[key].is_string())
    return malformed_error(std::string("'") + key + "' must be an address string");
  auto a = IpAddr::parse(j[key].get<std::string>());
  if (!a)
    return policy_error(std::string("'") + key +
                        "' is not an IP address: " + j[key].get<std::string>());
  return *a;
}

Result<uint32_t> number(const json& v, const char* key, uint32_t max) {
  if (!v.is_number_unsigned() || v.get<uint64_t>() > max) {
    return malformed_error(std::string("'") + key + "' must be an integer 0.." +
                           std::to_string(max));
  }
  return static_cast<uint32_t>(v.get<uint64_t>());
}

// A name from the policy file's spellings (`by_name`), or a number up to max.
template <typename ByName>
Result<uint8_t> named_number(const json& v, const char* key, uint32_t max, ByName by_name,
                             const char* names) {
  if (v.is_string()) {
    auto n = by_name(v.get<std::string>());
    if (!n)
      return policy_error(std::string("'") + key + "' " + v.get<std::string>() + " is not " +
                          names);
    return *n;
  }
  auto n = number(v, key, max);
  if (!n)
    return n.take_error();
  return static_cast<uint8_t>(*n);
}

}  // namespace

Result<ExplainQuery> parse_explain_body(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return malformed_error("the body must be a JSON object");
  for (const auto& [key, v] : j.items()) {
    if (key != "src" && key != "dst" && key != "proto" && key != "sport" && key != "dport" &&
        key != "dscp" && key != "iif") {
      return malformed_error("unknown key '" + key + "'");
    }
  }
  auto src = address(j, "src");
  if (!src)
    return src.take_error();
  auto dst = address(j, "dst");
  if (!dst)
    return dst.take_error();
  if (src->family != dst->family)
    return policy_error("'src' and 'dst' are of different address families");
  testing::Frame f;
  f.src = src->to_string();
  f.dst = dst->to_string();
  f.sport = 0;
  f.dport = 0;
  f.proto = IPPROTO_TCP;
  if (j.contains("proto")) {
    auto p = named_number(j["proto"], "proto", 255, proto_from_name, "tcp, udp, icmp or icmpv6");
    if (!p)
      return p.take_error();
    f.proto = *p;
  }
  bool has_ports = f.proto == IPPROTO_TCP || f.proto == IPPROTO_UDP;
  for (const char* key : {"sport", "dport"}) {
    if (!j.contains(key))
      continue;
    if (!has_ports)
      return policy_error(std::string("'") + key + "' needs proto tcp or udp");
    auto n = number(j[key], key, 65535);
    if (!n)
      return n.take_error();
    (key[0] == 's' ? f.sport : f.dport) = static_cast<uint16_t>(*n);
  }
  if (has_ports && f.sport == 0)
    f.sport = 40000;  // any ephemeral port: a client's
  if (j.contains("dscp")) {
    auto d = named_number(j["dscp"], "dscp", 63, dscp_from_name, "a DSCP name (ef, afXY, csN)");
    if (!d)
      return d.take_error();
    f.dscp = *d;
  }
  ExplainQuery q{.frame = f};
  if (j.contains("iif")) {
    if (!j["iif"].is_string() || j["iif"].get<std::string>().empty())
      return malformed_error("'iif' must be an interface name");
    q.iif = j["iif"].get<std::string>();
  }
  return q;
}

Result<std::string> parse_policy_body(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("text") || !j["text"].is_string() ||
      j.size() != 1) {
    return malformed_error(R"(the body must be {"text": "<policy YAML>"})");
  }
  return j["text"].get<std::string>();
}

}  // namespace pathsteer
